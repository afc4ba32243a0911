"""[specificity-injury] Nonspecific low back pain coded while the pain comes from an injury (the
note or the Encounter's reason: a strain, a sprain, lifting, a fall, other trauma; a strain or
sprain code in the evidence or the reason; an earlier injury Condition that is still active).

Sources (ids in valuesets/sources.json): the CDC ICD-10-CM tabular, FY2026 (April 2026): muscle,
fascia or tendon strain S39.012-, ligament sprain S33.5XX-, and M54.5 Excludes1 "low back strain
(S39.012)" (ICD-10-CM Official Guidelines I.A.12.a); ICD-10-CM Official Guidelines I.C.19.a (the
7th character: A while the patient receives active treatment, D for encounters in the healing
or recovery phase after it, S for sequelae). A mechanism alone (a fall, lifting) without a named
strain or sprain yields to a documented disc disorder or sciatica, and is suggested as both
alternatives with a prompt to document the kind of injury.
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..facts.membership import INJURY
from ..facts.picture import Documented
from ..terminology import ICD10CM_SYSTEM, Terminology
from ._findings import MAX_FINDINGS_PER_RULE, Finding
from ._options import Option, injury_options
from ._pictures import owned_pictures
from ._suggestions import changes, code_change, offered_params, recommend_first
from ._uncoded import specific_plan_suggestions

RULE_ID = "specificity-injury"
HOOKS = ("order-sign", "encounter-discharge")
# Public sources (valuesets/sources.json) this rule rests on
SOURCES = (
    "cdc-icd10cm-fy2026-april",
    "icd10cm-guidelines-i-c-19-a",
    "icd10cm-guidelines-i-a-12-a",
)
# The knowledge files (valuesets/*.json, by name) this rule reads, served at /valuesets/{id}
VALUESETS = (
    "LowBackPainNonspecific",
    "LumbarInjury",
    "LowerBackStrain",
    "LumbarSprain",
    "LbpDocumentedFindingToIcd10cm",
    "SnomedLowBackToIcd10cm",
)

def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    findings = []
    for seen in owned_pictures(facts, "injury", terminology):
        diagnosis, injury = seen.diagnosis, seen.injury
        if injury.specified:
            continue
        day = diagnosis.date_of_service
        suggestions = changes(injury_options(seen, day, terminology), facts, diagnosis,
                              seen.old_codes, terminology)
        if not suggestions:
            continue
        if injury.kinds:
            recommend_first(suggestions)
        findings.append(Finding(RULE_ID, params={
            **offered_params(seen, suggestions),
            "case": "nonspecific",
            "kinds": sorted(injury.kinds),
            "phase": "subsequent" if injury.subsequent else "initial",
        }, suggestions=suggestions, target=diagnosis.reference,
            evidence=seen.evidence("injury"),
            # a mechanism without the kind of injury is a prompt, not a coding error
            indicator=None if injury.kinds else "info"))
    planned = specific_plan_suggestions(facts, terminology, "injury")
    if planned is not None:
        plan, suggestions = planned
        findings.append(Finding(RULE_ID, params={
            **offered_params(plan.host, suggestions),
            "case": "nonspecific",
            "kinds": sorted(plan.host.injury.kinds),
            "phase": "subsequent" if plan.host.injury.subsequent else "initial",
        }, suggestions=suggestions, target=plan.host.diagnosis.reference,
            evidence=plan.host.evidence("injury")))
    findings += _phase_of_care(facts, terminology)
    return findings


def _phase_of_care(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    """An injury code already coded with 7th character A (active treatment) at a visit the
    note documents as routine care in the healing or recovery phase: D (Official Guidelines
    I.C.19.a). While treatment is active, A is right and nothing is said."""
    findings = []
    pictures = facts.low_back.pictures if facts.low_back else []
    for seen in pictures:
        if len(findings) >= MAX_FINDINGS_PER_RULE:
            break
        for code in _initial_injury_codes(seen, terminology):
            day = seen.diagnosis.date_of_service
            subsequent = code[:-1] + "D"
            if not terminology.icd.is_billable(subsequent, day) or (
                    subsequent in facts.coded_on_encounter):
                continue
            option = Option("phase", subsequent)
            suggestion = code_change(option, facts, seen.diagnosis, [code], terminology)
            if suggestion is None:
                continue
            findings.append(Finding(RULE_ID, params={
                **offered_params(seen, [suggestion]),
                "code": code,
                "case": "phase",
                "kinds": [],
                "phase": "subsequent",
            }, suggestions=[suggestion], target=seen.diagnosis.reference,
                evidence=seen.evidence("injury")))
    return findings


def _initial_injury_codes(seen: Documented, terminology: Terminology) -> list[str]:
    if not seen.injury.healing:
        return []
    contains = terminology.store.valueset(INJURY).contains
    return [c for c in seen.diagnosis.coded
            if contains(ICD10CM_SYSTEM, c) and len(c) == 8 and c.endswith("A")]
