"""[excludes1-conflict] Two diagnoses of the encounter whose ICD-10-CM codes are in an Excludes1
relation: the two conditions cannot be reported together (M54.5- with M54.4-, S39.012- or
M51.2-; M54.3- with M54.4-; M54.16 with M51.16; and every other Excludes1 note in the code set).

Sources (ids in valuesets/sources.json): ICD-10-CM Official Guidelines I.A.12.a (Excludes1: "NOT
CODED HERE"; the two codes are never used together, except when the conditions are unrelated);
the Excludes1 notes of the CDC ICD-10-CM tabular, FY2026 (April 2026), parsed for the whole code
set by ``terminology.icd.excludes1_conflict`` (among them the notes of M54.1, M54.3, M54.4,
M54.5 and M51.1).

Which code to keep: the code the note points to, since the note says the condition is coded
there (M54.5 "Excludes1: lumbago with sciatica (M54.4-)" keeps M54.41). When each code's note
names the other, the one outside Dorsalgia (M54-) is kept: the aetiology (a disc disorder) over
the symptom. When the two codes are in different chapters (an injury and a disease, e.g. S33 and
M51), they may well be two unrelated conditions, so both choices are offered.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import date

from ..facts import Diagnosis, EncounterFacts
from ..facts.evidence import diagnosis_codes
from ..terminology import Terminology
from ._excludes import drop_choices
from ._fhir import with_icd_code, without_codes
from ._findings import MAX_FINDINGS_PER_RULE, Action, Finding, Suggestion
from ._suggestions import system_name
from ._uncoded import UncodedPlan, uncoded_plan

RULE_ID = "excludes1-conflict"
HOOKS = ("order-sign", "encounter-discharge")
# Public sources (valuesets/sources.json) this rule rests on
SOURCES = (
    "icd10cm-guidelines-i-a-12-a",
    "cdc-icd10cm-fy2026-april",
)
# The knowledge files (valuesets/*.json, by name) this rule reads, served at /valuesets/{id}
VALUESETS = (
    "Dorsalgia",
    "LowBackPainNonspecific",
    "SnomedLowBackToIcd10cm",
)


def _suggestion(drop: str, keep: str, dropping: list[Diagnosis], same: bool, recommended: bool,
                terminology: Terminology, day: date) -> Suggestion | None:
    icd = terminology.icd
    params = {"drop": drop, "keep": keep, "drop_display": icd.description(drop, day) or drop,
              "keep_display": icd.description(keep, day) or keep}
    actions = []
    for diagnosis in dropping:
        action = _removal(diagnosis, drop, same)
        if action is not None:
            actions.append(action)
    return Suggestion("keep", actions, params=params, is_recommended=recommended) if (
        actions) else None


def _removal(diagnosis: Diagnosis, code: str, same: bool) -> Action | None:
    """Take ``code`` off the diagnosis: its coding when it keeps another code, else the whole
    Condition (one delete action per resource)."""
    resource = without_codes(diagnosis, [code])
    if resource is not None:
        return Action("update", "remove_code", resource=resource)
    if same or not diagnosis.reference:
        return None
    return Action("delete", "remove_diagnosis", resource_id=diagnosis.reference)


def _coded_entries(facts: EncounterFacts, terminology: Terminology, day: date
                   ) -> dict[str, list[Diagnosis]]:
    """Each ICD-10-CM code on the record (known to the code set), with its diagnoses."""
    icd = terminology.icd
    by_code: dict[str, list[Diagnosis]] = {}
    for diagnosis in facts.diagnoses:
        for code in diagnosis.coded:
            if icd.exists(code, day):
                holders = by_code.setdefault(code, [])
                if not holders or holders[-1] is not diagnosis:
                    holders.append(diagnosis)
    return by_code


def _conflicting_pairs(codes: list[str], terminology: Terminology, day: date
                       ) -> list[tuple[str, str]]:
    """Every pair of the encounter's distinct codes that an Excludes1 note forbids together.
    A note's reference names a block of codes that is contiguous in sorted order (a code and
    everything below it, or a range of categories), so each is found by bisection: the cost
    follows the codes and the pairs found, not the square of the codes."""
    icd = terminology.icd
    ordered = sorted(codes)
    pairs: set[tuple[str, str]] = set()
    for code in ordered:
        for note in icd.excludes1_notes(code, day):
            for reference in note.references:
                last = reference.last.replace(".", "") if reference.last else None
                index = bisect_left(ordered, reference.first)
                while index < len(ordered):
                    other = ordered[index]
                    index += 1
                    if last is None and not other.startswith(reference.first):
                        break
                    if last is not None and other.replace(".", "")[:len(last)] > last:
                        break
                    if other != code and not other.startswith(note.owner) and (
                            reference.matches(other)):
                        first, second = sorted((code, other))
                        pairs.add((first, second))
    return sorted(pairs)


# the Conditions named as evidence for each code of a pair: a record may repeat a code
_HOLDERS_SHOWN = 3


def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    icd = terminology.icd
    day = facts.date_of_service
    by_code = _coded_entries(facts, terminology, day)
    findings = []
    for first, second in _conflicting_pairs(list(by_code), terminology, day):
        if len(findings) >= MAX_FINDINGS_PER_RULE:
            break
        note = icd.excludes1_conflict(first, second, day)
        if note is None:
            continue
        if not (icd.is_billable(first, day) and icd.is_billable(second, day)):
            continue  # invalid-code's card first: which code stays is decided among valid ones
        holders = {id(d) for d in by_code[first]} & {id(d) for d in by_code[second]}
        same = bool(holders)
        drops, recommended = drop_choices(terminology, first, second, day)
        suggestions = []
        for drop in drops:
            keep = second if drop == first else first
            suggestion = _suggestion(drop, keep, by_code[drop], same,
                                     len(drops) > 1 and drop == recommended, terminology, day)
            if suggestion:
                suggestions.append(suggestion)
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
            "uncoded": "", "uncoded_system": "",
        }, suggestions=suggestions, target=(by_code[recommended or first][0]).reference,
            evidence=[e for code in (first, second) for d in by_code[code][:_HOLDERS_SHOWN]
                      for e in diagnosis_codes(d, [code])]))
    plan = uncoded_plan(facts, terminology)
    if plan is not None and plan.state == "excludes1":
        findings.append(_uncoded_finding(plan, facts, terminology))
    return findings


def _uncoded_finding(plan: UncodedPlan, facts: EncounterFacts, terminology: Terminology
                     ) -> Finding:
    """The chosen code of a diagnosis coded only in SNOMED CT excludes a code on the record:
    code that Condition, and remove the other."""
    icd = terminology.icd
    host = plan.host.diagnosis
    day = host.date_of_service
    chosen = plan.options[0]
    conflict = plan.conflicts[0]
    actions = [Action("update", "code_uncoded",
                      resource=with_icd_code(host, [], chosen.code, terminology))]
    for item in plan.conflicts:
        action = _removal(item.diagnosis, item.code, same=False)
        if action is not None:
            actions.append(action)
    actions += [Action("delete", "remove_diagnosis", resource_id=d.reference)
                for d in plan.merged if d.reference]
    params = {"drop": conflict.code, "keep": chosen.code,
              "drop_display": icd.description(conflict.code, day) or conflict.code,
              "keep_display": icd.description(chosen.code, day) or chosen.code,
              "uncoded": host.name}
    suggestion = Suggestion("code_and_keep", actions, params=params)
    return Finding(RULE_ID, params={
        "first": conflict.code, "second": chosen.code,
        "first_display": params["drop_display"], "second_display": params["keep_display"],
        "note_owner": conflict.note_owner, "note": conflict.note,
        "keep": chosen.code, "drop": conflict.code,
        "keep_display": params["keep_display"], "drop_display": params["drop_display"],
        "same_condition": False, "choices": 1,
        "date": host.date_of_service.isoformat(),
        "uncoded": host.name, "uncoded_system": system_name(host),
        "release": icd.release_label(day),
    }, suggestions=[suggestion], target=host.reference,
        evidence=diagnosis_codes(host) + [e for item in plan.conflicts[:_HOLDERS_SHOWN]
                                          for e in diagnosis_codes(item.diagnosis, [item.code])])
