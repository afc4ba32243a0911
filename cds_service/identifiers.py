"""Checks of the identifiers clients send: a hook call's ``hookInstance``, a feedback's card."""

from __future__ import annotations

import uuid


def is_uuid(value: str) -> bool:
    """True when ``value`` is a UUID in any of the forms Python's ``uuid.UUID`` reads."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
