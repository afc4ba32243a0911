"""The statements and rows of the per-call writes (``sqlite_hot.py``, ``postgres_hot.py``),
written once for both databases: plain SQL that SQLite and PostgreSQL both accept, on the tables
of ``schema.py``, with the driver's parameter marker ("?" for sqlite3, "%s" for psycopg)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import schema

CARD_COLUMNS = ("card_uuid", "service_id", "hook", "hook_instance", "rule_id", "indicator",
                "patient_hash", "issued_at", "client_issuer", "client_tenant", "evidence")


@dataclass(frozen=True)
class Statements:
    cards: str
    suggestions: str
    sweep_tokens: str
    # RETURNING names the key only if this call inserted it, or took over an expired entry of
    # it (not swept yet: the sweep runs once a minute, not with every call)
    remember_token: str


def statements(marker: str) -> Statements:
    def values(count: int) -> str:
        return ", ".join([marker] * count)

    return Statements(
        cards=(f"INSERT INTO {schema.cards.name} ({', '.join(CARD_COLUMNS)}) "
               f"VALUES ({values(len(CARD_COLUMNS))}) ON CONFLICT (card_uuid) DO NOTHING"),
        suggestions=(f"INSERT INTO {schema.card_suggestions.name} (card_uuid, suggestion_uuid) "
                     f"VALUES ({values(2)}) ON CONFLICT (card_uuid, suggestion_uuid) DO NOTHING"),
        sweep_tokens=f"DELETE FROM {schema.seen_tokens.name} WHERE expires_at < {marker}",
        remember_token=(f"INSERT INTO {schema.seen_tokens.name} AS seen (token_key, expires_at) "
                        f"VALUES ({values(2)}) ON CONFLICT (token_key) DO UPDATE SET "
                        f"expires_at = excluded.expires_at WHERE seen.expires_at < {marker} "
                        "RETURNING token_key"),
    )


def card_parameters(card_rows: list[dict], instant: Callable[[datetime], Any]) -> list[tuple]:
    """The store's card rows as the parameters of ``Statements.cards``; ``instant`` gives a
    datetime the form the driver stores."""
    return [tuple(instant(row[c]) if c == "issued_at" else row[c] for c in CARD_COLUMNS)
            for row in card_rows]


def suggestion_parameters(suggestion_rows: list[dict]) -> list[tuple]:
    return [(row["card_uuid"], row["suggestion_uuid"]) for row in suggestion_rows]
