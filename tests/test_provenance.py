"""Provenance: every citation in product text is a public source of the catalog
(valuesets/sources.json), every rule names its sources and the knowledge it reads, and no
product text points at things its users cannot look up (files outside the repository, private
verification tags, issue numbers).

The scan is line by line and each failure names file:line, so a failure says what to fix."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from cds_service import create_app
from cds_service.card_templates import CardTemplateError
from cds_service.http.rule_pages import knowledge_files
from cds_service.rules._registry import RULES
from cds_service.settings import Settings
from cds_service.sources import (
    SourcesError,
    catalog,
    load_catalog,
    rule_page_text,
    rule_sources,
)
from cds_service.terminology import TerminologyError

ROOT = Path(__file__).resolve().parent.parent
# Product text: what ships or what a user reads. tests/ is the team's own and may say anything.
PRODUCT = ("cards", "valuesets", "cds_service", "docs", "benchmarks", "scripts", "README.md")
TEXT_SUFFIXES = {".py", ".toml", ".json", ".md", ".html", ".js", ".css", ".txt", ".sh", ""}

PRIVATE = [
    (re.compile(r"\.\./shared\b|shared/domain|/work/"), "a file outside the repository"),
    (re.compile(r"coding-facts", re.I), "the team's private fact sheet"),
    (re.compile(r"\[(?:V|S|U)(?:\]|[,;] )"), "a private verification tag ([V]/[S]/[U])"),
    (re.compile(r"\b[Ii]ssues? #?\d+\b|\(#\d+\)"), "an issue number"),
    (re.compile(r"source article", re.I), "'the source article' (not a public source)"),
    # the private fact sheet's section numbers (§0-§8, "section 1b", "row 3", "trigger 5")
    (re.compile(r"§\s?[0-8][a-e]?(?![\d.])|\bsection [0-8][a-e]?\b(?![.\d])"
                r"|\b(?:row|trigger) \d+\b"), "a section of the private fact sheet"),
]

LCD_OR_ARTICLE = re.compile(r"\b([LA])(\d{5})\b")
GUIDELINE = re.compile(r"\b((?:I|II|III|IV)\.[A-H](?:\.\d+)?(?:\.[a-z])?(?:\.\d+)?)(?![\w])")
MANUAL = re.compile(r"Ch\. ?(\d+),? §\s?(\d+(?:\.\d+)*)")


def product_files() -> list[Path]:
    files = []
    for name in PRODUCT:
        path = ROOT / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(p for p in sorted(path.rglob("*"))
                         if p.is_file() and p.suffix in TEXT_SUFFIXES
                         and "__pycache__" not in p.parts and "_data" not in p.parts)
    return files


def lines_of(path: Path):
    name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    for number, line in enumerate(path.read_text("utf-8", errors="replace").splitlines(), 1):
        yield f"{name}:{number}", line


# -- citations: which catalog entries a text names, and which citation-like tokens it has that
#    the catalog does not hold


def cited(text: str) -> tuple[set[str], list[str]]:
    """(ids of the catalog entries ``text`` cites, citation tokens no catalog entry holds)."""
    sources = catalog().values()
    found = {s.id for s in sources if s.cite in text}
    unknown = []
    for letter, number in LCD_OR_ARTICLE.findall(text):
        token = f"{letter}{number}"
        ids = {s.id for s in sources if re.search(rf"\b{token}\b", s.cite)}
        found |= ids
        if not ids:
            unknown.append(token)
    for section in GUIDELINE.findall(text):
        ids = {s.id for s in sources if s.kind == "coding-guideline" and s.section
               and (section == s.section or section.startswith(s.section + "."))}
        found |= ids
        if not ids:
            unknown.append(f"Official Guidelines {section}")
    for chapter, section in MANUAL.findall(text):
        ids = {s.id for s in sources if s.kind == "cms-manual" and s.section
               and (m := MANUAL.search(s.section)) and m.group(1) == chapter
               and (section == m.group(2) or section.startswith(m.group(2) + "."))}
        found |= ids
        if not ids:
            unknown.append(f"Ch. {chapter} §{section}")
    return found, unknown


def test_the_catalog_loads_and_every_entry_is_complete():
    sources = load_catalog()
    assert len(sources) == len(catalog())
    for source in sources.values():
        assert source.url.startswith("https://"), source.id
        assert "example.org" not in source.url, source.id
    editions = {s.id for s in sources.values() if s.kind == "code-set"}
    assert {"cdc-icd10cm-fy2021", "cdc-icd10cm-fy2025-april", "cdc-icd10cm-fy2026-april",
            "cdc-icd10cm-fy2027"} <= editions
    cites = [s.cite for s in sources.values()]
    assert len(cites) == len(set(cites)), "two sources share a cite text"


@pytest.mark.parametrize("broken, message", [
    ({"sources": []}, "non-empty"),
    ({"sources": [{"id": "x"}]}, "'kind' is required"),
    ({"sources": [{"id": "x", "kind": "k", "cite": "c", "title": "t", "publisher": "p",
                   "edition": "e", "url": "http://insecure.test/"}]}, "https URL"),
    ({"sources": [{"id": "x", "kind": "k", "cite": "c", "title": "t", "publisher": "p",
                   "edition": "e", "url": "https://a.test/", "tag": "[V]"}]}, "unknown field"),
])
def test_a_malformed_catalog_is_refused_naming_the_problem(tmp_path, broken, message):
    path = tmp_path / "sources.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(SourcesError, match=re.escape(message)):
        load_catalog(path)


def test_a_duplicate_source_id_is_refused(tmp_path):
    entry = {"id": "x", "kind": "k", "cite": "c", "title": "t", "publisher": "p", "edition": "e",
             "url": "https://a.test/"}
    path = tmp_path / "sources.json"
    path.write_text(json.dumps({"sources": [entry, entry]}))
    with pytest.raises(SourcesError, match="duplicate id 'x'"):
        load_catalog(path)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_rule_names_sources_that_are_in_the_catalog(rule):
    ids = getattr(rule.module, "SOURCES", None)
    assert ids, f"{rule.module.__name__} has no SOURCES"
    missing = [i for i in ids if i not in catalog()]
    assert not missing, f"{rule.module.__name__}: SOURCES not in valuesets/sources.json: {missing}"
    assert [s.id for s in rule_sources(rule.module)] == list(ids)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_rule_declares_the_knowledge_it_reads(rule):
    declared = getattr(rule.module, "VALUESETS", None)
    assert declared, f"{rule.module.__name__} has no VALUESETS"
    names = {f.name for f in knowledge_files().values()}
    unknown = [n for n in declared if n not in names]
    assert not unknown, f"{rule.module.__name__}: VALUESETS names no knowledge file: {unknown}"
    # every knowledge-file name the module holds as a constant is declared
    constants = {value for key, value in vars(rule.module).items()
                 if key.isupper() and isinstance(value, str) and value in names}
    assert constants <= set(declared), (
        f"{rule.module.__name__}: reads {sorted(constants - set(declared))} "
        "but does not declare them in VALUESETS")


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_card_source_line_cites_the_rules_own_sources(rule):
    path = ROOT / "cards" / f"{rule.id}.toml"
    lines = [(where, line) for where, line in lines_of(path) if line.startswith("Source:")]
    assert len(lines) == 1, f"{path.name}: one 'Source:' line in the detail, not {len(lines)}"
    where, line = lines[0]
    found, unknown = cited(line)
    assert not unknown, f"{where}: cites {unknown}, which valuesets/sources.json does not hold"
    assert found, f"{where}: cites no source of the catalog"
    foreign = found - set(rule.module.SOURCES)
    assert not foreign, f"{where}: cites {sorted(foreign)}, not among the rule's SOURCES"
    page = rule_page_text(rule.id)
    assert all(page[key] for key in ("checks", "fires", "quiet"))


def test_every_knowledge_file_description_names_its_sources():
    problems = []
    for resource in knowledge_files().values():
        description = json.loads(resource.body)["description"]
        found, unknown = cited(description)
        if unknown:
            problems.append(f"{resource.id}: cites {unknown}, not in the catalog")
        if "Sources:" not in description or not found:
            problems.append(f"{resource.id}: description has no 'Sources:' naming the catalog")
    assert not problems, "\n".join(problems)


def test_every_citation_in_product_text_is_in_the_catalog():
    problems = []
    for path in product_files():
        if path.name == "sources.json":
            continue
        for where, line in lines_of(path):
            _, unknown = cited(line)
            problems.extend(f"{where}: {token}" for token in unknown)
    assert not problems, ("citations that valuesets/sources.json does not hold:\n"
                          + "\n".join(problems))


def private_references(paths: list[Path]) -> list[str]:
    problems = []
    for path in paths:
        for where, line in lines_of(path):
            for pattern, what in PRIVATE:
                match = pattern.search(line)
                if match:
                    problems.append(f"{where}: {what}: {match.group(0)!r}")
    return problems


@pytest.mark.parametrize("area", [a for a in PRODUCT if a != "README.md"])
def test_product_text_cites_nothing_a_user_cannot_look_up(area):
    problems = private_references([p for p in product_files()
                                   if p.relative_to(ROOT).parts[0] == area])
    assert not problems, "private references in product text:\n" + "\n".join(problems)


def test_the_readme_cites_nothing_a_user_cannot_look_up():
    problems = private_references([ROOT / "README.md"])
    assert not problems, "private references in README.md:\n" + "\n".join(problems)


def test_the_scan_finds_what_it_must(tmp_path):
    """The patterns catch each kind of private reference (and pass public citations)."""
    sample = tmp_path / "sample.md"
    sample.write_text("see ../shared/domain/x\ncoding-facts.md\n[V] checked\nas issue 3 says\n"
                      "the source article\n§0 row 7\nLCD L37254; Pub 100-04 Ch. 5 §20.1\n")
    found = private_references([sample])
    assert [line.split(":")[1] for line in found] == ["1", "2", "3", "4", "5", "6"]
    assert cited("LCD L99999 and Official Guidelines I.C.99.z and Ch. 5 §30.1")[1] == [
        "L99999", "Official Guidelines I.C.99.z", "Ch. 5 §30.1"]
    assert cited("LCD L37254, I.C.19.a, Pub 100-02 Ch. 15 §240.1.3")[1] == []


def test_a_rule_page_without_its_page_table_is_refused(tmp_path):
    (tmp_path / "x-rule.toml").write_text('title = "X"\n[page]\nchecks = "a"\nfires = "b"\n')
    with pytest.raises(CardTemplateError, match=r"x-rule.toml: page.quiet is required"):
        rule_page_text("x-rule", tmp_path)


@pytest.mark.parametrize("constant, value, message", [
    ("SOURCES", ("no-such-source",), "SOURCES not in the catalog: no-such-source"),
    ("VALUESETS", ("NoSuchValueSet",), "VALUESETS names no knowledge file"),
])
def test_a_rule_naming_an_unknown_source_or_valueset_stops_the_service(monkeypatch, constant,
                                                                        value, message):
    monkeypatch.setattr(RULES[0].module, constant, value)
    settings = dataclasses.replace(Settings.load(), auth_disabled=True)
    with pytest.raises(TerminologyError, match=message):
        create_app(settings)
