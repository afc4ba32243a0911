"""[cmt-subluxation] Chiropractic spinal manipulation (98940-98942) for a Medicare patient with
no subluxation diagnosis (M99.00-M99.05) on the encounter.

Sources (ids in valuesets/sources.json): LCD L37254 Chiropractic Services and the Medicare
Benefit Policy Manual, Pub 100-02 Ch. 15 §240.1 (Medicare covers only manual manipulation of the
spine to correct a subluxation, shown by X-ray or physical exam; primary diagnosis the
subluxation M99.00-M99.05, with a neuromusculoskeletal diagnosis as secondary; maintenance
therapy is not covered); billing Article A56273 (the AT modifier on active or corrective
treatment; the PART exam findings). Suggests creating the M99.0x Condition of each region the
diagnoses document (``valuesets/spinal-region-to-subluxation.json``); with none documented,
lumbar, the region of the low-back-pain family this service checks.
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..terminology import ICD10CM_SYSTEM, Terminology
from ._fhir import new_condition
from ._findings import Action, Finding, Suggestion
from ._procedures import (
    CMT_CODES,
    SPINAL_REGIONS_SYSTEM,
    SUBLUXATION_MAP,
    billed_evidence,
    billed_for_medicare,
    documented_regions,
    has_subluxation,
    procedure_display,
)

RULE_ID = "cmt-subluxation"
HOOKS = ("order-sign", "encounter-discharge")
# Public sources (valuesets/sources.json) this rule rests on
SOURCES = (
    "lcd-l37254",
    "cms-pub100-02-ch15-s240-1",
    "article-a56273",
)
# The knowledge files (valuesets/*.json, by name) this rule reads, served at /valuesets/{id}
VALUESETS = (
    "ChiropracticSpinalManipulation",
    "MedicareCmtSubluxation",
    "SpinalRegionToSubluxation",
    "SpinalRegionOfDiagnosis",
    "SpinalRegions",
    "MedicareCoverage",
    "PayorNameWords",
)
# This service checks low back pain: with no region documented, the subluxation is lumbar.
DEFAULT_REGION = "lumbar"


def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    cmt = billed_for_medicare(facts.billed_services, CMT_CODES, facts, terminology)
    if not cmt or has_subluxation(facts, terminology):
        return []
    documented = documented_regions(facts.diagnoses, terminology)
    regions = documented or [DEFAULT_REGION]
    template = facts.diagnoses[0] if facts.diagnoses else None
    suggestions = []
    for region in regions:
        for target in terminology.translate(SUBLUXATION_MAP, SPINAL_REGIONS_SYSTEM, region):
            if target.system != ICD10CM_SYSTEM:
                continue
            suggestions.append(Suggestion(
                "add",
                [Action("create", "add",
                        resource=new_condition(facts, target.code, terminology, template))],
                params={"new": target.code, "region": region,
                        "display": terminology.icd.description(target.code,
                                                               facts.date_of_service) or ""},
            ))
    codes = list(dict.fromkeys(b.code for b in cmt))
    return [Finding(
        RULE_ID,
        params={
            "codes": [(c, procedure_display(terminology, cmt[0].system, c) or "") for c in codes],
            "regions": regions,
            "region_documented": bool(documented),
            "ordered": facts.hook == "order-sign",
        },
        suggestions=suggestions,
        evidence=billed_evidence(*cmt),
    )]
