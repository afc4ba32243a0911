"""Declaring one setting: its environment variable, default, parser and meaning, kept as the
metadata of a dataclass field so that loading, ``cds-service config`` and the docs read one
table."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Turns a value from the environment (str) or the config file (str, int, list ...) into the
#: setting's value; raises ValueError("must ...") naming what it wants.
Parser = Callable[[Any], Any]


@dataclass(frozen=True)
class Spec:
    env: str
    parse: Parser
    description: str
    secret: bool = False


def setting(env: str, default: Any, parse: Parser, description: str, *, secret: bool = False,
            default_factory: Callable[[], Any] | None = None) -> Any:
    """Declare one setting: its environment variable, default, parser and meaning."""
    metadata = {"spec": Spec(env, parse, description, secret)}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)
