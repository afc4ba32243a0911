"""The hand-written note reader (cds_service/text/) against medspaCy on the same notes:
readings that differ, time per character at about 1.7 KB, 17 KB and 83 KB, memory per worker
and cold start.

Run: .venv/bin/python benchmarks/bench_medspacy.py [--medspacy-python PATH]

medspaCy is not a dependency of the service. Install it in a scratch venv outside the project,
for example ``python3 -m venv /tmp/medspacy-venv && /tmp/medspacy-venv/bin/pip install
medspacy==1.3.1``, and pass its interpreter with ``--medspacy-python`` (or the
``MEDSPACY_PYTHON`` environment variable). Without it the script says so and exits 0.

Each reader runs in its own fresh process (``--worker``), so that cold start and memory are
its own. medspaCy runs PyRuSH sentence splitting, its target matcher, ConText and the
sectionizer with their default rules; its targets are the same trigger terms as ours (each
concept's compiled regular expression, a medspaCy ``TargetRule`` pattern), so the readings
differ only by context and sections. PyRuSH's loguru output is silenced (it logs every token at
DEBUG otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STARTED = time.perf_counter()
ROOT = Path(__file__).resolve().parent.parent
NOTES = ROOT / "tests" / "fixtures" / "notes"
STATUS_ORDER = ("family", "absent", "historical", "uncertain", "present")
SIZES = {"1.7 KB": 1_700, "17 KB": 17_000, "83 KB": 83_000}


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def strongest(statuses: list[str]) -> str | None:
    if "present" in statuses:
        return "present"
    return next((s for s in STATUS_ORDER if s in statuses), None)


# -- workers ------------------------------------------------------------------------------------
def work_ours(job: dict) -> dict:
    sys.path.insert(0, str(ROOT))
    from cds_service.text import TextReader

    reader = TextReader(ROOT / "valuesets" / "text-triggers")
    loaded = time.perf_counter() - STARTED
    memory = rss_mib()
    readings = {}
    for name, note in job["notes"].items():
        reading = reader.read(note["text"])
        readings[name] = {c: reading.status(c) for c in job["concepts"]}
    times = {}
    for size, text in job["sizes"].items():
        reader._read_uncached(text)
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            reader._read_uncached(text)
            samples.append(time.perf_counter() - start)
        times[size] = statistics.median(samples)
    return {"cold_start_s": loaded, "rss_loaded_mib": memory, "rss_after_mib": rss_mib(),
            "readings": readings, "times": times}


def work_medspacy(job: dict) -> dict:
    from loguru import logger

    logger.remove()  # PyRuSH logs every token at DEBUG
    import medspacy
    from medspacy.target_matcher import TargetRule

    nlp = medspacy.load(medspacy_enable=["medspacy_pyrush", "medspacy_target_matcher",
                                         "medspacy_context", "medspacy_sectionizer"])
    nlp.get_pipe("medspacy_target_matcher").add(
        [TargetRule(concept, concept, pattern=regex)
         for concept, regex in job["concepts"].items()])
    nlp("warm up: no sciatica.")
    loaded = time.perf_counter() - STARTED
    memory = rss_mib()
    readings = {}
    for name, note in job["notes"].items():
        found: dict[str, list[str]] = {}
        for ent in nlp(note["text"]).ents:
            section = ent._.section_category
            if ent._.is_family or section == "family_history":
                status = "family"
            elif ent._.is_negated:
                status = "absent"
            elif ent._.is_historical or section == "past_medical_history":
                status = "historical"
            elif ent._.is_uncertain or ent._.is_hypothetical:
                status = "uncertain"
            else:
                status = "present"
            found.setdefault(ent.label_, []).append(status)
        readings[name] = {c: strongest(found.get(c, [])) for c in job["concepts"]}
    times = {}
    for size, text in job["sizes"].items():
        samples = []
        for _ in range(3 if len(text) < 50_000 else 1):
            start = time.perf_counter()
            nlp(text)
            samples.append(time.perf_counter() - start)
        times[size] = statistics.median(samples)
    return {"cold_start_s": loaded, "rss_loaded_mib": memory, "rss_after_mib": rss_mib(),
            "readings": readings, "times": times,
            "versions": {"medspacy": medspacy.__version__,
                         "spacy": __import__("spacy").__version__}}


# -- driver -------------------------------------------------------------------------------------
def build_job() -> dict:
    sys.path.insert(0, str(ROOT))
    from cds_service.text import TextReader

    reader = TextReader(ROOT / "valuesets" / "text-triggers")
    concepts = {c.id: c.pattern.pattern.pattern for c in reader.concepts}
    notes = {p.stem: json.loads(p.read_text(encoding="utf-8"))
             for p in sorted(NOTES.glob("*.json"))}
    texts = [n["text"] for n in notes.values()]
    sizes = {}
    for name, size in SIZES.items():
        parts, length, at = [], 0, 0
        while length < size:
            parts.append(texts[at % len(texts)])
            length += len(parts[-1]) + 2
            at += 1
        sizes[name] = "\n\n".join(parts)[:size]
    return {"concepts": concepts, "notes": notes, "sizes": sizes}


def run_worker(python: str, kind: str, job_path: str) -> dict:
    result = subprocess.run([python, __file__, "--worker", kind, job_path],
                            capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def has_medspacy(python: str) -> bool:
    try:
        probe = subprocess.run([python, "-c", "import medspacy"], capture_output=True,
                               timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--medspacy-python", default=os.environ.get("MEDSPACY_PYTHON",
                                                                     sys.executable))
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "JOB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, job_path = args.worker
        job = json.loads(Path(job_path).read_text(encoding="utf-8"))
        print(json.dumps(work_ours(job) if kind == "ours" else work_medspacy(job)))
        return
    if not has_medspacy(args.medspacy_python):
        print(f"medspacy is not installed for {args.medspacy_python}: skipped (install it in a "
              "scratch venv and pass --medspacy-python, see this script's docstring)")
        return
    job = build_job()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(job, handle)
    try:
        ours = run_worker(sys.executable, "ours", handle.name)
        theirs = run_worker(args.medspacy_python, "medspacy", handle.name)
    finally:
        os.unlink(handle.name)
    versions = ", ".join(f"{k} {v}" for k, v in theirs["versions"].items())
    print(f"## bench_medspacy.py   (hand-written reader vs {versions})")
    print(f"{'':<26}{'hand-written':>14}{'medspaCy':>14}{'ratio':>9}")
    print(f"{'cold start (import+load)':<26}{ours['cold_start_s']:>13.2f}s"
          f"{theirs['cold_start_s']:>13.2f}s{theirs['cold_start_s'] / ours['cold_start_s']:>8.1f}x")
    for label, key in (("RSS loaded", "rss_loaded_mib"), ("RSS after 83 KB", "rss_after_mib")):
        print(f"{label:<26}{ours[key]:>11.0f}MiB{theirs[key]:>11.0f}MiB"
              f"{theirs[key] / ours[key]:>8.1f}x")
    for size in SIZES:
        chars = len(job["sizes"][size])
        mine, other = ours["times"][size] / chars * 1e6, theirs["times"][size] / chars * 1e6
        print(f"{'us per char, ' + size:<26}{mine:>14.2f}{other:>14.2f}{other / mine:>8.1f}x")
    print("\nreadings (status of each expected concept; * = differs from the note's expected)")
    agree = {"ours": 0, "medspacy": 0}
    total = 0
    for name, note in job["notes"].items():
        for concept, expected in note["expected"].items():
            mine, other = ours["readings"][name][concept], theirs["readings"][name][concept]
            total += 1
            agree["ours"] += mine == expected
            agree["medspacy"] += other == expected
            if mine != other or mine != expected:
                print(f"  {name:<20}{concept:<20} expected {expected:<11} hand-written "
                      f"{mine or '-':<11}{'*' if mine != expected else ' '} medspaCy "
                      f"{other or '-':<11}{'*' if other != expected else ''}")
    print(f"as expected: hand-written {agree['ours']}/{total}, medspaCy "
          f"{agree['medspacy']}/{total}")
    print(f"(driver total {time.perf_counter() - STARTED:.1f} s)")


if __name__ == "__main__":
    main()
