"""[bundled-service] A service Medicare always bundles (Physician Fee Schedule status B) for a
Medicare patient: hot or cold packs 97010.

Sources (ids in valuesets/sources.json): the Medicare Physician Fee Schedule status indicators
(97010 is status B: always bundled into another service, never paid separately, and the patient
cannot be billed for it; billed alone it is denied). Status indicators in
``valuesets/cpt-lbp-procedure-facts.json``. Payer from the Coverage; without one, quiet.
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..terminology import Terminology
from ._findings import Finding
from ._procedures import (
    CPT_FACTS,
    billed_codes,
    billed_evidence,
    concept_property,
    payer_is_medicare,
    procedure_display,
)

RULE_ID = "bundled-service"
HOOKS = ("order-sign", "encounter-discharge")
# Public sources (valuesets/sources.json) this rule rests on
SOURCES = (
    "cms-pfs-relative-value-files",
)
# The knowledge files (valuesets/*.json, by name) this rule reads, served at /valuesets/{id}
VALUESETS = (
    "CptLbpProcedureFacts",
    "MedicareCoverage",
    "PayorNameWords",
)
_BUNDLED = "B"


def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    if not facts.billed_services or payer_is_medicare(facts, terminology) is not True:
        return []
    findings = []
    seen: set[str] = set()
    for billed in billed_codes(facts.billed_services):
        concept = terminology.store.concept(CPT_FACTS, billed.code)
        if concept_property(concept, "medicare-pfs-status") != _BUNDLED or billed.code in seen:
            continue
        seen.add(billed.code)
        findings.append(Finding(RULE_ID, params={
            "code": billed.code,
            "display": procedure_display(terminology, billed.system, billed.code) or "",
            "ordered": billed.service.is_order,
        }, evidence=billed_evidence(billed)))
    return findings
