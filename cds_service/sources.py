"""The catalog of public sources the rules rest on (``valuesets/sources.json``), and what each
rule says about itself: its sources (``SOURCES`` in its module), the knowledge files it reads
(``VALUESETS``), and the prose of its page (the ``[page]`` table of its ``cards/<rule>.toml``).

A source has an ``id`` (what rules and tests name), a ``cite`` (the short form product text
uses, e.g. "LCD L37254"), a title, a publisher, an edition, a date where one is known, and the
URL where anyone can read it. See docs/sources.md.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

from .card_templates import CardTemplateError
from .data_files import data_dir
from .terminology import TerminologyError

CATALOG_FILE = "sources.json"
_REQUIRED = ("id", "kind", "cite", "title", "publisher", "edition", "url")
PAGE_FIELDS = ("checks", "fires", "quiet")


class SourcesError(TerminologyError):
    """The catalog (a knowledge file of ``valuesets/``) or a rule's declaration of its sources is
    malformed; like any malformed knowledge file, it stops the service at start-up."""


@dataclass(frozen=True)
class Source:
    id: str
    kind: str
    cite: str
    title: str
    publisher: str
    edition: str
    url: str
    date: str | None = None
    section: str | None = None
    note: str | None = None

    def as_json(self) -> dict:
        data = {"id": self.id, "kind": self.kind, "cite": self.cite, "title": self.title,
                "publisher": self.publisher, "edition": self.edition, "url": self.url}
        for name in ("date", "section", "note"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        return data


def load_catalog(path: Path | None = None) -> dict[str, Source]:
    path = path or data_dir("valuesets") / CATALOG_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourcesError(f"{path.name}: not readable JSON ({exc})") from None
    entries = document.get("sources") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise SourcesError(f"{path.name}: 'sources' must be a non-empty list")
    catalog: dict[str, Source] = {}
    for index, entry in enumerate(entries):
        where = f"{path.name}: sources[{index}]"
        if not isinstance(entry, dict):
            raise SourcesError(f"{where}: not an object")
        for name in _REQUIRED:
            if not isinstance(entry.get(name), str) or not entry[name].strip():
                raise SourcesError(f"{where}: '{name}' is required")
        unknown = set(entry) - {*_REQUIRED, "date", "section", "note"}
        if unknown:
            raise SourcesError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        url = urlsplit(entry["url"])
        if url.scheme != "https" or not url.netloc:
            raise SourcesError(f"{where}: 'url' must be an https URL")
        if entry["id"] in catalog:
            raise SourcesError(f"{where}: duplicate id '{entry['id']}'")
        catalog[entry["id"]] = Source(**entry)
    return catalog


@cache
def catalog() -> dict[str, Source]:
    return load_catalog()


def rule_sources(rule: ModuleType) -> list[Source]:
    """The rule's ``SOURCES`` ids resolved in the catalog, in the rule's order."""
    known = catalog()
    ids = getattr(rule, "SOURCES", ())
    missing = [i for i in ids if i not in known]
    if missing:
        raise SourcesError(f"rule {rule.RULE_ID}: SOURCES not in the catalog: {', '.join(missing)}")
    return [known[i] for i in ids]


@cache
def rule_page_text(rule_id: str, directory: Path | None = None) -> dict[str, str]:
    """The ``[page]`` table of ``cards/<rule_id>.toml``: what the rule checks, when it fires, when
    it stays quiet (Markdown-free plain prose, one paragraph each)."""
    path = (directory or data_dir("cards")) / f"{rule_id}.toml"
    try:
        page = tomllib.loads(path.read_text(encoding="utf-8")).get("page")
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CardTemplateError(f"{path.name}: not readable ({exc})") from None
    if not isinstance(page, dict):
        raise CardTemplateError(f"{path.name}: a [page] table is required")
    for name in PAGE_FIELDS:
        if not isinstance(page.get(name), str) or not page[name].strip():
            raise CardTemplateError(f"{path.name}: page.{name} is required")
    return {name: " ".join(page[name].split()) for name in PAGE_FIELDS}
