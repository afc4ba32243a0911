"""Render rule findings as CDS Hooks cards, through the templates kept as data in ``cards/``.

Card shape: https://cds-hooks.hl7.org/2.0/#card-attributes . Optional fields are omitted rather
than sent null or empty, as the spec requires.
"""

from __future__ import annotations

import re
import time
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import orjson

from .data_files import data_dir
from .rules import RULES, Action, Finding, Suggestion
from .terminology import ICD10CM_RELEASE

# CDS Hooks 2.0 §Card attributes: summary "<140 characters", so 139 at most.
SUMMARY_LIMIT = 139
_BLANK_RUNS = re.compile(r"\n\s*\n(\s*\n)+")
_INDICATORS = frozenset({"info", "warning", "critical"})
_SELECTION = frozenset({"at-most-one", "any"})


class CardTemplateError(Exception):
    """A card template is missing or malformed; the service must not start with it."""


_env = jinja2.Environment(
    undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
    keep_trailing_newline=False,
)


class _RenderedTexts:
    """Texts already rendered, by template and parameters: the same finding comes back on every
    call about the same visit, and a Jinja2 render costs far more than a lookup. Bounded in
    size and emptied every few minutes (the texts hold codes and dates, never a patient's name
    or note, but nothing read from a request should linger)."""

    def __init__(self, capacity: int = 4096, seconds: float = 300):
        self.capacity = capacity
        self.seconds = seconds
        self._texts: dict[tuple[int, bytes], str] = {}
        self._emptied_at = time.monotonic()

    def render(self, template: jinja2.Template, params: dict[str, Any]) -> str:
        try:
            key = (id(template), orjson.dumps(params, default=_sorted_set,
                                              option=orjson.OPT_SORT_KEYS))
        except (TypeError, orjson.JSONEncodeError):  # a value without a stable JSON form
            return template.render(params)
        now = time.monotonic()
        if now - self._emptied_at > self.seconds or len(self._texts) >= self.capacity:
            # one dict swapped whole, never changed in place while read: threads at worst
            # render a text twice
            self._texts = {}
            self._emptied_at = now
        texts = self._texts
        text = texts.get(key)
        if text is None:
            text = texts[key] = template.render(params)
        return text


