"""Free-text reading (cds_service/text/ with valuesets/text-triggers): concepts,
negation, uncertainty, history, laterality, and refusal of malformed trigger files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cds_service.data_files import data_dir
from cds_service.terminology import get_terminology
from cds_service.text import TextReader, TextTriggerError

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


# == notes as clinicians write them ==========================================================
NOTES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "notes").glob("*.json"))


@pytest.mark.parametrize("path", NOTES, ids=[p.stem for p in NOTES])
def test_each_style_of_note_reads_as_expected(path):
    """Dictated run-on, templated ROS, abbreviated, bulleted, SOAP: the status, side and
    section of each finding, as a reader of the note would take them."""
    note = json.loads(path.read_text(encoding="utf-8"))
    reading = READER.read(note["text"])
    assert {c: reading.status(c) for c in note["expected"]} == note["expected"]
    assert {c: reading.sides(c) for c in note.get("sides", {})} == {
        c: set(s) for c, s in note.get("sides", {}).items()}
    for concept, section in note.get("sections", {}).items():
        assert section in {m.section for m in reading.of(concept)}, concept


def test_the_note_styles_are_all_there():
    styles = {p.stem for p in NOTES}
    assert {"dictated-run-on", "templated-ros", "abbreviated", "bulleted"} <= styles


ROS = ("ROS: Negative for fever, chills, weight loss, bowel or bladder change, weakness, "
       "numbness, radiating pain or sciatica")


@pytest.mark.parametrize("concept", ["weakness", "numbness", "radiation_any", "sciatica"])
def test_a_negation_covers_a_whole_list_to_its_end(concept):
    assert READER.read(ROS).status(concept) == "absent"


@pytest.mark.parametrize(
    "text, concept, expected",
    [
        # the list ends at a terminator ...
        ("Negative for fever, chills, numbness but positive for sciatica.", "sciatica",
         "present"),
        ("Denies fever, chills, weight loss, however admits tingling in the feet.", "tingling",
         "present"),
        ("No fever, chills, night sweats, reports right sciatica.", "sciatica", "present"),
        # ... at a new clause, which a list item is not ...
        ("Denies fever, chills, weight loss, he has had right sciatica for a month.",
         "sciatica", "present"),
        # ... and at the sentence end
        ("Denies fever, chills, weight loss, night sweats. Sciatica on the right.", "sciatica",
         "present"),
        # an uncertainty, a history and a family history reach over a list too
        ("Possible lumbar strain, sprain, disc herniation or radiculopathy.", "radiculopathy",
         "uncertain"),
        ("Family history of diabetes, hypertension, stroke, asthma or sciatica.", "sciatica",
         "family"),
    ],
)
def test_a_list_scope_ends_where_the_list_does(text, concept, expected):
    assert status(text, concept) == expected


def test_a_denied_list_in_a_note_suggests_no_radicular_code():
    from tests.builders import cards_of, condition, request

    note = f"Low back pain for 3 weeks. {ROS}. Exam: paraspinal tenderness."
    assert cards_of(request(condition(note=note)), "specificity-radicular") == []


@pytest.mark.parametrize(
    "text, concept, expected",
    [
        ("No N/T/W.", "numbness", "absent"),
        ("No N/T/W.", "tingling", "absent"),
        ("No N/T/W.", "weakness", "absent"),
        ("+N/T in the right foot.", "tingling", "present"),
        ("SLR + on the right.", "straight_leg_raise", "present"),
        ("+SLR R.", "straight_leg_raise", "present"),
        ("SLR positive on the right.", "straight_leg_raise", "present"),
        ("SLR -, FABER +.", "straight_leg_raise", "absent"),
        ("-SLR bilaterally.", "straight_leg_raise", "absent"),
        ("HNP L5-S1.", "disc_displacement", "present"),
        ("DDD L4-5.", "disc_degeneration", "present"),
        ("L5 radic.", "radiculopathy", "present"),
        ("Chronic LBP.", "low_back_pain", "present"),
        ("s/p L4-5 laminectomy 2019.", "spine_surgery", "historical"),
        ("Status post L4-L5 fusion.", "spinal_fusion", "historical"),
        # "s/p" makes a past surgery, not a past injury
        ("Back pain s/p MVA yesterday.", "other_injury", "present"),
    ],
)
def test_abbreviations(text, concept, expected):
    assert status(text, concept) == expected


@pytest.mark.parametrize(
    "text, concept, side",
    [
        ("Radiating pain RLE.", "radiating_leg_pain", "right"),
        ("Numbness LLE.", "numbness", "left"),
        ("+SLR R at 45 degrees.", "straight_leg_raise", "right"),
        ("SLR positive on the L.", "straight_leg_raise", "left"),
        ("LBP with b/l sciatica.", "sciatica", "bilateral"),
        # R and L alone are sides; R/O (rule out) and L5 are not
        ("R/O sciatica.", "sciatica", None),
        ("Sciatica, L5 level.", "sciatica", None),
    ],
)
def test_abbreviated_sides(text, concept, side):
    assert READER.read(text).sides(concept) == ({side} if side else set())


# -- sections ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    ["A: lumbar strain.", "A/P: lumbar strain, PT.", "Impression: lumbar strain.",
     "Assessment\nLumbar strain", "HPI: back pain x 2 wks A: lumbar strain P: PT"],
)
def test_an_assessment_section_with_content_documents_the_assessment(text):
    assert READER.read(text).documented("assessment")


@pytest.mark.parametrize("text", ["A:", "A: ", "A: pending", "Plan: PT. A:"])
def test_an_empty_assessment_section_documents_nothing(text):
    assert not READER.read(text).documented("assessment")


@pytest.mark.parametrize("text, documented", [
    ("PE: TTP over L4-5.", True), ("O: TTP L5.", True), ("Exam: deferred.", False),
    ("O: Exam deferred.", False), ("PE: not performed today.", False),
])
def test_an_exam_section_documents_the_exam_when_it_has_one(text, documented):
    assert READER.read(text).documented("exam") is documented


def test_documentation_missing_does_not_ask_for_an_assessment_an_a_section_has():
    from tests.builders import cards_of, condition, request

    note = ("Low back pain for 5 weeks. Dull and intermittent. No N/T/W. "
            "Exam: paraspinal tenderness, flexion limited. A: nonspecific low back pain.")
    assert cards_of(request(condition(note=note)), "documentation-missing") == []


@pytest.mark.parametrize(
    "text, concept, expected",
    [
        ("PMH: sciatica, hypertension.", "sciatica", "historical"),
        ("Past medical history: lumbar radiculopathy", "radiculopathy", "historical"),
        ("FH: sciatica in father.", "sciatica", "family"),
        ("Family history: DDD.", "disc_degeneration", "family"),
        ("PMH: HTN.\nHPI: right sciatica for 2 weeks.", "sciatica", "present"),
        ("History of present illness: right sciatica.", "sciatica", "present"),
        ("ROS: negative. Exam: SLR positive on the right.", "straight_leg_raise", "present"),
    ],
)
def test_a_section_sets_the_status_of_what_it_holds(text, concept, expected):
    assert status(text, concept) == expected


def test_each_mention_knows_its_section():
    reading = READER.read("HPI: right sciatica.\nROS: no numbness.\nExam: SLR positive.\n"
                          "A/P: sciatica, PT.")
    assert [(m.concept, m.section) for m in reading.of("sciatica")] == [
        ("sciatica", "hpi"), ("sciatica", "assessment")]
    assert {m.section for m in reading.of("numbness")} == {"ros"}
    assert {m.section for m in reading.of("straight_leg_raise")} == {"exam"}
    assert reading.sections("sciatica") == {"hpi", "assessment"}


def test_a_header_ends_a_sentence_so_that_a_negation_stops_there():
    reading = READER.read("ROS: denies fever, chills Exam: SLR positive on the right")
    assert reading.status("straight_leg_raise") == "present"


# -- evidence: where each mention is in the text it was read from -----------------------------
def test_a_mention_points_into_the_text_it_was_read_from():
    texts = [None, "Back pain.", "Dull ache. Denies numbness; pain radiates to the R leg."]
    reading = READER.read(*texts)
    numbness = reading.of("numbness")[0]
    text = texts[numbness.text_index]
    assert numbness.text_index == 2
    assert text[numbness.text_start:numbness.text_end] == "numbness" == numbness.text
    sentence = text[numbness.sentence_start:numbness.sentence_end]
    assert sentence == "Denies numbness;"
    assert sentence[numbness.start:numbness.end] == "numbness"
    assert numbness.set_aside_by == "negation"
    assert text[numbness.trigger_start:numbness.trigger_end] == "Denies"
    radiating = reading.of("radiating_leg_pain")[0]
    assert text[radiating.text_start:radiating.text_end] == "radiates to the R leg"
    assert radiating.set_aside_by is None and radiating.trigger_start is None


def test_a_mention_set_aside_by_a_section_points_at_the_header():
    text = "Chief complaint: back pain.\nFH: sciatica."
    sciatica = READER.read(text).of("sciatica")[0]
    assert sciatica.status == "family" and sciatica.set_aside_by == "family"
    assert text[sciatica.trigger_start:sciatica.trigger_end] == "FH"


@pytest.mark.parametrize("kind, text", [
    ("negation", "No sciatica."), ("uncertainty", "Possible sciatica."),
    ("historical", "History of sciatica."), ("family", "Family history of sciatica."),
])
def test_the_trigger_set_that_set_a_mention_aside_is_kept(kind, text):
    assert READER.read(text).of("sciatica")[0].set_aside_by == kind


def test_readings_added_keep_their_texts_apart():
    first, second = READER.read("Right sciatica."), READER.read(None, "No numbness.")
    both = first + second
    assert [(m.concept, m.text_index, m.sentence) for m in both.mentions] == [
        ("sciatica", 0, 0), ("numbness", 2, 1)]


# -- bounded work -----------------------------------------------------------------------------
def _calls(reader: TextReader, text: str) -> int:
    """Python and C function calls made reading ``text``: a measure of work that does not
    depend on the machine's speed (a deterministic count, not a timing)."""
    import sys

    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        reader._read_uncached(text)
    finally:
        sys.setprofile(None)
    return count


