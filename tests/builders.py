"""Small builders for CDS Hooks requests with FHIR R4 Conditions, Encounters and Procedures, and
for calling the pipeline in-process (the same code path as the HTTP endpoints)."""

from __future__ import annotations

import uuid
from functools import lru_cache

from cds_service.terminology import CPT_SYSTEM, ICD10CM_SYSTEM, SNOMED_SYSTEM

DISCHARGE = "lbp-coding-encounter-discharge"
ORDER_SIGN = "lbp-coding-order-sign"
DAY = "2026-11-20"
START = f"{DAY}T09:00:00-05:00"
_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"

LUMBAR_SITE = {"coding": [{"system": SNOMED_SYSTEM, "code": "1141985005",
                           "display": "Structure of lumbar vertebral column region"}]}
MODERATE = {"coding": [{"system": SNOMED_SYSTEM, "code": "6736007", "display": "Moderate"}]}
# the note of the shared example documented-nonspecific-is-quiet: every element documented
FULL_NOTE = (
    "Low back pain for 5 weeks after gardening, dull and intermittent, worse with prolonged "
    "sitting. Pain stays in the low back without radiation. Denies numbness, tingling or leg "
    "weakness. Exam: paraspinal tenderness L3-L5, flexion limited to 60 degrees, straight leg "
    "raise negative bilaterally, strength 5/5. Assessment: nonspecific mechanical low back pain."
)


def condition(cid: str = "c1", icd: str | list[str] | None = "M54.50",
              snomed: str | list[str] | None = None, note: str | list[str] | None = None, *,
              documented: bool = True, body_site: bool | None = None, onset: str | None = None,
              severity: bool | None = None, evidence_detail: bool | None = None,
              evidence_codes: list[tuple[str, str, str | None]] = (),
              encounter: str | None = "e1", recorded: str | None = DAY,
              clinical_status: str | None = "active", code_text: str | None = None,
              display: bool = False) -> dict:
    """A Condition. ``documented`` fills the structured elements (bodySite, onset, severity,
    evidence.detail) so that only the note decides; each can be switched off on its own."""
    codings = []
    for code in [icd] if isinstance(icd, str) else (icd or []):
        coding = {"system": ICD10CM_SYSTEM, "code": code}
        if display:
            coding["display"] = code
        codings.append(coding)
    for code in [snomed] if isinstance(snomed, str) else (snomed or []):
        codings.append({"system": SNOMED_SYSTEM, "code": code})
    resource: dict = {
        "resourceType": "Condition", "id": cid,
        "verificationStatus": {"coding": [{"system": _VERIFICATION, "code": "confirmed"}]},
        "category": [{"coding": [{"system": _CATEGORY, "code": "encounter-diagnosis"}]}],
        "code": {"coding": codings},
        "subject": {"reference": "Patient/p1"},
    }
    if code_text:
        resource["code"]["text"] = code_text
    if clinical_status:
        resource["clinicalStatus"] = {"coding": [{"system": _CLINICAL,
                                                  "code": clinical_status}]}
    if recorded:
        resource["recordedDate"] = recorded
    if encounter:
        resource["encounter"] = {"reference": f"Encounter/{encounter}"}
    if body_site if body_site is not None else documented:
        resource["bodySite"] = [LUMBAR_SITE]
    if onset or (onset is None and documented):
        resource["onsetDateTime"] = onset or "2026-10-15"
    if severity if severity is not None else documented:
        resource["severity"] = MODERATE
    evidence = []
    if evidence_detail if evidence_detail is not None else documented:
        evidence.append({"detail": [{"reference": "Observation/slr1"}]})
    for system, code, text in evidence_codes:
        concept = {"coding": [{"system": system, "code": code}]}
        if text:
            concept["coding"][0]["display"] = text
        evidence.append({"code": [concept]})
    if evidence:
        resource["evidence"] = evidence
    notes = [note] if isinstance(note, str) else (note or [])
    if notes:
        resource["note"] = [{"text": text} for text in notes]
    return resource


def encounter(eid: str = "e1", start: str | None = START, reason_text: str | None = None,
              reason_codes: list[tuple[str, str]] = (), type_text: str | None = None) -> dict:
    resource: dict = {"resourceType": "Encounter", "id": eid, "status": "finished",
                      "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                "code": "AMB"},
                      "subject": {"reference": "Patient/p1"}}
    if start:
        resource["period"] = {"start": start}
    if reason_text or reason_codes:
        reason: dict = {}
        if reason_codes:
            reason["coding"] = [{"system": s, "code": c} for s, c in reason_codes]
        if reason_text:
            reason["text"] = reason_text
        resource["reasonCode"] = [reason]
    if type_text:
        resource["type"] = [{"text": type_text}]
    return resource


def procedure(pid: str, code: str, performed: str, system: str = CPT_SYSTEM,
              encounter_id: str | None = None) -> dict:
    resource = {"resourceType": "Procedure", "id": pid, "status": "completed",
                "code": {"coding": [{"system": system, "code": code}]},
                "subject": {"reference": "Patient/p1"}, "performedDateTime": performed}
    if encounter_id:
        resource["encounter"] = {"reference": f"Encounter/{encounter_id}"}
    return resource


def bundle(resources) -> dict:
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": r} for r in resources]}


def request(*conditions: dict, enc: dict | None = None, procedures=(),
            hook: str = "encounter-discharge") -> dict:
    enc = enc if enc is not None else encounter()
    return {
        "hook": hook, "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/pr1", "patientId": "p1", "encounterId": enc["id"],
                    **({"draftOrders": bundle([])} if hook == "order-sign" else {})},
        "prefetch": {"patient": {"resourceType": "Patient", "id": "p1"}, "encounter": enc,
                     "conditions": bundle(conditions), "procedures": bundle(procedures),
                     "coverage": None},
    }


@lru_cache(maxsize=1)
def pipeline():
    from cds_service import create_app

    return create_app().extensions["cds"].pipeline


def cards(body: dict, service: str = DISCHARGE) -> list[dict]:
    return pipeline().evaluate(service, body).response["cards"]


def topic(card: dict) -> str:
    return card["source"]["topic"]["code"]


def cards_of(body: dict, rule_id: str, service: str = DISCHARGE) -> list[dict]:
    return [c for c in cards(body, service) if topic(c) == rule_id]


def suggested_codes(card: dict) -> list[list[str]]:
    """Per suggestion, the ICD-10-CM codes its actions' resources carry."""
    return [[coding["code"] for a in s["actions"] if a.get("resource")
             for coding in a["resource"]["code"]["coding"]
             if coding["system"] == ICD10CM_SYSTEM]
            for s in card.get("suggestions", [])]


def first_codes(card: dict) -> list[str]:
    """The new code of each suggestion (that of its first action)."""
    return [codes[0] for codes in suggested_codes(card) if codes]
