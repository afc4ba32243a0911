"""The store's errors: ``StoreError`` for the operator at start-up, and the 503 a client gets
when the database fails during a request (the error's type is logged, never its text: a driver
error can hold the URL or the statement's parameters)."""

from __future__ import annotations

from ..errors import CdsError, ServiceError


class StoreError(ServiceError):
    """The feedback database cannot be opened, keyed or migrated. The message names the
    database (password masked) and what went wrong, never a patient's data."""


def unavailable() -> CdsError:
    """The answer to a request while the database fails."""
    return CdsError(503, "The feedback store is not available; try again later.")


def reason(exc: BaseException) -> str:
    """A one-line reason for an operator: the driver's first line, never the SQL parameters."""
    origin = getattr(exc, "orig", None) or exc
    first = (str(origin).strip().splitlines() or [""])[0]
    return f"{type(origin).__name__}: {first[:300]}" if first else type(origin).__name__
