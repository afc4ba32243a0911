"""Prefetch resolution: what the client sent, what must be fetched, what is unavailable.

CDS Hooks 2.0 §Prefetch: an absent key was not fetched (the service may fetch it itself);
``null`` means the data does not exist; an OperationOutcome means the client's fetch failed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

from ..errors import CdsError
from ..fhir.client import FetchFailed
from ..fhir.received import check_received
from ..fhir.validation import validate_resource
from .envelope import HookRequest
from .prefetch_keys import FACTS_KEYS, PREFETCH_RESOURCE_TYPES, REQUIRED_PARTS, SEARCH_KEYS

log = logging.getLogger(__name__)

_TEMPLATE_TOKEN = re.compile(r"\{\{\s*context\.([A-Za-z]+)\s*\}\}")


class Fetcher(Protocol):
    def allows(self, fhir_server: str) -> bool: ...

    def fetch_all(
        self, fhir_server: str, access_token: str | None, queries: dict[str, str]
    ) -> dict[str, dict | None | FetchFailed]:
        """Run each query against the server; a key's value is the resource/Bundle, None when
        the server says it does not exist, or the FetchFailed that stopped it."""
        ...


@dataclass
class ResolvedPrefetch:
    data: dict[str, dict | None]
    # every key the rules cannot have, whatever the reason
    unavailable: frozenset[str]
    # the keys we tried to fetch and could not: cards say so, so that nobody mistakes a
    # skipped payer check for a passed one
    fetch_failed: frozenset[str] = frozenset()


def render_query(template: str, context: dict) -> str | None:
    """Fill a prefetch template from the context; None if it names a field the context lacks."""
    missing = False

    def fill(match: re.Match) -> str:
        nonlocal missing
        value = context.get(match.group(1))
        if not isinstance(value, str) or not value:
            missing = True
            return ""
        return value

    query = _TEMPLATE_TOKEN.sub(fill, template)
    return None if missing else query


def resolve_prefetch(request: HookRequest, fetcher: Fetcher | None) -> ResolvedPrefetch:
    service = request.service
    queries = {}
    for key in sorted(request.absent):
        query = render_query(service.prefetch[key], request.context)
        if query is not None:
            queries[key] = query
    data = dict(request.prefetch)
    failures: dict[str, str] = {}
    attempted: set[str] = set()
    if queries:
        if not request.fhir_server:
            failures = dict.fromkeys(queries, "not sent, and no fhirServer to fetch it from")
        elif fetcher is None or not fetcher.allows(request.fhir_server):
            failures = dict.fromkeys(
                queries, "not sent, and fetching from this fhirServer is not enabled"
            )
        else:
            attempted.update(queries)
            for key, result in fetcher.fetch_all(
                request.fhir_server, request.access_token, queries
            ).items():
                if isinstance(result, FetchFailed):
                    failures[key] = result.reason
                elif result is None:
                    data[key] = None
                else:
                    try:
                        data[key] = _read_fetched(key, result, request.patient_id)
                    except CdsError as exc:
                        # the EHR's server sent it, not the client: data missing, not a 400
                        failures[key] = f"the FHIR server's answer is not usable ({exc.message})"
    missing = []
    for key in service.required_prefetch:
        if key in failures:
            missing.append((key, [key]))
        elif key not in data and key in REQUIRED_PARTS:  # not sent whole by the client
            parts = [part for part in REQUIRED_PARTS[key] if part in failures]
            if parts:
                missing.append((key, parts))
    if missing:
        detail = "; ".join(f"{part}: {failures[part]}" for _, parts in missing for part in parts)
        named = ", ".join(key for key, _ in missing)
        raise CdsError(412, f"Required prefetch data is missing for {named} ({detail}).",
                       f"prefetch.{missing[0][1][0]}")
    _merge_facts_keys(data)
    return ResolvedPrefetch(data, frozenset(failures), frozenset(attempted & failures.keys()))


def _read_fetched(key: str, result: dict, patient_id: str) -> dict:
    """Check what the FHIR server answered for ``key``, as the client's prefetch is checked, and
    every resource of it in full with its model (CdsError when one fails: the key is then
    unavailable, never a 400, as the client did not send it). Resources of another patient
    than the one in context are dropped first, and the drop logged (a count, no ids)."""
    path = f"fetched {key}"
    expected = PREFETCH_RESOURCE_TYPES[key]
    if key in SEARCH_KEYS and result.get("resourceType") == "Bundle":
        entries = result.get("entry")
        if isinstance(entries, list):
            kept = [e for e in entries if not _of_another_patient(e, patient_id)]
            if len(kept) != len(entries):
                log.warning("FHIR fetch of %s: %d resource(s) of another patient than the one "
                            "in context dropped", key, len(entries) - len(kept))
                result["entry"] = kept
    elif key not in SEARCH_KEYS and _names_another_patient(result, patient_id):
        log.warning("FHIR fetch of %s: the resource is another patient's; not used", key)
        raise CdsError(412, "it is another patient's record")
    check_received(result, expected, key in SEARCH_KEYS, path)
    if key in SEARCH_KEYS:
        for index, entry in enumerate(result.get("entry", [])):
            resource = entry["resource"]
            if resource.get("resourceType") == expected:
                validate_resource(resource, f"{path}.entry[{index}].resource")
    return result


# The reference each resource type names its patient by (FHIR R4).
_PATIENT_ELEMENT = {"Condition": "subject", "Procedure": "subject", "Encounter": "subject",
                    "Coverage": "beneficiary"}
_REFERENCE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def _of_another_patient(entry: object, patient_id: str) -> bool:
    resource = entry.get("resource") if isinstance(entry, dict) else None
    return isinstance(resource, dict) and _names_another_patient(resource, patient_id)


def _names_another_patient(resource: dict, patient_id: str) -> bool:
    """True when the resource names a patient (or other subject) that is not ``patient_id``;
    False when it names this patient, or no subject we can read (a contained or urn:uuid
    reference, an identifier only)."""
    resource_type = resource.get("resourceType")
    if resource_type == "Patient":
        return isinstance(resource.get("id"), str) and resource["id"] != patient_id
    element = _PATIENT_ELEMENT.get(resource_type) if isinstance(resource_type, str) else None
    reference = resource.get(element) if element else None
    target = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(target, str):
        return False
    match = _REFERENCE.search(target)
    if match is None:
        return False
    return match.group(1) != "Patient" or match.group(2) != patient_id


def _merge_facts_keys(data: dict[str, dict | None]) -> None:
    """Fill each key the facts read (``conditions``, ``procedures``) from the narrow keys
    discovery asks for, when the client did not send that key itself: one searchset Bundle of
    their entries, each resource once (by resourceType and id). The entries are the parsed ones,
    unchanged, so that what was checked is what the facts read."""
    for facts_key, parts in FACTS_KEYS.items():
        if facts_key in data:
            continue  # the client's own broad key (or null: no such data)
        had = [data[part] for part in parts if part in data]
        if not had:
            continue  # none of it could be had: the rules that need it are skipped
        entries: list[dict] = []
        seen: set[tuple[str, str]] = set()
        for bundle in had:
            for entry in (bundle or {}).get("entry", []):
                resource = entry.get("resource") or {}
                identity = (resource.get("resourceType"), resource.get("id"))
                if isinstance(identity[1], str):
                    if identity in seen:
                        continue
                    seen.add(identity)
                entries.append(entry)
        merged: dict = {"resourceType": "Bundle", "type": "searchset"}
        if entries:
            merged["entry"] = entries
        data[facts_key] = merged
