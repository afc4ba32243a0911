"""What each diagnosis of the encounter adds to the pictures of the others.

Every other diagnosis's contribution is computed once per encounter and summed (``Totals``), so
that "the others" of one diagnosis is the total minus its own, and building the pictures is
linear in the number of diagnoses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from .levels import regions_of_words
from .membership import (
    DISC_NO_PATTERN,
    DISC_SPECIFIED,
    DORSALGIA,
    INJURY,
    NONSPECIFIC,
    RADICULAR_SPECIFIED,
    RADICULOPATHY,
    SCIATICA,
    Member,
    disc_kinds_in,
    radicular_kinds_in,
)
from .picture import RADICULAR_TEXT

# The other diagnoses named as coded evidence of a picture: enough to show where a finding came
# from, and bounded so that an abnormal record (thousands of diagnoses) stays linear.
CONTRIBUTORS = 4


@dataclass
class Contribution:
    """What one other diagnosis adds to the pictures of the rest."""

    radicular_specified: bool = False
    disc_specified: bool = False
    injury_specified: bool = False
    back_pain: bool = False
    radicular_kinds: frozenset[str] = frozenset()
    disc_kinds: frozenset[str] = frozenset()
    sides: frozenset[str] = frozenset()
    radicular_regions: frozenset[str] = frozenset()
    disc_regions: frozenset[str] = frozenset()
    radicular_merge: bool = False  # a coded sciatica code, merged into the lumbago code
    disc_merge: bool = False  # a coded degeneration code without its pain pattern


class Totals:
    """The sum of every diagnosis's contribution, so that "the others" of one diagnosis is the
    total minus its own, in constant time."""

    def __init__(self, contributions: Iterable[Contribution]):
        self.flags: Counter[str] = Counter()
        self.values: dict[str, Counter[str]] = {
            name: Counter() for name in ("radicular_kinds", "disc_kinds", "sides",
                                         "radicular_regions", "disc_regions")}
        for item in contributions:
            self._add(item, 1)

    def _add(self, item: Contribution, sign: int) -> None:
        for name in ("radicular_specified", "disc_specified", "injury_specified", "back_pain"):
            if getattr(item, name):
                self.flags[name] += sign
        for name, counter in self.values.items():
            for value in getattr(item, name):
                counter[value] += sign

    def without(self, item: Contribution, name: str) -> bool | set[str]:
        if name in self.values:
            own = getattr(item, name)
            return {v for v, n in self.values[name].items() if n - (v in own) > 0}
        return self.flags[name] - bool(getattr(item, name)) > 0


def contribution_of(member: Member, reader) -> Contribution:
    coded = set(member.coded_in)
    radicular_kinds = radicular_kinds_in(member.documents)
    disc_kinds = disc_kinds_in(member.documents)
    radicular_merge = SCIATICA in coded and RADICULAR_SPECIFIED not in coded
    disc_merge = DISC_NO_PATTERN in coded and DISC_SPECIFIED not in coded
    if radicular_merge:
        radicular_kinds.add("sciatica")
    # a radiculopathy or lumbago-with-sciatica code on the record documents the nerve too
    if RADICULOPATHY in coded:
        radicular_kinds.add("radiculopathy")
    elif RADICULAR_SPECIFIED in coded and DORSALGIA in coded:
        radicular_kinds.add("sciatica")
    if disc_merge:
        disc_kinds.add("degeneration")
    sides: set[str] = set()
    radicular_regions: set[str] = set()
    disc_regions: set[str] = set()
    if radicular_kinds or disc_kinds:
        texts = list(member.words)
        if radicular_kinds:
            texts.append(member.diagnosis.code_text)
        words = reader.read(*texts)
        sides = words.sides(*RADICULAR_TEXT)
        regions = regions_of_words(texts, reader)
        radicular_regions = regions if radicular_kinds else set()
        disc_regions = regions if disc_kinds else set()
    return Contribution(
        radicular_specified=RADICULAR_SPECIFIED in coded,
        disc_specified=DISC_SPECIFIED in coded,
        injury_specified=INJURY in coded,
        back_pain=NONSPECIFIC in coded or NONSPECIFIC in member.documents,
        radicular_kinds=frozenset(radicular_kinds),
        disc_kinds=frozenset(disc_kinds),
        sides=frozenset(sides),
        radicular_regions=frozenset(radicular_regions),
        disc_regions=frozenset(disc_regions),
        radicular_merge=radicular_merge,
        disc_merge=disc_merge,
    )


def families_of(contribution: Contribution) -> list[str]:
    """The families another diagnosis's codes document for the rest."""
    found = []
    if contribution.radicular_kinds or contribution.radicular_specified:
        found.append("radicular")
    if contribution.disc_kinds or contribution.disc_specified:
        found.append("disc")
    if contribution.injury_specified:
        found.append("injury")
    return found
