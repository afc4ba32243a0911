"""What a value received for a prefetch key (from the client, or fetched from its FHIR server)
must be: a search Bundle of one resource type, or a single resource of that type.

A single resource is validated in full here. The entries of a search Bundle are checked for
their type and for the shape of the elements the facts read (``shapes``); the ones the rules go
on to read in depth are validated in full once the facts say which they are (a patient's long
history is mostly neither).
"""

from __future__ import annotations

from ..errors import bad_request
from .repair import repair_single_lists, type_name
from .shapes import check_read_elements
from .validation import validate_resource


def check_received(value: dict, resource_type: str, is_search: bool, path: str) -> None:
    """Check ``value``, a search Bundle of ``resource_type`` resources when ``is_search``, else
    one such resource; a 400 naming ``path`` and the first bad element."""
    if is_search:
        _check_search_bundle(value, resource_type, path)
    else:
        if value.get("resourceType") != resource_type:
            raise bad_request(f"{path} must be a resource of type {resource_type}.", path)
        repair_single_lists(value)
        validate_resource(value, path)


def _check_search_bundle(bundle: dict, expected: str, path: str) -> None:
    if bundle.get("resourceType") != "Bundle":
        raise bad_request(f"{path} must be a Bundle of {expected} resources.", path)
    for index, resource in enumerate(bundle_resources(bundle, path)):
        entry_path = f"{path}.entry[{index}].resource"
        resource_type = resource.get("resourceType")
        if resource_type == "OperationOutcome":
            continue  # search warnings travel as entries with search.mode = outcome
        if not isinstance(resource_type, str) or not resource_type:
            raise bad_request(f"{entry_path}.resourceType is required.",
                              f"{entry_path}.resourceType")
        if resource_type != expected:
            validate_resource(resource, entry_path)  # an unknown type is named as such
            if not _is_included(bundle, index):
                raise bad_request(
                    f"{entry_path} is a {type_name(resource)}; {path} holds {expected} "
                    "resources.",
                    entry_path,
                )
            continue
        repair_single_lists(resource)
        check_read_elements(resource, entry_path)


def bundle_resources(bundle: dict, path: str) -> list[dict]:
    """The resource of each entry; a 400 when ``entry`` is not a list of entries with one."""
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise bad_request(f"{path}.entry must be an array.", f"{path}.entry")
    resources = []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise bad_request(f"{path}.entry[{index}] must hold a resource object.",
                              f"{path}.entry[{index}]")
        resources.append(resource)
    return resources


def _is_included(bundle: dict, index: int) -> bool:
    search = bundle["entry"][index].get("search")
    return isinstance(search, dict) and search.get("mode") == "include"
