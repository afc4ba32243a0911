"""FHIR ValueSets, ConceptMaps and CodeSystems kept as data in ``valuesets/``.

Every file is parsed with the fhir.resources R4B model of its resourceType at start-up; a
malformed one stops the service with the file and the field named. Membership tests are
precomputed into sets and prefixes so that a rule's lookup is O(1) in the size of the set.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from ..data_files import read_json_object
from ..errors import ServiceError
from .icd10cm import ICD10CM_SYSTEM, BillablePeriod, normalize

CANONICAL_BASE = "https://lbp-coding.example.org/fhir"
SOPT_SYSTEM = "https://nahdo.org/sopt"
# The same code system under its OID, as HL7 Terminology (CodeSystem SOPT, identifier) lists it
# and as EHRs built on PHIN VADS send it.
SOPT_SYSTEMS = frozenset({SOPT_SYSTEM, "urn:oid:2.16.840.1.113883.3.221.5"})
# Systems whose codes are hierarchical by prefix, so that "is-a X" means "starts with X".
_PREFIX_HIERARCHIES = frozenset({ICD10CM_SYSTEM, SOPT_SYSTEM})
_HISTORY_URL = f"{CANONICAL_BASE}/CodeSystem/icd10cm-billable-periods"
# Beside the terminology but not terminology: the catalog of public sources (cds_service/sources.py)
SOURCES_CATALOG = "sources.json"


_MEMO_LIMIT = 50_000  # membership answers kept per ValueSet (a few MiB at most)
_PUBLICATION_STATUS = frozenset({"draft", "active", "retired", "unknown"})


class TerminologyError(ServiceError):
    """A knowledge file is malformed; the service must not start with it."""


@dataclass
class ValueSetIndex:
    url: str
    name: str
    codes: dict[str, frozenset[str]] = field(default_factory=dict)
    prefixes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # FHIR filter op "regex" on property "code" (e.g. CPT 97xxx), matched against the whole code
    patterns: dict[str, tuple[re.Pattern[str], ...]] = field(default_factory=dict)
    excluded: dict[str, frozenset[str]] = field(default_factory=dict)
    included_sets: tuple[ValueSetIndex, ...] = ()
    excluded_sets: tuple[ValueSetIndex, ...] = ()
    # (system, code) -> member? Prefix and regex filters make a first lookup a scan; the answer
    # never changes, so later lookups are O(1). Bounded: codes a client sends are unbounded.
    _memo: dict[tuple[str, str], bool] = field(default_factory=dict, repr=False, compare=False)

    def contains(self, system: str | None, code: str | None) -> bool:
        if not system or not code:
            return False
        key = (system, code)
        member = self._memo.get(key)
        if member is None:
            member = self._contains(system, code)
            if len(self._memo) < _MEMO_LIMIT:
                self._memo[key] = member
        return member

    def _contains(self, system: str, code: str) -> bool:
        if system == ICD10CM_SYSTEM:
            code = normalize(code)
        if code in self.excluded.get(system, ()) or any(
            vs.contains(system, code) for vs in self.excluded_sets
        ):
            return False
        if code in self.codes.get(system, ()):
            return True
        if any(code.startswith(prefix) for prefix in self.prefixes.get(system, ())):
            return True
        if any(pattern.fullmatch(code) for pattern in self.patterns.get(system, ())):
            return True
        return any(vs.contains(system, code) for vs in self.included_sets)


@dataclass(frozen=True)
class MapTarget:
    system: str
    code: str
    display: str | None
    equivalence: str


class ValueSetStore:
    """All ValueSets, ConceptMaps and CodeSystems, looked up by canonical URL or by name."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.valuesets: dict[str, ValueSetIndex] = {}
        self.concept_maps: dict[str, dict[tuple[str, str], list[MapTarget]]] = {}
        self.concept_map_sources: dict[str, dict] = {}
        # (system, code) -> the display a ConceptMap gives its source concept
        self.source_displays: dict[tuple[str, str], str] = {}
        self.billable_periods: dict[str, list[BillablePeriod]] = {}
        # CodeSystems (and supplements) by URL: their concepts by code, with properties
        self.code_systems: dict[str, dict[str, dict]] = {}
        self._aliases: dict[str, str] = {}
        self._load()

    # -- lookups -------------------------------------------------------------------------
    def valueset(self, name_or_url: str) -> ValueSetIndex:
        return self.valuesets[self._aliases.get(name_or_url, name_or_url)]

    def in_valueset(self, name_or_url: str, system: str | None, code: str | None) -> bool:
        return self.valueset(name_or_url).contains(system, code)

    def translate(self, name_or_url: str, system: str, code: str) -> list[MapTarget]:
        url = self._aliases.get(name_or_url, name_or_url)
        if system == ICD10CM_SYSTEM:
            code = normalize(code)
        return self.concept_maps[url].get((system, code), [])

    def concept(self, name_or_url: str, code: str) -> dict | None:
        """A CodeSystem's (or supplement's) concept, with its display and properties."""
        url = self._aliases.get(name_or_url, name_or_url)
        return self.code_systems[url].get(code)

    def concepts(self, name_or_url: str) -> dict[str, dict]:
        return self.code_systems[self._aliases.get(name_or_url, name_or_url)]

    def concept_map(self, name_or_url: str) -> dict[tuple[str, str], list[MapTarget]]:
        return self.concept_maps[self._aliases.get(name_or_url, name_or_url)]

    # -- loading -------------------------------------------------------------------------
    def _load(self) -> None:
        files = sorted(p for p in self.directory.glob("*.json") if p.name != SOURCES_CATALOG)
        if not files:
            raise TerminologyError(f"{self.directory}: no ValueSet or ConceptMap files found.")
        resources = [(path, _read_resource(path)) for path in files]
        for path, resource in resources:
            kind = resource["resourceType"]
            if kind == "CodeSystem" and resource.get("url") == _HISTORY_URL:
                self._load_history(path, resource)
        for path, resource in resources:
            kind = resource["resourceType"]
            self._aliases[resource["name"]] = resource["url"]
            if kind == "CodeSystem":
                self.code_systems[resource["url"]] = _concepts_by_code(resource.get("concept", []))
            if kind == "ConceptMap":
                self._load_concept_map(path, resource)
        for path, resource in resources:
            if resource["resourceType"] == "ValueSet":
                self._index_valueset(path, resource, resources)

    def _load_history(self, path: Path, resource: dict) -> None:
        for index, concept in enumerate(resource.get("concept", [])):
            props = {p["code"]: p.get("valueDateTime") for p in concept.get("property", [])}
            try:
                start = date.fromisoformat(props["billable-from"]) if props.get(
                    "billable-from") else None
                end = date.fromisoformat(props["billable-until"]) if props.get(
                    "billable-until") else None
            except ValueError as exc:
                raise TerminologyError(f"{path.name}: concept[{index}].property: {exc}") from None
            self.billable_periods.setdefault(normalize(concept["code"]), []).append(
                BillablePeriod(start, end)
            )

    def _load_concept_map(self, path: Path, resource: dict) -> None:
        table: dict[tuple[str, str], list[MapTarget]] = defaultdict(list)
        for g_index, group in enumerate(resource.get("group", [])):
            source, target = group.get("source"), group.get("target")
            if not source or not target:
                raise TerminologyError(
                    f"{path.name}: group[{g_index}] needs both 'source' and 'target' systems."
                )
            for element in group.get("element", []):
                code = normalize(element["code"]) if source == ICD10CM_SYSTEM else element["code"]
                if element.get("display"):
                    self.source_displays.setdefault((source, code), element["display"])
                for mapped in element.get("target", []):
                    table[(source, code)].append(
                        MapTarget(target, mapped.get("code", ""), mapped.get("display"),
                                  mapped["equivalence"])
                    )
        self.concept_maps[resource["url"]] = dict(table)
        self.concept_map_sources[resource["url"]] = resource

    def _index_valueset(self, path: Path, resource: dict, everything: list) -> None:
        index = ValueSetIndex(resource["url"], resource["name"])
        codes: dict[str, set[str]] = defaultdict(set)
        prefixes: dict[str, set[str]] = defaultdict(set)
        patterns: dict[str, set[str]] = defaultdict(set)
        excluded: dict[str, set[str]] = defaultdict(set)
        nested: dict[str, list[ValueSetIndex]] = {"include": [], "exclude": []}
        compose = resource.get("compose") or {}
        for part, target in (("include", codes), ("exclude", excluded)):
            including = part == "include"
            for i, rule in enumerate(compose.get(part, [])):
                where = f"{path.name}: compose.{part}[{i}]"
                for vs_url in rule.get("valueSet", []):
                    nested_resource = next(
                        (r for _, r in everything if r.get("url") == vs_url), None)
                    if nested_resource is None or vs_url == resource["url"]:
                        raise TerminologyError(f"{where}.valueSet: unknown ValueSet {vs_url}")
                    if vs_url not in self.valuesets:
                        self._index_valueset(path, nested_resource, everything)
                    nested[part].append(self.valuesets[vs_url])
                system = rule.get("system")
                if not system:
                    continue
                norm = normalize if system == ICD10CM_SYSTEM else (lambda c: c)
                for concept in rule.get("concept", []):
                    target[system].add(norm(concept["code"]))
                for f_index, flt in enumerate(rule.get("filter", [])):
                    if flt.get("op") == "regex" and flt.get("property") == "code" and including:
                        patterns[system].add(flt["value"])
                        continue
                    if flt.get("op") not in ("is-a", "descendent-of") or (
                        system not in _PREFIX_HIERARCHIES
                    ):
                        raise TerminologyError(
                            f"{where}.filter[{f_index}]: only is-a / descendent-of filters on "
                            f"hierarchical code systems, and regex on code, are supported, not "
                            f"{flt.get('op')} on {system}"
                        )
                    if not including:
                        raise TerminologyError(f"{where}.filter[{f_index}]: not supported here")
                    value = norm(flt["value"])
                    prefixes[system].add(value)
                    if flt["op"] == "descendent-of":
                        excluded[system].add(value)
        index.codes = {s: frozenset(c) for s, c in codes.items()}
        index.prefixes = {s: tuple(sorted(p)) for s, p in prefixes.items()}
        try:
            index.patterns = {s: tuple(re.compile(p) for p in sorted(ps))
                              for s, ps in patterns.items()}
        except re.error as exc:
            raise TerminologyError(f"{path.name}: compose filter regex: {exc}") from None
        index.excluded = {s: frozenset(c) for s, c in excluded.items()}
        index.included_sets = tuple(nested["include"])
        index.excluded_sets = tuple(nested["exclude"])
        self.valuesets[resource["url"]] = index


