"""A hook call whose prefetch is all missing, fetched from the loopback FHIR server (Medplum's
FHIR router over its in-memory repository, tests/fhir_server), first call and cached call,
against the same request with full prefetch.

Run: .venv/bin/python benchmarks/bench_fhir_fallback.py [--rounds 20] [--size 200]
Needs node and `npm ci` in tests/fhir_server (scripts/test does both).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
FHIR_DIR = HERE.parent / "tests" / "fhir_server"
sys.path.insert(0, str(HERE))
from bench_http import free_port, start  # noqa: E402
from workload import build_request  # noqa: E402

SERVICE = "lbp-coding-encounter-discharge"


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def timed_post(url: str, body: dict) -> float:
    start_time = time.perf_counter()
    response = requests.post(url, json=body, timeout=30)
    elapsed = time.perf_counter() - start_time
    assert response.status_code == 200, response.text[:300]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--size", type=int, default=200)
    args = parser.parse_args()
    if not shutil.which("node") or not (FHIR_DIR / "node_modules").is_dir():
        sys.exit("needs node and `npm ci` in tests/fhir_server")
    workdir = Path(tempfile.mkdtemp(prefix="bench-fhir-"))
    full = build_request(args.size)
    prefetch = full["prefetch"]
    seed = [prefetch["patient"], prefetch["encounter"]]
    for key in ("conditions", "procedures", "coverage"):
        seed.extend(entry["resource"] for entry in prefetch[key]["entry"])
    (workdir / "seed.json").write_text(json.dumps(seed))
    fhir_port, service_port = free_port(), free_port()
    fhir_base = f"http://127.0.0.1:{fhir_port}/fhir"
    fhir = subprocess.Popen(
        ["node", "server.mjs", "--port", str(fhir_port), "--seed", str(workdir / "seed.json"),
         "--page-size", "100"],
        cwd=FHIR_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {**os.environ, "CDS_AUTH_DISABLED": "true", "CDS_DATA_DIR": str(workdir),
           "CDS_LOG_LEVEL": "warning", "CDS_FHIR_ALLOWED_SERVERS": fhir_base}
    service = start([sys.executable, "-m", "cds_service.cli", "serve", "--host", "127.0.0.1",
                     "--port", str(service_port), "--workers", "1"], service_port, env)
    try:
        wait_for(f"{fhir_base}/metadata")
        url = f"http://127.0.0.1:{service_port}/cds-services/{SERVICE}"
        prefetched, first, cached = [], [], []
        for _ in range(args.rounds):
            body = dict(full, hookInstance=str(uuid.uuid4()))
            prefetched.append(timed_post(url, body))
            # a new token each round: the cache is keyed by token, so the first call fetches
            token = uuid.uuid4().hex
            empty = {k: v for k, v in full.items() if k != "prefetch"}
            empty.update(hookInstance=str(uuid.uuid4()), fhirServer=fhir_base,
                         fhirAuthorization={"access_token": token, "token_type": "Bearer",
                                            "expires_in": 300, "scope": "patient/*.read",
                                            "subject": "cds-service"})
            first.append(timed_post(url, empty))
            cached.append(timed_post(url, dict(empty, hookInstance=str(uuid.uuid4()))))
        base = statistics.median(prefetched)
        print(f"{args.size} resources, {args.rounds} rounds, 1 worker; medians:")
        for name, samples in (("full prefetch", prefetched), ("all fetched, first call", first),
                              ("all fetched, cached call", cached)):
            value = statistics.median(samples)
            print(f"  {name:<26} {value * 1e3:8.2f} ms  {value / base:5.2f}x prefetch")
    finally:
        service.terminate()
        fhir.terminate()
        service.wait(timeout=30)
        fhir.wait(timeout=30)


if __name__ == "__main__":
    main()
