"""Free-text reading (cds_service/terminology/text.py with valuesets/text-triggers): concepts,
negation, uncertainty, history, laterality, and refusal of malformed trigger files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cds_service.data_files import data_dir
from cds_service.terminology import get_terminology
from cds_service.terminology.text import TextReader, TextTriggerError

READER = get_terminology().text


def status(text: str, concept: str) -> str | None:
    return READER.read(text).status(concept)


@pytest.mark.parametrize(
    "text, concept, expected",
    [
        # negation before the finding
        ("Denies numbness.", "numbness", "absent"),
        ("Denies numbness, tingling or leg weakness.", "weakness", "absent"),
        ("Denies numbness, tingling or leg weakness.", "tingling", "absent"),
        ("No radiation.", "radiation_any", "absent"),
        ("Pain stays in the low back without radiation.", "radiation_any", "absent"),
        ("Non-radiating low back pain.", "radiation_any", "absent"),
        ("Nonradiating low back pain.", "radiation_any", "absent"),
        ("Negative straight leg raise.", "straight_leg_raise", "absent"),
        ("No radicular symptoms.", "radiating_leg_pain", "absent"),
        ("He has had no sciatica.", "sciatica", "absent"),
        ("Denies radiating pain, numbness, tingling, or weakness in the legs.",
         "radiating_leg_pain", "absent"),
        ("Denies any fall or trauma.", "fall", "absent"),
        ("Denies any fall or trauma.", "other_injury", "absent"),
        # negation after the finding
        ("Straight leg raise negative bilaterally.", "straight_leg_raise", "absent"),
        ("SLR was negative.", "straight_leg_raise", "absent"),
        ("Numbness and tingling denied.", "numbness", "absent"),
        ("Numbness and tingling denied.", "tingling", "absent"),
        ("Sciatica has resolved.", "sciatica", "absent"),
        ("Leg pain: none.", "radiating_leg_pain", "absent"),
        # presence
        ("Positive SLR on the right.", "straight_leg_raise", "present"),
        ("Straight leg raise positive on the right at 40 degrees.", "straight_leg_raise",
         "present"),
        ("Shooting pain down the back of the right leg.", "radiating_leg_pain", "present"),
        ("Low back pain with right sciatica.", "sciatica", "present"),
        ("Assessment: lumbar radiculopathy.", "radiculopathy", "present"),
        # a terminator ends the negation's scope; a comma ends a post-negation's scope
        ("Denies leg pain but reports tingling in the left foot.", "tingling", "present"),
        ("Denies leg pain but reports tingling in the left foot.", "radiating_leg_pain",
         "absent"),
        ("Pain radiates down the right leg, straight leg raise negative.",
         "radiating_leg_pain", "present"),
        ("Pain radiates down the right leg, straight leg raise negative.",
         "straight_leg_raise", "absent"),
        # negation does not cross sentences
        ("No fever. Pain radiates down the right leg.", "radiating_leg_pain", "present"),
        # pseudo-negations contain "no"/"not" but are not negations
        ("No change in his sciatica.", "sciatica", "present"),
        ("Sciatica not improved with gabapentin.", "sciatica", "present"),
        ("History of present illness: pain radiating down the left leg.",
         "radiating_leg_pain", "present"),
        # uncertainty, history, another person
        ("Possible sciatica.", "sciatica", "uncertain"),
        ("Rule out lumbar radiculopathy.", "radiculopathy", "uncertain"),
        ("Prior episode of sciatica.", "sciatica", "historical"),
        ("Family history of sciatica.", "sciatica", "family"),
        ("Assessment: lumbar strain vs nonspecific low back pain.", "strain", "uncertain"),
        # words that are not the finding at all
        ("Pain worse with lifting heavy objects.", "lifting_injury", None),
        ("Pain when lifting a box.", "lifting_injury", None),
        ("Fall risk assessed.", "fall", None),
        ("Radiation therapy for prostate cancer.", "radiation_any", None),
        ("Pain radiating to the abdomen.", "radiating_leg_pain", None),
        ("Knee pain from osteoarthritis.", "radiating_leg_pain", None),
        ("Blood pressure 120/80.", "character", None),
        ("Follow up in 2 weeks for recheck.", "subsequent_care", None),
        ("Follow up in 2 weeks.", "onset_duration", None),
        ("Low back pain for 5 weeks after gardening.", "lifting_injury", None),
        ("Low back pain for 5 weeks after gardening.", "onset_duration", "present"),
        # injuries and later care
        ("Injured his back while lifting a box at work.", "lifting_injury", "present"),
        ("Slipped and fell on ice.", "fall", "present"),
        ("Acute lumbosacral strain.", "strain", "present"),
        ("Lumbar sprain.", "sprain", "present"),
        ("Returns for follow-up of lumbar strain.", "subsequent_care", "present"),
        # disc findings
        ("MRI: L4-L5 disc protrusion.", "disc_displacement", "present"),
        ("Herniated nucleus pulposus at L5-S1.", "disc_displacement", "present"),
        ("No disc herniation on MRI.", "disc_displacement", "absent"),
        ("Degenerative disc disease at L4-5.", "disc_degeneration", "present"),
        ("Multilevel degenerative changes of the facets.", "disc_degeneration", None),
        # documentation elements
        ("Dull aching pain.", "character", "present"),
        ("Pain 6/10.", "severity", "present"),
        ("Exam: paraspinal tenderness.", "exam", "present"),
        ("Assessment: mechanical low back pain.", "assessment", "present"),
        ("Chronic low back pain.", "chronic", "present"),
        ("Vertebrogenic pain with Modic changes.", "vertebrogenic", "present"),
        # "s/p" (status post): a spine surgery done before this encounter
        ("Aftercare s/p L4-5 fusion.", "spinal_fusion", "historical"),
    ],
)
def test_status_of_a_finding(text, concept, expected):
    assert status(text, concept) == expected


@pytest.mark.parametrize(
    "text, concepts, side",
    [
        ("Shooting pain down the back of the right leg.", ("radiating_leg_pain",), "right"),
        ("Pain radiates to the left thigh.", ("radiating_leg_pain",), "left"),
        ("Pain radiates to L leg.", ("radiating_leg_pain",), "left"),
        ("LBP radiating into R buttock and posterior thigh.", ("radiating_leg_pain",), "right"),
        ("Sciatica down the L calf to the foot.", ("sciatica",), "left"),
        ("Radiation to R thigh, L5 level.", ("radiating_leg_pain",), "right"),
        ("Right-sided sciatica.", ("sciatica",), "right"),
        ("Sciatica on the left.", ("sciatica",), "left"),
        ("Positive SLR on the right.", ("straight_leg_raise",), "right"),
        ("Pain radiating into both legs.", ("radiating_leg_pain",), "bilateral"),
        ("Right low back pain radiating down the left leg.", ("radiating_leg_pain",), "left"),
        ("Sciatica.", ("sciatica",), None),
    ],
)
def test_side_of_a_finding(text, concepts, side):
    sides = READER.read(text).sides(*concepts)
    assert sides == ({side} if side else set())


def test_denied_findings_have_no_side():
    assert READER.read("No pain radiating down the right leg.").sides("radiating_leg_pain") == set()


def test_reading_several_texts_keeps_each_sentence_apart():
    reading = READER.read("Denies numbness", "tingling in the right foot", None, "")
    assert reading.status("numbness") == "absent"
    assert reading.status("tingling") == "present"
    assert len({m.sentence for m in reading.mentions}) == 2


def test_status_prefers_any_affirmed_mention():
    reading = READER.read("No sciatica last year. Now right sciatica.")
    assert reading.status("sciatica") == "present"
    assert reading.documented("sciatica")
    assert not reading.absent("sciatica")


def test_a_relatives_finding_is_not_documented_for_the_patient():
    reading = READER.read("Family history of sciatica.")
    assert not reading.documented("sciatica")
    assert not reading.present("sciatica")


# -- trigger files are data, checked at start-up ---------------------------------------------
@pytest.fixture()
def triggers(tmp_path: Path) -> Path:
    target = tmp_path / "text-triggers"
    shutil.copytree(data_dir("valuesets") / "text-triggers", target)
    return target


def _edit(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def test_shipped_trigger_files_load(triggers):
    reader = TextReader(triggers)
    assert {"sciatica", "numbness", "disc_displacement", "strain", "exam"} <= reader.concept_ids


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["concepts"]["sciatica"].update(terms=["{nowhere} pain"]),
         r"radicular\.json: concepts\.sciatica\.terms: unknown group"),
        (lambda d: d["concepts"]["sciatica"].update(terms=["re:(unclosed"]),
         r"radicular\.json: concepts\.sciatica\.terms: bad term"),
        (lambda d: d["concepts"]["sciatica"].update(terms=[]),
         r"radicular\.json: concepts\.sciatica: terms are required"),
        (lambda d: d.pop("version"), r"radicular\.json: version is required"),
    ],
)
def test_malformed_trigger_file_is_refused(triggers, change, message):
    _edit(triggers / "radicular.json", change)
    with pytest.raises(TextTriggerError, match=message):
        TextReader(triggers)


def test_a_concept_defined_twice_is_refused(triggers):
    _edit(triggers / "symptoms.json",
          lambda d: d["concepts"].update(sciatica={"terms": ["sciatica"]}))
    with pytest.raises(TextTriggerError, match="concepts.sciatica is defined twice"):
        TextReader(triggers)


def test_unreadable_trigger_file_is_refused(triggers):
    (triggers / "zz.json").write_text("{ not json")
    with pytest.raises(TextTriggerError, match=r"zz\.json: not readable JSON"):
        TextReader(triggers)


def test_context_file_is_required(triggers):
    (triggers / "context.json").unlink()
    with pytest.raises(TextTriggerError, match="exactly one trigger file needs 'context'"):
        TextReader(triggers)
