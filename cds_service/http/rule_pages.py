"""A page behind every card: ``GET /rules``, ``GET /rules/{rule-id}`` and ``GET /valuesets/{id}``.

A card's ``source.url`` is the absolute URL of its rule's page. The page says what the rule
checks, when it fires and when it stays quiet (the ``[page]`` table of ``cards/<rule>.toml``),
the knowledge files it reads (its module's ``VALUESETS``, each served as FHIR JSON at
``/valuesets/{id}``), its public sources (its module's ``SOURCES``, from
``valuesets/sources.json``) and its override reasons (``cards/<rule>.toml``). HTML for a
browser; JSON when the client asks for ``application/json``. The pages hold no patient data and
are open, like ``/analytics``.

Absolute URLs start at ``CDS_PUBLIC_BASE_URL`` when it is set, else at the request's own scheme
and host.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from flask import Blueprint, Response, current_app, request

from ..data_files import data_dir
from ..errors import CdsError
from ..hooks import SERVICES
from ..rules._registry import RULES, Rule
from ..sources import CATALOG_FILE, SourcesError, rule_page_text, rule_sources
from .errors import json_response

STATIC = Path(__file__).resolve().parent / "rule_pages_static"

bp = Blueprint("rule_pages", __name__, static_folder=str(STATIC),
               static_url_path="/rules/static")

_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
    "Vary": "Accept",
}
_FHIR_JSON = "application/fhir+json"

_templates = jinja2.Environment(loader=jinja2.FileSystemLoader(str(STATIC)), autoescape=True,
                                undefined=jinja2.StrictUndefined, trim_blocks=True,
                                lstrip_blocks=True)


def public_base() -> str:
    """Where this service is reached from outside: CDS_PUBLIC_BASE_URL, else the request's
    scheme and host; no trailing slash."""
    configured = current_app.extensions["cds"].settings.public_base_url
    return (configured or request.host_url).rstrip("/")


def rule_pages_base() -> str:
    """The absolute URL under which ``/{rule-id}`` is a rule's page (a card's ``source.url``)."""
    return f"{public_base()}/rules"


@dataclass(frozen=True)
class KnowledgeFile:
    id: str
    name: str
    resource_type: str
    title: str
    canonical: str
    body: bytes


@cache
def knowledge_files() -> dict[str, KnowledgeFile]:
    """Every FHIR resource in ``valuesets/`` (ValueSet, ConceptMap, CodeSystem), by its id."""
    files: dict[str, KnowledgeFile] = {}
    for path in sorted(data_dir("valuesets").glob("*.json")):
        if path.name == CATALOG_FILE:
            continue
        body = path.read_bytes()
        resource = json.loads(body)
        files[resource["id"]] = KnowledgeFile(
            resource["id"], resource["name"], resource["resourceType"],
            resource.get("title") or resource["name"], resource["url"], body)
    return files


def _by_name() -> dict[str, KnowledgeFile]:
    return {f.name: f for f in knowledge_files().values()}


def rule_valuesets(rule: Rule) -> list[KnowledgeFile]:
    """The rule's ``VALUESETS`` (names, as rules look them up), as the files that hold them."""
    named = _by_name()
    missing = [n for n in getattr(rule.module, "VALUESETS", ()) if n not in named]
    if missing:
        raise SourcesError(f"rule {rule.id}: VALUESETS names no knowledge file: {missing}")
    return [named[n] for n in getattr(rule.module, "VALUESETS", ())]


@bp.record_once
def _check_every_rule_page(_state) -> None:
    """A rule whose sources, knowledge files or page text cannot be had stops the service at
    start-up (``cds-service serve`` names the file), as a malformed card template does, rather
    than its page answering 500."""
    for rule in RULES:
        rule_sources(rule.module)
        rule_valuesets(rule)
        rule_page_text(rule.id)


def _rule(rule_id: str) -> Rule:
    for rule in RULES:
        if rule.id == rule_id:
            return rule
    raise CdsError(404, "No rule with this id; GET /rules lists the rules.")


def rule_page(rule: Rule, base: str) -> dict[str, Any]:
    """Everything the page of ``rule`` shows, as JSON-ready data with absolute links."""
    renderer = current_app.extensions["cds"].pipeline.renderer
    template = renderer.templates[rule.id]
    return {
        "id": rule.id,
        "title": template.title,
        "url": f"{base}/rules/{rule.id}",
        "indicator": template.indicator,
        "hooks": sorted(rule.hooks),
        "services": sorted(s.id for s in SERVICES.values() if s.hook in rule.hooks),
        **rule_page_text(rule.id),
        "valueSets": [
            {"id": f.id, "name": f.name, "resourceType": f.resource_type, "title": f.title,
             "canonical": f.canonical, "url": f"{base}/valuesets/{f.id}"}
            for f in rule_valuesets(rule)
        ],
        "sources": [source.as_json() for source in rule_sources(rule.module)],
        "overrideReasons": [
            {"system": renderer.override_system, "code": r["code"], "display": r["display"]}
            for r in template.override_reasons
        ],
    }


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _html(template: str, **context: Any) -> Response:
    body = _templates.get_template(template).render(**context)
    return Response(body, status=200, mimetype="text/html", headers=_PAGE_HEADERS)


def _json(payload: dict) -> Response:
    response = json_response(payload)
    response.headers["Vary"] = "Accept"
    return response


@bp.get("/rules")
def rules_index() -> Response:
    base = public_base()
    rules = [rule_page(rule, base) for rule in RULES]
    if _wants_json():
        return _json({"rules": [
            {key: page[key] for key in ("id", "title", "url", "indicator", "hooks", "checks")}
            for page in rules
        ]})
    return _html("rules.html", rules=rules)


@bp.get("/rules/<rule_id>")
def rule_detail(rule_id: str) -> Response:
    page = rule_page(_rule(rule_id), public_base())
    if _wants_json():
        return _json(page)
    return _html("rule.html", rule=page)


@bp.get("/valuesets/<valueset_id>")
def valueset(valueset_id: str) -> Response:
    found = knowledge_files().get(valueset_id)
    if found is None:
        raise CdsError(404, "No ValueSet, ConceptMap or CodeSystem with this id; each rule page "
                            "lists the ones its rule reads.")
    return Response(found.body, status=200, mimetype=_FHIR_JSON,
                    headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})
