"""The feedback group of the settings: the bounds of one feedback call (cds_service/feedback.py)."""

from __future__ import annotations

from dataclasses import dataclass

from .parsers import integer
from .spec import setting


@dataclass(frozen=True)
class FeedbackSettings:
    """Feedback (cds_service/feedback.py): every call within these, else 400 or 413."""

    feedback_max_items: int = setting("CDS_FEEDBACK_MAX_ITEMS", 100, integer(1, 10_000),
                                      "Feedback items (and accepted suggestions) in one call")
    feedback_max_string_chars: int = setting(
        "CDS_FEEDBACK_MAX_STRING_CHARS", 256, integer(36, 65_536),
        "Longest suggestion id, override reason code or system in feedback")
    feedback_max_comment_chars: int = setting(
        "CDS_FEEDBACK_MAX_COMMENT_CHARS", 4000, integer(1, 1_000_000),
        "Longest override comment (userComment) in feedback")
