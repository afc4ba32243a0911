"""ICD-10-CM validity, hierarchy and Excludes1 notes by date of service: from the CDC release in
force on that date among those loaded (``releases.py``; the one simple-icd-10-cm ships, ICD-10-CM
April 1, 2026, FY2026, by default), plus the dated code-set history kept in ``valuesets/``.

Billable means a leaf of the tabular list (ICD-10-CM Official Guidelines I.B.2: codes must be
reported to the highest number of characters available). A code's billable period comes from the
history CodeSystem where we hold one; otherwise from the bundled release.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from .codeset import CodeTable
from .releases import (
    BUNDLED_EFFECTIVE,
    BUNDLED_FISCAL_YEAR,
    Release,
    ReleaseSet,
    bundled_release,
    release_label,
)

ICD10CM_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
# The same code system under its HL7 OID, as some EHRs (and CDA-derived feeds) send it.
ICD10CM_SYSTEMS = frozenset({ICD10CM_SYSTEM, "urn:oid:2.16.840.1.113883.6.90"})
# The bundled release's name in card text, where no finding names the release that judged it
ICD10CM_RELEASE = release_label(BUNDLED_FISCAL_YEAR, BUNDLED_EFFECTIVE)

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
    """Read-only view of the ICD-10-CM code sets by date of service.

    Every method that judges a code takes the date of service (``on``); the release in force
    on that date answers (``releases.ReleaseSet.in_force``). ``on=None`` means the bundled
    release, as before releases could be loaded. Where the bundled release judges, the dated
    history (``valuesets/icd10cm-billable-periods.json``) decides the billable periods of the
    codes it lists; a loaded release is the CDC's own word for its window and decides alone.

    On a date past every loaded release's window (``outdated``), the newest release judges,
    except that a code it does not know is not called invalid: it may be new in the release
    that applies. Such a code is ``undecided``; it counts as billable, and the
    ``codeset-outdated`` card names it. A code whose billable period ended before the newest
    release took effect (history), or that the newest release holds as a header, is judged as
    usual: a later release does not turn a retired code or a header back into a billable code.
    """

    def __init__(self, history: dict[str, list[BillablePeriod]],
                 releases: ReleaseSet | None = None,
                 reload: Callable[[], ReleaseSet | None] | None = None):
        self._history = history
        self._releases = releases or ReleaseSet([bundled_release()])
        # after a fork (a new gunicorn worker), ``reload`` is asked once for a newer set
        self._reload = reload
        self.stale = False

    @property
    def releases(self) -> ReleaseSet:
        if self.stale and self._reload is not None:
            self.stale = False
            newer = self._reload()
            if newer is not None:
                self.releases = newer
        return self._releases

    @releases.setter
    def releases(self, value: ReleaseSet) -> None:
        self._releases = value
        _excludes1_notes.cache_clear()  # its entries hold the tables of the releases replaced

    def _table(self, on: date | None) -> CodeTable:
        return self.releases.in_force(on).table

    # -- which release ---------------------------------------------------------------------
    def release_on(self, on: date | None = None) -> Release:
        """The release that judges codes on ``on`` (None: the bundled release)."""
        return self.releases.in_force(on)

    def release_label(self, on: date | None = None) -> str:
        """"CDC ICD-10-CM FY2027": the release that judges codes on ``on``, for card text."""
        return self.releases.in_force(on).label

    def outdated(self, on: date | None) -> bool:
        """Whether ``on`` is past the window of every loaded release."""
        return self.releases.outdated(on)

    def undecided(self, code: str, on: date | None) -> bool:
        """A well-formed code the newest release does not know, on an outdated date, without a
        billable period known to have ended before that release: nothing loaded can judge it."""
        if not self.releases.outdated(on) or not _CODE_SHAPE.match(code):
            return False
        release = self.releases.in_force(on)
        if release.table.is_valid_item(code):
            return False
        periods = self._history.get(code)
        if periods and all(p.end is not None and p.end < release.effective for p in periods):
            return False
        return not (release.bundled and periods)

    # -- existence and billability -------------------------------------------------------
    def exists(self, code: str, on: date | None = None) -> bool:
        return bool(_CODE_SHAPE.match(code)) and (self._table(on).is_valid_item(code)
                                                  or code in self._history)

    def is_billable(self, code: str, on: date | None = None) -> bool:
        release = self.releases.in_force(on)
        periods = self._history.get(code) if release.bundled else None
        if periods is not None and on is not None:
            return any(period.covers(on) for period in periods)
        table = release.table
        if not _CODE_SHAPE.match(code):
            return False
        if table.is_valid_item(code):
            return table.is_leaf(code)
        return self.undecided(code, on)

    def retired_on(self, code: str, on: date) -> date | None:
        """The first day ``code`` stopped being billable, when that is before ``on``: from the
        dated history, or the day the release in force took effect when the release before it
        held the code as billable."""
        if self.is_billable(code, on):
            return None
        ends = [p.end for p in self._history.get(code, ()) if p.end is not None and p.end < on]
        if ends:
            return date.fromordinal(max(ends).toordinal() + 1)
        release = self.releases.in_force(on)
        if release.bundled:
            return None
        earlier = self.releases.before(release)
        if earlier is not release and self.is_billable(code, release.effective - _ONE_DAY):
            return release.effective
        return None

    def starts_after(self, code: str, on: date) -> date | None:
        """The first day ``code`` is billable, when that is after ``on``."""
        starts = [p.start for p in self._history.get(code, ())
                  if p.start is not None and p.start > on]
        return min(starts) if starts and not self.is_billable(code, on) else None

    def description(self, code: str, on: date | None = None) -> str | None:
        """The code's title in the release in force on ``on``; a code that release does not
        hold keeps its title from the newest release that does (a deleted code's old title)."""
        table = self._table(on)
        if table.is_valid_item(code):
            return table.get_description(code)
        for release in reversed(self.releases.releases):
            if release.table.is_valid_item(code):
                return release.table.get_description(code)
        return None

    def chapter(self, code: str, on: date | None = None) -> str | None:
        """The tabular chapter a code belongs to ("13" for M54.50), None for unknown codes."""
        table = self._table(on)
        if not table.is_valid_item(code):
            return None
        ancestors = table.get_ancestors(code)
        return ancestors[-1] if ancestors else code

    def parent(self, code: str, on: date | None = None) -> str | None:
        table = self._table(on)
        if not table.is_valid_item(code):
            return None
        parent = table.get_parent(code)
        return parent if parent and _CODE_SHAPE.match(parent) else None

    def replacements(self, code: str, on: date | None = None, limit: int = 12) -> list[str]:
        """Billable codes that can stand for a code that is not billable on ``on``, from the
        release in force on ``on``.

        First the billable children (a header's real leaves only: M51.36 gives .360/.361/.362/
        .369, never a made-up .363); then, one level deeper for headers whose children are
        headers too; else the nearest billable ancestor (a code used before it existed).
        Codes that are not in the code set at all get none.
        """
        table = self._table(on)
        if table.is_valid_item(code):
            children = [c for c in table.get_children(code) if _CODE_SHAPE.match(c)]
            billable = [c for c in children if self.is_billable(c, on)]
            if not billable:
                grandchildren = [g for c in children for g in table.get_children(c)]
                billable = [g for g in grandchildren if self.is_billable(g, on)]
            if billable:
                return billable[:limit]
        # An unknown code (a typo, a local code) gets no guess: the coder must choose.
        ancestor = self.parent(code, on) if table.is_valid_item(code) else None
        while ancestor:
            if self.is_billable(ancestor, on):
                return [ancestor]
            ancestor = self.parent(ancestor, on)
        return []

    # -- Excludes1 -----------------------------------------------------------------------
    def excludes1_notes(self, code: str, on: date | None = None) -> tuple[ExcludesNote, ...]:
        """Excludes1 notes that apply to ``code``: its own and those of every ancestor, as the
        release in force on ``on`` writes them."""
        return _excludes1_notes(self._table(on), code)

    def excludes1_conflict(self, first: str, second: str, on: date | None = None
                           ) -> ExcludesNote | None:
        """The Excludes1 note that forbids coding ``first`` and ``second`` together, if any."""
        for owner, other in ((first, second), (second, first)):
            for note in self.excludes1_notes(owner, on):
                if any(ref.matches(other) for ref in note.references) and not other.startswith(
                    note.owner
                ):
                    return note
        return None


_ONE_DAY = timedelta(days=1)


@lru_cache(maxsize=8192)
def _excludes1_notes(table: CodeTable, code: str) -> tuple[ExcludesNote, ...]:
    if not table.is_valid_item(code):
        return ()
    notes = []
    for owner in [code, *table.get_ancestors(code)]:
        if not _CODE_SHAPE.match(owner):
            continue  # chapters and blocks carry no Excludes1 that concern code pairs here
        for text in table.get_excludes1(owner):
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
