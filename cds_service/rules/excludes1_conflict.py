"""[excludes1-conflict] Two diagnoses of the encounter whose ICD-10-CM codes are in an Excludes1
relation: the two conditions cannot be reported together (M54.5- with M54.4-, S39.012- or
M51.2-; M54.3- with M54.4-; M54.16 with M51.16; and every other Excludes1 note in the code set).

Source: ICD-10-CM Official Guidelines I.A.12.a (Excludes1: "NOT CODED HERE"; the two codes are
never used together, except when the conditions are unrelated); Excludes1 notes of the CDC
ICD-10-CM April 2026 tabular, parsed for the whole code set by
``terminology.icd.excludes1_conflict``; ../shared/domain/coding-facts.md §5 denial trigger 2 and
§1a / §1b (the notes of M54.1, M54.3, M54.4, M54.5, M51.1).

Which code to keep: the code the note points to, since the note says the condition is coded
there (M54.5 "Excludes1: lumbago with sciatica (M54.4-)" keeps M54.41). When each code's note
names the other, the one outside Dorsalgia (M54-) is kept: the aetiology (a disc disorder) over
the symptom. When the two codes are in different chapters (an injury and a disease, e.g. S33 and
M51), they may well be two unrelated conditions, so both choices are offered.
"""

from __future__ import annotations

from datetime import date

from ..facts import Diagnosis, EncounterFacts
from ..terminology import ICD10CM_SYSTEM, Terminology
from . import Action, Finding, Suggestion
from ._lbp import DORSALGIA, NONSPECIFIC, diagnosis_codes, without_icd

RULE_ID = "excludes1-conflict"
HOOKS = ("order-sign", "encounter-discharge")


def _names(icd, owner: str, other: str, on: date | None = None):
    """The Excludes1 note of ``owner`` (or an ancestor) that names ``other``, if any."""
    for note in icd.excludes1_notes(owner, on):
        if any(ref.matches(other) for ref in note.references) and not other.startswith(
                note.owner):
            return note
    return None


def _drop_choices(terminology: Terminology, a: str, b: str, on: date | None = None
                  ) -> tuple[list[str], str | None]:
    """The codes one may remove (each a separate suggestion), and the recommended one."""
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


def _suggestion(drop: str, keep: str, dropping: Diagnosis, same: bool, recommended: bool,
                terminology: Terminology) -> Suggestion | None:
    icd = terminology.icd
    day = dropping.date_of_service
    params = {"drop": drop, "keep": keep, "drop_display": icd.description(drop, day) or drop,
              "keep_display": icd.description(keep, day) or keep}
    if same:
        if drop not in dropping.icd10cm:
            return None  # a SNOMED CT-only diagnosis: nothing to take out of it
        resource = without_icd(dropping, drop)
        if resource is None:
            return None
        action = Action("update", "remove_code", resource=resource)
    else:
        if not dropping.reference:
            return None
        action = Action("delete", "remove_diagnosis", resource_id=dropping.reference)
    return Suggestion("keep", [action], params=params, is_recommended=recommended)


def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    icd = terminology.icd
    entries = [(d, c) for d in facts.diagnoses for s, c in diagnosis_codes(d, terminology)
               if s == ICD10CM_SYSTEM and icd.exists(c, d.date_of_service)]
    findings, reported = [], set()
    for index, (first_dx, first) in enumerate(entries):
        for second_dx, second in entries[index + 1:]:
            pair = frozenset({(id(first_dx), first), (id(second_dx), second)})
            if first == second or pair in reported:
                continue
            note = icd.excludes1_conflict(first, second, first_dx.date_of_service)
            if note is None:
                continue
            reported.add(pair)
            same = first_dx is second_dx
            drops, recommended = _drop_choices(terminology, first, second,
                                               first_dx.date_of_service)
            suggestions = []
            for drop in drops:
                keep = second if drop == first else first
                dropping = first_dx if drop == first else second_dx
                suggestion = _suggestion(drop, keep, dropping, same,
                                         len(drops) > 1 and drop == recommended, terminology)
                if suggestion:
                    suggestions.append(suggestion)
            day = first_dx.date_of_service
            findings.append(Finding(RULE_ID, params={
                "first": first, "second": second,
                "first_display": icd.description(first, day) or first,
                "second_display": icd.description(second, day) or second,
                "release": icd.release_label(day),
                "note_owner": note.owner, "note": note.text,
                "keep": (second if recommended == first else first) if recommended else "",
                "drop": recommended or "",
                "same_condition": same,
                "choices": len(suggestions),
                "date": day.isoformat(),
            }, suggestions=suggestions))
    return findings
