"""Realistic hook requests for the benchmarks: a patient with a long history.

``build_request(n)`` makes an encounter-discharge request whose prefetch holds about ``n``
resources: most Conditions outside the low back pain families (hypertension, diabetes, asthma…),
some inside (a retired M54.5 from years ago, a current nonspecific M54.50 with a note), a few
Procedures, a Coverage. Every code is a real billable ICD-10-CM / CPT code.
"""

from __future__ import annotations

import json
import uuid

OTHER_CODES = [
    ("E11.9", "Type 2 diabetes mellitus without complications"), ("I10", "Essential hypertension"),
    ("J45.909", "Unspecified asthma, uncomplicated"), ("K21.9", "GERD without esophagitis"),
    ("F41.1", "Generalized anxiety disorder"), ("E78.5", "Hyperlipidemia, unspecified"),
    ("M17.11", "Primary osteoarthritis, right knee"), ("G43.909", "Migraine, unspecified"),
    ("N39.0", "Urinary tract infection, site not specified"), ("J06.9", "Acute URI"),
    ("E66.9", "Obesity, unspecified"), ("M25.561", "Pain in right knee"),
    ("L40.0", "Psoriasis vulgaris"), ("G47.33", "Obstructive sleep apnea"),
    ("E03.9", "Hypothyroidism, unspecified"), ("I48.91", "Unspecified atrial fibrillation"),
]
ICD = "http://hl7.org/fhir/sid/icd-10-cm"


def _condition(index: int, code: str, display: str, encounter: str | None, recorded: str,
               note: str | None = None, patient: str = "p1") -> dict:
    condition = {
        "resourceType": "Condition", "id": f"{patient}c{index}",
        "clinicalStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "code": "active"}]},
        "verificationStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            "code": "confirmed"}]},
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
            "code": "encounter-diagnosis"}]}],
        "code": {"coding": [{"system": ICD, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{patient}"},
        "recordedDate": recorded,
        "onsetDateTime": recorded,
    }
    if encounter:
        condition["encounter"] = {"reference": f"Encounter/{encounter}"}
    if note:
        condition["note"] = [{"text": note}]
    return condition


def build_request(resources: int, note_variant: int = 0, patient_number: int = 0) -> dict:
    """``note_variant``: a note never read before (the rest is the same request).
    ``patient_number``: another patient altogether (ids, hookInstance and note), so that no
    resource, note or text of the request was seen before."""
    patient = f"p{patient_number}" if patient_number else "p1"
    encounter = f"e{patient_number}" if patient_number else "e1"
    note_variant = note_variant or patient_number
    conditions = [
        _condition(0, "M54.50", "Low back pain, unspecified", encounter, "2026-11-20",
                   "Low back pain for three weeks after lifting boxes, aching, worse when "
                   "bending. No radiation to the legs. Denies numbness or weakness. Exam: "
                   "paraspinal tenderness, SLR negative. Assessment: mechanical low back pain."
                   + (f" Visit {note_variant}." if note_variant else ""), patient),
    ]
    procedures = [{
        "resourceType": "Procedure", "id": f"{patient}pr0", "status": "completed",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "97110"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "encounter": {"reference": f"Encounter/{encounter}"},
        "performedDateTime": "2026-11-20",
    }]
    index = 1
    while len(conditions) + len(procedures) + 3 < resources:
        if index % 10 == 0:
            conditions.append(_condition(index, "M54.5", "Low back pain", f"old{index}",
                                         f"{2015 + index % 6}-03-01", patient=patient))
        elif index % 15 == 0:
            procedures.append({
                "resourceType": "Procedure", "id": f"{patient}pr{index}",
                "status": "completed",
                "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt",
                                     "code": "97140"}]},
                "subject": {"reference": f"Patient/{patient}"},
                "performedDateTime": f"{2018 + index % 7}-05-01",
            })
        else:
            code, display = OTHER_CODES[index % len(OTHER_CODES)]
            conditions.append(_condition(index, code, display, f"old{index}",
                                         f"{2010 + index % 15}-01-15", patient=patient))
        index += 1
    bundle = lambda items: {"resourceType": "Bundle", "type": "searchset",  # noqa: E731
                            "total": len(items), "entry": [{"resource": r} for r in items]}
    return {
        "hook": "encounter-discharge",
        "hookInstance": str(uuid.UUID(int=resources + (patient_number << 32))),
        "context": {"userId": "Practitioner/pr1", "patientId": patient,
                    "encounterId": encounter},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": patient, "birthDate": "1961-04-02"},
            "encounter": {"resourceType": "Encounter", "id": encounter, "status": "finished",
                          "class": {"code": "AMB"},
                          "subject": {"reference": f"Patient/{patient}"},
                          "period": {"start": "2026-11-20T09:00:00-05:00"}},
            "conditions": bundle(conditions),
            "procedures": bundle(procedures),
            "coverage": bundle([{
                "resourceType": "Coverage", "id": f"{patient}cov1", "status": "active",
                "type": {"coding": [{"system": "https://nahdo.org/sopt", "code": "1"}]},
                "beneficiary": {"reference": f"Patient/{patient}"},
                "payor": [{"display": "Centers for Medicare & Medicaid Services"}],
            }]),
        },
    }


def request_bytes(resources: int, note_variant: int = 0, patient_number: int = 0) -> bytes:
    return json.dumps(build_request(resources, note_variant, patient_number)).encode()


def count_resources(request: dict) -> int:
    prefetch = request["prefetch"]
    return 2 + sum(len(prefetch[k]["entry"]) for k in ("conditions", "procedures", "coverage"))


if __name__ == "__main__":
    for size in (10, 200):
        print(size, count_resources(build_request(size)), len(request_bytes(size)), "bytes")
