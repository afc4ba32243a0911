"""A small FHIR Bulk Data export for the audit tests, made from the example requests: each example
becomes a patient of its own (ids renamed), its draft orders Procedures done in its (finished)
encounter; plus a patient seen twice, and the kinds of bad input an export has.

``write_export(folder)`` writes the NDJSON files (Conditions split in two, one gzipped) and
returns an ``Export``: per audited encounter, the resources its hook call carries, to build the
same call independently of the audit.
"""

from __future__ import annotations

import copy
import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.examples import EXAMPLES

ICD = "http://hl7.org/fhir/sid/icd-10-cm"


@dataclass
class Call:
    patient_id: str
    encounter: dict
    patient: dict | None
    conditions: list[dict] = field(default_factory=list)
    procedures: list[dict] = field(default_factory=list)
    coverage: list[dict] = field(default_factory=list)


@dataclass
class Export:
    folder: Path
    calls: dict[str, Call]  # "Encounter/id" -> what its hook call carries
    # (file name, line, kind) of every problem put in on purpose
    problems: set[tuple[str, int, str]]
    secrets: list[str]  # patient ids, names, notes: never in a log


def _renamed(resource: dict, patient_id: str, encounter_id: str, prefix: str) -> dict:
    text = json.dumps(resource).replace('"Patient/p1"', f'"Patient/{patient_id}"').replace(
        '"Encounter/e1"', f'"Encounter/{encounter_id}"')
    renamed = json.loads(text)
    if renamed["resourceType"] == "Patient":
        renamed["id"] = patient_id
    elif renamed["resourceType"] == "Encounter":
        renamed["id"] = encounter_id
    elif "id" in renamed:
        renamed["id"] = f"{prefix}{renamed['id']}"
    return renamed


def _entries(bundle: dict | None) -> list[dict]:
    return [entry["resource"] for entry in (bundle or {}).get("entry", [])]


def _condition(cid: str, patient_id: str, encounter_id: str, code: str, day: str) -> dict:
    return {
        "resourceType": "Condition", "id": cid,
        "clinicalStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "code": "active"}]},
        "verificationStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            "code": "confirmed"}]},
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
            "code": "encounter-diagnosis"}]}],
        "code": {"coding": [{"system": ICD, "code": code}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "encounter": {"reference": f"Encounter/{encounter_id}"},
        "recordedDate": day,
    }


def _encounter(eid: str, patient_id: str, start: str, status: str = "finished") -> dict:
    return {"resourceType": "Encounter", "id": eid, "status": status,
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "AMB"},
            "subject": {"reference": f"Patient/{patient_id}"},
            "period": {"start": f"{start}T09:00:00-05:00", "end": f"{start}T09:40:00-05:00"}}


