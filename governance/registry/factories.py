"""`model.factory: "package.module:function"`: a team's own estimator or pipeline, built and checked.

The module is imported with the config file's folder first on ``sys.path`` (removed again after the
import and each call), so a ``my_model.py`` beside ``govflow.yaml`` is found, and otherwise from the
environment (an installed package). The function is called with ``model.params`` as keyword
arguments (and ``seed=data.seed`` when it has a ``seed`` parameter the params do not set) and must
return a scikit-learn classifier: ``fit``, ``predict`` and ``predict_proba``, copyable by
``sklearn.base.clone``. Anything else is a `ConfigError` (exit 2) saying what is wrong.

What built a model is recorded like code (`FactoryRecord`): the spec, the module's version (its
distribution's version, else its ``__version__``, else ``unversioned``) and the sha256 of the module's
source (``inspect.getsource``), so a changed factory is visible in the ledger even without a version bump.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.metadata
import inspect
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from govflow.errors import ConfigError

NO_MODULE = ("model.factory: no module '{module}' (from \"{spec}\"): looked in {folder} (the config file's folder) "
             "and the environment; put {file} beside govflow.yaml, or install the package that has it")
IMPORT_FAILED = ("model.factory: importing module '{module}' (from \"{spec}\") failed: {error}; fix the module "
                 "(or install what it imports)")
NO_FUNCTION = ("model.factory: module '{module}' ({file}) has no function '{function}'{hint}; name a function "
               "that returns a scikit-learn estimator")
NOT_CALLABLE = ("model.factory: '{function}' in module '{module}' is not callable (a value of type {kind}); name a "
                "function that returns a scikit-learn estimator")
BAD_PARAMS = ("model.params: the factory \"{spec}\" is called with model.params as keyword arguments, and {problem}; "
              "fix model.params or the factory's parameters")
RAISED = ("model.factory: \"{spec}\" raised {error} when called; fix the factory (it is called with model.params "
          "as keyword arguments)")
NOT_ESTIMATOR = ("model.factory: \"{spec}\" returned {what}, which is not a scikit-learn classifier: it has no "
                 "{missing}; return an estimator with fit, predict and predict_proba (e.g. a Pipeline ending in "
                 "LogisticRegression)")
NOT_CLONEABLE = ("model.factory: \"{spec}\" returned a {what} that sklearn.base.clone cannot copy ({error}); "
                 "build it from scikit-learn estimators, or give your class get_params/set_params "
                 "(subclass sklearn.base.BaseEstimator)")
UNWEIGHTED = ("model.mitigation: {mitigation} fits the model's final step with sample weights, and {cls} (the final "
              "step of the model of \"{spec}\") takes no sample_weight in fit; this combination is not served: use "
              "model.mitigation threshold_optimizer (it needs no sample weights), or end the pipeline with an "
              "estimator that takes them (e.g. LogisticRegression, HistGradientBoostingClassifier)")
WEIGHTED_MITIGATIONS = ("reweighing", "exponentiated_gradient")
UNVERSIONED = "unversioned"


@dataclass(frozen=True)
class FactoryRecord:
    """What built a model, recorded with its training run and its version (hyperparameters)."""

    spec: str  # package.module:function
    module_version: str  # the package's version, else "unversioned"
    source_hash: str | None  # sha256 of the module's source (None: no source to read)
    source_file: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def split_spec(spec: str) -> tuple[str, str]:
    module, _, function = spec.partition(":")
    return module, function


@contextmanager
def search_first(folder: Path) -> Iterator[None]:
    """``folder`` first on sys.path for the duration, then removed (the caller's sys.path is left as it was)."""
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        if entry in sys.path:
            sys.path.remove(entry)


def import_module(spec: str, folder: Path) -> ModuleType:
    module, _ = split_spec(spec)
    importlib.invalidate_caches()  # a module written since the last import (a fresh project) must be seen
    if _shadowed(module, folder):  # one process, two projects with a my_model.py each: take this folder's
        top = module.split(".")[0]
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            del sys.modules[name]
    with search_first(folder):
        try:
            return importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name is not None and (module == e.name or module.startswith(e.name + ".")):
                raise ConfigError(NO_MODULE.format(module=module, spec=spec, folder=folder,
                                                   file=module.replace(".", "/") + ".py")) from None
            raise ConfigError(IMPORT_FAILED.format(module=module, spec=spec, error=_one_line(e))) from e
        except Exception as e:  # the user's module failed while importing (a syntax error, a raise)
            raise ConfigError(IMPORT_FAILED.format(module=module, spec=spec, error=_one_line(e))) from e


def _shadowed(module: str, folder: Path) -> bool:
    """Whether the module already imported under this name is another file than the one in ``folder``."""
    cached = sys.modules.get(module)
    if cached is None:
        return False
    local = folder.joinpath(*module.split("."))
    present = {c.resolve() for c in (local.with_suffix(".py"), local / "__init__.py") if c.is_file()}
    file = getattr(cached, "__file__", None)
    return bool(present) and (file is None or Path(file).resolve() not in present)


def load_function(spec: str, folder: Path) -> tuple[Callable[..., Any], ModuleType]:
    """The factory function named by ``spec``, and its module (`ConfigError` when either is missing)."""
    module = import_module(spec, folder)
    name, function = split_spec(spec)
    found = getattr(module, function, None)
    if found is None:
        public = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                  and getattr(v, "__module__", None) == module.__name__]
        close = difflib.get_close_matches(function, public, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else (f" (its functions: {', '.join(sorted(public))})"
                                                                if public else "")
        raise ConfigError(NO_FUNCTION.format(module=name, file=getattr(module, "__file__", "built-in"),
                                             function=function, hint=hint))
    if not callable(found):  # a class is fine: calling it returns the estimator
        raise ConfigError(NOT_CALLABLE.format(function=function, module=name, kind=type(found).__name__))
    return found, module


def call_arguments(spec: str, function: Callable[..., Any], params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """``model.params`` (and ``seed`` when the factory takes one) as the factory's keyword arguments."""
    arguments = dict(params)
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # no signature to read (a builtin): the call itself will say what is wrong
        return arguments
    if "seed" in signature.parameters and "seed" not in arguments:
        arguments["seed"] = seed
    try:
        signature.bind(**arguments)
    except TypeError as e:
        accepted = [n for n, p in signature.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        problem = f"{e} (its parameters: {', '.join(accepted) or 'none'})"
        raise ConfigError(BAD_PARAMS.format(spec=spec, problem=problem)) from None
    return arguments


def check_estimator(spec: str, estimator: Any) -> None:
    """A classifier scikit-learn can fit, score and clone; else `ConfigError` saying what it lacks."""
    what = "None" if estimator is None else f"a {type(estimator).__name__}"
    missing = [m for m in ("fit", "predict", "predict_proba") if not callable(getattr(estimator, m, None))]
    if missing:
        raise ConfigError(NOT_ESTIMATOR.format(spec=spec, what=what, missing=" or ".join(missing)))
    from sklearn.base import clone

    try:
        clone(estimator)
    except Exception as e:  # clone raises TypeError, RuntimeError or the class's own errors
        raise ConfigError(NOT_CLONEABLE.format(spec=spec, what=type(estimator).__name__, error=_one_line(e))) from None


def final_step(model: Any) -> Any:
    """The estimator at the end of a (nested) pipeline; the model itself when it is not one."""
    from sklearn.pipeline import Pipeline

    while isinstance(model, Pipeline):
        model = model.steps[-1][1]
    return model


def refuse_unserved(mitigation: str, model: Any, spec: str) -> None:
    """A mitigation that needs sample weights on a model whose final step takes none: `ConfigError`."""
    from sklearn.utils.validation import has_fit_parameter

    final = final_step(model)
    if mitigation in WEIGHTED_MITIGATIONS and not has_fit_parameter(final, "sample_weight"):
        raise ConfigError(UNWEIGHTED.format(mitigation=mitigation, cls=type(final).__name__, spec=spec))


def build(spec: str, folder: Path, params: Mapping[str, Any], seed: int) -> Any:
    """A fresh, unfitted estimator from the factory, checked (`ConfigError` for every way it can fail)."""
    function, _ = load_function(spec, folder)
    arguments = call_arguments(spec, function, params, seed)
    with search_first(folder):  # the factory may import its own sibling modules when called
        try:
            estimator = function(**arguments)
        except Exception as e:
            raise ConfigError(RAISED.format(spec=spec, error=_one_line(e))) from e
    check_estimator(spec, estimator)
    return estimator


def record(spec: str, folder: Path) -> FactoryRecord:
    """The factory's identity as code: spec, module version, source hash."""
    function, module = load_function(spec, folder)
    file = getattr(module, "__file__", None)
    try:
        source: bytes | None = inspect.getsource(module).encode("utf-8")
    except (OSError, TypeError):
        source = Path(file).read_bytes() if file and Path(file).is_file() else None
    return FactoryRecord(spec=spec, module_version=module_version(module),
                         source_hash=hashlib.sha256(source).hexdigest() if source is not None else None,
                         source_file=str(file) if file else None)


def module_version(module: ModuleType) -> str:
    """The version of the distribution that provides the module's top-level package, else ``unversioned``."""
    top = module.__name__.split(".")[0]
    for dist in importlib.metadata.packages_distributions().get(top, []):
        try:
            return f"{dist} {importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    version = getattr(sys.modules.get(top), "__version__", None)
    return f"{top} {version}" if isinstance(version, str) and version else UNVERSIONED


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
