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
from ._findings import MAX_FINDINGS_PER_RULE, Finding
from ._options import disc_options, disc_radicular_option
from ._pictures import owned_pictures
from ._suggestions import changes, code_change, offered_params, recommend_first
from ._uncoded import specific_plan_suggestions

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


def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    findings = []
    for seen in owned_pictures(facts, "disc", terminology):
        diagnosis, disc = seen.diagnosis, seen.disc
        if disc.specified or not disc.kinds:
            continue
        day = diagnosis.date_of_service
        old = [*seen.old_codes, *disc.extra_codes]
        suggestions = changes(disc_options(seen, day, terminology), facts, diagnosis, old,
                              terminology, disc.absorb)
        if not suggestions:
            continue
        recommend_first(suggestions)
        regions = sorted(disc.regions)
        findings.append(Finding(RULE_ID, params={
            **offered_params(seen, suggestions),
            "case": "nonspecific",
            "kinds": sorted(disc.kinds),
            "radicular": sorted(seen.radicular.kinds),
            "region": regions[0] if len(regions) == 1 else "",
            "merged": bool(disc.absorb or disc.extra_codes),
        }, suggestions=suggestions, target=diagnosis.reference,
            evidence=seen.evidence("disc")))
    planned = specific_plan_suggestions(facts, terminology, "disc")
    if planned is not None:
        plan, suggestions = planned
        findings.append(Finding(RULE_ID, params={
            **offered_params(plan.host, suggestions),
            "case": "nonspecific",
            "kinds": sorted(plan.host.disc.kinds),
            "radicular": sorted(plan.host.radicular.kinds),
            "region": next(iter(plan.host.disc.regions)) if len(plan.host.disc.regions) == 1
            else "",
            "merged": bool(plan.merged),
        }, suggestions=suggestions, target=plan.host.diagnosis.reference,
            evidence=plan.host.evidence("disc")))
    findings += _disc_with_radiculopathy(facts, terminology)
    return findings


def _disc_with_radiculopathy(facts: EncounterFacts, terminology: Terminology
                             ) -> list[Finding]:
    """A disc coded without its radiculopathy (M51.2-, M51.3-) while radiculopathy or sciatica
    is documented: M51.1- for the coded level. The radiculopathy and sciatica codes coded apart
    go: M51.1 Excludes1 M54.16 and M54.3; M54.4 Excludes1 M51.1-."""
    group = facts.low_back
    if group is None:
        return []
    findings = []
    merged_once = list(group.radicular_coded_apart)
    on_encounter = facts.coded_on_encounter
    for seen in group.pictures:
        if len(findings) >= MAX_FINDINGS_PER_RULE:
            break
        diagnosis = seen.diagnosis
        day = diagnosis.date_of_service
        # a code not billable on the date of service is invalid-code's, which offers M51.1- too
        disc_codes = [c for c in diagnosis.coded if c.startswith(("M51.2", "M51.3"))
                      and terminology.icd.is_billable(c, day)]
        if not disc_codes or seen.old_codes:
            continue
        option = disc_radicular_option(seen, disc_codes[0], day, terminology)
        if option is None or option.code in on_encounter:
            continue
        region = "lumbosacral" if option.code == "M51.17" else "lumbar"
        merged, merged_once = [d for d in merged_once if d is not diagnosis], []
        suggestion = code_change(option, facts, diagnosis, disc_codes, terminology, merged)
        if suggestion is None:
            continue
        findings.append(Finding(RULE_ID, params={
            **offered_params(seen, [suggestion]),
            "code": disc_codes[0],
            "case": "coded_disc",
            "kinds": sorted(seen.disc.kinds) or ["displacement"],
            "radicular": sorted(seen.radicular.kinds),
            "region": region,
            "merged": bool(merged),
        }, suggestions=[suggestion], target=diagnosis.reference,
            # the disc is coded; the radicular features it leaves uncoded are the evidence
            evidence=seen.evidence("radicular")))
    return findings
