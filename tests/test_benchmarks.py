"""The benchmark scripts keep working (they are run by hand, not timed here): their workloads
are requests the service answers, and bench_evaluate runs to its table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cds_service import create_app

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from workload import build_request, count_resources, request_bytes  # noqa: E402

SERVICE = "lbp-coding-encounter-discharge"


def _resource_ids(request: dict) -> set[str]:
    prefetch = request["prefetch"]
    ids = {prefetch["patient"]["id"], prefetch["encounter"]["id"]}
    for key in ("conditions", "procedures", "coverage"):
        ids |= {entry["resource"]["id"] for entry in prefetch[key]["entry"]}
    return ids


def test_the_workloads_have_the_sizes_they_claim_and_are_answered():
    pipeline = create_app().extensions["cds"].pipeline
    for size in (10, 200):
        request = build_request(size)
        assert abs(count_resources(request) - size) <= 2
        result = pipeline.evaluate(SERVICE, json.loads(request_bytes(size)))
        assert {card["source"]["topic"]["code"] for card in result.response["cards"]} >= {
            "documentation-missing", "therapy-modifier"}


def test_a_distinct_patient_shares_nothing_with_another():
    first, second = build_request(10, patient_number=1), build_request(10, patient_number=2)
    assert not _resource_ids(first) & _resource_ids(second)
    assert first["hookInstance"] != second["hookInstance"]
    note = lambda r: r["prefetch"]["conditions"]["entry"][0]["resource"]["note"][0]["text"]  # noqa: E731
    assert note(first) != note(second)
    assert b"\n" not in request_bytes(10, patient_number=3)  # bench_http sends one per line


def test_bench_evaluate_prints_its_table():
    result = subprocess.run([sys.executable, str(BENCHMARKS / "bench_evaluate.py"),
                             "--repeat", "3"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines()
            if line.strip()[:1].isdigit()]
    assert [(r[0], r[1]) for r in rows] == [
        (size, calls) for size in ("10", "200") for calls in ("repeat", "fresh", "patient")]
    assert all(r[-1].endswith("x") and float(r[-1][:-1]) > 1 for r in rows)


def test_bench_many_diagnoses_prints_its_table():
    result = subprocess.run([sys.executable, str(BENCHMARKS / "bench_many_diagnoses.py"),
                             "--repeat", "1", "--sizes", "20,40"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines()
            if line.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == ["20", "40"]
    assert rows[0][-1] == "1.00"
