"""[specificity-radicular] Nonspecific low back pain coded while sciatica, radiculopathy or pain
radiating into the leg is documented (in the note, the evidence, the Encounter's reason, or as
its own diagnosis).

Sources (ids in valuesets/sources.json): the CDC ICD-10-CM tabular, FY2026 (April 2026): low back
pain with sciatica is M54.4- Lumbago with sciatica, by side (M54.3 Excludes1 "sciatica with
lumbago (M54.4-)", ICD-10-CM Official Guidelines I.A.12.a); M54.16 / M54.17 radiculopathy not due
to a disc disorder (M54.1 Excludes1 M51.1-). ICD-10-CM Official Guidelines I.B.9 (use the
combination code) and I.B.13 (laterality; no bilateral code: assign the right and the left
code; an unspecified side, M54.40, is worth a query to the provider). A documented disc disorder
takes precedence (specificity-disc suggests M51.16 / M51.17, never M54.4-: M54.4 Excludes1
M51.1-), and so does a documented strain or sprain (specificity-injury).
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..terminology import Terminology
from ._findings import Finding
from ._options import radicular_options
from ._pictures import owned_pictures
from ._suggestions import changes, offered_params, recommend_first
from ._uncoded import specific_plan_suggestions

RULE_ID = "specificity-radicular"
HOOKS = ("order-sign", "encounter-discharge")
# Public sources (valuesets/sources.json) this rule rests on
SOURCES = (
    "cdc-icd10cm-fy2026-april",
    "icd10cm-guidelines-i-a-12-a",
    "icd10cm-guidelines-i-b-9",
    "icd10cm-guidelines-i-b-13",
)
# The knowledge files (valuesets/*.json, by name) this rule reads, served at /valuesets/{id}
VALUESETS = (
    "LowBackPainNonspecific",
    "SciaticaWithoutLumbago",
    "LumbarRadiculopathy",
    "LumbarRadicularSpecified",
    "Dorsalgia",
    "LbpDocumentedFindingToIcd10cm",
    "SnomedLowBackToIcd10cm",
)


def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    findings = []
    for seen in owned_pictures(facts, "radicular", terminology):
        diagnosis, radicular = seen.diagnosis, seen.radicular
        if radicular.specified or not radicular.kinds:
            continue
        day = diagnosis.date_of_service
        old = [*seen.old_codes, *radicular.extra_codes]
        suggestions = changes(radicular_options(seen, day, terminology), facts, diagnosis, old,
                              terminology, radicular.absorb)
        if not suggestions:
            continue
        recommend_first(suggestions)
        findings.append(Finding(RULE_ID, params={
            **offered_params(seen, suggestions),
            "kinds": sorted(radicular.kinds),
            "side": radicular.side or "",
            "merged": bool(radicular.absorb or radicular.extra_codes),
        }, suggestions=suggestions, target=diagnosis.reference,
            evidence=seen.evidence("radicular")))
    planned = specific_plan_suggestions(facts, terminology, "radicular")
    if planned is not None:
        plan, suggestions = planned
        findings.append(Finding(RULE_ID, params={
            **offered_params(plan.host, suggestions),
            "kinds": sorted(plan.host.radicular.kinds),
            "side": plan.host.radicular.side or "",
            "merged": bool(plan.merged),
        }, suggestions=suggestions, target=plan.host.diagnosis.reference,
            evidence=plan.host.evidence("radicular")))
    return findings