def _concepts_by_code(concepts: list[dict]) -> dict[str, dict]:
    table: dict[str, dict] = {}
    for concept in concepts:
        table[concept["code"]] = concept
        table.update(_concepts_by_code(concept.get("concept", [])))
    return table


def _read_resource(path: Path) -> dict:
    resource = read_json_object(path, TerminologyError, "a FHIR resource object")
    kind = resource.get("resourceType")
    if kind not in ("ValueSet", "ConceptMap", "CodeSystem"):
        raise TerminologyError(
            f"{path.name}: resourceType must be ValueSet, ConceptMap or CodeSystem"
        )
    try:
        get_fhir_model_class(kind).model_validate(resource)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        location = ".".join(str(p) for p in first.get("loc", ())) or "resource"
        raise TerminologyError(f"{path.name}: {location}: {first.get('msg')}") from None
    for required in ("url", "name", "version"):
        if not resource.get(required):
            raise TerminologyError(f"{path.name}: {required} is required")
    # fhir.resources checks types, not the bindings of required code elements
    if resource.get("status") not in _PUBLICATION_STATUS:
        raise TerminologyError(
            f"{path.name}: status must be one of {', '.join(sorted(_PUBLICATION_STATUS))}")
    if kind == "ValueSet" and not resource.get("compose"):
        raise TerminologyError(f"{path.name}: compose is required (say where the list comes from)")
    return resource
