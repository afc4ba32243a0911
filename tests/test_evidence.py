"""The evidence behind each finding: every diagnosis rule's card names the sentence or element it
rests on; text offsets point at the matched words of the original text in the request; mentions
set aside are shown as such; long sentences are trimmed; programs get references and offsets,
never the words."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from cds_service.cards import QUOTE_CHARS
from tests.builders import (
    DISCHARGE,
    FULL_NOTE,
    condition,
    encounter,
    pipeline,
    procedure,
    request,
    topic,
)
from tests.support.examples import EXAMPLES

_STEP = re.compile(r"([A-Za-z]+)(?:\[(\d+)\])?")


def evaluated(body: dict, rule_id: str):
    """The one finding of ``rule_id`` and its card."""
    result = pipeline().evaluate(DISCHARGE, body)
    pairs = [(f, c) for f, c in zip(result.findings, result.response["cards"], strict=True)
             if f.rule_id == rule_id]
    assert len(pairs) == 1, [f.rule_id for f in result.findings]
    finding, card = pairs[0]
    assert topic(card) == rule_id
    return finding, card


def resolve(body: dict, reference: str, element: str):
    """The value of ``element`` (``note[0].text``, ``reasonCode[0].text``) of the resource
    ``reference`` in the request."""
    kind, rid = reference.split("/")
    prefetch = body["prefetch"]
    resources = [prefetch["encounter"]] + [
        e["resource"] for key in ("conditions", "procedures") for e in
        (prefetch.get(key) or {}).get("entry", [])]
    [value] = [r for r in resources if r["resourceType"] == kind and r["id"] == rid]
    for name, index in _STEP.findall(element):
        value = value[name]
        if index:
            value = value[int(index)]
    return value


def texts(finding, concept: str, counted: bool = True):
    found = [e for e in finding.evidence
             if e.kind == "text" and e.finding == concept and e.counted is counted]
    assert found, [(e.kind, e.finding, e.counted) for e in finding.evidence]
    return found


def assert_points_at(body: dict, item, words: str) -> str:
    """The item's offsets point at ``words`` in the request's own text; returns that text."""
    original = resolve(body, item.reference, item.element)
    assert original[item.start:item.end].lower() == words.lower()
    assert item.sentence_start <= item.start < item.end <= item.sentence_end
    return original


def why(card: dict) -> str:
    detail = card["detail"]
    assert "**Why**" in detail
    return detail.split("**Why**", 1)[1]


# -- each diagnosis rule's card names what it rests on ------------------------------------------
def test_radicular_card_quotes_the_sentence_and_marks_the_words():
    note = "Two weeks of low back pain. Assessment: low back pain with left sciatica."
    body = request(condition(note=note))
    finding, card = evaluated(body, "specificity-radicular")
    [item] = texts(finding, "sciatica")
    assert_points_at(body, item, "sciatica")
    assert (item.reference, item.element) == ("Condition/c1", "note[0].text")
    assert note[item.sentence_start:item.sentence_end].strip() == (
        "Assessment: low back pain with left sciatica.")
    assert '"Assessment: low back pain with left **sciatica**." (Condition/c1 note[0].text)' \
        in why(card)
    assert "Condition/c1 code: M54.50" in why(card)
    assert len(card["summary"]) < 140


def test_radicular_evidence_from_the_encounter_reason_text():
    body = request(condition(documented=False, note=FULL_NOTE.replace(
        "Pain stays in the low back without radiation. ", "")),
        enc=encounter(reason_text="Back pain with right sciatica"))
    finding, card = evaluated(body, "specificity-radicular")
    [item] = texts(finding, "sciatica")
    assert (item.reference, item.element) == ("Encounter/e1", "reasonCode[0].text")
    assert_points_at(body, item, "sciatica")
    assert "(Encounter/e1 reasonCode[0].text)" in why(card)


def test_disc_card_names_the_disc_sentence():
    note = "L4-5 disc herniation with pain radiating down the right leg."
    body = request(condition(note=note))
    finding, card = evaluated(body, "specificity-disc")
    [item] = texts(finding, "disc_displacement")
    original = assert_points_at(body, item, note[item.start:item.end])
    assert "herniation" in original[item.start:item.end]
    assert f"**{original[item.start:item.end]}**" in why(card)


def test_injury_card_names_the_strain():
    note = "Lumbar strain after lifting a heavy box yesterday."
    body = request(condition(note=note))
    finding, card = evaluated(body, "specificity-injury")
    [item] = texts(finding, "strain")
    assert_points_at(body, item, note[item.start:item.end])
    assert "strain" in note[item.start:item.end].lower()
    assert "(Condition/c1 note[0].text)" in why(card)


def test_vertebrogenic_card_names_the_words():
    body = request(condition(note="Vertebrogenic low back pain. " + FULL_NOTE))
    finding, card = evaluated(body, "specificity-vertebrogenic")
    [item] = texts(finding, "vertebrogenic")
    assert_points_at(body, item, "vertebrogenic low back pain"[:item.end - item.start])
    assert why(card).count("\n- ") <= 6


def test_icd10cm_missing_names_the_coded_element():
    body = request(condition("c1", None, snomed="278860009", documented=False))
    finding, card = evaluated(body, "icd10cm-missing")
    codes = [(e.reference, e.element, e.code) for e in finding.evidence if e.kind == "code"]
    assert ("Condition/c1", "code", "278860009") in codes
    assert "Condition/c1 code: 278860009" in why(card)


def test_excludes1_conflict_names_both_coded_elements():
    body = request(condition("c1", "M54.50", documented=False),
                   condition("c2", "M54.41", documented=False))
    finding, card = evaluated(body, "excludes1-conflict")
    codes = {(e.reference, e.element, e.code) for e in finding.evidence}
    assert codes == {("Condition/c1", "code", "M54.50"), ("Condition/c2", "code", "M54.41")}
    assert "Condition/c1 code: M54.50" in why(card) and "Condition/c2 code: M54.41" in why(card)


def test_invalid_code_names_the_coded_element():
    body = request(condition("c1", "M54.5", note=FULL_NOTE))
    finding, card = evaluated(body, "invalid-code")
    assert [(e.reference, e.element, e.code) for e in finding.evidence] == [
        ("Condition/c1", "code", "M54.5")]
    assert "Condition/c1 code: M54.5" in why(card)


def test_aftercare_names_the_procedure_with_its_date_and_the_visit_words():
    note = "Post-op follow-up visit, rehab after lumbar surgery. " + FULL_NOTE
    body = request(condition(note=note), procedures=[procedure("p1", "22612", "2026-08-01")])
    finding, card = evaluated(body, "aftercare-code")
    procedures = [e for e in finding.evidence if e.reference == "Procedure/p1"]
    assert [(e.element, e.code, e.date) for e in procedures] == [("code", "22612",
                                                                  "2026-08-01")]
    assert "Procedure/p1 code: 22612 (2026-08-01)" in why(card)
    for item in (e for e in finding.evidence if e.kind == "text"):
        assert_points_at(body, item, note[item.start:item.end])


def test_documentation_missing_names_the_elements_found_empty():
    body = request(condition("c1", "M54.50", documented=False, note="Back hurts."))
    finding, card = evaluated(body, "documentation-missing")
    empty = {(e.finding, e.element) for e in finding.evidence if e.kind == "absent"}
    assert {("location", "bodySite"), ("onset", "onset[x]"),
            ("character_severity", "severity"), ("exam", "evidence.detail"),
            ("assessment", "note[0].text")} <= empty
    assert "Looked at, nothing documented: Condition/c1 bodySite, onset[x]" in why(card)


# -- set aside, trimmed, escaped ----------------------------------------------------------------
def test_a_negated_mention_is_shown_as_set_aside():
    note = "Low back pain with left sciatica. Denies numbness."
    body = request(condition(note=note))
    finding, card = evaluated(body, "specificity-radicular")
    [item] = texts(finding, "numbness", counted=False)
    assert item.status == "absent" and item.set_aside_by == "negation"
    assert_points_at(body, item, "numbness")
    assert note[item.trigger_start:item.trigger_end].lower() == "denies"
    assert '"Denies **numbness**." (Condition/c1 note[0].text): not counted, negated' \
        in why(card)
    # the affirmed mention comes first
    assert why(card).index("**sciatica**") < why(card).index("**numbness**")


def test_a_long_sentence_is_trimmed_to_a_window_around_the_words():
    before = "The patient, who works long shifts at a warehouse loading trucks and " \
             "driving a forklift on concrete floors for most of the day, reports "
    after = " that started after a long weekend of yard work, moving mulch, digging " \
            "post holes and carrying stones, and has kept him from sleeping well at night."
    note = "Low back pain for two weeks. " + before + "left sciatica" + after
    body = request(condition(note=note))
    finding, card = evaluated(body, "specificity-radicular")
    [item] = texts(finding, "sciatica")
    assert_points_at(body, item, "sciatica")
    assert item.sentence_end - item.sentence_start > QUOTE_CHARS
    [line] = [x for x in why(card).splitlines() if "**sciatica**" in x]
    quoted = line.split('"')[1]
    assert quoted.startswith("…") and quoted.endswith("…")
    assert len(quoted) <= QUOTE_CHARS + 10
    assert "left **sciatica** that started" in quoted
    # cut at words, not inside them
    words = note.split()
    assert quoted[1:].split()[0] in words and quoted[:-1].split()[-1] in words


def test_markdown_in_a_note_is_escaped_in_the_quote():
    note = "Low back pain with left sciatica, *worse* at night_time."
    body = request(condition(note=note))
    _, card = evaluated(body, "specificity-radicular")
    assert "\\*worse\\* at night\\_time" in why(card)


# -- evidence as data: references and offsets, never the words ---------------------------------
def test_evidence_data_has_references_and_offsets_only():
    note = "Low back pain with left sciatica. Denies numbness."
    body = request(condition(note=note))
    finding, _ = evaluated(body, "specificity-radicular")
    data = [e.as_data() for e in finding.evidence]
    dumped = json.dumps(data)
    for words in ("sciatica", "numbness", "Denies", "Low back pain"):
        assert words not in dumped.replace('"finding": "sciatica"', "").replace(
            '"finding": "numbness"', "")
    negated = next(d for d in data if d["finding"] == "numbness")
    assert negated["counted"] is False and negated["setAsideBy"] == "negation"
    assert note[negated["start"]:negated["end"]] == "numbness"


def test_evaluate_prints_each_cards_evidence(tmp_path):
    example = next(p for p in EXAMPLES if p.stem == "radicular-right-in-text")
    done = subprocess.run([sys.executable, "-m", "cds_service.cli", "evaluate", str(example),
                           "--evidence"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    request_body = json.loads(example.read_text())["request"]
    [card] = [c for c in printed["cards"] if topic(c) == "specificity-radicular"]
    items = printed["evidence"][card["uuid"]]
    texts_found = [i for i in items if i["kind"] == "text"]
    assert texts_found
    for item in texts_found:
        original = resolve(request_body, item["reference"], item["element"])
        assert 0 <= item["start"] < item["end"] <= len(original)
    assert "text" not in {k for i in items for k in i}


@pytest.mark.parametrize("rule_id, body", [
    ("specificity-radicular", request(condition(note="Low back pain, left sciatica."))),
    ("documentation-missing", request(condition(documented=False))),
])
def test_summary_stays_short_with_evidence(rule_id, body):
    _, card = evaluated(body, rule_id)
    assert len(card["summary"]) < 140
    assert "**Why**" not in card["summary"]


def test_a_procedure_rule_names_the_procedure_and_its_day():
    from tests.procedure_builders import condition as coded
    from tests.procedure_builders import discharge, medicare
    from tests.procedure_builders import procedure as performed

    body = discharge([performed("p1", "97014")], [coded("c1", "M54.50")], [medicare()])
    result = pipeline().evaluate(DISCHARGE, body)
    [(finding, card)] = [(f, c) for f, c in zip(result.findings, result.response["cards"],
                                                 strict=True) if f.rule_id == "medicare-97014"]
    [item] = finding.evidence
    assert (item.reference, item.element, item.code) == ("Procedure/p1", "code", "97014")
    assert f"Procedure/p1 code: 97014 ({item.date})" in why(card)


def test_each_text_read_has_its_source_in_the_same_order():
    from cds_service.facts import build_facts
    from cds_service.facts.picture import sources_of, texts_of

    enc = encounter(reason_text="Back pain", type_text="Office visit")
    enc["reasonCode"][0]["coding"] = [{"system": "http://snomed.info/sct", "code": "279039007",
                                       "display": "Low back pain"}]
    body = request(condition(note=["First note.", "", "Second note."], code_text="LBP",
                             evidence_codes=[("http://snomed.info/sct", "23056005",
                                              "Sciatica")]), enc=enc)
    terminology = pipeline().terminology
    facts = build_facts("encounter-discharge", body["context"], body["prefetch"], [],
                        terminology)
    [diagnosis] = facts.diagnoses
    sources = sources_of(diagnosis, facts.encounter)
    assert [s.text for s in sources] == texts_of(diagnosis, facts)
    for source in sources:
        assert resolve(body, source.reference, source.element) == source.text


def test_two_conditions_read_alike_each_name_their_own_elements():
    note = "Low back pain with left sciatica."
    body = request(condition("c1", note=note), condition("c2", note=note))
    result = pipeline().evaluate(DISCHARGE, body)
    radicular = [f for f in result.findings if f.rule_id == "specificity-radicular"]
    assert radicular
    for finding in radicular:
        references = {e.reference for e in finding.evidence
                      if e.kind == "text" or e.finding == "coded"}
        assert references <= {finding.target, "Encounter/e1"}, (finding.target, references)
        [item] = texts(finding, "sciatica")
        assert_points_at(body, item, "sciatica")
