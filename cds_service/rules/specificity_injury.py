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
from ..terminology import Terminology
from . import Finding
from ._lbp import code_change, encounter_icd, finding_code, offered_params, owned_pictures

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
    on_encounter = encounter_icd(facts, terminology)
    for seen in owned_pictures(facts, terminology, "injury"):
        diagnosis, injury = seen.diagnosis, seen.injury
        if injury.specified:
            continue
        day = diagnosis.date_of_service
        phase = "subsequent" if injury.subsequent else "initial"
        kinds = [k for k in ("strain", "sprain") if k in injury.kinds] or ["strain", "sprain"]
        suggestions = []
        for kind in kinds:
            code = finding_code(terminology, f"{kind}-{phase}", day)
            if code and code not in on_encounter:
                label = kind if injury.kinds else f"{kind}_if"
                suggestions.append(code_change(label, facts, diagnosis, list(seen.old_codes),
                                               code, terminology))
        if not suggestions:
            continue
        if len(suggestions) > 1 and injury.kinds:
            suggestions[0].is_recommended = True
        findings.append(Finding(RULE_ID, params={
            **offered_params(seen, suggestions),
            "kinds": sorted(injury.kinds),
            "phase": phase,
        }, suggestions=suggestions,
            # a mechanism without the kind of injury is a prompt, not a coding error
            indicator=None if injury.kinds else "info"))
    return findings
