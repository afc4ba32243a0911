"""Validating a FHIR resource in full with its ``fhir.resources`` model, and what the rules read
of a draft ServiceRequest with the datatype models: a 400 naming the first bad element. A resource
identical to one that passed before passes at the cost of a digest (``digests``).

We read FHIR R4 JSON with the R4B models of ``fhir.resources``: R4B changed none of the elements
of Encounter, Condition, Procedure, ServiceRequest, Coverage, Patient and Bundle that an R4 client
sends, and the package's R4 models are no longer maintained alongside its R4B/R5 ones.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from ..errors import bad_request
from .digests import ValidatedDigests, check_once
from .shapes import shape_problem

# What the rules read of a draft ServiceRequest, each with its FHIR R4 datatype (a list when in
# brackets); each is validated with its fhir.resources datatype model. Elements no rule reads
# (intent, occurrence, requester, ...) are not validated.
_ORDER_READ_ELEMENTS = {
    "id": "id", "status": "code", "code": "CodeableConcept", "subject": "Reference",
    "encounter": "Reference", "bodySite": "[CodeableConcept]", "reasonCode": "[CodeableConcept]",
    "reasonReference": "[Reference]", "authoredOn": "dateTime",
}
_ORDER_REQUIRED_ELEMENTS = ("status", "subject")

VALIDATED = ValidatedDigests()  # passed validation with the fhir.resources model
ORDERS_VALIDATED = ValidatedDigests()  # draft ServiceRequests whose read elements passed


def validate_resource(resource: dict, path: str) -> None:
    """Parse ``resource`` with its fhir.resources model; raise a 400 naming the bad element.
    A resource identical to one validated before passes at the cost of a digest."""
    check_once(VALIDATED, _validate_with_model, resource, path)


def validate_order(order: dict, path: str) -> None:
    """Validate what the rules read of a draft ServiceRequest, strictly, with the datatype
    models; a 400 naming the first bad element. Elements no rule reads are not validated."""
    check_once(ORDERS_VALIDATED, _validate_order, order, path)


def _validate_with_model(resource: dict, path: str) -> None:
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        raise bad_request(f"{path}.resourceType is required.", f"{path}.resourceType")
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError):
        raise bad_request(f"{path} has an unknown resourceType.", f"{path}.resourceType") from None
    try:
        parsed = model.model_validate(resource)
    except ValidationError as exc:
        raise bad_request(f"{path} is not valid FHIR R4: {_describe(exc)}",
                          _error_path(path, exc)) from None
    except (KeyError, ValueError, TypeError, RecursionError):
        # fhir.resources raises KeyError for a contained or nested resource of an unknown type
        raise bad_request(f"{path} is not valid FHIR R4: a nested resource has an unknown type.",
                          path) from None
    null, has_numbers = _null_or_numbers(resource, path)
    if null:
        raise bad_request(f"{null} is null; FHIR JSON leaves an absent element out.", null)
    if not has_numbers:
        return  # no number that a model could have read as a string: nothing more to compare
    try:
        problem = _json_shape_problem(
            resource, parsed.model_dump(mode="json", by_alias=True, exclude_none=True), path)
    except (ValueError, TypeError, RecursionError):
        problem = (f"{path} is not valid FHIR R4 JSON.", path)
    if problem:
        raise bad_request(*problem)


def _validate_order(order: dict, path: str) -> None:
    for name in _ORDER_REQUIRED_ELEMENTS:
        if name not in order:
            raise bad_request(f"{path}.{name} is required.", f"{path}.{name}")
    for name, kind in _ORDER_READ_ELEMENTS.items():
        if name not in order:
            continue
        where = f"{path}.{name}"
        value = order[name]
        if kind in ("id", "code", "dateTime"):
            problem = shape_problem(value, kind)
            if problem:
                raise bad_request(f"{where} is not valid FHIR R4: {problem}.", where)
            continue
        if kind.startswith("["):
            if not isinstance(value, list) or not value:
                raise bad_request(f"{where} is not valid FHIR R4: must be a non-empty array.",
                                  where)
            for index, item in enumerate(value):
                _validate_datatype(kind[1:-1], item, f"{where}[{index}]")
        else:
            _validate_datatype(kind, value, where)


def _validate_datatype(kind: str, value: Any, where: str) -> None:
    if not isinstance(value, dict) or not value:
        raise bad_request(f"{where} is not valid FHIR R4: must be a non-empty object.", where)
    try:
        parsed = get_fhir_model_class(kind).model_validate(value)
    except ValidationError as exc:
        raise bad_request(f"{where} is not valid FHIR R4: {_describe(exc)}",
                          _error_path(where, exc)) from None
    except (KeyError, ValueError, TypeError, RecursionError):
        raise bad_request(f"{where} is not valid FHIR R4.", where) from None
    null, has_numbers = _null_or_numbers(value, where)
    if null:
        raise bad_request(f"{null} is null; FHIR JSON leaves an absent element out.", null)
    if has_numbers:
        problem = _json_shape_problem(
            value, parsed.model_dump(mode="json", by_alias=True, exclude_none=True), where)
        if problem:
            raise bad_request(*problem)


def _null_or_numbers(raw: Any, path: str) -> tuple[str | None, bool]:
    """The path of the first null in ``raw``, and whether it holds any number or boolean."""
    numbers = False
    stack = [(raw, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if item is None:
                    return f"{where}.{key}", numbers
                if not isinstance(item, str):
                    stack.append((item, f"{where}.{key}"))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if item is None:
                    return f"{where}[{index}]", numbers
                if not isinstance(item, str):
                    stack.append((item, f"{where}[{index}]"))
        else:
            numbers = True
    return None, numbers


def _json_shape_problem(raw: Any, parsed: Any, path: str) -> tuple[str, str] | None:
    """What the models accept but the rules (which read the JSON) cannot: a null element, or a
    number where FHIR has a string (the models read 1.5 as a dateTime). (message, field)."""
    if isinstance(raw, dict):
        for key, value in raw.items():
            where = f"{path}.{key}"
            if value is None:
                return f"{where} is null; FHIR JSON leaves an absent element out.", where
            found = _json_shape_problem(
                value, parsed.get(key) if isinstance(parsed, dict) else None, where)
            if found:
                return found
    elif isinstance(raw, list):
        for index, item in enumerate(raw):
            other = parsed[index] if isinstance(parsed, list) and index < len(parsed) else None
            found = _json_shape_problem(item, other, f"{path}[{index}]")
            if found:
                return found
    elif isinstance(raw, bool | int | float) and isinstance(parsed, str):
        return f"{path} must be a JSON string.", path
    return None


def _describe(exc: ValidationError) -> str:
    # Only the location and the rule broken: pydantic's input_value may hold patient data.
    first = exc.errors(include_input=False, include_url=False)[0]
    location = ".".join(str(part) for part in first.get("loc", ()))
    message = str(first.get("msg", "invalid value")).split("[")[0].strip()
    more = exc.error_count() - 1
    suffix = f" (and {more} more)" if more > 0 else ""
    return f"{location or 'resource'}: {message}{suffix}"


def _error_path(path: str, exc: ValidationError) -> str:
    loc = exc.errors(include_input=False, include_url=False)[0].get("loc", ())
    return ".".join([path, *(str(p) for p in loc)]) if loc else path
