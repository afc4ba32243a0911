"""One settings object, read from environment variables (CDS_*) with safe defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields


class SettingsError(ValueError):
    """A configuration value is invalid; the message names the variable."""


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _list(name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return tuple(item.strip() for item in raw.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    max_body_bytes: int = 5 * 1024 * 1024
    cors_origins: tuple[str, ...] = ("*",)
    feedback_card_capacity: int = 100_000
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            max_body_bytes=_int("CDS_MAX_BODY_BYTES", cls.max_body_bytes, minimum=1024),
            cors_origins=_list("CDS_CORS_ORIGINS", ("*",)),
            feedback_card_capacity=_int("CDS_FEEDBACK_CARD_CAPACITY", 100_000, minimum=1),
        )

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
