"""The override analytics query: per rule, the cards shown and, by each card's latest feedback
item, how many were accepted and overridden, with the most frequent override reasons (the
definitions are in ``report.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import Connection

from . import schema
from .report import ReasonCount, RuleStats


def query_rule_stats(connection: Connection, since: datetime | None,
                     top_reasons: int = 3) -> list[RuleStats]:
    cards, feedback = schema.cards, schema.feedback
    ranked = select(
        feedback.c.card_uuid, feedback.c.outcome, feedback.c.override_reason_system,
        feedback.c.override_reason_code,
        func.row_number().over(partition_by=feedback.c.card_uuid,
                               order_by=(feedback.c.outcome_at.desc(), feedback.c.id.desc()))
        .label("position"),
    ).subquery()
    latest = select(ranked).where(ranked.c.position == 1).subquery()
    shown_filter = cards.c.issued_at >= since if since is not None else None

    counts = (
        select(cards.c.rule_id, func.count().label("shown"),
               func.count(case((latest.c.outcome == "accepted", 1))).label("accepted"),
               func.count(case((latest.c.outcome == "overridden", 1))).label("overridden"))
        .select_from(cards.outerjoin(latest, latest.c.card_uuid == cards.c.card_uuid))
        .group_by(cards.c.rule_id)
    )
    reasons = (
        select(cards.c.rule_id, latest.c.override_reason_system, latest.c.override_reason_code,
               func.count().label("count"))
        .select_from(cards.join(latest, and_(latest.c.card_uuid == cards.c.card_uuid,
                                             latest.c.outcome == "overridden")))
        .group_by(cards.c.rule_id, latest.c.override_reason_system,
                  latest.c.override_reason_code)
    )
    if shown_filter is not None:
        counts = counts.where(shown_filter)
        reasons = reasons.where(shown_filter)

    stats = {rule_id: RuleStats(rule_id, shown, accepted, overridden)
             for rule_id, shown, accepted, overridden in connection.execute(counts).tuples()}
    by_rule: dict[str, list[ReasonCount]] = {}
    for rule_id, system, code, count in connection.execute(reasons).tuples():
        by_rule.setdefault(rule_id, []).append(ReasonCount(system, code, count))
    for rule_id, found in by_rule.items():
        found.sort(key=lambda r: (-r.count, r.code is None, r.code or "", r.system or ""))
        stats[rule_id].top_override_reasons = found[:top_reasons]
    return list(stats.values())
