"""Render rule findings as CDS Hooks cards, through the templates kept as data in ``cards/``.

Card shape: https://cds-hooks.hl7.org/2.0/#card-attributes . Optional fields are omitted rather
than sent null or empty, as the spec requires.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import jinja2
import orjson

from .card_templates import CardTemplate, compile_text, load_template, read_toml, wording
from .data_files import data_dir
from .facts.evidence import Evidence
from .rules._findings import Action, Finding, Suggestion
from .rules._registry import RULES
from .terminology import ICD10CM_RELEASE

# CDS Hooks 2.0 §Card attributes: summary "<140 characters", so 139 at most.
SUMMARY_LIMIT = 139
_BLANK_RUNS = re.compile(r"\n\s*\n(\s*\n)+")


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

    def render(self, template: jinja2.Template, params: dict[str, Any],
               squash: bool = False) -> str:
        """The text, on one line when ``squash`` (summaries, labels, action descriptions)."""
        try:
            key = (id(template), squash, orjson.dumps(params, default=_sorted_set,
                                                      option=orjson.OPT_SORT_KEYS))
        except (TypeError, orjson.JSONEncodeError):  # a value without a stable JSON form
            text = template.render(params)
            return _squash(text) if squash else text
        now = time.monotonic()
        if now - self._emptied_at > self.seconds or len(self._texts) >= self.capacity:
            # one dict swapped whole, never changed in place while read: threads at worst
            # render a text twice
            self._texts = {}
            self._emptied_at = now
        texts = self._texts
        text = texts.get(key)
        if text is None:
            text = template.render(params)
            text = texts[key] = _squash(text) if squash else text
        return text


def _sorted_set(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return {"set": sorted(value)}  # an object, so that no list gives the same key
    raise TypeError


class CardRenderer:
    def __init__(self, directory: Path | None = None):
        directory = directory or data_dir("cards")
        common = read_toml(directory / "_common.toml")
        self.source_label: str = common["source_label"]
        self.topic_system: str = common["topic_system"]
        self.override_system: str = common["override_reason_system"]
        self.unavailable = compile_text(common["unavailable"], "_common.toml: unavailable")
        self.why = compile_text(common["why"], "_common.toml: why")
        self.set_aside_words: dict[str, str] = dict(common.get("set_aside_words", {}))
        self.templates = {rule.id: load_template(directory, rule.id) for rule in RULES}
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
        summary = self._texts.render(template.summary, params, squash=True)
        if len(summary) > SUMMARY_LIMIT:
            summary = summary[: SUMMARY_LIMIT - 1].rstrip() + "…"
        detail = _BLANK_RUNS.sub("\n\n", self._texts.render(template.detail, params)).strip()
        if finding.evidence:
            # rendered for this response only, never cached: it quotes the patient's notes
            detail += "\n\n" + _BLANK_RUNS.sub("\n\n", self.why.render(
                **why_section(finding.evidence), set_aside_words=self.set_aside_words)).strip()
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
            "label": self._texts.render(
                wording(template.labels, suggestion.label, template), suggestion.params,
                squash=True),
            "uuid": str(uuid.uuid4()),
            "actions": [self._action(template, a, suggestion.params) for a in suggestion.actions],
        }
        if suggestion.is_recommended:
            rendered["isRecommended"] = True
        return rendered

    def _action(self, template: CardTemplate, action: Action, params: dict) -> dict:
        rendered: dict[str, Any] = {
            "type": action.type,
            "description": self._texts.render(
                wording(template.actions, action.description, template), params, squash=True),
        }
        if action.resource is not None:
            rendered["resource"] = action.resource
        if action.resource_id is not None:
            # CDS Hooks 2.0 §Action: one relative reference (a string), one resource per action
            rendered["resourceId"] = action.resource_id
        return rendered


# At most this many items of evidence in a card's "Why" (quotes, codes, mentions set aside):
# enough to check the finding at a glance; programs get every item (Finding.evidence).
WHY_QUOTED = 3
WHY_CODED = 3
WHY_SET_ASIDE = 2
# A quote longer than this is trimmed to a window of its sentence around the matched words.
QUOTE_CHARS = 160
_SPACES = re.compile(r"\s+")
_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|])")


def why_section(evidence: list[Evidence]) -> dict[str, Any]:
    """The parameters of the "Why" template: quotes (trimmed, matched words marked), coded
    elements, mentions set aside, elements found empty, each bounded."""
    quoted, coded, set_aside = [], [], []
    empty: dict[str, list[str]] = {}
    seen_quotes: set[tuple] = set()
    for item in evidence:
        where = " ".join(p for p in (item.reference, item.element) if p)
        if item.kind == "absent":
            elements = empty.setdefault(item.reference or "", [])
            if item.element not in elements:
                elements.append(item.element)
            continue
        if item.kind == "code":
            if len(coded) < WHY_CODED and all(c["where"] != where or c["code"] != item.code
                                              for c in coded):
                coded.append({"where": where, "code": item.code, "date": item.date})
            continue
        place = (item.reference, item.element, item.sentence_start)
        bucket, limit = (quoted, WHY_QUOTED) if item.counted else (set_aside, WHY_SET_ASIDE)
        if len(bucket) >= limit or (item.counted, *place) in seen_quotes:
            continue
        text = quote(item)
        if text:
            seen_quotes.add((item.counted, *place))
            bucket.append({"quote": text, "where": where, "by": item.set_aside_by})
    return {"quoted": quoted, "coded": coded, "set_aside": set_aside,
            "empty": sorted(empty.items())}


def quote(item: Evidence) -> str | None:
    """The sentence a mention is in, trimmed to a window around the matched words (and the
    words that set it aside) when long, the matched words in bold, markdown escaped."""
    text = item.text
    if not text or item.start is None or item.end is None:
        return None
    first = item.sentence_start if item.sentence_start is not None else item.start
    last = item.sentence_end if item.sentence_end is not None else item.end
    low, high = item.start, item.end
    if item.trigger_start is not None and item.trigger_end is not None and (
            first <= item.trigger_start and item.trigger_end <= last):
        low, high = min(low, item.trigger_start), max(high, item.trigger_end)
    while first < low and text[first].isspace():
        first += 1
    while last > high and text[last - 1].isspace():
        last -= 1
    start, end = first, last
    if end - start > QUOTE_CHARS:
        room = max(0, QUOTE_CHARS - (high - low)) // 2
        start, end = max(first, low - room), min(last, high + room)
        if start > first:  # begin at a word
            space = text.find(" ", start, low)
            start = space + 1 if space >= 0 else start
        if end < last:  # end at a word
            space = text.rfind(" ", high, end)
            end = space if space >= 0 else end
    marked = (_plain(text[start:item.start]) + "**" + _plain(text[item.start:item.end]) + "**"
              + _plain(text[item.end:end]))
    return ("…" if start > first else "") + marked.strip() + ("…" if end < last else "")


def _plain(words: str) -> str:
    """Words of a note in markdown: whitespace runs as one space, markdown characters escaped
    (a note's "*" or "_" must not turn the rest of the card bold)."""
    return _MARKDOWN.sub(r"\\\1", _SPACES.sub(" ", words))


def _squash(text: str) -> str:
    return " ".join(text.split())
