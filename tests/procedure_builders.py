"""Small builders of CDS Hooks requests for the procedure and payer rules: Conditions,
ServiceRequests, Procedures and Coverages, assembled into order-sign or encounter-discharge
bodies with their prefetch."""

from __future__ import annotations

from cds_service.terminology import CPT_SYSTEM, ICD10CM_SYSTEM, SNOMED_SYSTEM, SOPT_SYSTEM

ORDER_SIGN = "lbp-coding-order-sign"
DISCHARGE = "lbp-coding-encounter-discharge"
DAY = "2026-11-20"
LUMBAR_SITE = (SNOMED_SYSTEM, "1141985005", "Structure of lumbar vertebral column region")
SACRAL_SITE = (SNOMED_SYSTEM, "1144746008", "Structure of sacral vertebral column region")


def condition(cid: str, *icd: str, snomed: str | None = None, sites=(), site_texts=()) -> dict:
    """An encounter diagnosis of e1 coded with the ICD-10-CM codes (and a SNOMED CT id)."""
    codings = [{"system": ICD10CM_SYSTEM, "code": code} for code in icd]
    if snomed:
        codings.append({"system": SNOMED_SYSTEM, "code": snomed})
    resource = {
        "resourceType": "Condition", "id": cid,
        "clinicalStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "code": "active"}]},
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
            "code": "encounter-diagnosis"}]}],
        "code": {"coding": codings},
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "recordedDate": DAY,
    }
    body_sites = [{"coding": [{"system": s, "code": c, "display": d}], "text": d}
                  for s, c, d in sites]
    body_sites += [{"text": text} for text in site_texts]
    if body_sites:
        resource["bodySite"] = body_sites
    return resource


def service_request(sid: str, code: str, system: str = CPT_SYSTEM, text: str | None = None,
                    extra_codings=()) -> dict:
    resource = {
        "resourceType": "ServiceRequest", "id": sid, "status": "draft", "intent": "order",
        "code": {"coding": [{"system": system, "code": code}, *extra_codings]},
        "subject": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/e1"},
    }
    if text:
        resource["code"]["text"] = text
    return resource


def procedure(pid: str, code: str, system: str = CPT_SYSTEM, day: str = DAY) -> dict:
    return {
        "resourceType": "Procedure", "id": pid, "status": "completed",
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/e1"},
        "performedDateTime": day,
    }


def coverage(sopt: str | None = None, payor: str | None = None, period: dict | None = None,
             status: str = "active", cid: str = "cov1") -> dict:
    resource = {"resourceType": "Coverage", "id": cid, "status": status,
                "beneficiary": {"reference": "Patient/p1"}}
    if sopt:
        resource["type"] = {"coding": [{"system": SOPT_SYSTEM, "code": sopt}]}
    if payor:
        resource["payor"] = [{"display": payor}]
    else:
        resource["payor"] = [{"reference": "Organization/o1"}]
    if period:
        resource["period"] = period
    return resource


def medicare() -> dict:
    return coverage("1", "Centers for Medicare & Medicaid Services")


def commercial() -> dict:
    return coverage("5", "Acme Commercial Health Plan")


def _bundle(resources) -> dict:
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": r} for r in resources]}


def _request(hook: str, conditions, procedures, coverages, start: str, context_extra) -> dict:
    encounter = {"resourceType": "Encounter", "id": "e1",
                 "status": "in-progress" if hook == "order-sign" else "finished",
                 "class": {"code": "AMB"}, "subject": {"reference": "Patient/p1"},
                 "period": {"start": start}}
    return {
        "hook": hook,
        "hookInstance": "5b0c8d0e-6a55-4f58-9d7b-2f3a1c2d4e5f",
        "context": {"userId": "Practitioner/pr1", "patientId": "p1", "encounterId": "e1",
                    **context_extra},
        "prefetch": {
            "encounter": encounter,
            "conditions": _bundle(conditions),
            "procedures": _bundle(procedures),
            # None: the patient has no Coverage (the payer rules stay quiet)
            "coverage": _bundle(coverages) if coverages is not None else None,
        },
    }


def order_sign(orders, conditions, coverages=None, procedures=(),
               start: str = f"{DAY}T09:00:00-05:00") -> dict:
    context = {"draftOrders": {"resourceType": "Bundle", "type": "collection",
                               "entry": [{"resource": o} for o in orders]}}
    return _request("order-sign", conditions, procedures, coverages, start, context)


def discharge(procedures, conditions, coverages=None,
              start: str = f"{DAY}T09:00:00-05:00") -> dict:
    return _request("encounter-discharge", conditions, procedures, coverages, start, {})
