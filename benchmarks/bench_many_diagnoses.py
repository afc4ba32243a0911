"""Many diagnoses on one encounter: is evaluation linear in their number?

Run: .venv/bin/python benchmarks/bench_many_diagnoses.py [--repeat N]
Builds encounters with 300, 1,200 and 3,000 Conditions (low back codes, SNOMED CT-only ones
and notes mixed, as an abnormal or hostile record would repeat them), evaluates each in
process, and prints the median time, the orjson parse of the same bytes (the floor, measured in
the same run), and the time per diagnosis relative to the smallest size (1.0 is linear).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_evaluate import median_seconds  # noqa: E402

from cds_service import create_app  # noqa: E402
from tests.builders import condition, encounter, request  # noqa: E402

SERVICE = "lbp-coding-encounter-discharge"
CODES = ["M54.50", "M54.30", "M54.16", "M51.26", "M54.41", "S39.012A", None]


def body(size: int) -> bytes:
    conditions = [
        condition(f"c{i}", CODES[i % len(CODES)],
                  snomed=None if CODES[i % len(CODES)] else "20021007",
                  note="Left sciatica." if i % 3 == 0 else None)
        for i in range(size)]
    return orjson.dumps(request(*conditions,
                                enc=encounter(start="2026-03-02T09:00:00-05:00")))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", default="300,1200,3000",
                        help="diagnoses per encounter, comma-separated, smallest first")
    args = parser.parse_args()
    pipeline = create_app().extensions["cds"].pipeline
    print(f"{'diagnoses':>9} {'bytes':>9} {'orjson floor':>13} {'evaluate':>10} "
          f"{'ratio':>7} {'per diagnosis vs the first':>27}")
    base = None
    for size in (int(n) for n in args.sizes.split(",")):
        payload = body(size)
        floor = median_seconds(lambda p=payload: orjson.loads(p), args.repeat)
        seconds = median_seconds(
            lambda p=payload: pipeline.evaluate(SERVICE, orjson.loads(p)), args.repeat)
        per = seconds / size
        base = base or per
        print(f"{size:>9} {len(payload):>9} {floor * 1e3:>10.2f} ms {seconds * 1e3:>7.0f} ms "
              f"{seconds / floor:>6.0f}x {per / base:>26.2f}")


if __name__ == "__main__":
    main()
