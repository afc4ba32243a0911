"""[cmt-level] A chiropractic manipulation level above the spinal regions the diagnoses document.

Sources (ids in valuesets/sources.json): the CPT chiropractic manipulative treatment codes
(98940 = 1-2 spinal regions, 98941 = 3-4, 98942 = 5; the five regions cervical, thoracic,
lumbar, sacral, pelvic). That the documentation must support the number of regions billed is
common payer policy: check your payer's. Levels in ``valuesets/cpt-lbp-procedure-facts.json``;
regions counted from the diagnoses' M99.0x codes, region-specific codes and body sites
(``valuesets/spinal-region-of-diagnosis.json``, ``valuesets/spinal-regions.json``). Not payer
specific. With no region documented at all there is nothing to count, and the rule stays quiet.
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..terminology import Terminology
from ._findings import Finding
from ._procedures import (
    CMT_CODES,
    CPT_FACTS,
    billed_evidence,
    billed_in,
    concept_property,
    documented_regions,
    procedure_display,
    procedure_replacement,
)

RULE_ID = "cmt-level"
HOOKS = ("order-sign", "encounter-discharge")
# Public sources (valuesets/sources.json) this rule rests on
SOURCES = (
    "ama-cpt",
    "cdc-icd10cm-fy2026-april",
    "ihe-back-spine-target-site",
)
# The knowledge files (valuesets/*.json, by name) this rule reads, served at /valuesets/{id}
VALUESETS = (
    "ChiropracticSpinalManipulation",
    "CptLbpProcedureFacts",
    "SpinalRegionOfDiagnosis",
    "SpinalRegions",
)


def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    cmt = billed_in(facts.billed_services, CMT_CODES, terminology)
    if not cmt:
        return []
    regions = documented_regions(facts.diagnoses, terminology)
    if not regions:
        return []
    levels = _levels(terminology)
    findings = []
    for billed in cmt:
        if billed.code not in levels:
            continue
        low, high = levels[billed.code]
        if len(regions) >= low:
            continue
        matching = [code for code, (lo, hi) in levels.items() if lo <= len(regions) <= hi]
        suggestions = [
            procedure_replacement(billed, billed.system, new,
                                  procedure_display(terminology, billed.system, new))
            for new in matching
        ]
        findings.append(Finding(
            RULE_ID,
            params={
                "code": billed.code,
                "display": procedure_display(terminology, billed.system, billed.code) or "",
                "low": low,
                "high": high,
                "regions": regions,
                "count": len(regions),
                "ordered": billed.service.is_order,
            },
            suggestions=suggestions,
            evidence=billed_evidence(billed),
        ))
    return findings


def _levels(terminology: Terminology) -> dict[str, tuple[int, int]]:
    levels = {}
    for code, concept in terminology.store.concepts(CPT_FACTS).items():
        low = concept_property(concept, "spinal-regions-min")
        high = concept_property(concept, "spinal-regions-max")
        if low is not None and high is not None:
            levels[code] = (int(low), int(high))
    return levels
