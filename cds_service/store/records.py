"""The rows the store writes and the records it reads back: the cards a hook call returned
(with their suggestions and evidence), the feedback received on them, and the check that a
feedback item answers a card this service issued to the same client."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ..errors import bad_request
from ..feedback import FeedbackItem, parse_instant
from . import schema
from .keys import dedup_key

_IN_CHUNK = 500  # ids per IN (...) list


def card_rows(service_id: str, cards: list[dict], *, hook: str, hook_instance: str,
              patient_hash: str | None, issued_at: datetime, client_issuer: str | None,
              client_tenant: str | None,
              evidence: dict[str, list[dict]] | None) -> tuple[list[dict], list[dict]]:
    """The rows of ``schema.cards`` and ``schema.card_suggestions`` for one hook call's cards."""
    cards_out, suggestions_out = [], []
    for card in cards:
        cards_out.append({
            "card_uuid": card["uuid"], "service_id": service_id, "hook": hook,
            "hook_instance": hook_instance, "rule_id": card["source"]["topic"]["code"],
            "indicator": card["indicator"], "patient_hash": patient_hash,
            "issued_at": issued_at, "client_issuer": client_issuer,
            "client_tenant": client_tenant,
            "evidence": json.dumps(evidence[card["uuid"]], separators=(",", ":")) if (
                evidence and evidence.get(card["uuid"])) else None,
        })
        suggestions_out.extend(
            {"card_uuid": card["uuid"], "suggestion_uuid": s["uuid"]}
            for s in card.get("suggestions", []) if "uuid" in s)
    return cards_out, suggestions_out


def feedback_row(service_id: str, item: FeedbackItem, received_at: datetime) -> dict:
    """The row of ``schema.feedback`` for one item; the spec asks for an instant as the outcome
    time, and a bare time is read as UTC."""
    return {
        "dedup_key": dedup_key(item), "card_uuid": item.card_uuid, "service_id": service_id,
        "outcome": item.outcome, "accepted_suggestions": list(item.accepted_suggestions),
        "override_reason_system": item.override_reason_system,
        "override_reason_code": item.override_reason_code,
        "override_comment": item.override_comment,
        "outcome_at": parse_instant(item.outcome_timestamp), "received_at": received_at,
    }


def insert_feedback(dialect: str) -> Insert:
    """The insert of one feedback row: a re-sent item (same ``dedup_key``) is skipped, and
    RETURNING yields a row only for an inserted item (rowcount is not reliable here)."""
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(schema.feedback)
    return (insert.on_conflict_do_nothing(index_elements=["dedup_key"])
            .returning(schema.feedback.c.id))


def check_feedback_cards(connection: Connection, items: list[FeedbackItem],
                         caller: tuple[str, str | None, str | None]) -> None:
    """Raise a 400 naming the first item whose card was not issued to ``caller`` (service id,
    client issuer, client tenant) or whose accepted suggestions were not on the card. A card
    issued to another client is refused as a card this service never issued: whether it exists
    is not told."""
    card_ids = sorted({item.card_uuid for item in items})
    owners: dict[str, tuple[str, str | None, str | None]] = {}
    suggestions: dict[str, set[str]] = defaultdict(set)
    cards = schema.cards.c
    for chunk in _chunks(card_ids):
        for card_uuid, *owner in connection.execute(
                select(cards.card_uuid, cards.service_id, cards.client_issuer,
                       cards.client_tenant)
                .where(cards.card_uuid.in_(chunk))).tuples():
            owners[card_uuid] = tuple(owner)
        for card_uuid, suggestion in connection.execute(
                select(schema.card_suggestions.c.card_uuid,
                       schema.card_suggestions.c.suggestion_uuid)
                .where(schema.card_suggestions.c.card_uuid.in_(chunk))).tuples():
            suggestions[card_uuid].add(suggestion)
    for index, item in enumerate(items):
        if owners.get(item.card_uuid) != caller:
            raise bad_request(f"feedback[{index}].card is not a card this service issued.",
                              f"feedback[{index}].card")
        if set(item.accepted_suggestions) - suggestions[item.card_uuid]:
            raise bad_request(
                f"feedback[{index}].acceptedSuggestions names a suggestion that was not "
                "on the card.", f"feedback[{index}].acceptedSuggestions")


def read_card_evidence(connection: Connection, card_uuid: str) -> list[dict] | None:
    """What a stored card rests on (references and offsets); None for an unknown card."""
    table = schema.cards
    row = connection.execute(select(table.c.evidence).where(
        table.c.card_uuid == card_uuid)).first()
    if row is None:
        return None
    return json.loads(row[0]) if row[0] else []


def read_feedback(connection: Connection, card_uuid: str) -> list[FeedbackItem]:
    """The feedback stored for one card, oldest first (as parsed, instants in UTC)."""
    table = schema.feedback
    rows = connection.execute(select(table).where(table.c.card_uuid == card_uuid)
                              .order_by(table.c.outcome_at, table.c.id)).mappings().all()
    return [FeedbackItem(r["card_uuid"], r["outcome"], tuple(r["accepted_suggestions"]),
                         r["override_reason_code"], r["override_reason_system"],
                         r["override_comment"], r["outcome_at"].isoformat())
            for r in rows]


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start:start + _IN_CHUNK]
