"""[documentation-missing] A nonspecific low back pain diagnosis whose record lacks the elements
that support it. One card lists exactly the missing ones; none when all are there.

The elements and where they are looked for:
- location: ``Condition.bodySite`` (the note's words do not count: the diagnosis itself already
  names the region, the element asks for the structured site);
- onset or duration: ``Condition.onset[x]``, or an onset or duration phrase in the text;
- character or severity: ``Condition.severity``, or a character or severity word in the text;
- associated symptoms: numbness, tingling, weakness or radiating pain (sciatica, pain radiating
  to the leg, "no radiation") stated as present or denied in the text or the evidence, the
  symptoms FHIR R4 carries in ``Condition.evidence.code``;
- exam findings: ``Condition.evidence.detail`` (an Observation such as the straight leg raise),
  or exam findings in the note ("exam deferred" or "not performed" is not one);
- assessment: an assessment or impression in the note.
The text is the Condition's notes, code text and evidence, and the Encounter's reason.

Sources (ids in valuesets/sources.json): HL7 FHIR R4 Condition (bodySite, onset[x], severity,
evidence.code, evidence.detail, note); ICD-10-CM Official Guidelines I.B.2 (code to the highest
level of detail the documentation supports). That payers' specificity edits and audits look for
these elements behind an unspecified code is common payer policy: check your payer's.
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..facts.evidence import absent_evidence, unique
from ..terminology import Terminology
from ._findings import MAX_FINDINGS_PER_RULE, Finding

RULE_ID = "documentation-missing"
HOOKS = ("order-sign", "encounter-discharge")
# Public sources (valuesets/sources.json) this rule rests on
SOURCES = (
    "hl7-fhir-r4",
    "icd10cm-guidelines-i-b-2",
)
# The knowledge files (valuesets/*.json, by name) this rule reads, served at /valuesets/{id}
VALUESETS = (
    "LowBackPainNonspecific",
    "SnomedLowBackToIcd10cm",
)

ELEMENTS = ("location", "onset", "character_severity", "associated_symptoms", "exam",
            "assessment")
# the Condition's coded elements each element of documentation is looked for in (FHIR R4)
RECORD_ELEMENTS = {
    "location": ("bodySite",),
    "onset": ("onset[x]",),
    "character_severity": ("severity",),
    "associated_symptoms": (),
    "exam": ("evidence.detail",),
    "assessment": (),
}
# the elements also looked for in the diagnosis's texts (its notes, code text, evidence)
READ_IN_TEXT = frozenset({"onset", "character_severity", "associated_symptoms", "exam",
                          "assessment"})
ASSOCIATED_SYMPTOMS = ("numbness", "tingling", "weakness", "radiating_leg_pain", "radiation_any",
                       "sciatica")


def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    findings = []
    pictures = facts.low_back.pictures if facts.low_back else []
    for seen in pictures:
        if len(findings) >= MAX_FINDINGS_PER_RULE:
            break
        if seen.family != "nonspecific" and not seen.old_codes:
            continue
        diagnosis, reading = seen.diagnosis, seen.reading
        present = {
            "location": bool(diagnosis.body_sites or diagnosis.body_site_texts),
            "onset": diagnosis.has_onset or reading.documented("onset_duration"),
            "character_severity": diagnosis.has_severity
            or reading.documented("character", "severity"),
            "associated_symptoms": reading.documented(*ASSOCIATED_SYMPTOMS),
            "exam": bool(diagnosis.evidence_details)
            or reading.documented("exam", "straight_leg_raise"),
            "assessment": reading.documented("assessment"),
        }
        missing = [element for element in ELEMENTS if not present[element]]
        if not missing:
            continue
        texts = [s.element for s in seen.sources if s.reference == diagnosis.reference and s.text]
        looked_at = [absent_evidence(name, diagnosis.reference, element)
                     for name in missing
                     for element in (*RECORD_ELEMENTS[name], *(texts if name in READ_IN_TEXT
                                                              else ()))]
        findings.append(Finding(RULE_ID, params={
            # an ICD-10-CM code where there is one; an uncoded diagnosis by its own words
            "code": diagnosis.coded[0] if diagnosis.coded else diagnosis.name,
            "missing": missing,
            "count": len(missing),
            "date": diagnosis.date_of_service.isoformat(),
        }, target=diagnosis.reference, evidence=unique(looked_at)))
    return findings
