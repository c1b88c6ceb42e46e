"""The static types of what govflow's ``@task`` and ``@flow`` return, for type checkers only.

At run time the decorators return Prefect's own ``Task`` and ``Flow``; these subclasses exist so that
a call is typed as returning the recorded function's own return type. Prefect's stubs try an overload
for coroutine functions first, which also matches a function returning ``Any`` (any pandas frame when
pandas' stubs are not installed) and types its result as a coroutine. Nothing instantiates them.
"""

from __future__ import annotations

from typing import Any, Literal, ParamSpec, TypeVar, overload

from prefect import Flow, Task
from prefect.states import State

P = ParamSpec("P")
R = TypeVar("R")


class RecordedTask(Task[P, R]):
    """A Prefect ``Task`` recorded in the ledger; calling it returns what the function returns."""

    @overload  # type: ignore[override]
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...
    @overload
    def __call__(self, *args: Any, return_state: Literal[True], wait_for: Any = None, **kwargs: Any) -> State[R]: ...
    @overload
    def __call__(self, *args: Any, wait_for: Any, return_state: Literal[False] = False, **kwargs: Any) -> R: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return super().__call__(*args, **kwargs)


class RecordedFlow(Flow[P, R]):
    """A Prefect ``Flow`` recorded in the ledger; calling it returns what the function returns."""

    @overload  # type: ignore[override]
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...
    @overload
    def __call__(self, *args: Any, return_state: Literal[True], **kwargs: Any) -> State[R]: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return super().__call__(*args, **kwargs)
