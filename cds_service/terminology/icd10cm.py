"""ICD-10-CM validity, hierarchy and Excludes1 notes, from the CDC release that simple-icd-10-cm
ships (ICD-10-CM April 1, 2026, FY2026), plus the dated code-set history kept in ``valuesets/``.

Billable means a leaf of the tabular list (ICD-10-CM Official Guidelines I.B.2: codes must be
reported to the highest number of characters available). A code's billable period comes from the
history CodeSystem where we hold one; otherwise from the bundled release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from . import codeset as cm

ICD10CM_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
# The same code system under its HL7 OID, as some EHRs (and CDA-derived feeds) send it.
ICD10CM_SYSTEMS = frozenset({ICD10CM_SYSTEM, "urn:oid:2.16.840.1.113883.6.90"})
ICD10CM_RELEASE = "CDC ICD-10-CM April 1, 2026 (FY2026), via simple-icd-10-cm 1.5.0"

_CODE_SHAPE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")
# A code reference inside a note: "M54.4-", "M51.360", "S39.012", "G57.7-", "E08-E13"
_NOTE_REFERENCE = re.compile(
    r"(?<![A-Z0-9.])([A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?)(\.?-)?"
    r"(?:-([A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?))?(?![0-9A-Z])"
)


def normalize(code: str) -> str:
    """'m545' or ' M54.5 ' -> 'M54.5' (codes may arrive without the dot)."""
    compact = code.strip().upper().replace(".", "")
    return compact if len(compact) <= 3 else f"{compact[:3]}.{compact[3:]}"


@dataclass(frozen=True)
class BillablePeriod:
    start: date | None
    end: date | None

    def covers(self, day: date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class CodeReference:
    """A code, a code family ('M54.4-') or a range of categories, as an Excludes1 note names."""

    first: str
    last: str | None = None
    family: bool = False

    def matches(self, code: str) -> bool:
        if self.last is not None:
            # "M54.3-M54.4" or "E08-E13": compare at each end's own length, without dots, so
            # that M54.31 is inside the first and M54.5 outside the second
            plain, first, last = (c.replace(".", "") for c in (code, self.first, self.last))
            return first <= plain[: len(first)] and plain[: len(last)] <= last
        if self.family:
            return code.startswith(self.first)
        # A note naming a subcategory ("low back strain (S39.012)") covers its 7th-character
        # extensions and children too: the note applies to the code and everything below it.
        return code == self.first or code.startswith(self.first)


@dataclass(frozen=True)
class ExcludesNote:
    owner: str  # the code in whose tabular entry the note is written
    text: str
    references: tuple[CodeReference, ...]


class Icd10cm:
    """Read-only view of the ICD-10-CM code set, date-aware through ``history``."""

    def __init__(self, history: dict[str, list[BillablePeriod]]):
        self._history = history

    # -- existence and billability -------------------------------------------------------
    def exists(self, code: str) -> bool:
        return bool(_CODE_SHAPE.match(code)) and (cm.is_valid_item(code) or code in self._history)

    def is_billable(self, code: str, on: date) -> bool:
        periods = self._history.get(code)
        if periods is not None:
            return any(period.covers(on) for period in periods)
        return bool(_CODE_SHAPE.match(code)) and cm.is_valid_item(code) and cm.is_leaf(code)

    def retired_on(self, code: str, on: date) -> date | None:
        """The first day ``code`` stopped being billable, when that is before ``on``."""
        ends = [p.end for p in self._history.get(code, ()) if p.end is not None and p.end < on]
        if not ends or self.is_billable(code, on):
            return None
        return date.fromordinal(max(ends).toordinal() + 1)

    def starts_after(self, code: str, on: date) -> date | None:
        """The first day ``code`` is billable, when that is after ``on``."""
        starts = [p.start for p in self._history.get(code, ())
                  if p.start is not None and p.start > on]
        return min(starts) if starts and not self.is_billable(code, on) else None

    def description(self, code: str) -> str | None:
        return cm.get_description(code) if cm.is_valid_item(code) else None

    def chapter(self, code: str) -> str | None:
        """The tabular chapter a code belongs to ("13" for M54.50), None for unknown codes."""
        if not cm.is_valid_item(code):
            return None
        ancestors = cm.get_ancestors(code)
        return ancestors[-1] if ancestors else code

    def parent(self, code: str) -> str | None:
        if not cm.is_valid_item(code):
            return None
        parent = cm.get_parent(code)
        return parent if parent and _CODE_SHAPE.match(parent) else None

    def replacements(self, code: str, on: date, limit: int = 12) -> list[str]:
        """Billable codes that can stand for a code that is not billable on ``on``.

        First the billable children (a header's real leaves only: M51.36 gives .360/.361/.362/
        .369, never a made-up .363); then, one level deeper for headers whose children are
        headers too; else the nearest billable ancestor (a code used before it existed).
        Codes that are not in the code set at all get none.
        """
        if cm.is_valid_item(code):
            children = [c for c in cm.get_children(code) if _CODE_SHAPE.match(c)]
            billable = [c for c in children if self.is_billable(c, on)]
            if not billable:
                grandchildren = [g for c in children for g in cm.get_children(c)]
                billable = [g for g in grandchildren if self.is_billable(g, on)]
            if billable:
                return billable[:limit]
        # An unknown code (a typo, a local code) gets no guess: the coder must choose.
        ancestor = self.parent(code) if cm.is_valid_item(code) else None
        while ancestor:
            if self.is_billable(ancestor, on):
                return [ancestor]
            ancestor = self.parent(ancestor)
        return []

    # -- Excludes1 -----------------------------------------------------------------------
    def excludes1_notes(self, code: str) -> tuple[ExcludesNote, ...]:
        """Excludes1 notes that apply to ``code``: its own and those of every ancestor."""
        return _excludes1_notes(code)

    def excludes1_conflict(self, first: str, second: str) -> ExcludesNote | None:
        """The Excludes1 note that forbids coding ``first`` and ``second`` together, if any."""
        for owner, other in ((first, second), (second, first)):
            for note in self.excludes1_notes(owner):
                if any(ref.matches(other) for ref in note.references) and not other.startswith(
                    note.owner
                ):
                    return note
        return None


@lru_cache(maxsize=8192)
def _excludes1_notes(code: str) -> tuple[ExcludesNote, ...]:
    if not cm.is_valid_item(code):
        return ()
    notes = []
    for owner in [code, *cm.get_ancestors(code)]:
        if not _CODE_SHAPE.match(owner):
            continue  # chapters and blocks carry no Excludes1 that concern code pairs here
        for text in cm.get_excludes1(owner):
            references = tuple(_parse_references(text))
            if references:
                notes.append(ExcludesNote(owner, text, references))
    return tuple(notes)


def _parse_references(text: str) -> list[CodeReference]:
    references = []
    for match in _NOTE_REFERENCE.finditer(text):
        first, dash, last = match.group(1), match.group(2), match.group(3)
        references.append(CodeReference(first=first, last=last, family=bool(dash)))
    return references
