"""Card templates: the wording of each rule's card, kept as data in ``cards/<rule-id>.toml``
(TOML with Jinja2 texts), read and checked once at start-up."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import jinja2

from .errors import ServiceError

_INDICATORS = frozenset({"info", "warning", "critical"})
_SELECTION = frozenset({"at-most-one", "any"})


class CardTemplateError(ServiceError):
    """A card template is missing or malformed; the service must not start with it."""


_env = jinja2.Environment(
    undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
    keep_trailing_newline=False,
)


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


def wording(table: dict[str, jinja2.Template], key: str, template: CardTemplate):
    try:
        return table[key]
    except KeyError:
        raise CardTemplateError(f"cards/{template.rule_id}.toml has no wording '{key}'") from None


def read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CardTemplateError(f"{path.name}: card template missing") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CardTemplateError(f"{path.name}: not valid TOML ({exc})") from None


def compile_text(source: str, where: str) -> jinja2.Template:
    try:
        return _env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise CardTemplateError(f"{where}: {exc}") from None


def load_template(directory: Path, rule_id: str) -> CardTemplate:
    name = f"{rule_id}.toml"
    data = read_toml(directory / name)
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
        summary=compile_text(data["summary"], f"{name}: summary"),
        detail=compile_text(data["detail"], f"{name}: detail"),
        labels={k: compile_text(v, f"{name}: labels.{k}")
                for k, v in data.get("labels", {}).items()},
        actions={k: compile_text(v, f"{name}: actions.{k}")
                 for k, v in data.get("actions", {}).items()},
        override_reasons=reasons,
        link=link,
    )
