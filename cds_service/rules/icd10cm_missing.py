"""[icd10cm-missing] A low back diagnosis of the encounter coded only in SNOMED CT (or WHO
ICD-10), with no ICD-10-CM code: the claim would leave without a code for it.

The suggestion adds the ICD-10-CM code of the concept itself to *that* Condition, keeping its
SNOMED CT coding: chronic low back pain with nothing more documented is M54.50 (ICD-10-CM
index: Pain, back, low); a lumbar disc displacement M51.26. The coded nonspecific low back pain
diagnoses it leads merge into it. Where the documentation makes the code more specific (left
sciatica: M54.42; a displacement with radiculopathy: M51.16), the specificity rule of that
family speaks instead, with the same suggestion shape. Quiet when the encounter already codes
the condition, and when the chosen code excludes a coded one (excludes1-conflict's card then
codes it and removes the other).

Sources (ids in valuesets/sources.json): the CDC ICD-10-CM tabular and index, FY2026 (April
2026); the CMS ICD-10 code files (ICD-10-CM is the diagnosis code set of a claim); ICD-10-CM
Official Guidelines I.B.2 (code to the highest specificity) and I.C.6.b (G89 chronic pain codes
only where the provider documents chronic pain as the focus: not suggested here).
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..facts.low_back import speaking_family
from ..terminology import Terminology
from ._findings import Finding
from ._suggestions import code_change, recommend_first, system_name
from ._uncoded import uncoded_plan

RULE_ID = "icd10cm-missing"
HOOKS = ("order-sign", "encounter-discharge")
# Public sources (valuesets/sources.json) this rule rests on
SOURCES = (
    "cdc-icd10cm-fy2026-april",
    "cms-icd10-code-sets",
    "icd10cm-guidelines-i-b-2",
    "icd10cm-guidelines-i-c-6-b",
)
# The knowledge files (valuesets/*.json, by name) this rule reads, served at /valuesets/{id}
VALUESETS = (
    "SnomedLowBackToIcd10cm",
    "Icd10WhoLowBackToIcd10cm",
    "LowBackPainNonspecific",
    "LbpDocumentedFindingToIcd10cm",
)

def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    plan = uncoded_plan(facts, terminology)
    if plan is None or plan.state != "missing" or plan.specific:
        return []
    diagnosis = plan.host.diagnosis
    suggestions = [s for s in (code_change(option, facts, diagnosis, [], terminology, plan.merged,
                                           label="add_both" if option.also else "add")
                               for option in plan.options) if s is not None]
    if not suggestions:
        return []
    recommend_first(suggestions)
    system = system_name(diagnosis)
    return [Finding(RULE_ID, params={
        "name": diagnosis.name,
        "system": system,
        "date": diagnosis.date_of_service.isoformat(),
        "first": suggestions[0].params["new"],
        "codes": [(s.params["new"], s.params["display"]) for s in suggestions],
        "specific": plan.specific,
        "owner": speaking_family(plan.host) or "",
        "radicular": sorted(plan.host.radicular.kinds),
        "side": plan.host.radicular.side or "",
        "disc": sorted(plan.host.disc.kinds),
        "merged": [d.name for d in plan.merged],
    }, suggestions=suggestions, target=diagnosis.reference,
        # its own code (SNOMED CT, WHO ICD-10) and what its texts say of low back pain
        evidence=plan.host.evidence("back_pain"))]
