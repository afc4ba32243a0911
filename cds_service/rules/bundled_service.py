"""[bundled-service] A service Medicare always bundles (Physician Fee Schedule status B) for a
Medicare patient: hot or cold packs 97010.

Source: Palmetto GBA (97010 is status B: always bundled, never separately paid, and the patient
cannot be billed; denial B15 when billed alone): ../shared/domain/coding-facts.md §0 row 7, §3
([V]) and §5 trigger 6; issue 4 rule 6. Status indicators in
``valuesets/cpt-lbp-procedure-facts.json``. Payer from the Coverage; without one, quiet.
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..terminology import Terminology
from . import Finding
from ._procedures import (
    CPT_FACTS,
    billed_codes,
    concept_property,
    payer_is_medicare,
    procedure_display,
)

RULE_ID = "bundled-service"
HOOKS = ("order-sign", "encounter-discharge")
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
        }))
    return findings
