"""[medicare-97014] A code Medicare does not recognise, for a Medicare patient: CPT 97014
(unattended electrical stimulation), which Medicare wants billed as HCPCS G0283.

Sources (ids in valuesets/sources.json): the Medicare Physician Fee Schedule status indicators
(97014 is not payable under the fee schedule) and HCPCS Level II (G0283, unattended electrical
stimulation other than for wound care, as part of a therapy plan of care). The code pairs are
data in ``valuesets/medicare-procedure-replacements.json``. Payer from the Coverage; without
one, quiet.
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..terminology import Terminology
from ._findings import Finding
from ._procedures import (
    MEDICARE_REPLACEMENTS,
    billed_codes,
    billed_evidence,
    payer_is_medicare,
    procedure_display,
    procedure_replacement,
)

RULE_ID = "medicare-97014"
HOOKS = ("order-sign", "encounter-discharge")
# Public sources (valuesets/sources.json) this rule rests on
SOURCES = (
    "cms-pfs-relative-value-files",
    "cms-hcpcs-level-ii",
)
# The knowledge files (valuesets/*.json, by name) this rule reads, served at /valuesets/{id}
VALUESETS = (
    "MedicareProcedureReplacements",
    "HcpcsLbpProcedureFacts",
    "MedicareCoverage",
    "PayorNameWords",
)


def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    if not facts.billed_services or payer_is_medicare(facts, terminology) is not True:
        return []
    findings = []
    for billed in billed_codes(facts.billed_services):
        targets = terminology.translate(MEDICARE_REPLACEMENTS, billed.system, billed.code)
        if not targets:
            continue
        service = billed.service
        suggestions = [
            procedure_replacement(billed, target.system, target.code, target.display,
                                  recommended=True)
            for target in targets
        ]
        findings.append(Finding(
            RULE_ID,
            params={
                "code": billed.code,
                "display": procedure_display(terminology, billed.system, billed.code) or "",
                "replacement": targets[0].code,
                "replacement_display": targets[0].display or "",
                "ordered": service.is_order,
            },
            suggestions=suggestions,
            evidence=billed_evidence(billed),
        ))
    return findings
