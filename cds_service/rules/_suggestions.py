"""The suggestions that recode a low back diagnosis: the Condition with its new ICD-10-CM code,
the Conditions it merges, and the removal of every coded code the new one excludes; and the
card parameters the specificity rules share.

Sources: ICD-10-CM Official Guidelines I.A.12.a (an Excludes1 note: never coded together) and
I.B.9 (combination codes take over the codes they combine).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..facts import Diagnosis, EncounterFacts
from ..facts.picture import Documented
from ..terminology import ICD10_WHO_SYSTEM, ICD10CM_SYSTEM, SNOMED_SYSTEM, Terminology
from ._excludes import drop_choices
from ._fhir import new_condition, with_icd_code, without_codes
from ._findings import Action, Suggestion
from ._memo import current_memo
from ._options import Option


@dataclass
class _Conflicts:
    removals: list[Action]
    blocked: bool  # a code on the record already stands for the new one (its note keeps it)


def excludes_conflicts(facts: EncounterFacts, terminology: Terminology, new: str,
                       skip: Iterable[Diagnosis]) -> _Conflicts:
    """What a new code on a diagnosis does to the codes left on the encounter: each coded code
    it excludes (Excludes1) is taken off (its coding, or its Condition when nothing else is
    left), so that nothing introduced conflicts with what remains; ``blocked`` when a coded code
    is where the new one's condition is coded (offer nothing: it is coded already)."""
    skipped = {id(d) for d in skip}
    removals: list[Action] = []
    claimed = current_memo().claimed
    for code, holders, recommended in _coded_excluding(facts, terminology, new):
        holders = [d for d in holders if id(d) not in skipped]
        if not holders:
            continue
        if recommended == new:
            return _Conflicts([], True)
        for other in holders:
            if not claim(claimed, other, len(holders)):
                continue
            resource = without_codes(other, [code])
            if resource is not None:
                removals.append(Action("update", "remove_excluded", resource=resource))
            elif other.reference:
                removals.append(Action("delete", "remove_merged", resource_id=other.reference))
    return _Conflicts(removals, False)


# On an ordinary record every suggestion carries all it needs, so that each can be accepted on
# its own. On an abnormal one (many Conditions to remove), a Condition is removed by the first
# card only: otherwise the answer would grow as cards times Conditions.
_CLAIM_ALL_UP_TO = 10


def claim(claimed: set[int], diagnosis: Diagnosis, among: int) -> bool:
    """Whether a suggestion may carry the removal of ``diagnosis`` (one of ``among`` to
    remove): always on an ordinary record, else only the first time."""
    if among <= _CLAIM_ALL_UP_TO:
        return True
    if id(diagnosis) in claimed:
        return False
    claimed.add(id(diagnosis))
    return True


def _coded_excluding(facts: EncounterFacts, terminology: Terminology, new: str
                     ) -> list[tuple[str, list[Diagnosis], str | None]]:
    """The distinct coded codes of the encounter in an Excludes1 relation with ``new``, with
    their diagnoses and the code the relation says to drop; once per evaluation and code."""
    memo = current_memo()
    holders = memo.holders
    if holders is None:
        holders = memo.holders = {}
        for diagnosis in facts.diagnoses:
            for code in diagnosis.coded:
                holders.setdefault(code, []).append(diagnosis)
    excluding = memo.excluding
    if new not in excluding:
        icd = terminology.icd
        day = facts.date_of_service
        excluding[new] = [(code, found, drop_choices(terminology, new, code, day)[1])
                          for code, found in holders.items()
                          if code != new and icd.exists(code, day)
                          and icd.excludes1_conflict(new, code, day)]
    return excluding[new]


def code_change(option: Option, facts: EncounterFacts, diagnosis: Diagnosis,
                old: Iterable[str], terminology: Terminology,
                merged: Iterable[Diagnosis] = (), label: str | None = None
                ) -> Suggestion | None:
    """A suggestion that recodes ``diagnosis``: an ``update`` carrying the whole Condition with
    its ``old`` ICD-10-CM codes replaced by the option's code (added, for an uncoded one); a
    ``create`` for the option's second code (the other side); one ``delete`` for each other
    Condition whose content the new code takes over, and the removal of every coded code the
    new one excludes (``excludes_conflicts``). None when a coded code already stands for it.
    Wording keys of the rule's template: labels.<label>, actions.replace / add_code /
    create_also / remove_merged / remove_excluded."""
    old = list(old)
    icd = terminology.icd
    day = diagnosis.date_of_service
    merged = [d for d in merged if d.reference and d is not diagnosis]
    conflicts = excludes_conflicts(facts, terminology, option.code, [diagnosis, *merged])
    if conflicts.blocked:
        return None
    actions = [Action("update", "replace" if old else "add_code",
                      resource=with_icd_code(diagnosis, old, option.code, terminology))]
    if option.also:
        actions.append(Action("create", "create_also",
                              resource=new_condition(facts, option.also, terminology, diagnosis)))
    actions += [Action("delete", "remove_merged", resource_id=d.reference) for d in merged]
    actions += conflicts.removals
    return Suggestion(label or option.label, actions, params={
        "old": ", ".join(old),
        "new": option.code,
        "display": icd.description(option.code, day) or option.code,
        "also": option.also or "",
        "also_display": (icd.description(option.also, day) or option.also) if option.also
        else "",
        "merged": ", ".join(d.name for d in merged),
    })


def offered_params(seen: Documented, suggestions: list[Suggestion]) -> dict:
    """The card parameters every specificity rule shares: the code replaced (none for an
    uncoded diagnosis, named by its own words and code system instead), the date of service,
    and the codes offered, the first one first."""
    diagnosis = seen.diagnosis
    return {
        "code": seen.old_codes[0] if seen.old_codes else "",
        "uncoded": diagnosis.uncoded,
        "name": diagnosis.name,
        "system": system_name(diagnosis),
        "back_pain": seen.back_pain,
        "date": diagnosis.date_of_service.isoformat(),
        "first": suggestions[0].params["new"],
        "codes": [(s.params["new"], s.params["display"]) for s in suggestions],
    }


_SYSTEM_NAMES = {SNOMED_SYSTEM: "SNOMED CT", ICD10_WHO_SYSTEM: "WHO ICD-10",
                 ICD10CM_SYSTEM: "ICD-10-CM"}


def system_name(diagnosis: Diagnosis) -> str:
    """The code system a diagnosis is coded in, as a card names it."""
    return next((_SYSTEM_NAMES[c.system] for c in diagnosis.codes if c.system in _SYSTEM_NAMES),
                "another code system")


def changes(options: Iterable[Option], facts: EncounterFacts, diagnosis: Diagnosis,
            old: Iterable[str], terminology: Terminology, merged: Iterable[Diagnosis] = (),
            label: str | None = None) -> list[Suggestion]:
    """``code_change`` for each option not already coded on the encounter."""
    on_encounter = facts.coded_on_encounter
    old, merged = list(old), list(merged)
    found = (code_change(o, facts, diagnosis, old, terminology, merged, label)
             for o in options if o.code not in on_encounter)
    return [s for s in found if s is not None]


def recommend_first(suggestions: list[Suggestion]) -> None:
    if len(suggestions) > 1:
        suggestions[0].is_recommended = True
