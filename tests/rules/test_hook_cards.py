"""Whole requests through the pipeline to their cards, across rules: the shared examples, and
how the rules keep out of each other's way."""

from __future__ import annotations

import json

import pytest

from tests import procedure_builders
from tests.builders import DISCHARGE, FULL_NOTE, ORDER_SIGN, cards, condition, request, topic
from tests.contract import check_response
from tests.rules.diagnosis_cards import checked
from tests.rules.procedure_cards import LBP, run
from tests.support.examples import EXAMPLES, load_example

OUR_RULES = {"procedure-unsupported", "medicare-97014", "cmt-subluxation", "cmt-level",
             "ncci-manual-therapy-cmt", "bundled-service", "therapy-modifier"}


# -- the shared examples, in-process --------------------------------------------------------
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_shared_examples(path):
    example = json.loads(path.read_text())
    service = ("lbp-coding-order-sign" if example["request"]["hook"] == "order-sign"
               else "lbp-coding-encounter-discharge")
    found = cards(example["request"], service)
    assert check_response({"cards": found}, example["request"], example["expect"]) == []


@pytest.mark.parametrize("name", ["medicare-cmt-needs-subluxation",
                                  "order-not-supported-by-diagnosis",
                                  "documented-nonspecific-is-quiet"])
def test_shared_examples_of_the_procedure_rules(pipeline, name):
    example = load_example(name)
    request = example["request"]
    service = ORDER_SIGN if request["hook"] == "order-sign" else DISCHARGE
    response = pipeline.evaluate(service, json.loads(json.dumps(request))).response
    assert check_response(response, request, example["expect"]) == []


# -- the diagnosis rules together -----------------------------------------------------------
def test_documented_nonspecific_visit_gets_no_diagnosis_card():
    body = request(condition(snomed="279039007", note=FULL_NOTE))
    assert checked(body) == []


def test_one_rule_speaks_for_a_diagnosis():
    # a strain comes first (coding-facts §6a rule 2): no competing M54.41 for the same Condition
    strain = request(condition(note=[FULL_NOTE, "Lumbar strain lifting boxes today, pain "
                                                "radiating down right leg."]))
    assert {topic(c) for c in checked(strain)} == {"specificity-injury"}
    # a fall alone yields to the disc disorder it revealed
    fall = request(condition(note=[FULL_NOTE, "After a fall, MRI shows L4-5 disc herniation."]))
    assert {topic(c) for c in checked(fall)} == {"specificity-disc"}


# -- the procedure and payer rules together -------------------------------------------------
def test_documented_back_pain_with_therapy_and_no_coverage_is_quiet(pipeline):
    body = procedure_builders.discharge([procedure_builders.procedure("p1", "97110"),
                                         procedure_builders.procedure("p2", "97530")], [LBP])
    cards = run(pipeline, body)
    assert not [c for c in cards if c["source"]["topic"]["code"] in OUR_RULES]
