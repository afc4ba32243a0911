"""facts.low_back: the encounter's low back group, the diagnosis that leads it (so that two
cards never recode the same Condition), and which family speaks for a picture."""

from __future__ import annotations

import pytest

from cds_service.facts.low_back import speaking_family
from cds_service.facts.picture import Disc, Documented, Injury, Radicular
from tests.builders import condition
from tests.facts.support import facts_of

SNOMED_DISC = "20021007"  # displacement of lumbar intervertebral disc
SNOMED_LOW_BACK_PAIN = "279039007"
SNOMED_SCIATICA = "23056005"


def ids(diagnoses):
    return [d.id for d in diagnoses]


@pytest.mark.parametrize("conditions, host, led, speaking_for_themselves", [
    pytest.param([condition("c1", "M54.50")], None, [], ["c1"],
                 id="one-coded-nonspecific-diagnosis-speaks-for-itself"),
    pytest.param([condition("c1", None, snomed=SNOMED_LOW_BACK_PAIN)], "c1", [], [],
                 id="an-uncoded-low-back-pain-alone-leads"),
    pytest.param([condition("c1", "M54.50"), condition("c2", None, snomed=SNOMED_DISC)],
                 "c2", ["c1"], [],
                 id="an-uncoded-disc-leads-and-the-coded-nonspecific-merges-into-it"),
    pytest.param([condition("c1", "M54.50"), condition("c2", None, snomed=SNOMED_SCIATICA)],
                 "c2", ["c1"], [], id="an-uncoded-sciatica-leads"),
    pytest.param([condition("c1", "M54.50"), condition("c2", None, snomed=SNOMED_SCIATICA),
                  condition("c3", None, snomed=SNOMED_DISC)], "c3", ["c1"], [],
                 id="an-uncoded-disc-leads-before-an-uncoded-sciatica"),
    pytest.param([condition("c1", "M54.50"),
                  condition("c2", None, snomed=SNOMED_LOW_BACK_PAIN)], None, [], ["c1"],
                 id="an-uncoded-nonspecific-never-leads-beside-a-coded-one"),
    pytest.param([condition("c1", "M54.50", note="Lumbar strain lifting boxes."),
                  condition("c2", None, snomed=SNOMED_DISC)], "c2", [], ["c1"],
                 id="a-coded-injury-is-not-led-by-an-uncoded-disc"),
    pytest.param([condition("c1", "M54.50"), condition("c2", "M54.50", encounter="e1")],
                 None, [], ["c1", "c2"], id="two-coded-nonspecific-diagnoses-each-speak"),
])
def test_the_group_leader(conditions, host, led, speaking_for_themselves):
    group = facts_of(*conditions).low_back
    assert (group.uncoded_host.diagnosis.id if group.uncoded_host else None) == host
    assert ids(group.led) == led
    assert all(group.is_led(d) for d in group.led)
    assert ids(p.diagnosis for p in group.coded_nonspecific) == speaking_for_themselves


def test_the_uncoded_host_speaks_for_what_the_led_diagnoses_document():
    group = facts_of(condition("c1", "M54.50", note="Sciatica down the left leg."),
                     condition("c2", None, snomed=SNOMED_DISC)).low_back
    host = group.uncoded_host
    assert host.diagnosis.id == "c2"
    assert host.radicular.kinds == {"sciatica"} and host.radicular.side == "left"
    assert host.back_pain
    assert ids(p.diagnosis for p in host.speaks_for) == ["c1"]
    assert speaking_family(host) == "disc"


def test_radicular_codes_coded_apart_are_listed_for_the_disc_code():
    group = facts_of(condition("c1", "M51.26"), condition("c2", "M54.16"),
                     condition("c3", "M54.32")).low_back
    assert ids(group.radicular_coded_apart) == ["c3", "c2"]


def test_diagnoses_outside_the_low_back_families_have_no_picture():
    facts = facts_of(condition("c1", "I10"), condition("c2", "M54.50"))
    assert ids(p.diagnosis for p in facts.low_back.pictures) == ["c2"]
    assert facts.low_back.of(facts.diagnoses[0]) is None


def _picture(radicular=(), disc=(), injury=(), mechanism=False, specified=()) -> Documented:
    return Documented(
        diagnosis=None, family="nonspecific", old_codes=("M54.50",), reading=None,
        radicular=Radicular(set(radicular), specified="radicular" in specified),
        disc=Disc(set(disc), specified="disc" in specified),
        injury=Injury(set(injury), mechanism=mechanism, specified="injury" in specified),
        back_pain=True, vertebrogenic=False)


@pytest.mark.parametrize("picture, family", [
    pytest.param(_picture(), None, id="nothing-documented"),
    pytest.param(_picture(radicular={"sciatica"}), "radicular", id="radicular"),
    pytest.param(_picture(specified={"radicular"}), "radicular",
                 id="radicular-coded-elsewhere-still-claims-the-diagnosis"),
    pytest.param(_picture(radicular={"sciatica"}, disc={"degeneration"}), "disc",
                 id="disc-before-radicular"),
    pytest.param(_picture(disc={"displacement"}, injury={"sprain"}), "injury",
                 id="named-injury-before-disc"),
    pytest.param(_picture(specified={"injury"}, disc={"displacement"}), "injury",
                 id="injury-coded-elsewhere-before-disc"),
    pytest.param(_picture(mechanism=True, disc={"displacement"}), "disc",
                 id="mechanism-alone-after-disc"),
    pytest.param(_picture(mechanism=True), "injury", id="mechanism-alone-last"),
])
def test_speaking_family_follows_highest_specificity(picture, family):
    assert speaking_family(picture) == family
