"""facts.documentation: what a low back diagnosis's record documents (its picture), read once
before the rules run, and which specificity family speaks for it."""

from __future__ import annotations

import pytest

from cds_service.facts.low_back import speaking_family
from cds_service.facts.picture import sources_of, texts_of
from tests.builders import condition, encounter
from tests.facts.support import facts_of


def picture_of(facts, cid):
    found, = [p for p in facts.low_back.pictures if p.diagnosis.id == cid]
    assert facts.low_back.of(found.diagnosis) is found
    return found


@pytest.mark.parametrize("note, radicular, side, disc, injury, vertebrogenic, speaks", [
    pytest.param(None, set(), None, set(), set(), False, None,
                 id="nothing-more-documented-no-family-speaks"),
    pytest.param("Sciatica down the left leg.", {"sciatica"}, "left", set(), set(), False,
                 "radicular", id="sciatica-with-its-side"),
    pytest.param("MRI shows L4-L5 disc herniation.", set(), None, {"displacement"}, set(),
                 False, "disc", id="disc-herniation"),
    pytest.param("L5-S1 disc herniation with sciatica down the right leg.", {"sciatica"},
                 "right", {"displacement"}, set(), False, "disc",
                 id="a-disc-disorder-speaks-before-radicular-features-I.B.2"),
    pytest.param("Lumbar strain lifting boxes. Sciatica down the left leg.", {"sciatica"},
                 "left", set(), {"strain"}, False, "injury",
                 id="a-named-strain-speaks-before-sciatica"),
    pytest.param("Fell on the ice. Sciatica down the left leg.", {"sciatica"}, "left", set(),
                 set(), False, "radicular", id="a-mechanism-alone-yields-to-sciatica"),
    pytest.param("Fell on the ice yesterday.", set(), None, set(), set(), False, "injury",
                 id="a-mechanism-alone-is-the-injury-family"),
    pytest.param("Vertebrogenic low back pain, Modic changes.", set(), None, set(), set(),
                 True, None, id="vertebrogenic-pain-leaves-the-families-silent"),
])
def test_picture_of_a_coded_nonspecific_diagnosis(note, radicular, side, disc, injury,
                                                  vertebrogenic, speaks):
    seen = picture_of(facts_of(condition("c1", "M54.50", note=note)), "c1")
    assert seen.family == "nonspecific"
    assert seen.old_codes == ("M54.50",)
    assert seen.radicular.kinds == radicular
    assert seen.radicular.side == side
    assert seen.disc.kinds == disc
    assert seen.injury.kinds == injury
    assert seen.vertebrogenic is vertebrogenic
    assert seen.back_pain  # a coded low back pain code documents low back pain
    assert speaking_family(seen) == speaks


def test_level_words_in_the_sentence_of_the_finding_give_its_region():
    seen = picture_of(facts_of(condition(
        "c1", "M54.50", note="L5-S1 disc herniation with sciatica down the right leg.")), "c1")
    assert seen.disc.regions == {"lumbosacral"}
    assert seen.radicular.regions == {"lumbosacral"}


def test_sciatica_on_both_sides_is_bilateral():
    seen = picture_of(facts_of(condition(
        "c1", "M54.50", note="Bilateral sciatica, worse on standing.")), "c1")
    assert seen.radicular.side == "bilateral"


def test_a_denied_finding_is_not_documented():
    seen = picture_of(facts_of(condition("c1", "M54.50", note="Denies sciatica.")), "c1")
    assert seen.radicular.kinds == set()
    assert speaking_family(seen) is None


def test_the_encounters_reason_documents_the_diagnosis():
    facts = facts_of(condition("c1", "M54.50"),
                     enc=encounter(reason_text="Sciatica down the left leg"))
    assert picture_of(facts, "c1").radicular.kinds == {"sciatica"}


def test_a_sciatica_code_on_another_diagnosis_is_documentation_and_merges():
    facts = facts_of(condition("c1", "M54.50"), condition("c2", "M54.32"))
    seen = picture_of(facts, "c1")
    assert seen.radicular.kinds == {"sciatica"}
    assert seen.radicular.side == "left"  # M54.32 "Sciatica, left side"
    assert not seen.radicular.specified
    assert [d.id for d in seen.radicular.absorb] == ["c2"]


def test_a_coded_specific_code_elsewhere_means_the_encounter_already_says_it():
    facts = facts_of(condition("c1", "M54.50", note="Sciatica down the left leg."),
                     condition("c2", "M54.42"))
    assert picture_of(facts, "c1").radicular.specified


def test_identical_diagnoses_share_one_reading_and_name_their_own_condition():
    note = "Sciatica down the left leg."
    facts = facts_of(condition("c1", "M54.50", note=note), condition("c2", "M54.50", note=note))
    first, second = picture_of(facts, "c1"), picture_of(facts, "c2")
    assert second.twin is first and first.twin is None
    assert second.reading is first.reading
    assert second.radicular.kinds == first.radicular.kinds == {"sciatica"}
    assert second.radicular.kinds is not first.radicular.kinds  # a copy, not the same set
    coded = [e for e in second.evidence("radicular") if e.kind == "code"]
    assert coded and {e.reference for e in coded} == {"Condition/c2"}


def test_texts_and_sources_are_in_the_same_order():
    facts = facts_of(condition("c1", "M54.50", note=["first note", "second note"],
                               code_text="Low back pain"),
                     enc=encounter(reason_text="Back pain", type_text="Office visit"))
    diagnosis = facts.diagnoses[0]
    sources = sources_of(diagnosis, facts.encounter)
    assert [s.text for s in sources] == texts_of(diagnosis, facts)
    assert [(s.reference, s.element) for s in sources] == [
        ("Condition/c1", "note[0].text"), ("Condition/c1", "note[1].text"),
        ("Condition/c1", "code.text"), ("Encounter/e1", "reasonCode[0].text"),
        ("Encounter/e1", "type[0].text")]
