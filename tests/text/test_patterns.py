"""The trigger patterns are tried only where a match can begin (``text/patterns.py``, indexed by
``text/anchors.py``): they must find exactly what a plain scan of the whole alternation
(``re.finditer``) finds, on real notes and on sentences built to make terms overlap, touch and
nest."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from cds_service.terminology import get_terminology
from cds_service.text.anchors import FOLDS_TO_ASCII, AnchorIndex
from cds_service.text.compile import TriggerCompiler
from cds_service.text.patterns import Prefiltered

ROOT = Path(__file__).resolve().parents[1]  # tests/
SHARED_EXAMPLES = ROOT.parent.parent / "shared" / "examples"


def _patterns() -> list[tuple[str, Prefiltered]]:
    reader = get_terminology().text
    found = []
    for concept in reader.concepts:
        found.append((f"concept {concept.id}", concept.pattern))
        for name in ("blockers_before", "blockers_after"):
            if getattr(concept, name) is not None:
                found.append((f"{concept.id}.{name}", getattr(concept, name)))
    context = reader.context
    for kind, pattern in [*context.pre.items(), *context.post.items()]:
        if pattern is not None:
            found.append((f"context {kind}", pattern))
    for name in ("pseudo", "terminators"):
        if getattr(context, name) is not None:
            found.append((f"context {name}", getattr(context, name)))
    found += [(f"side {side}", pattern) for side, pattern in context.sides.items()]
    return found


def _texts_in(value) -> list[str]:
    if isinstance(value, dict):
        return [t for item in value.values() for t in _texts_in(item)]
    if isinstance(value, list):
        return [t for item in value for t in _texts_in(item)]
    return [value] if isinstance(value, str) and " " in value else []


def _corpus() -> list[str]:
    texts = []
    for folder in (ROOT / "fixtures", SHARED_EXAMPLES):
        for path in sorted(folder.rglob("*.json")):
            texts += _texts_in(json.loads(path.read_text(encoding="utf-8")))
    # sentences made of the triggers' own words, shuffled, so that terms overlap and touch
    words = set()
    for trigger_file in sorted((ROOT.parent / "valuesets" / "text-triggers").glob("*.json")):
        words |= set(re.findall(r"[A-Za-z0-9][A-Za-z0-9\-/']*",
                                trigger_file.read_text(encoding="utf-8")))
    pool = sorted(words) + ["L4-L5", "L5-S1", "x 3 weeks", "4/5", "7/10", "(R)", "(L)",
                            "non-radiating", "(-)", ",", ".", "no", "not", "and", "or"]
    rng = random.Random(20261127)
    for _ in range(800):
        sentence = " ".join(rng.choice(pool) for _ in range(rng.randint(3, 18)))
        texts.append(sentence if rng.random() < 0.5 else sentence.upper())
    return texts


CORPUS = _corpus()


@pytest.mark.parametrize("name,pattern", _patterns(), ids=lambda v: v if isinstance(v, str) else "")
def test_matches_are_those_of_a_plain_scan(name, pattern):
    assert len(CORPUS) > 800
    index = get_terminology().text._anchors_index
    for text in CORPUS:
        expected = [m.span() for m in pattern.pattern.finditer(text)]
        assert [m.span() for m in pattern.finditer(text)] == expected, (name, text)
        # a sentence as the reader reads it: ASCII ones with their anchors looked up
        indexed = index.sentence(text)
        assert [m.span() for m in pattern.finditer(indexed)] == expected, (name, text)


def test_the_corpus_exercises_the_anchored_and_the_unanchored_terms():
    patterns = dict(_patterns())
    with_raw_terms = [p for p in patterns.values() if p.starts is not None and p.unanchored]
    assert with_raw_terms, "no pattern mixes literal and raw-regex terms any more"
    hits = sum(1 for p in with_raw_terms for text in CORPUS
               if any(True for _ in p.unanchored.finditer(text)))
    assert hits > 50


def test_a_term_beginning_inside_another_terms_first_word_is_found():
    # "x-ray" and "ray" both begin at a word start in "x-ray"; the longer anchor must not hide
    # the shorter one when only the shorter term matches
    pattern = TriggerCompiler(groups={}).compile_terms(["x-ray shows", "ray"], "test")
    text = "X-ray of the lumbar spine"
    assert [m.span() for m in pattern.finditer(text)] == [(2, 5)]
    assert [m.span() for m in pattern.finditer(text)] == [
        m.span() for m in pattern.pattern.finditer(text)]
    indexed = AnchorIndex([pattern]).sentence(text)
    assert [m.span() for m in pattern.finditer(indexed)] == [(2, 5)]


def test_a_sentence_that_is_not_ascii_is_indexed_and_found_alike():
    reader = get_terminology().text
    text = "Ischias droite, douleur irradiée: sciatica on the right – résumé"
    sentence = reader._anchors_index.sentence(text)
    assert sentence.anchored  # looked up by its words' beginnings, not searched
    sciatica = next(c for c in reader.concepts if c.id == "sciatica").pattern
    found = [m.span() for m in sciatica.finditer(sentence)]
    assert found and found == [m.span() for m in sciatica.pattern.finditer(text)]


def test_the_characters_ignorecase_folds_to_ascii_are_those_the_index_knows():
    """re.IGNORECASE matches a few characters that are not ASCII to ASCII letters ("ſ" to
    "s", the Kelvin sign to "k"): the index looks words up with exactly those folded."""
    ascii_word = re.compile(r"[a-z0-9_]", re.IGNORECASE)
    everything = "".join(map(chr, range(128, 0x110000))).encode(
        "utf-8", "surrogatepass").decode("utf-8", "surrogatepass")
    folding = set(ascii_word.findall(everything))
    assert folding == {chr(c) for c in FOLDS_TO_ASCII}


@pytest.mark.parametrize("text", [
    "\u017fciatica on the right, \u212aNEE pain, D\u0130SC HERN\u0130ATION, r\u0131ght leg",
    "Douleur irradiée vers la jambe droite, SLR positif, L4–L5 hernie discale: nonradiating",
    "Ишиас справа; sciatica 右 leg pain radiating to the left thigh x 3 weeks, 4/5 strength",
])
def test_every_pattern_finds_in_text_that_is_not_ascii_what_a_plain_scan_finds(text):
    index = get_terminology().text._anchors_index
    indexed = index.sentence(text)
    for name, pattern in _patterns():
        expected = [m.span() for m in pattern.pattern.finditer(text)]
        assert [m.span() for m in pattern.finditer(indexed)] == expected, name
