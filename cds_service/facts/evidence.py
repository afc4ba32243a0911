"""Where each documented finding came from: the evidence a card rests on.

The facts layer reads a diagnosis's texts once (``Diagnosis.reading``); each mention the reader
found keeps the index of its text and the offsets of its matched words and sentence in that text.
``Source`` names each text the way FHIR does (``Condition/c1`` ``note[0].text``), so that a
mention becomes an ``Evidence`` item that says which words, in which sentence, of which element
of which resource. Codes are evidence too (``Condition/c2`` ``code``, ``Encounter/e1``
``reasonCode[0]``, ``Procedure/p3`` ``code`` performed 2024-05-02), and so is an absence: the
elements a rule looked at and found empty.

Mentions the reader set aside (negated, hedged, historical, a relative's history) are kept as
evidence that was *not counted*, so that a card can show why a word in the note did not count.

The text itself is kept only in memory (``Evidence.text``), for the card's quote in the response
to the EHR that sent it; ``Evidence.as_data`` gives references and offsets only, the form stored
and printed for programs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ..text import Mention, Reading
    from .model import Code, Diagnosis, ProcedureFact

EvidenceKind = Literal["text", "code", "absent"]


@dataclass(frozen=True)
class Source:
    """One text a diagnosis is read from: the resource and element it is the value of."""

    reference: str | None  # "Condition/c1", "Encounter/e1"; None for a resource without an id
    element: str  # "note[0].text", "code.text", "evidence[0].code[1].text", "reasonCode[0].text"
    text: str = field(repr=False, compare=False, default="")


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence behind a finding.

    ``kind``: ``text`` (a mention in a text: ``start``/``end`` are the offsets of the matched
    words in that text, ``sentence_start``/``sentence_end`` those of its sentence), ``code`` (a
    coded element: ``code`` and ``system``, ``date`` when the resource has one that matters), or
    ``absent`` (an element looked at and found empty).
    """

    kind: EvidenceKind
    finding: str  # what it documents: a reader concept ("sciatica") or a fact ("coded")
    reference: str | None
    element: str
    counted: bool = True  # False: set aside (negated, hedged, historical, family)
    status: str = "present"  # present | absent | uncertain | historical | family
    set_aside_by: str | None = None  # negation | uncertainty | historical | family
    start: int | None = None
    end: int | None = None
    sentence_start: int | None = None
    sentence_end: int | None = None
    trigger_start: int | None = None
    trigger_end: int | None = None
    section: str | None = None
    side: str | None = None
    system: str | None = None
    code: str | None = None
    date: str | None = None
    # the whole text the offsets point into: for the card's quote only, never stored or logged
    text: str = field(repr=False, compare=False, default="")

    def as_data(self) -> dict[str, Any]:
        """References and offsets, never the words of the text: what programs and the
        feedback store see."""
        data: dict[str, Any] = {"kind": self.kind, "finding": self.finding,
                                "reference": self.reference, "element": self.element,
                                "counted": self.counted}
        if not self.counted:
            data["status"] = self.status
            data["setAsideBy"] = self.set_aside_by
        for name, key in (("start", "start"), ("end", "end"),
                          ("sentence_start", "sentenceStart"), ("sentence_end", "sentenceEnd"),
                          ("trigger_start", "triggerStart"), ("trigger_end", "triggerEnd"),
                          ("section", "section"), ("side", "side"), ("system", "system"),
                          ("code", "code"), ("date", "date")):
            value = getattr(self, name)
            if value is not None:
                data[key] = value
        return data

    def as_reference(self) -> dict[str, Any]:
        """Where the evidence is, without what it says: the resource, the element and the
        offsets, as the feedback store keeps it (no codes, no dates, no words)."""
        data: dict[str, Any] = {"kind": self.kind, "finding": self.finding,
                                "reference": self.reference, "element": self.element,
                                "counted": self.counted}
        if self.set_aside_by:
            data["setAsideBy"] = self.set_aside_by
        for name, key in (("start", "start"), ("end", "end"),
                          ("sentence_start", "sentenceStart"), ("sentence_end", "sentenceEnd")):
            value = getattr(self, name)
            if value is not None:
                data[key] = value
        return data

    @property
    def key(self) -> tuple:
        return (self.kind, self.finding, self.reference, self.element, self.start, self.code)


def from_mention(mention: Mention, sources: tuple[Source, ...]) -> Evidence | None:
    """The evidence of one mention, placed by its text's source; None when the mention's text
    is not among ``sources`` (a reading of other texts)."""
    if not 0 <= mention.text_index < len(sources):
        return None
    source = sources[mention.text_index]
    return Evidence(
        "text", mention.concept, source.reference, source.element,
        counted=mention.status == "present", status=mention.status,
        set_aside_by=mention.set_aside_by, start=mention.text_start, end=mention.text_end,
        sentence_start=mention.sentence_start, sentence_end=mention.sentence_end,
        trigger_start=mention.trigger_start, trigger_end=mention.trigger_end,
        section=mention.section, side=mention.side, text=source.text)


def text_evidence(reading: Reading, sources: tuple[Source, ...], concepts: tuple[str, ...],
                  limit: int) -> list[Evidence]:
    """The mentions of ``concepts`` in ``reading``, affirmed first, at most ``limit``."""
    found: list[Evidence] = []
    set_aside: list[Evidence] = []
    for mention in reading.of(*concepts):
        item = from_mention(mention, sources)
        if item is None:
            continue
        (found if item.counted else set_aside).append(item)
        if len(found) >= limit:
            break
    return (found + set_aside)[:limit]


def code_evidence(finding: str, reference: str | None, element: str, code: Code,
                  date: str | None = None) -> Evidence:
    return Evidence("code", finding, reference, element, system=code.system, code=code.code,
                    date=date)


def absent_evidence(finding: str, reference: str | None, element: str) -> Evidence:
    return Evidence("absent", finding, reference, element, counted=False, status="empty")


def unique(items: list[Evidence]) -> list[Evidence]:
    seen: set[tuple] = set()
    kept = []
    for item in items:
        if item.key not in seen:
            seen.add(item.key)
            kept.append(item)
    return kept


def diagnosis_codes(diagnosis: Diagnosis, only: Iterable[str] | None = None,
                    finding: str = "coded") -> list[Evidence]:
    """A diagnosis's codes as evidence (``Condition/c1`` ``code``), or only those in ``only``."""
    wanted = set(only) if only is not None else None
    return [code_evidence(finding, diagnosis.reference, "code", code)
            for code in diagnosis.codes if wanted is None or code.code in wanted]


def procedure_codes(procedure: ProcedureFact, only: Iterable[str] | None = None,
                    finding: str = "coded") -> list[Evidence]:
    """A procedure's or order's codes as evidence, with the day it was performed or
    ordered."""
    wanted = set(only) if only is not None else None
    day = procedure.performed_on.isoformat() if procedure.performed_on else (
        (procedure.resource.get("authoredOn") or "")[:10] or None)
    return [code_evidence(finding, procedure.reference, "code", code, day)
            for code in procedure.codes if wanted is None or code.code in wanted]
