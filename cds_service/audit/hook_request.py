"""The ``encounter-discharge`` request the audit sends for one encounter: the patient's
resources as read from the export, and those a prefetch at the encounter's discharge would have
carried, as the searchset Bundles the service's discovery asks for."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from .split import reference_id

SERVICE_ID = "lbp-coding-encounter-discharge"
HOOK = "encounter-discharge"
# context.userId of the calls: the audit acts for no clinician (CDS Hooks 2.0 asks for a
# reference to the user; a Device is what runs unattended)
AUDIT_USER = "Device/cds-service-audit"
# hookInstance of each call: a UUID derived from the encounter, so that a run is reproducible
_HOOK_INSTANCE_NAMESPACE = uuid.UUID("3f1d6a52-8c1e-4a47-9a39-5d1b0c6f2e71")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass
class PatientResource:
    """One of a patient's resources as read from the export, with what the prefetch selection
    needs (``patient_resource`` fills it)."""

    source: tuple[int, int]  # (file index, line)
    resource: dict
    encounter_id: str | None = None  # the encounter a Condition/Procedure is linked to
    day: str | None = None  # YYYY-MM-DD it was recorded/performed, when it says


def patient_resource(item: PatientResource) -> PatientResource:
    if item.resource.get("resourceType") in ("Condition", "Procedure"):
        item.encounter_id = reference_id(item.resource.get("encounter"), "Encounter")
        item.day = resource_day(item.resource)
    return item


def carried_at_discharge(item: PatientResource, encounter_id: str, discharge_day: str) -> bool:
    """Whether the prefetch at this encounter's discharge would have carried the resource: it
    belongs to the encounter (coded during or after the visit), or it existed by that day."""
    if item.encounter_id == encounter_id or item.day is None:
        return True
    return item.day <= discharge_day


def resource_day(resource: dict) -> str | None:
    for value in (resource.get("recordedDate"), resource.get("onsetDateTime"),
                  resource.get("performedDateTime"),
                  _period_start(resource.get("onsetPeriod")),
                  _period_start(resource.get("performedPeriod"))):
        if isinstance(value, str) and _DAY.match(value):
            return value[:10]
    return None


def _period_start(period: Any) -> Any:
    return period.get("start") if isinstance(period, dict) else None


def day_of(value: Any) -> str | None:
    """The day (YYYY-MM-DD) a FHIR date or dateTime starts with, when it is a real date."""
    if not (isinstance(value, str) and _DAY.match(value)):
        return None
    try:
        date.fromisoformat(value[:10])
    except ValueError:
        return None
    return value[:10]


def hook_request(patient_id: str, encounter: dict, patient: dict | None,
                 conditions: list[dict], procedures: list[dict], coverages: list[dict]) -> dict:
    """The encounter-discharge request whose prefetch is what the service's discovery asks for
    (services.py PATIENT_PREFETCH): the patient, the encounter, and the patient's Conditions,
    Procedures and Coverage as searchset Bundles."""
    encounter_id = encounter["id"]
    return {
        "hook": HOOK,
        "hookInstance": str(uuid.uuid5(_HOOK_INSTANCE_NAMESPACE,
                                       f"Patient/{patient_id}/Encounter/{encounter_id}")),
        "context": {"userId": AUDIT_USER, "patientId": patient_id, "encounterId": encounter_id},
        "prefetch": {
            "patient": patient,
            "encounter": encounter,
            "conditions": search_bundle(conditions),
            "procedures": search_bundle(procedures),
            "coverage": search_bundle(coverages),
        },
    }


def search_bundle(resources: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"resource": resource, "search": {"mode": "match"}}
                      for resource in resources]}