def write_export(folder: Path) -> Export:
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[str]] = {name: [] for name in (
        "Patient.ndjson", "Encounter.ndjson", "Condition.1.ndjson.gz", "Condition.2.ndjson",
        "Procedure.ndjson", "Coverage.ndjson", "Observation.ndjson")}
    calls: dict[str, Call] = {}
    problems: set[tuple[str, int, str]] = set()
    secrets: list[str] = []

    def put(name: str, resource: dict | str) -> int:
        files[name].append(resource if isinstance(resource, str) else json.dumps(resource))
        return len(files[name])

    for number, path in enumerate(EXAMPLES, start=1):
        request = json.loads(path.read_text())["request"]
        patient_id, encounter_id = f"audpatient{number:02d}", f"audvisit{number:02d}"
        prefix = f"x{number}"
        secrets.append(patient_id)
        prefetch = request["prefetch"]
        patient = _renamed(prefetch["patient"], patient_id, encounter_id, prefix)
        encounter = _renamed(prefetch["encounter"], patient_id, encounter_id, prefix)
        encounter["status"] = "finished"
        call = Call(patient_id, encounter, patient)
        put("Patient.ndjson", patient)
        put("Encounter.ndjson", encounter)
        for index, condition in enumerate(_entries(prefetch.get("conditions"))):
            condition = _renamed(condition, patient_id, encounter_id, prefix)
            put("Condition.1.ndjson.gz" if index % 2 == 0 else "Condition.2.ndjson", condition)
            call.conditions.append(condition)
            secrets += [note["text"] for note in condition.get("note", [])]
        procedures = _entries(prefetch.get("procedures"))
        # an order-sign example's orders are what was done in the visit
        orders = _entries(request["context"].get("draftOrders"))
        day = encounter["period"]["start"][:10]
        for order in orders:
            procedures.append({
                "resourceType": "Procedure", "id": order["id"], "status": "completed",
                "code": order["code"], "subject": {"reference": "Patient/p1"},
                "encounter": {"reference": "Encounter/e1"}, "performedDateTime": day})
        for procedure in procedures:
            procedure = _renamed(procedure, patient_id, encounter_id, prefix)
            put("Procedure.ndjson", procedure)
            call.procedures.append(procedure)
        for coverage in _entries(prefetch.get("coverage")):
            coverage = _renamed(coverage, patient_id, encounter_id, prefix)
            put("Coverage.ndjson", coverage)
            call.coverage.append(coverage)
        calls[f"Encounter/{encounter_id}"] = call

    # a patient seen twice: the retired M54.5 in 2025, M54.50 in 2026; the first visit's call
    # carries only what existed at its discharge, the second one both diagnoses
    twice = "audtwicepatient"
    secrets.append(twice)
    patient = {"resourceType": "Patient", "id": twice, "name": [{"family": "Quillfeather"}]}
    secrets.append("Quillfeather")
    put("Patient.ndjson", patient)
    first = _encounter("audtwice1", twice, "2025-02-03")
    second = _encounter("audtwice2", twice, "2026-05-06")
    first_dx = _condition("audtwicec1", twice, "audtwice1", "M54.5", "2025-02-03")
    second_dx = _condition("audtwicec2", twice, "audtwice2", "M54.50", "2026-05-06")
    for resource in (first, second):
        put("Encounter.ndjson", resource)
    put("Condition.2.ndjson", first_dx)
    put("Condition.1.ndjson.gz", second_dx)
    calls["Encounter/audtwice1"] = Call(twice, first, patient, [first_dx])
    calls["Encounter/audtwice2"] = Call(twice, second, patient, [first_dx, second_dx])
    # not audited: a visit still in progress, a visit before the window
    put("Encounter.ndjson", _encounter("audopen", twice, "2026-05-07", status="in-progress"))
    put("Encounter.ndjson", _encounter("audold", twice, "2018-01-02"))
    # bad input: each one counted, and the run goes on
    line = put("Encounter.ndjson", '{"resourceType": "Encounter", "id": "audbroken", "status":')
    problems.add(("Encounter.ndjson", line, "malformed-line"))
    put("Encounter.ndjson", "")  # a blank line is no problem
    line = put("Observation.ndjson", {"resourceType": "Observation", "id": "audobs",
                                      "status": "final", "subject": {"reference":
                                                                     f"Patient/{twice}"}})
    problems.add(("Observation.ndjson", line, "unexpected-resource-type"))
    orphan = _condition("audorphan", twice, "audnosuchvisit", "M54.50", "2026-05-06")
    line = put("Condition.2.ndjson", orphan)
    problems.add(("Condition.2.ndjson", line, "encounter-not-in-export"))
    calls["Encounter/audtwice2"].conditions.append(orphan)  # still the patient's Condition
    # not valid FHIR: the hook would refuse the whole call (400); the audit reports it once
    # and leaves it out of the patient's calls
    invalid = _condition("audinvalid", twice, "audtwice2", "M54.50", "2026-05-06")
    invalid["recordedDate"] = "the day before yesterday"
    line = put("Condition.2.ndjson", invalid)
    problems.add(("Condition.2.ndjson", line, "invalid-resource"))
    line = put("Coverage.ndjson", {"resourceType": "Coverage", "id": "audnobody",
                                   "status": "active"})
    problems.add(("Coverage.ndjson", line, "no-patient-reference"))

    for name, lines in files.items():
        data = ("\n".join(lines) + "\n").encode()
        if name.endswith(".gz"):
            with gzip.open(folder / name, "wb") as out:
                out.write(data)
        else:
            (folder / name).write_bytes(data)
    return Export(folder, calls, problems, secrets)


def hook_body(call: Call) -> dict:
    """The encounter-discharge request a client sends for ``call``, built here by hand."""
    def search(resources: list[dict]) -> dict:
        return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
                "entry": [{"resource": copy.deepcopy(r)} for r in resources]}

    return {
        "hook": "encounter-discharge",
        "hookInstance": "0b7c8d2e-6f0a-4a57-9a1e-2f3c4d5e6f70",
        "context": {"userId": "Practitioner/coder1", "patientId": call.patient_id,
                    "encounterId": call.encounter["id"]},
        "prefetch": {"patient": call.patient, "encounter": call.encounter,
                     "conditions": search(call.conditions),
                     "procedures": search(call.procedures),
                     "coverage": search(call.coverage)},
    }
