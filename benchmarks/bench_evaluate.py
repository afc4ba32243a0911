"""In-process evaluation of a hook request against the floor of parsing its bytes with orjson.

Run: .venv/bin/python benchmarks/bench_evaluate.py [--repeat N]
Prints median times for ~10 and ~200 resources and the ratio to the orjson floor measured in
the same run, on the same bytes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workload import ICD, OTHER_CODES, request_bytes  # noqa: E402

from cds_service import create_app  # noqa: E402
from cds_service.http.errors import parse_json_bytes  # noqa: E402

SERVICE = "lbp-coding-encounter-discharge"


def median_seconds(function, repeat: int) -> float:
    for _ in range(max(3, repeat // 10)):
        function()  # warm caches the way a long-running worker has them warm
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--encounter-diagnoses", type=int, default=0, metavar="N",
                        help="also time one request with N Conditions on the encounter itself "
                             "(3000: the load case of docs/limits.md), median of 3 calls")
    args = parser.parse_args()
    pipeline = create_app().extensions["cds"].pipeline
    if args.encounter_diagnoses:
        payload = encounter_diagnoses_bytes(args.encounter_diagnoses)
        floor = median_seconds(lambda: orjson.loads(payload), 3)
        full = median_seconds(lambda: pipeline.evaluate(SERVICE, parse_json_bytes(payload)), 3)
        print(f"{args.encounter_diagnoses} diagnoses on one encounter, {len(payload)} bytes: "
              f"orjson floor {floor * 1e3:.1f} ms, evaluate {full * 1e3:.1f} ms "
              f"({full / floor:.1f}x)")
    print(f"{'resources':>9} {'calls':>7} {'bytes':>8} {'orjson floor':>13} {'evaluate':>10} "
          f"{'ratio':>7}")
    for size in (10, 200):
        # "repeat": the same request again, as when several orders are signed in one visit
        # (its note was read before); "fresh": a note never seen, read from scratch each time;
        # "patient": another patient each time (every resource, note and id new), so that
        # nothing remembered from an earlier call helps.
        for calls in ("repeat", "fresh", "patient"):
            count = args.repeat + max(3, args.repeat // 10)
            if calls == "repeat":
                payloads = [request_bytes(size)] * count
            elif calls == "fresh":
                payloads = [request_bytes(size, note_variant=size * 100_000 + i)
                            for i in range(count)]
            else:
                payloads = [request_bytes(size, patient_number=size * 100_000 + i)
                            for i in range(count)]
            floor = median_seconds(cycle(lambda p: orjson.loads(p), payloads), args.repeat)
            full = median_seconds(
                cycle(lambda p: pipeline.evaluate(SERVICE, parse_json_bytes(p)), payloads),
                args.repeat)
            print(f"{size:>9} {calls:>7} {len(payloads[0]):>8} {floor * 1e3:>10.3f} ms "
                  f"{full * 1e3:>7.3f} ms {full / floor:>6.1f}x")


def encounter_diagnoses_bytes(count: int) -> bytes:
    """The 10-resource request with ``count`` more Conditions on its own encounter, cycling
    through the workload's other codes (each a valid ICD-10-CM code)."""
    request = orjson.loads(request_bytes(10))
    entries = request["prefetch"]["conditions"]["entry"]
    template = entries[0]["resource"]
    for index in range(count):
        code, display = OTHER_CODES[index % len(OTHER_CODES)]
        condition = {key: value for key, value in template.items() if key != "note"}
        condition["id"] = f"enc-dx-{index}"
        condition["code"] = {"coding": [{"system": ICD, "code": code, "display": display}],
                             "text": display}
        entries.append({"resource": condition})
    return orjson.dumps(request)


def cycle(function, payloads):
    iterator = iter(payloads * 2)
    return lambda: function(next(iterator))


if __name__ == "__main__":
    main()
