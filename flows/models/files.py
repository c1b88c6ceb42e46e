"""Models fitted elsewhere: read a skops or joblib/pickle file and check it can stand for a system.

skops files are read without running code from them: every type in the file must be one skops
trusts (scikit-learn, numpy, ...) or one the user names with ``--trust``. Reading a pickle (joblib
included) runs whatever code the file holds, so it is refused unless the user says they trust the
file (``--trust-pickle``). Every refusal is an `InputError` (exit 2) saying what is wrong and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from govflow.errors import InputError
from govflow.governance.config import GovflowConfig

SKOPS_SUFFIXES = (".skops",)
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")

NOT_FOUND = "model file {file} not found"
UNSUPPORTED = ("cannot read model file {file}: unsupported file type '{suffix}'; save the model with skops "
               "(.skops, recommended) or joblib/pickle (.joblib, .pkl, .pickle)")
PICKLE_REFUSED = ("{file} is a pickle: loading it executes code stored in the file; if you trust where it came "
                  "from, pass --trust-pickle (or save the model with skops, .skops, which loads without running code)")
UNTRUSTED = ("{file} holds types that skops does not trust by default: {types}; loading them can run their code. "
             "If you trust them, pass {flags}")
UNREADABLE = "cannot read {file} as a {kind} file: {reason}; check that the file is a model saved with {kind}"
NOT_A_CLASSIFIER = ("{file} holds a {kind}, not a classifier with predict_proba; govflow needs a fitted binary "
                    "classifier (a scikit-learn classifier, or a Pipeline ending in one)")
NOT_FITTED = "{file} holds a {kind} that is not fitted; fit it before saving it"
NOT_BINARY = ("{file} holds a classifier of {count} classes ({classes}); govflow needs a binary classifier of "
              "'{target}': the favourable outcome (data.positive_label {positive}) and one other")
POSITIVE_FIRST = ("{file}: the model's classes are {classes}, so its predict_proba gives the probability of "
                  "'{other}' last, but govflow reads the last as the favourable outcome (data.positive_label "
                  "{positive}); fit it on 1 for {positive} and 0 otherwise")
FOREIGN_CLASSES = ("{file}: the model's classes {classes} are neither the labels of '{target}' in the training data "
                   "({labels}) nor 0/1 (1 for data.positive_label {positive}); fit it on that target")
NO_FEATURE_NAMES = ("{file} holds a model fitted without column names (on an array); fit it on a DataFrame with the "
                    "columns the config gives the model: {features}")
FEATURES_DIFFER = "{file}: the model's input columns do not match the config's features: {problems}"


def read_model_file(path: Path, *, trust: Sequence[str] = (), trust_pickle: bool = False) -> tuple[Any, str]:
    """``(the object in the file, its format: skops | pickle)``."""
    if not path.is_file():
        raise InputError(NOT_FOUND.format(file=path))
    suffix = path.suffix.lower()
    if suffix in SKOPS_SUFFIXES:
        return _read_skops(path, trust), "skops"
    if suffix in PICKLE_SUFFIXES:
        if not trust_pickle:
            raise InputError(PICKLE_REFUSED.format(file=path))
        return _read_pickle(path), "pickle"
    raise InputError(UNSUPPORTED.format(file=path, suffix=path.suffix or "(none)"))


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"


def _read_skops(path: Path, trust: Sequence[str]) -> Any:
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as e:  # zip, json or schema errors: one cause, the file is not a skops file
        raise InputError(UNREADABLE.format(file=path, kind="skops", reason=_reason(e))) from e
    refused = [name for name in untrusted if name not in trust]
    if refused:
        flags = " ".join(f"--trust {name}" for name in refused)
        raise InputError(UNTRUSTED.format(file=path, types=", ".join(refused), flags=flags))
    try:
        return sio.load(path, trusted=list(untrusted))
    except Exception as e:
        raise InputError(UNREADABLE.format(file=path, kind="skops", reason=_reason(e))) from e


def _read_pickle(path: Path) -> Any:
    import joblib

    try:
        return joblib.load(path)  # reads plain pickles too
    except Exception as e:  # unpickling raises anything the file's code raises
        raise InputError(UNREADABLE.format(file=path, kind="joblib/pickle", reason=_reason(e))) from e


def kind_of(model: Any) -> str:
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def check_classifier(model: Any, path: Path, config: GovflowConfig, labels: Sequence[Any]) -> None:
    """A fitted binary classifier whose last probability column is the favourable outcome."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not callable(getattr(model, "predict_proba", None)) or not callable(getattr(model, "fit", None)):
        raise InputError(NOT_A_CLASSIFIER.format(file=path, kind=kind_of(model)))
    try:
        check_is_fitted(model)
    except NotFittedError as e:
        raise InputError(NOT_FITTED.format(file=path, kind=kind_of(model))) from e
    except TypeError as e:  # not a scikit-learn estimator at all
        raise InputError(NOT_A_CLASSIFIER.format(file=path, kind=kind_of(model))) from e
    classes = list(getattr(model, "classes_", []))
    target, positive = config.data.target, config.data.positive_label
    shown = ", ".join(repr(c.item() if hasattr(c, "item") else c) for c in classes[:10])
    if len(classes) != 2:
        raise InputError(NOT_BINARY.format(file=path, count=len(classes), classes=shown or "none recorded",
                                           target=target, positive=positive))
    names = [str(c) for c in classes]
    if str(positive) in names:
        if names[1] != str(positive):
            raise InputError(POSITIVE_FIRST.format(file=path, classes=shown, other=names[1], positive=positive))
    elif sorted(names) not in (["0", "1"], ["False", "True"]):
        raise InputError(FOREIGN_CLASSES.format(file=path, classes=shown, target=target, positive=positive,
                                                labels=", ".join(map(str, list(labels)[:10]))))


def check_features(model: Any, path: Path, features: Sequence[str]) -> None:
    """The model was fitted on exactly the columns the config gives it, in that order."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise InputError(NO_FEATURE_NAMES.format(file=path, features=", ".join(features)))
    fitted = [str(n) for n in names]
    problems = []
    missing = [c for c in features if c not in fitted]
    extra = [c for c in fitted if c not in features]
    if missing:
        problems.append(f"the config gives it {', '.join(missing)}, which it was not fitted on")
    if extra:
        problems.append(f"it was fitted on {', '.join(extra)}, which the config does not give it "
                        "(not in the data, or the target, a sensitive feature, data.exclude or the id column)")
    if not problems and fitted != list(features):
        problems.append(f"the same columns in another order: it was fitted on {', '.join(fitted)}; "
                        "reorder the data files' columns or refit")
    if problems:
        raise InputError(FEATURES_DIFFER.format(file=path, problems="; ".join(problems)))
