"""[specificity-disc] Nonspecific low back pain coded while a lumbar disc disorder is documented
(herniation or displacement, degeneration: in the note, the evidence, the Encounter's reason,
or as a degeneration code without its pain pattern).

Sources (ids in valuesets/sources.json): the CDC ICD-10-CM tabular, FY2026 (April 2026):
herniation without radiculopathy is M51.26 / M51.27 (inclusion term "Lumbago due to
displacement of intervertebral disc"), with radiculopathy or sciatica M51.16 / M51.17;
degeneration M51.36- / M51.37- is chosen by pain pattern (.360 discogenic back pain only, .362
back and leg pain), children added in FY2025 (M51.36 / M51.37 billable until 2024-09-30); the
Excludes1 notes of M54.5 (M51.2-, M51.360, M51.370), M54.4 (M51.1-, M51.362) and M54.3 (M51.1-)
with ICD-10-CM Official Guidelines I.A.12.a: with radicular features the disc code replaces
M54.4- and is never suggested beside it.
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..terminology import Terminology
from . import Finding, Suggestion
from ._lbp import code_change, encounter_icd, finding_code, offered_params, owned_pictures

RULE_ID = "specificity-disc"
HOOKS = ("order-sign", "encounter-discharge")
# Public sources (valuesets/sources.json) this rule rests on
SOURCES = (
    "cdc-icd10cm-fy2026-april",
    "cdc-icd10cm-fy2025-april",
    "icd10cm-guidelines-i-a-12-a",
)
# The knowledge files (valuesets/*.json, by name) this rule reads, served at /valuesets/{id}
VALUESETS = (
    "LowBackPainNonspecific",
    "LumbarDiscDisplacement",
    "LumbarDiscDegeneration",
    "LumbarDiscDegenerationNoPainPattern",
    "LumbarDiscSpecified",
    "LbpDocumentedFindingToIcd10cm",
    "SnomedLowBackToIcd10cm",
)


def _findings_for(kinds: set[str], radicular: set[str]) -> list[str]:
    """The documented-finding keys to suggest, best first (without the region suffix)."""
    nerve = bool(radicular & {"sciatica", "radiculopathy"})
    leg_pain = bool(radicular)
    if "displacement" in kinds:
        if leg_pain:
            return ["disc-radicular"]
        chosen = ["disc-displacement"]
        if "degeneration" in kinds:
            chosen.append("disc-degeneration-back-pain")
        return chosen
    # degeneration only
    if nerve:
        return ["disc-radicular", "disc-degeneration-back-and-leg-pain"]
    if leg_pain:
        return ["disc-degeneration-back-and-leg-pain", "disc-radicular"]
    return ["disc-degeneration-back-pain"]


def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    findings = []
    on_encounter = encounter_icd(facts, terminology)
    for seen in owned_pictures(facts, terminology, "disc"):
        diagnosis, disc = seen.diagnosis, seen.disc
        if disc.specified or not disc.kinds:
            continue
        day = diagnosis.date_of_service
        old = [*seen.old_codes, *disc.extra_codes]
        regions = sorted(disc.regions) if len(disc.regions) == 1 else ["lumbar", "lumbosacral"]
        suggestions: list[Suggestion] = []
        seen_codes: set[str] = set()
        for rank, key in enumerate(_findings_for(disc.kinds, seen.radicular.kinds)):
            # an unknown level offers both regions for the best choice only
            for region in regions if rank == 0 else regions[:1]:
                code = finding_code(terminology, f"{key}-{region}", day)
                if not code or code in seen_codes or code in on_encounter:
                    continue
                seen_codes.add(code)
                label = key.replace("-", "_")
                suggestions.append(code_change(label, facts, diagnosis, old, code, terminology,
                                               disc.absorb))
        if not suggestions:
            continue
        if len(suggestions) > 1:
            suggestions[0].is_recommended = True
        findings.append(Finding(RULE_ID, params={
            **offered_params(seen, suggestions),
            "kinds": sorted(disc.kinds),
            "radicular": sorted(seen.radicular.kinds),
            "region": regions[0] if len(regions) == 1 else "",
            "merged": bool(disc.absorb or disc.extra_codes),
        }, suggestions=suggestions))
    return findings
