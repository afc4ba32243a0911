"""CDS Hooks 2.0 feedback: parsing and validating the feedback body (stored by ``store``).

Spec: https://cds-hooks.hl7.org/2.0/#feedback . Feedback for a card this service never issued,
a suggestion that was not on that card, or an outcome the spec does not define is refused
whole: nothing of a rejected request is stored.

Bounds (the settings' ``FeedbackSettings``, CDS_FEEDBACK_MAX_*): the items in one call (413
above), the length of every string the service keeps (400), and the outcome instant, which must
fall in the years 1900 to 2199 (400): a date outside them is a client's mistake, and one near
the end of the calendar cannot even be turned into UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .errors import CdsError, bad_request
from .identifiers import is_uuid
from .settings.feedback import FeedbackSettings

OUTCOMES = frozenset({"accepted", "overridden"})
EARLIEST_YEAR, LATEST_YEAR = 1900, 2199


@dataclass(frozen=True)
class FeedbackItem:
    card_uuid: str
    outcome: str
    accepted_suggestions: tuple[str, ...]
    override_reason_code: str | None
    override_reason_system: str | None
    override_comment: str | None
    outcome_timestamp: str

    @property
    def key(self) -> tuple:
        return (self.card_uuid, self.outcome, self.accepted_suggestions,
                self.override_reason_code, self.outcome_timestamp)


def parse_feedback(body: Any, limits: FeedbackSettings | None = None) -> list[FeedbackItem]:
    limits = limits or FeedbackSettings()
    if not isinstance(body, dict):
        raise bad_request("The feedback body must be a JSON object.")
    items = body.get("feedback")
    if not isinstance(items, list) or not items:
        raise bad_request("'feedback' must be a non-empty array.", "feedback")
    if len(items) > limits.feedback_max_items:
        raise CdsError(413, f"'feedback' holds {len(items)} items; this service accepts at most "
                            f"{limits.feedback_max_items} in one call.", "feedback")
    return [_parse_item(item, f"feedback[{i}]", limits) for i, item in enumerate(items)]


def _bounded(value: str, limit: int, path: str) -> str:
    if len(value) > limit:
        raise bad_request(f"{path} is longer than the {limit} characters this service accepts.",
                          path)
    return value


def _parse_item(item: Any, path: str, limits: FeedbackSettings) -> FeedbackItem:
    if not isinstance(item, dict):
        raise bad_request(f"{path} must be an object.", path)
    card = item.get("card")
    if not isinstance(card, str) or not is_uuid(card):
        raise bad_request(f"{path}.card must be the uuid of a card.", f"{path}.card")
    outcome = item.get("outcome")
    if not isinstance(outcome, str) or outcome not in OUTCOMES:
        raise bad_request(f"{path}.outcome must be 'accepted' or 'overridden'.", f"{path}.outcome")
    accepted = item.get("acceptedSuggestions", [])
    if not isinstance(accepted, list) or not all(
        isinstance(s, dict) and isinstance(s.get("id"), str) and s["id"] for s in accepted
    ):
        raise bad_request(f"{path}.acceptedSuggestions must be an array of {{\"id\": uuid}}.",
                          f"{path}.acceptedSuggestions")
    if len(accepted) > limits.feedback_max_items:
        raise bad_request(f"{path}.acceptedSuggestions names more than {limits.feedback_max_items} "
                          "suggestions.", f"{path}.acceptedSuggestions")
    for index, suggestion in enumerate(accepted):
        _bounded(suggestion["id"], limits.feedback_max_string_chars,
                 f"{path}.acceptedSuggestions[{index}].id")
    if outcome == "accepted" and not accepted:
        pass  # a card accepted without a suggestion (e.g. an info card acknowledged) is valid
    if outcome == "overridden" and accepted:
        raise bad_request(f"{path}: an overridden card has no accepted suggestions.",
                          f"{path}.acceptedSuggestions")
    reason_code = reason_system = comment = None
    override = item.get("overrideReason")
    if override is not None:
        if outcome != "overridden":
            raise bad_request(f"{path}.overrideReason is only allowed when overridden.",
                              f"{path}.overrideReason")
        if not isinstance(override, dict):
            raise bad_request(f"{path}.overrideReason must be an object.",
                              f"{path}.overrideReason")
        reason = override.get("reason")
        if reason is not None:
            if not isinstance(reason, dict) or not isinstance(reason.get("code"), str):
                raise bad_request(f"{path}.overrideReason.reason must be a Coding with a code.",
                                  f"{path}.overrideReason.reason")
            reason_code = _bounded(reason["code"], limits.feedback_max_string_chars,
                                   f"{path}.overrideReason.reason.code")
            reason_system = reason.get("system") if isinstance(reason.get("system"), str) else None
            if reason_system is not None:
                _bounded(reason_system, limits.feedback_max_string_chars,
                         f"{path}.overrideReason.reason.system")
        comment = override.get("userComment")
        if comment is not None and not isinstance(comment, str):
            raise bad_request(f"{path}.overrideReason.userComment must be a string.",
                              f"{path}.overrideReason.userComment")
        if comment is not None:
            _bounded(comment, limits.feedback_max_comment_chars,
                     f"{path}.overrideReason.userComment")
    timestamp = item.get("outcomeTimestamp")
    if not isinstance(timestamp, str) or len(timestamp) > 64 or not _is_instant(timestamp):
        raise bad_request(f"{path}.outcomeTimestamp must be an ISO 8601 date-time.",
                          f"{path}.outcomeTimestamp")
    if not _in_calendar(timestamp):
        raise bad_request(f"{path}.outcomeTimestamp must fall between the years {EARLIEST_YEAR} "
                          f"and {LATEST_YEAR}.", f"{path}.outcomeTimestamp")
    return FeedbackItem(card, outcome, tuple(s["id"] for s in accepted), reason_code,
                        reason_system, comment, timestamp)


def parse_instant(value: str) -> datetime:
    """An outcome instant in UTC (a time without zone is read as UTC). Raises ValueError or
    OverflowError for what ``_parse_item`` refuses."""
    instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def _in_calendar(value: str) -> bool:
    try:
        instant = parse_instant(value)
    except (ValueError, OverflowError):  # 9999-12-31T23:59:59-14:00 is past year 9999 in UTC
        return False
    return EARLIEST_YEAR <= instant.year <= LATEST_YEAR


def _is_instant(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in value
