"""The time budget of one hook call (CDS_REQUEST_BUDGET_SECONDS).

A hook call's work is cut into stages (parse, prefetch, facts, rules, cards, store); the
pipeline names the stage it is in and checks the budget between stages. Code inside a stage
that may loop long calls ``check_deadline()`` now and then (every few hundred items is plenty:
a check costs one clock read). Past the budget the check raises ``BudgetExceeded``, which the
HTTP layer answers 503 with an OperationOutcome, logging the stage that ran over (its name and
the times only, nothing of the request). Nothing is stored for such a call: the store stage
checks before it writes, and after it there is nothing left to stop.

The budget lives in a context variable, set for the duration of a request, so that code deep
in the rules need not be handed it; outside a request (the command line, tests calling a rule
directly) there is none and ``check_deadline()`` does nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator

from .errors import CdsError

STAGES = ("parse", "prefetch", "facts", "rules", "cards", "store")


class BudgetExceeded(CdsError):
    """A hook call ran past its time budget (answered 503)."""

    def __init__(self, stage: str, elapsed: float, budget: float):
        super().__init__(503, "The service could not finish this request within its time "
                              "budget; try again later, or with fewer resources.")
        self.stage = stage
        self.elapsed = elapsed
        self.budget = budget


class Deadline:
    """``budget`` seconds from ``started`` (a ``time.perf_counter()`` reading); ``stage`` is the
    stage now running, for the log."""

    __slots__ = ("started", "budget", "expires", "stage")

    def __init__(self, budget: float, started: float | None = None):
        self.started = time.perf_counter() if started is None else started
        self.budget = budget
        self.expires = self.started + budget
        self.stage = "parse"

    def remaining(self) -> float:
        return max(0.0, self.expires - time.perf_counter())

    def check(self, stage: str | None = None) -> None:
        """Raise BudgetExceeded if the budget is spent; ``stage`` names the stage running
        (default: the current one)."""
        now = time.perf_counter()
        if now > self.expires:
            raise BudgetExceeded(stage or self.stage, now - self.started, self.budget)

    def enter(self, stage: str) -> None:
        """Check the budget (what ran so far is charged to the stage that ran it), then start
        ``stage``."""
        self.check()
        self.stage = stage


_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "cds_deadline", default=None)


def current_deadline() -> Deadline | None:
    return _current.get()


def check_deadline() -> None:
    """Raise BudgetExceeded if the running request's budget is spent; a no-op outside one."""
    deadline = _current.get()
    if deadline is not None and time.perf_counter() > deadline.expires:
        deadline.check()


def enter_stage(stage: str) -> None:
    """Charge the time so far to the current stage (raising if the budget is spent), then
    start ``stage``; a no-op outside a request with a budget."""
    deadline = _current.get()
    if deadline is not None:
        deadline.enter(stage)


@contextlib.contextmanager
def budget(seconds: float, started: float | None = None) -> Iterator[Deadline | None]:
    """The budget of the code inside (none when ``seconds`` is 0)."""
    deadline = Deadline(seconds, started) if seconds > 0 else None
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)
