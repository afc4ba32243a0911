"""Which side of an Excludes1 pair to keep.

ICD-10-CM Official Guidelines I.A.12.a: an Excludes1 note means "NOT CODED HERE": the two
conditions are never coded together, except when they are unrelated. The code the note points
to is where the condition is coded (M54.5 "Excludes1: lumbago with sciatica (M54.4-)" keeps
M54.41). When each code's note names the other, the one outside Dorsalgia (M54-) is kept: the
aetiology (a disc disorder) over the symptom. A nonspecific low back pain code is never the one
kept. When the two codes are in different chapters (an injury and a disease, e.g. S33 and M51),
they may well be two unrelated conditions, so both choices are offered.
"""

from __future__ import annotations

from datetime import date

from ..facts.membership import DORSALGIA, NONSPECIFIC
from ..terminology import ICD10CM_SYSTEM, Terminology


def _names(icd, owner: str, other: str, on: date | None = None):
    """The Excludes1 note of ``owner`` (or an ancestor) that names ``other``, if any."""
    for note in icd.excludes1_notes(owner, on):
        if any(ref.matches(other) for ref in note.references) and not other.startswith(
                note.owner):
            return note
    return None


def drop_choices(terminology: Terminology, a: str, b: str, on: date | None = None
                 ) -> tuple[list[str], str | None]:
    """The codes one may remove (each a separate suggestion), and the recommended one, by the
    release in force ``on`` the date of service."""
    icd = terminology.icd
    a_names_b, b_names_a = _names(icd, a, b, on), _names(icd, b, a, on)
    if a_names_b and not b_names_a:
        owner, named = a, b
    elif b_names_a and not a_names_b:
        owner, named = b, a
    else:
        in_a = terminology.in_valueset(DORSALGIA, ICD10CM_SYSTEM, a)
        in_b = terminology.in_valueset(DORSALGIA, ICD10CM_SYSTEM, b)
        if in_a != in_b:
            return [a if in_a else b], a if in_a else b
        return [a, b], None
    if terminology.in_valueset(NONSPECIFIC, ICD10CM_SYSTEM, owner):
        return [owner], owner
    if icd.chapter(owner, on) != icd.chapter(named, on):
        return [owner, named], owner
    return [owner], owner
