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
from . import Finding, Suggestion
from ._lbp import code_change, encounter_icd, finding_code, offered_params, owned_pictures

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

_SIDE_FINDING = {"right": "sciatica-right", "left": "sciatica-left",
                 None: "sciatica-unspecified-side"}
_REGION_FINDING = {"lumbar": "radiculopathy-lumbar", "lumbosacral": "radiculopathy-lumbosacral"}


def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    findings = []
    on_encounter = encounter_icd(facts, terminology)
    for seen in owned_pictures(facts, terminology, "radicular"):
        diagnosis, radicular = seen.diagnosis, seen.radicular
        if radicular.specified or not radicular.kinds:
            continue
        day = diagnosis.date_of_service
        old = [*seen.old_codes, *radicular.extra_codes]

        def change(label, new, also=None, diagnosis=diagnosis, old=old, radicular=radicular):
            return code_change(label, facts, diagnosis, old, new, terminology,
                               radicular.absorb, also)

        sciatica: list[Suggestion] = []
        if radicular.kinds & {"sciatica", "radiating"}:
            if radicular.side == "bilateral":
                right = finding_code(terminology, "sciatica-right", day)
                left = finding_code(terminology, "sciatica-left", day)
                if right and left:
                    sciatica.append(change("sciatica_bilateral", right, also=left))
            else:
                code = finding_code(terminology, _SIDE_FINDING[radicular.side], day)
                if code:
                    label = "sciatica_side" if radicular.side else "sciatica_unknown_side"
                    sciatica.append(change(label, code))
        radiculopathy: list[Suggestion] = []
        if "radiculopathy" in radicular.kinds:
            regions = sorted(radicular.regions) if len(radicular.regions) == 1 else [
                "lumbar", "lumbosacral"]
            for region in regions:
                code = finding_code(terminology, _REGION_FINDING[region], day)
                if code:
                    radiculopathy.append(change("radiculopathy", code))
        # the provider's own word first: "radiculopathy" without "sciatica" puts M54.16 first
        if "radiculopathy" in radicular.kinds and "sciatica" not in radicular.kinds:
            suggestions = radiculopathy + sciatica
        else:
            suggestions = sciatica + radiculopathy
        suggestions = [s for s in suggestions if s.params["new"] not in on_encounter]
        if not suggestions:
            continue
        if len(suggestions) > 1:
            suggestions[0].is_recommended = True
        findings.append(Finding(RULE_ID, params={
            **offered_params(seen, suggestions),
            "kinds": sorted(radicular.kinds),
            "side": radicular.side or "",
            "merged": bool(radicular.absorb or radicular.extra_codes),
        }, suggestions=suggestions))
    return findings
