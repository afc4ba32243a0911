"""The trigger files compiled: each concept's terms and blockers, the context triggers
(negation, uncertainty, history, family), sides and section headers, ready to be applied; and
the error a malformed trigger file raises."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ServiceError
from .patterns import Prefiltered

CONTEXT_KINDS = ("negation", "uncertainty", "historical", "family")
STATUS_OF = {"negation": "absent", "uncertainty": "uncertain", "historical": "historical",
             "family": "family"}
KIND_OF = {status: kind for kind, status in STATUS_OF.items()}


class TextTriggerError(ServiceError):
    """A trigger file is malformed; the service must not start with it."""


@dataclass
class Concept:
    id: str
    group: str
    lateral: bool
    pattern: Prefiltered
    blockers_before: Prefiltered | None
    blockers_after: Prefiltered | None
    blocker_window: int


@dataclass
class Section:
    name: str
    status: str | None  # a status every mention in the section takes (historical, family)
    documents: str | None  # a concept the section documents when it has content
    empty: re.Pattern | None  # content that is no content ("deferred", "not done")


@dataclass
class HeaderPatterns:
    before_colon: re.Pattern  # a header ending where the text is cut, before its colon
    line: re.Pattern  # a header alone on its line
    names: dict[str, str]  # header (in lower case when matched in any case) -> section
    longest: int  # the longest header, with room for spaces


@dataclass
class Context:
    pre: dict[str, Prefiltered | None]
    post: dict[str, Prefiltered | None]
    # pre-triggers that reach only the concepts of some groups ("s/p" before a spine surgery)
    pre_for_groups: dict[str, dict[str, Prefiltered]]
    pseudo: Prefiltered | None
    terminators: Prefiltered | None
    window: int
    post_window: int
    list_item_words: int
    list_breakers: Prefiltered | None
    sides: dict[str, Prefiltered]
    side_window: int
    headers: list[HeaderPatterns]
    sections: dict[str, Section]
    max_characters: int
    max_mentions: int


@dataclass
class CompiledTriggers:
    """Everything a directory of trigger files defines, compiled."""

    groups: dict[str, list[str]]  # named groups of terms ({group} in a term)
    context: Context
    concepts: list[Concept]
    # every compiled pattern, in the order compiled, for the anchor index
    patterns: list[Prefiltered]

    @property
    def concept_ids(self) -> frozenset[str]:
        return frozenset(c.id for c in self.concepts)
