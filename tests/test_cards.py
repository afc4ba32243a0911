"""Card rendering from the templates in cards/: shape, limits, and refusal of bad templates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cds_service.card_templates import CardTemplateError
from cds_service.cards import CardRenderer
from cds_service.data_files import data_dir
from cds_service.rules._findings import Action, Finding, Suggestion
from cds_service.rules._registry import RULES
from tests.contract import check_card_shape


@pytest.fixture()
def cards_copy(tmp_path: Path) -> Path:
    target = tmp_path / "cards"
    shutil.copytree(data_dir("cards"), target)
    return target


def invalid_code_finding(**overrides) -> Finding:
    params = {"code": "M54.5", "description": "Low back pain", "date": "2026-03-02",
              "reason": "retired", "changed_on": "2021-10-01",
              "replacements": [("M54.50", "Low back pain, unspecified")]}
    params.update(overrides)
    return Finding("invalid-code", params=params, suggestions=[Suggestion(
        "replace", [Action("update", "replace", resource={"resourceType": "Condition"})],
        params={"old": "M54.5", "new": "M54.50", "display": "Low back pain, unspecified"})])


def test_every_rule_has_a_template():
    renderer = CardRenderer()
    assert set(renderer.templates) == {rule.id for rule in RULES}


def test_rendered_card_has_the_contract_shape():
    card = CardRenderer().render_one(invalid_code_finding())
    assert check_card_shape(card) == []
    assert card["source"]["topic"]["code"] == "invalid-code"
    assert card["selectionBehavior"] == "at-most-one"
    assert card["suggestions"][0]["actions"][0]["description"] == (
        "Replace M54.5 with M54.50 on this diagnosis")
    assert card["overrideReasons"][0]["code"]


def test_card_without_suggestions_omits_selection_behavior():
    finding = invalid_code_finding(replacements=[])
    finding.suggestions = []
    card = CardRenderer().render_one(finding)
    assert "suggestions" not in card
    assert "selectionBehavior" not in card


def test_summary_is_cut_under_140_characters():
    # CDS Hooks 2.0 §Card attributes: "<140 characters"
    card = CardRenderer().render_one(invalid_code_finding(code="M" * 200, reason="unknown"))
    assert len(card["summary"]) == 139
    assert card["summary"].endswith("…")


def test_unavailable_data_is_named_in_the_detail():
    card = CardRenderer().render_one(invalid_code_finding(), frozenset({"coverage"}))
    assert "Not available for this check: coverage" in card["detail"]


def test_missing_template_is_refused(cards_copy):
    (cards_copy / "invalid-code.toml").unlink()
    with pytest.raises(CardTemplateError, match="invalid-code.toml: card template missing"):
        CardRenderer(cards_copy)


@pytest.mark.parametrize(
    "replace, message",
    [
        (('indicator = "critical"', 'indicator = "urgent"'), "indicator must be one of"),
        (('selection_behavior = "at-most-one"', 'selection_behavior = "all"'),
         "selection_behavior"),
        (("{{ code }} is incomplete", "{{ code }"), "summary"),
        (('title = "', 'title = """'), "not valid TOML"),
    ],
)
def test_malformed_template_is_refused(cards_copy, replace, message):
    path = cards_copy / "invalid-code.toml"
    path.write_text(path.read_text().replace(*replace, 1))
    with pytest.raises(CardTemplateError, match=message):
        CardRenderer(cards_copy)


def test_unknown_wording_key_is_an_error():
    finding = invalid_code_finding()
    finding.suggestions[0].label = "no-such-label"
    with pytest.raises(CardTemplateError, match="no wording 'no-such-label'"):
        CardRenderer().render_one(finding)


# -- texts rendered once ------------------------------------------------------------------------

def _template(source: str):
    import jinja2

    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(source)


def test_a_text_is_rendered_once_for_the_same_template_and_parameters():
    from cds_service.cards import _RenderedTexts

    texts = _RenderedTexts()
    template = _template("Use {{ new }} instead of {{ old }}")
    first = texts.render(template, {"new": "M54.16", "old": "M54.50"})
    again = texts.render(template, {"old": "M54.50", "new": "M54.16"})  # key order is no matter
    assert first == "Use M54.16 instead of M54.50"
    assert again is first  # the same string object: not rendered again
    other = texts.render(template, {"new": "M54.17", "old": "M54.50"})
    assert other == "Use M54.17 instead of M54.50"
    assert texts.render(_template("Use {{ new }} instead of {{ old }}"),
                        {"new": "M54.16", "old": "M54.50"}) is not first  # another template


def test_a_set_and_a_list_of_the_same_words_are_different_parameters():
    from cds_service.cards import _RenderedTexts

    texts = _RenderedTexts()
    template = _template("{{ kinds | join(' and ') }} {{ kinds.__class__.__name__ }}")
    assert texts.render(template, {"kinds": ["displacement"]}) == "displacement list"
    assert texts.render(template, {"kinds": {"displacement"}}) == "displacement set"


def test_rendered_texts_are_forgotten_after_their_time_and_beyond_their_number():
    from cds_service.cards import _RenderedTexts

    template = _template("{{ n }}")
    expired = _RenderedTexts(seconds=0)
    first = expired.render(template, {"n": 1000})
    assert expired.render(template, {"n": 1000}) is not first
    bounded = _RenderedTexts(capacity=3)
    for n in range(10):
        bounded.render(template, {"n": n})
        assert len(bounded._texts) <= 3


def test_parameters_without_a_json_form_are_rendered_every_time():
    from cds_service.cards import _RenderedTexts

    texts = _RenderedTexts()
    template = _template("{{ thing }}")
    assert texts.render(template, {"thing": object}) == "<class 'object'>"
    assert texts._texts == {}