def _sorted_set(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return {"set": sorted(value)}  # an object, so that no list gives the same key
    raise TypeError


@dataclass
class CardTemplate:
    rule_id: str
    title: str
    indicator: str
    selection_behavior: str
    summary: jinja2.Template
    detail: jinja2.Template
    labels: dict[str, jinja2.Template]
    actions: dict[str, jinja2.Template]
    override_reasons: list[dict]
    link: dict | None


class CardRenderer:
    def __init__(self, directory: Path | None = None):
        directory = directory or data_dir("cards")
        common = _read_toml(directory / "_common.toml")
        self.source_label: str = common["source_label"]
        self.topic_system: str = common["topic_system"]
        self.override_system: str = common["override_reason_system"]
        self.unavailable = _compile(common["unavailable"], "_common.toml: unavailable")
        self.templates = {rule.id: _load_template(directory, rule.id) for rule in RULES}
        self._texts = _RenderedTexts()

    def render(self, findings: list[Finding], unavailable: frozenset[str] = frozenset(),
               rule_pages: str | None = None) -> list[dict]:
        return [self.render_one(finding, unavailable, rule_pages) for finding in findings]

    def render_one(self, finding: Finding, unavailable: frozenset[str] = frozenset(),
                   rule_pages: str | None = None) -> dict:
        """``rule_pages``: the absolute URL under which each rule has its page
        (``<rule_pages>/<rule-id>``, the card's ``source.url``); without one, no ``source.url``."""
        template = self.templates[finding.rule_id]
        params = {"release": ICD10CM_RELEASE, **finding.params}
        summary = _squash(self._texts.render(template.summary, params))
        if len(summary) > SUMMARY_LIMIT:
            summary = summary[: SUMMARY_LIMIT - 1].rstrip() + "…"
        detail = _BLANK_RUNS.sub("\n\n", self._texts.render(template.detail, params)).strip()
        if unavailable:
            detail += self.unavailable.render(keys=sorted(unavailable))
        source: dict[str, Any] = {
            "label": self.source_label,
            "topic": {"system": self.topic_system, "code": finding.rule_id,
                      "display": template.title},
        }
        if rule_pages:
            source["url"] = f"{rule_pages}/{finding.rule_id}"
        card: dict[str, Any] = {
            "uuid": str(uuid.uuid4()),
            "summary": summary,
            "detail": detail,
            "indicator": finding.indicator or template.indicator,
            "source": source,
        }
        suggestions = [self._suggestion(template, s) for s in finding.suggestions]
        if suggestions:
            card["suggestions"] = suggestions
            card["selectionBehavior"] = template.selection_behavior
        if template.override_reasons:
            card["overrideReasons"] = [
                {"system": self.override_system, "code": r["code"], "display": r["display"]}
                for r in template.override_reasons
            ]
        if template.link:
            card["links"] = [dict(template.link, type="absolute")]
        return card

    def _suggestion(self, template: CardTemplate, suggestion: Suggestion) -> dict:
        rendered: dict[str, Any] = {
            "label": _squash(self._texts.render(
                _lookup(template.labels, suggestion.label, template), suggestion.params)),
            "uuid": str(uuid.uuid4()),
            "actions": [self._action(template, a, suggestion.params) for a in suggestion.actions],
        }
        if suggestion.is_recommended:
            rendered["isRecommended"] = True
        return rendered

    def _action(self, template: CardTemplate, action: Action, params: dict) -> dict:
        rendered: dict[str, Any] = {
            "type": action.type,
            "description": _squash(self._texts.render(
                _lookup(template.actions, action.description, template), params)),
        }
        if action.resource is not None:
            rendered["resource"] = action.resource
        if action.resource_id is not None:
            # CDS Hooks 2.0 §Action: one relative reference (a string), one resource per action
            rendered["resourceId"] = action.resource_id
        return rendered


def _lookup(table: dict[str, jinja2.Template], key: str, template: CardTemplate):
    try:
        return table[key]
    except KeyError:
        raise CardTemplateError(f"cards/{template.rule_id}.toml has no wording '{key}'") from None


def _squash(text: str) -> str:
    return " ".join(text.split())


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CardTemplateError(f"{path.name}: card template missing") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CardTemplateError(f"{path.name}: not valid TOML ({exc})") from None


def _compile(source: str, where: str) -> jinja2.Template:
    try:
        return _env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise CardTemplateError(f"{where}: {exc}") from None


def _load_template(directory: Path, rule_id: str) -> CardTemplate:
    name = f"{rule_id}.toml"
    data = _read_toml(directory / name)
    for required in ("title", "indicator", "summary", "detail"):
        if not isinstance(data.get(required), str) or not data[required].strip():
            raise CardTemplateError(f"{name}: '{required}' is required")
    if data["indicator"] not in _INDICATORS:
        raise CardTemplateError(f"{name}: indicator must be one of {sorted(_INDICATORS)}")
    selection = data.get("selection_behavior", "at-most-one")
    if selection not in _SELECTION:
        raise CardTemplateError(f"{name}: selection_behavior must be one of {sorted(_SELECTION)}")
    reasons = data.get("override_reasons", [])
    if not all(isinstance(r, dict) and r.get("code") and r.get("display") for r in reasons):
        raise CardTemplateError(f"{name}: each override_reasons entry needs code and display")
    link = data.get("link")
    if link is not None and not (isinstance(link, dict) and link.get("label") and link.get("url")):
        raise CardTemplateError(f"{name}: link needs label and url")
    return CardTemplate(
        rule_id=rule_id,
        title=data["title"],
        indicator=data["indicator"],
        selection_behavior=selection,
        summary=_compile(data["summary"], f"{name}: summary"),
        detail=_compile(data["detail"], f"{name}: detail"),
        labels={k: _compile(v, f"{name}: labels.{k}") for k, v in data.get("labels", {}).items()},
        actions={k: _compile(v, f"{name}: actions.{k}")
                 for k, v in data.get("actions", {}).items()},
        override_reasons=reasons,
        link=link,
    )
