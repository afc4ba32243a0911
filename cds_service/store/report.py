"""Override analytics: per rule, the cards shown and what clinicians did with them, as a report
(JSON, a table for a terminal, CSV) built from the counts ``analytics.py`` queries.

Definitions (docs/feedback-and-analytics.md):

- ``shown``: cards of the rule the service returned (since the given instant, if any);
- a card's outcome is its latest feedback item (by ``outcomeTimestamp``, then arrival), so a
  card counts once, as ``accepted`` or ``overridden``, or in ``noFeedback``;
- ``acceptanceRate`` = accepted / (accepted + overridden), null while no card has feedback;
- ``topOverrideReasons``: the override reasons of the overridden cards, most frequent first
  (ties by code), with the display text from the rule's card template where it is one of ours.
  A reason's free-text comment is never reported (it may hold patient details).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any


@dataclass
class ReasonCount:
    system: str | None
    code: str | None
    count: int
    display: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"system": self.system, "code": self.code, "display": self.display,
                "count": self.count}

    @property
    def label(self) -> str:
        return self.code if self.code is not None else "(no reason given)"


@dataclass
class RuleStats:
    rule_id: str
    shown: int = 0
    accepted: int = 0
    overridden: int = 0
    top_override_reasons: list[ReasonCount] = field(default_factory=list)
    title: str | None = None

    @property
    def no_feedback(self) -> int:
        return self.shown - self.accepted - self.overridden

    @property
    def acceptance_rate(self) -> float | None:
        decided = self.accepted + self.overridden
        return round(self.accepted / decided, 4) if decided else None

    def as_json(self) -> dict[str, Any]:
        return {
            "ruleId": self.rule_id, "title": self.title, "shown": self.shown,
            "accepted": self.accepted, "overridden": self.overridden,
            "noFeedback": self.no_feedback, "acceptanceRate": self.acceptance_rate,
            "topOverrideReasons": [r.as_json() for r in self.top_override_reasons],
        }


def parse_since(value: str) -> datetime:
    """A date (YYYY-MM-DD, midnight UTC) or an ISO 8601 date-time (UTC if it has no offset).
    Raises ValueError."""
    value = value.strip()
    try:
        if "T" not in value and " " not in value:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be a date (YYYY-MM-DD) or an ISO 8601 date-time") from None
    return (instant if instant.tzinfo else instant.replace(tzinfo=UTC)).astimezone(UTC)


def build_report(rows: list[RuleStats], since: datetime | None,
                 rule_ids: list[str] | tuple[str, ...] = (),
                 titles: dict[str, str] | None = None,
                 reason_displays: dict[tuple[str | None, str], str] | None = None
                 ) -> dict[str, Any]:
    """The report as JSON: every rule in ``rule_ids`` (the rules this service has, shown or
    not) and every rule with stored cards, most overridden first."""
    stats = {row.rule_id: row for row in rows}
    for rule_id in rule_ids:
        stats.setdefault(rule_id, RuleStats(rule_id))
    for row in stats.values():
        row.title = (titles or {}).get(row.rule_id)
        for reason in row.top_override_reasons:
            if reason.code is not None:
                reason.display = (reason_displays or {}).get((reason.system, reason.code))
    ordered = sorted(stats.values(), key=lambda r: (-r.overridden, -r.shown, r.rule_id))
    total = RuleStats("*", sum(r.shown for r in ordered), sum(r.accepted for r in ordered),
                      sum(r.overridden for r in ordered))
    return {
        "generatedAt": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "since": since.isoformat().replace("+00:00", "Z") if since else None,
        "rules": [row.as_json() for row in ordered],
        "totals": {"shown": total.shown, "accepted": total.accepted,
                   "overridden": total.overridden, "noFeedback": total.no_feedback,
                   "acceptanceRate": total.acceptance_rate},
    }


def rule_report(store: Any, since: datetime | None, renderer: Any) -> dict[str, Any]:
    """The per-rule report as JSON, with rule titles and override reason texts from the card
    templates of ``renderer`` (the pipeline's ``CardRenderer``)."""
    titles = {rule_id: template.title for rule_id, template in renderer.templates.items()}
    displays = {(renderer.override_system, reason["code"]): reason["display"]
                for template in renderer.templates.values()
                for reason in template.override_reasons}
    return build_report(store.rule_report(since), since, list(renderer.templates), titles,
                        displays)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _printable(value: str) -> str:
    """Client-sent text (reason codes) without control characters, for a terminal or a file."""
    return "".join(c if c.isprintable() else "?" for c in value)


def _reason_text(reason: dict[str, Any]) -> str:
    """A reason as its code, then the card's own wording for it where the code is one of ours:
    ``payer-accepts-code "Payer's own code set accepts this code for this date" (2)``."""
    if reason["code"] is None:
        named = "(no reason given)"
    elif reason.get("display"):
        named = f'{_printable(reason["code"])} "{reason["display"]}"'
    else:
        named = _printable(reason["code"])
    return f"{named} ({reason['count']})"


def _reasons_text(rule: dict[str, Any]) -> str:
    return "; ".join(_reason_text(reason) for reason in rule["topOverrideReasons"])


def _spreadsheet_safe(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (reason codes come from clients)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


_COLUMNS = ("rule_id", "title", "shown", "accepted", "overridden", "no_feedback", "acceptance_rate",
            "top_override_reasons")


def _row(rule: dict[str, Any]) -> list[str]:
    return [rule["ruleId"], rule.get("title") or "", str(rule["shown"]), str(rule["accepted"]),
            str(rule["overridden"]), str(rule["noFeedback"]), _rate(rule["acceptanceRate"]),
            _reasons_text(rule)]


def render_table(report: dict[str, Any]) -> str:
    rows = [list(_COLUMNS)] + [_row(rule) for rule in report["rules"]]
    totals = report["totals"]
    rows.append(["(all rules)", "", str(totals["shown"]), str(totals["accepted"]),
                 str(totals["overridden"]), str(totals["noFeedback"]),
                 _rate(totals["acceptanceRate"]), ""])
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    numeric = range(2, 7)
    lines = []
    for number, row in enumerate(rows):
        cells = [cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
                 for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    since = report["since"] or "the beginning"
    return f"Cards shown since {since}, by rule\n\n" + "\n".join(lines) + "\n"


def render_csv(report: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_COLUMNS)
    for rule in report["rules"]:
        writer.writerow([_spreadsheet_safe(rule["ruleId"]), rule.get("title") or "",
                         rule["shown"], rule["accepted"],
                         rule["overridden"],
                         rule["noFeedback"],
                         "" if rule["acceptanceRate"] is None else rule["acceptanceRate"],
                         _spreadsheet_safe(_reasons_text(rule))])
    return buffer.getvalue()