@pytest.mark.parametrize("unit", [
    "right sciatica ",
    "denies numbness tingling or weakness, pain radiates down the right leg, negative SLR ",
    "no fever, possible sciatica, history of radiculopathy, family history of DDD, ",
])
def test_reading_a_run_on_sentence_takes_work_linear_in_its_length(triggers, unit):
    """A run-on sentence (no full stops) four times as long takes about four times the work:
    before, each scope, side and blocking check compared every trigger with every mention and
    counted the words between them again (cubic: "right sciatica " * 800 ran past the
    worker's timeout)."""
    reader = TextReader(triggers)
    short, long = _calls(reader, unit * 40), _calls(reader, unit * 160)
    assert long / short < 5.5, (short, long)


def test_a_text_is_read_up_to_the_limit_only(triggers):
    reader = TextReader(triggers, max_characters=1000)
    text = "Back pain. " * 100 + "Right sciatica."
    assert len(text) > 1000
    assert not reader.read(text).of("sciatica")
    assert TextReader(triggers).read(text).present("sciatica")
    assert reader.context.max_characters == 1000
    assert TextReader(triggers).context.max_characters == 200_000  # the shipped limit


def test_a_sentence_keeps_its_first_mentions_only(triggers):
    reader = TextReader(triggers, max_mentions_per_sentence=10)
    reading = reader.read("right sciatica " * 50)
    assert len(reading.mentions) == 10
    assert [m.start for m in reading.mentions] == sorted(m.start for m in reading.mentions)
    assert reading.mentions[0].start == len("right ")


def test_the_medspacy_comparison_skips_cleanly_without_medspacy():
    """benchmarks/bench_medspacy.py compares with medspaCy from a scratch venv; without it (the
    project's own environment never has it) it says so and exits 0."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_medspacy.py"
    result = subprocess.run([sys.executable, str(script), "--medspacy-python", sys.executable],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "skipped" in result.stdout
