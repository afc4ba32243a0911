"""What a reading of free text says: each mention of a concept with its status (present,
absent, uncertain, historical, family), its side and section, and where it sits in the text it
was read from, so that a card can quote it as evidence."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property

STATUS_ORDER = ("family", "absent", "historical", "uncertain", "present")


@dataclass(frozen=True)
class Mention:
    """One mention of a concept. ``start``/``end`` are offsets in its sentence; the evidence
    fields place it in the text it was read from, so that it can be quoted and marked."""

    concept: str
    status: str  # present | absent | uncertain | historical | family
    side: str | None  # right | left | bilateral | None
    sentence: int
    start: int
    end: int
    text: str = field(repr=False, compare=False, default="")
    # the index of the text among those passed to TextReader.read (None and "" count)
    text_index: int = field(repr=False, compare=False, default=0)
    # offsets of the matched words in that text
    text_start: int = field(repr=False, compare=False, default=0)
    text_end: int = field(repr=False, compare=False, default=0)
    # the sentence's span in that text
    sentence_start: int = field(repr=False, compare=False, default=0)
    sentence_end: int = field(repr=False, compare=False, default=0)
    # the section the mention is in ("hpi", "ros", "exam", "assessment", ...), None before any
    section: str | None = field(repr=False, compare=False, default=None)
    # the context kind that set the status (negation, uncertainty, historical, family), and the
    # span of the trigger words (or of the section header) in the text; None when present
    set_aside_by: str | None = field(repr=False, compare=False, default=None)
    trigger_start: int | None = field(repr=False, compare=False, default=None)
    trigger_end: int | None = field(repr=False, compare=False, default=None)


@dataclass(frozen=True)
class Reading:
    """What one or more texts say: every mention of every concept, with its status."""

    mentions: tuple[Mention, ...]

    @cached_property
    def _by_concept(self) -> dict[str, tuple[Mention, ...]]:
        index: dict[str, list[Mention]] = {}
        for mention in self.mentions:
            index.setdefault(mention.concept, []).append(mention)
        return {concept: tuple(found) for concept, found in index.items()}

    def of(self, *concepts: str) -> tuple[Mention, ...]:
        if len(concepts) == 1:
            return self._by_concept.get(concepts[0], ())
        return tuple(m for m in self.mentions if m.concept in concepts)

    def status(self, *concepts: str) -> str | None:
        """present if any mention is affirmed; else the strongest other status; else None."""
        found = {m.status for m in self.of(*concepts)}
        if "present" in found:
            return "present"
        return next((s for s in STATUS_ORDER if s in found), None)

    def present(self, *concepts: str) -> bool:
        return any(m.status == "present" for m in self.of(*concepts))

    def absent(self, *concepts: str) -> bool:
        return self.status(*concepts) == "absent"

    def documented(self, *concepts: str) -> bool:
        """Mentioned about the patient, affirmed or denied (not a relative's history)."""
        return any(m.status != "family" for m in self.of(*concepts))

    def sides(self, *concepts: str) -> set[str]:
        return {m.side for m in self.of(*concepts) if m.status == "present" and m.side}

    def sentences_with(self, *concepts: str) -> set[int]:
        return {m.sentence for m in self.of(*concepts) if m.status == "present"}

    def present_in(self, sentences: Iterable[int], *concepts: str) -> bool:
        wanted = set(sentences)
        return any(m.status == "present" and m.sentence in wanted for m in self.of(*concepts))

    def sections(self, *concepts: str) -> set[str]:
        """The sections in which the concepts are affirmed."""
        return {m.section for m in self.of(*concepts) if m.status == "present" and m.section}

    def __add__(self, other: Reading) -> Reading:
        """Both readings, as if their texts had been read in one call: the other's sentences
        and text indexes come after this one's."""
        if not other.mentions:
            return self
        if not self.mentions:
            return other
        offset = 1 + max(m.sentence for m in self.mentions)
        texts = 1 + max(m.text_index for m in self.mentions)
        shifted = tuple(replace(m, sentence=m.sentence + offset, text_index=m.text_index + texts)
                        for m in other.mentions)
        return Reading(self.mentions + shifted)


EMPTY_READING = Reading(())
