"""What discovery makes an EHR gather and send: the prefetch of the broad templates discovery
published before (every Condition, Procedure and Coverage the patient ever had) against the
narrow keys it publishes now, for the benchmark workload's long-history patient, each query
answered by the loopback FHIR server (Medplum's FHIR router over its in-memory repository,
tests/fhir_server) as an EHR's server would answer it.

Prints, for each set of templates, the resources the EHR's server returns (the EHR-side
resource count) and the bytes of the prefetch object the EHR then sends, and the ratio of the
narrow to the broad; and checks that the rules find the same on both.

Run: .venv/bin/python benchmarks/bench_prefetch_size.py [--size 200]
Needs node and `npm ci` in tests/fhir_server (scripts/test does both).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import orjson
import requests

HERE = Path(__file__).resolve().parent
FHIR_DIR = HERE.parent / "tests" / "fhir_server"
sys.path.insert(0, str(HERE))
from bench_http import free_port  # noqa: E402
from workload import build_request  # noqa: E402

from cds_service.cards import CardRenderer  # noqa: E402
from cds_service.fhir.client import FetchFailed, FhirFetcher  # noqa: E402
from cds_service.hooks import encounter_discharge  # noqa: E402
from cds_service.hooks.pipeline import HookPipeline  # noqa: E402
from cds_service.hooks.prefetch import render_query  # noqa: E402
from cds_service.hooks.prefetch_keys import LEGACY_PREFETCH  # noqa: E402
from cds_service.terminology import get_terminology  # noqa: E402

# What discovery published before: the broad searches (Coverage too: every Coverage ever)
BROAD = {"patient": "Patient/{{context.patientId}}",
         "encounter": "Encounter/{{context.encounterId}}",
         **LEGACY_PREFETCH,
         "coverage": "Coverage?patient=Patient/{{context.patientId}}"}


def fetch(fetcher: FhirFetcher, base: str, templates: dict[str, str], context: dict) -> dict:
    queries = {key: render_query(template, context) for key, template in templates.items()}
    result = fetcher.fetch_all(base, None, {k: q for k, q in queries.items() if q})
    failed = {k: v.reason for k, v in result.items() if isinstance(v, FetchFailed)}
    if failed:
        sys.exit(f"fetch failed: {failed}")
    return result


def resources(prefetch: dict) -> int:
    return sum(len(v.get("entry", [])) if v.get("resourceType") == "Bundle" else 1
               for v in prefetch.values() if v)


def findings(pipeline: HookPipeline, request: dict, prefetch: dict) -> list:
    body = dict(request, prefetch=prefetch)
    result = pipeline.evaluate(encounter_discharge.SERVICE.id, body, date(2026, 11, 30))
    return sorted((c["source"]["topic"]["code"], c["summary"]) for c in result.response["cards"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=200)
    args = parser.parse_args()
    if not shutil.which("node") or not (FHIR_DIR / "node_modules").is_dir():
        sys.exit("needs node and `npm ci` in tests/fhir_server")
    workdir = Path(tempfile.mkdtemp(prefix="bench-prefetch-"))
    request = build_request(args.size)
    whole = request["prefetch"]
    seed = [whole["patient"], whole["encounter"]]
    for key in ("conditions", "procedures", "coverage"):
        seed.extend(entry["resource"] for entry in whole[key]["entry"])
    (workdir / "seed.json").write_text(json.dumps(seed))
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    fhir = subprocess.Popen(
        ["node", "server.mjs", "--port", str(port), "--seed", str(workdir / "seed.json")],
        cwd=FHIR_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    fetcher = FhirFetcher([base], deadline=120, read_timeout=60, cache_ttl=0)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{base}/metadata", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        context = request["context"]
        broad = fetch(fetcher, base, BROAD, context)
        narrow = fetch(fetcher, base, encounter_discharge.SERVICE.prefetch, context)
        rows = []
        for name, prefetch in (("broad (before)", broad), ("narrow (now)", narrow)):
            rows.append((name, resources(prefetch), len(orjson.dumps(prefetch)), prefetch))
        print(f"workload build_request({args.size}): the long-history patient, encounter-discharge")
        for name, count, size, prefetch in rows:
            keys = ", ".join(f"{k} {resources({k: v})}" for k, v in prefetch.items())
            print(f"  {name:<15} {count:5d} resources  {size:8d} bytes   ({keys})")
        print(f"  narrow / broad: resources {rows[1][1] / rows[0][1]:.3f}x, "
              f"bytes {rows[1][2] / rows[0][2]:.3f}x")
        pipeline = HookPipeline(get_terminology(), CardRenderer())
        same = findings(pipeline, request, broad) == findings(pipeline, request, narrow)
        print(f"  the rules find the same on both: {'yes' if same else 'NO'}")
        if not same:
            sys.exit(1)
    finally:
        fetcher.close()
        fhir.terminate()
        fhir.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
