"""Reading notes (cds_service/text/) on adversarial notes, side by side in one run.

Run: .venv/bin/python benchmarks/bench_text.py [--repeat N]

Each note is read in process with the reader's own code (``_read_uncached``: no cache), the
median of N reads. Beside each, a floor measured in the same run on the same machine:

- run-on against sentences: the same words as a 20 KB run-on sentence (no full stops), cut
  into ordinary sentences of about 15 words (target: the run-on within 2x);
- repetition and many negations (``"right sciatica " * 800``, a 20 KB run of "no X, denies
  Y, ..."), against an ordinary 20 KB note of as many characters;
- a single sentence of text that is not ASCII, 10 KB and 1 MB: time per KB at 1 MB against
  time per KB at 10 KB (target: within 2x), and the 1 MB note on its own (target: within one
  second in process).

The notes are read past the shipped character limit (``limits.max_characters_per_text``), so
that what is measured is the reading itself; the last line reads the 1 MB note as the service
does, with the limit.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cds_service.data_files import data_dir  # noqa: E402
from cds_service.text import TextReader  # noqa: E402

CLINICAL = ("low back pain for three weeks after lifting a box at work with pain radiating "
            "down the back of the right leg to the foot and tingling in the right toes denies "
            "numbness or weakness or bowel or bladder change on exam there is paraspinal "
            "tenderness straight leg raise is positive on the right at forty degrees strength "
            "is 5/5 and reflexes are symmetric assessment lumbar radiculopathy on the right "
            "possible L5-S1 disc herniation plan physical therapy and follow up in four weeks "
            "history of prior episode of sciatica family history of degenerative disc disease")
NEGATIONS = ("no fever, no chills, denies numbness, negative for tingling, without weakness, "
             "no radiation, denies sciatica, no saddle anesthesia, SLR negative, ")
NOT_ASCII = ("douleur lombaire irradiée vers la jambe droite avec engourdissement du pied "
             "Ischias rechts mit Taubheitsgefühl im Unterschenkel боль в пояснице справа "
             "иррадиирует в ногу sciatica on the right négatif pour faiblesse 坐骨神経痛 右脚 "
             "Lasègue positif à droite hernie discale L5–S1 ")


def words_to(size: int, words: list[str], rng: random.Random) -> str:
    """Clinical words in a shuffled order, to ``size`` characters, as one run-on sentence."""
    out, length = [], 0
    while length < size:
        word = rng.choice(words)
        out.append(word)
        length += len(word) + 1
    return " ".join(out)[:size]


def in_sentences(run_on: str, words_per_sentence: int = 15) -> str:
    words = run_on.split(" ")
    return " ".join(
        " ".join(words[i:i + words_per_sentence]).capitalize() + "."
        for i in range(0, len(words), words_per_sentence))


def repeated_to(size: int, unit: str) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def median_seconds(function, repeat: int) -> float:
    function()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    triggers = data_dir("valuesets") / "text-triggers"
    reader = TextReader(triggers, max_characters=10**9)
    shipped = TextReader(triggers)
    rng = random.Random(20261130)
    clinical = CLINICAL.split()
    run_on = words_to(20_000, clinical, rng)
    ordinary = in_sentences(run_on)
    not_ascii_1m = re.sub(r"[.!?;\n]", " ", repeated_to(1_000_000, NOT_ASCII))

    def read(text: str, with_reader: TextReader = reader) -> float:
        return median_seconds(lambda: with_reader._read_uncached(text), args.repeat)

    print(f"## bench_text.py --repeat {args.repeat}   (medians, in process, no cache)")
    print(f"{'note':<44}{'chars':>9}{'time':>11}{'floor':>11}{'ratio':>8}  target")
    rows = []

    def row(name: str, text: str, seconds: float, floor: float, target: float | None,
            note: str = "") -> None:
        ratio = seconds / floor
        verdict = "" if target is None else (
            f"<= {target:g}x {'met' if ratio <= target else 'NOT met'}")
        print(f"{name:<44}{len(text):>9}{seconds * 1000:>9.1f}ms{floor * 1000:>9.1f}ms"
              f"{ratio:>7.2f}x  {verdict}{note}")
        rows.append((name, ratio))

    ordinary_time = read(ordinary)
    row("20 KB run-on sentence / same in sentences", run_on, read(run_on), ordinary_time, 2)
    repetition = "right sciatica " * 800
    ordinary_same_size = in_sentences(words_to(len(repetition), clinical, rng))
    row('"right sciatica " * 800 / ordinary 12 KB', repetition, read(repetition),
        read(ordinary_same_size), None)
    negations = repeated_to(20_000, NEGATIONS)
    row("20 KB of negations / ordinary 20 KB", negations, read(negations), ordinary_time, None)
    small = not_ascii_1m[:10_000]
    per_kb_small = read(small) / 10
    big = median_seconds(lambda: reader._read_uncached(not_ascii_1m), max(1, args.repeat // 3))
    row("1 MB not ASCII, per KB / 10 KB per KB", not_ascii_1m, big / 1000, per_kb_small, 2)
    print(f"{'1 MB single sentence, not ASCII':<44}{len(not_ascii_1m):>9}{big * 1000:>9.1f}ms"
          f"{'':>11}{'':>8}  <= 1000 ms {'met' if big <= 1 else 'NOT met'}")
    capped = read(not_ascii_1m, shipped)
    limit = shipped.context.max_characters
    print(f"{'1 MB, as the service reads it (first ' + format(limit, ',') + ')':<44}"
          f"{len(not_ascii_1m):>9}{capped * 1000:>9.1f}ms")
    tokens = median_seconds(lambda: re.findall(r"\w+", ordinary), args.repeat)
    print(f"(plain word split of the 20 KB note: {tokens * 1000:.2f} ms; reading it: "
          f"{ordinary_time / tokens:.0f}x that)")


if __name__ == "__main__":
    main()
