"""The estimators a config may name, built in one place, and `model.params` checked against them.

`check_params` runs when a config file is loaded, before anything is recorded: an unknown
parameter, or a value of the wrong type or out of range (scikit-learn's own parameter constraints),
is a `ConfigError` naming the parameter and what it accepts. Combinations that scikit-learn only
checks while fitting (a solver that does not support a penalty) surface at the first fit, also as a
`ConfigError` (see `refused_while_fitting`). A team's own estimator or pipeline (``model.factory``)
is imported, called and checked by `govflow.governance.registry.factories`; `build` picks one or the other.
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from govflow.errors import ConfigError

# name in govflow.yaml -> (module, class, whether data.seed is its default random_state)
CLASSES: dict[str, tuple[str, str, bool]] = {
    "logistic_regression": ("sklearn.linear_model", "LogisticRegression", False),
    "hist_gradient_boosting": ("sklearn.ensemble", "HistGradientBoostingClassifier", True),
    "random_forest": ("sklearn.ensemble", "RandomForestClassifier", True),
}
# Those whose scikit-learn implementation takes missing numbers (NaN) as they are.
HANDLES_MISSING = frozenset({"hist_gradient_boosting", "random_forest"})
CONSTRAINT = re.compile(r"The '(?P<name>\w+)' parameter of (?P<cls>\w+) must be (?P<accepts>.+)\. Got (?P<got>.+) instead$",
                        re.DOTALL)


def estimator_class(name: str) -> type:
    module, cls, _ = CLASSES[name]
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def defaults(name: str, seed: int) -> dict[str, Any]:
    """govflow's own defaults for an estimator; `model.params` override them."""
    found: dict[str, Any] = {"max_iter": 2000} if name == "logistic_regression" else {}
    if CLASSES[name][2]:
        found["random_state"] = seed
    return found


def make_estimator(name: str, params: Mapping[str, Any], seed: int) -> Any:
    """The estimator `name` with govflow's defaults and then `params`."""
    return estimator_class(name)(**{**defaults(name, seed), **params})


def build(estimator: str | None, factory: str | None, params: Mapping[str, Any], seed: int, folder: Path) -> Any:
    """A fresh, unfitted model: govflow's estimator ``estimator``, or what the ``factory`` returns."""
    if factory:
        from govflow.governance.registry.factories import build as from_factory

        return from_factory(factory, folder, params, seed)
    return make_estimator(estimator or "logistic_regression", params, seed)


def check_model(estimator: str | None, factory: str | None, params: Mapping[str, Any], seed: int,
                folder: Path, mitigation: str = "none") -> None:
    """Refuse (`ConfigError`) what cannot be built: bad params of an estimator, a factory that fails, or a
    factory's model that the mitigation cannot serve."""
    if factory:
        from govflow.governance.registry.factories import refuse_unserved

        refuse_unserved(mitigation, build(estimator, factory, params, seed, folder), factory)
    else:
        check_params(estimator or "logistic_regression", params, seed)


def check_params(name: str, params: Mapping[str, Any], seed: int) -> None:
    """Refuse parameters the estimator does not have, or values it does not accept (`ConfigError`)."""
    cls = estimator_class(name)
    known = sorted(cls().get_params(deep=False))
    for key in params:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"its parameters: {', '.join(known)}"
            raise ConfigError(f"model.params.{key}: {cls.__name__} has no parameter '{key}'; {hint}")
    estimator = make_estimator(name, params, seed)
    validate = getattr(estimator, "_validate_params", None)  # scikit-learn >= 1.2: the declared constraints
    if validate is None:
        return
    try:
        validate()
    except (ValueError, TypeError) as e:
        raise ConfigError(describe(cls.__name__, e)) from None


def describe(cls_name: str, error: BaseException) -> str:
    """One line naming the parameter and what it accepts, from scikit-learn's message."""
    text = " ".join(str(error).split()).rstrip(".")
    match = CONSTRAINT.match(text)
    if match is None:
        return f"model.params: {cls_name} refused its parameters: {text}; fix model.params"
    return (f"model.params.{match['name']}: {cls_name} needs {match['accepts']}, got {match['got']}; "
            "fix the value or remove it")


def refused_while_fitting(error: BaseException, name: str, params: Mapping[str, Any], seed: int) -> bool:
    """Whether an error raised by fitting is the estimator refusing `model.params`.

    scikit-learn checks some combinations only in `fit`, with a plain ValueError (a solver that does
    not support a penalty). It is the parameters' fault when the message names one the config set,
    or when the same estimator fails on a tiny clean problem too (tried only on this failure path).
    """
    if not params or not isinstance(error, ValueError):
        return False
    text = str(error)
    if type(error).__name__ == "InvalidParameterError" or any(
            re.search(rf"(?<![A-Za-z_]){re.escape(str(key))}(?![A-Za-z_])", text) for key in params):
        return True
    import numpy as np

    features = np.random.default_rng(0).normal(size=(40, 2))
    labels = np.arange(40) % 2
    try:
        make_estimator(name, params, seed).fit(features, labels)
    except ValueError:
        return True
    return False
