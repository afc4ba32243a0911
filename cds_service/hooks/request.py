"""The CDS Hooks request envelope: validated, with every FHIR resource parsed by fhir.resources.

Spec: https://cds-hooks.hl7.org/2.0/#http-request . We read FHIR R4 JSON with the R4B models of
``fhir.resources``: R4B changed none of the elements of Encounter, Condition, Procedure,
ServiceRequest, Coverage, Patient and Bundle that an R4 client sends, and the package's
R4 models are no longer maintained alongside its R4B/R5 ones.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from ..errors import bad_request
from .services import (
    FACTS_KEYS,
    LEGACY_PREFETCH,
    PREFETCH_RESOURCE_TYPES,
    SEARCH_KEYS,
    ServiceDefinition,
)

log = logging.getLogger(__name__)

_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_ORDER_TYPES = frozenset(
    {
        "ServiceRequest",
        "MedicationRequest",
        "NutritionOrder",
        "VisionPrescription",
        "DeviceRequest",
        "CommunicationRequest",
        "Procedure",
    }
)
# The only draft orders a rule judges. Any other order type (the CDS Hooks sandbox's Rx Sign
# sends a MedicationRequest) is read by no rule: it is not validated, so that no quirk of it
# can turn a call into a 400.
_JUDGED_ORDER_TYPE = "ServiceRequest"
# What the rules read of a draft ServiceRequest, each with its FHIR R4 datatype (a list when in
# brackets); each is validated with its fhir.resources datatype model. Elements no rule reads
# (intent, occurrence, requester, ...) are not validated.
_ORDER_READ_ELEMENTS = {
    "id": "id", "status": "code", "code": "CodeableConcept", "subject": "Reference",
    "encounter": "Reference", "bodySite": "[CodeableConcept]", "reasonCode": "[CodeableConcept]",
    "reasonReference": "[Reference]",
}
_ORDER_REQUIRED_ELEMENTS = ("status", "subject")


@dataclass
class HookRequest:
    service: ServiceDefinition
    hook_instance: str
    context: dict[str, Any]
    fhir_server: str | None = None
    access_token: str | None = None
    # key -> resource JSON, or None when the client said no such data exists
    prefetch: dict[str, dict | None] = field(default_factory=dict)
    # keys the client did not send, or whose fetch failed on its side (OperationOutcome)
    absent: set[str] = field(default_factory=set)
    draft_orders: list[dict] = field(default_factory=list)
    # id(resource) -> where it sat in the request, to name it in an error found later
    paths: dict[int, str] = field(default_factory=dict)

    @property
    def patient_id(self) -> str:
        return self.context["patientId"]

    @property
    def encounter_id(self) -> str | None:
        return self.context.get("encounterId")


def parse_hook_request(body: Any, service: ServiceDefinition) -> HookRequest:
    """Validate a decoded JSON body against ``service`` and return the request model."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    hook = body.get("hook")
    if not isinstance(hook, str):
        raise bad_request("'hook' is required and must be a string.", "hook")
    if hook != service.hook:
        raise bad_request(
            f"This service answers the '{service.hook}' hook; the request names another hook.",
            "hook",
        )
    hook_instance = body.get("hookInstance")
    if not isinstance(hook_instance, str) or not _is_uuid(hook_instance):
        raise bad_request("'hookInstance' is required and must be a UUID.", "hookInstance")

    context = body.get("context")
    if not isinstance(context, dict):
        raise bad_request("'context' is required and must be an object.", "context")
    for name in service.required_context:
        if name not in context or context[name] is None:
            raise bad_request(f"context.{name} is required for the {service.hook} hook.",
                              f"context.{name}")
    for name in ("userId", "patientId", "encounterId"):
        if name in context and (not isinstance(context[name], str) or not context[name].strip()):
            raise bad_request(f"context.{name} must be a non-empty string.", f"context.{name}")
    for name in ("patientId", "encounterId"):
        # They are spliced into FHIR queries: only a FHIR id (R4 §2.1.0.2 'id') is acceptable.
        if name in context and not _FHIR_ID.match(context[name]):
            raise bad_request(f"context.{name} must be a FHIR resource id.", f"context.{name}")

    fhir_server, access_token = _parse_fhir_access(body)
    request = HookRequest(
        service=service,
        hook_instance=hook_instance,
        context=context,
        fhir_server=fhir_server,
        access_token=access_token,
    )
    if "draftOrders" in service.required_context:
        request.draft_orders = _parse_draft_orders(context["draftOrders"])
    _parse_prefetch(body.get("prefetch"), request)
    return request


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _parse_fhir_access(body: dict) -> tuple[str | None, str | None]:
    fhir_server = body.get("fhirServer")
    if fhir_server is not None and (not isinstance(fhir_server, str) or not fhir_server):
        raise bad_request("'fhirServer' must be a URL string.", "fhirServer")
    auth = body.get("fhirAuthorization")
    if auth is None:
        return fhir_server, None
    if not isinstance(auth, dict):
        raise bad_request("'fhirAuthorization' must be an object.", "fhirAuthorization")
    if fhir_server is None:
        raise bad_request("'fhirAuthorization' requires 'fhirServer'.", "fhirServer")
    token = auth.get("access_token")
    if not isinstance(token, str) or not token:
        raise bad_request("fhirAuthorization.access_token must be a non-empty string.",
                          "fhirAuthorization.access_token")
    token_type = auth.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise bad_request("fhirAuthorization.token_type must be 'Bearer'.",
                          "fhirAuthorization.token_type")
    for name, kind in (("expires_in", int), ("scope", str), ("subject", str)):
        if name in auth and (not isinstance(auth[name], kind) or isinstance(auth[name], bool)):
            raise bad_request(f"fhirAuthorization.{name} has the wrong type.",
                              f"fhirAuthorization.{name}")
    return fhir_server, token


def _parse_draft_orders(draft_orders: Any) -> list[dict]:
    # Read leniently: the CDS Hooks sandbox sends a Bundle without 'type'.
    path = "context.draftOrders"
    if not isinstance(draft_orders, dict) or draft_orders.get("resourceType") != "Bundle":
        raise bad_request(f"{path} must be a FHIR Bundle.", path)
    orders = []
    for index, resource in enumerate(_bundle_resources(draft_orders, path)):
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str) or resource_type not in _ORDER_TYPES:
            raise bad_request(
                f"{path}.entry[{index}] is a {_type_name(resource)}, not an order resource.",
                f"{path}.entry[{index}].resource",
            )
        repair_single_lists(resource)
        if resource_type == _JUDGED_ORDER_TYPE:
            validate_order(resource, f"{path}.entry[{index}].resource")
        orders.append(resource)
    return orders


# -- known client quirks, repaired on read ----------------------------------------------------

_LIST_ELEMENTS: dict[str, frozenset[str]] = {}
_LIST_ELEMENTS_LOCK = threading.Lock()


def _list_elements(resource_type: str) -> frozenset[str]:
    """The top-level elements FHIR R4 defines as a list of a complex type (CodeableConcept,
    Reference, Annotation, ...), read from the resource's fhir.resources model."""
    known = _LIST_ELEMENTS.get(resource_type)
    if known is not None:
        return known
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError):
        known = frozenset()
    else:
        known = frozenset(
            field.alias or name for name, field in model.model_fields.items()
            if "List[abc." in str(field.annotation) and not name.endswith("__ext")
        )
    with _LIST_ELEMENTS_LOCK:
        _LIST_ELEMENTS[resource_type] = known
    return known


def repair_single_lists(resource: dict) -> None:
    """Read one JSON object sent where FHIR R4 has a list as a list of that one object, and log
    the repair (resource type and element only).

    A known client quirk: the CDS Hooks sandbox's Rx Sign builds ``MedicationRequest.category``
    as one CodeableConcept, and ``reasonCode`` as one when the clinician picks an indication
    (its ``src/reducers/medication-reducers.js``)."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return
    singles = [name for name, value in resource.items()
               if isinstance(value, dict) and value]
    if not singles:
        return
    list_elements = _list_elements(resource_type)
    for name in singles:
        if name in list_elements:
            resource[name] = [resource[name]]
            log.info("repaired a client quirk: %s.%s sent as one object where FHIR R4 has a "
                     "list; read as a list of one", _type_name(resource), name)


def _parse_prefetch(prefetch: Any, request: HookRequest) -> None:
    if prefetch is None:
        prefetch = {}
    if not isinstance(prefetch, dict):
        raise bad_request("'prefetch' must be an object.", "prefetch")
    published = request.service.prefetch
    for key in (*published, *LEGACY_PREFETCH):
        if key not in prefetch:
            if key in published:
                request.absent.add(key)
            continue
        value = prefetch[key]
        if value is None:
            request.prefetch[key] = None
            continue
        path = f"prefetch.{key}"
        if not isinstance(value, dict):
            raise bad_request(f"{path} must be a FHIR resource or null.", path)
        if value.get("resourceType") == "OperationOutcome":
            # The client tried to fetch and failed: treat the key as not fetched.
            if key in published:
                request.absent.add(key)
            continue
        request.prefetch[key] = parse_prefetch_value(key, value, path, request.paths)
    # A client that sends a broad key (all the patient's Conditions, as discovery asked before)
    # has sent everything the narrow keys of it would hold: nothing of those to fetch.
    for facts_key, parts in FACTS_KEYS.items():
        if facts_key in request.prefetch:
            request.absent.difference_update(parts)


def parse_prefetch_value(key: str, value: dict, path: str,
                         paths: dict[int, str] | None = None) -> dict:
    """Check one prefetch value (sent by the client or fetched by us) and return it.

    A single resource (Patient, Encounter) is validated in full here. The entries of a search
    Bundle are checked for their type and for the shape of the elements the facts read; the
    ones the rules go on to read in depth are validated in full by ``validate_read_resources``
    once the facts say which they are (a patient's long history is mostly neither).
    """
    expected = PREFETCH_RESOURCE_TYPES[key]
    if key in SEARCH_KEYS:
        if value.get("resourceType") != "Bundle":
            raise bad_request(f"{path} must be a Bundle of {expected} resources.", path)
        for index, resource in enumerate(_bundle_resources(value, path)):
            entry_path = f"{path}.entry[{index}].resource"
            resource_type = resource.get("resourceType")
            if resource_type == "OperationOutcome":
                continue  # search warnings travel as entries with search.mode = outcome
            if not isinstance(resource_type, str) or not resource_type:
                raise bad_request(f"{entry_path}.resourceType is required.",
                                  f"{entry_path}.resourceType")
            if resource_type != expected:
                validate_resource(resource, entry_path)  # an unknown type is named as such
                if not _is_included(value, index):
                    raise bad_request(
                        f"{entry_path} is a {_type_name(resource)}; {path} holds {expected} "
                        "resources.",
                        entry_path,
                    )
                continue
            repair_single_lists(resource)
            check_read_elements(resource, entry_path)
            if paths is not None:
                paths[id(resource)] = entry_path
        return value
    if value.get("resourceType") != expected:
        raise bad_request(f"{path} must be a {expected} resource.", path)
    repair_single_lists(value)
    validate_resource(value, path)
    return value


def validate_order(order: dict, path: str) -> None:
    """Validate what the rules read of a draft ServiceRequest, strictly, with the datatype
    models; a 400 naming the first bad element. Elements no rule reads are not validated."""
    _check_once(ORDERS_VALIDATED, _validate_order, order, path)


def _validate_order(order: dict, path: str) -> None:
    for name in _ORDER_REQUIRED_ELEMENTS:
        if name not in order:
            raise bad_request(f"{path}.{name} is required.", f"{path}.{name}")
    for name, kind in _ORDER_READ_ELEMENTS.items():
        if name not in order:
            continue
        where = f"{path}.{name}"
        value = order[name]
        if kind in ("id", "code"):
            problem = _shape_problem(value, kind)
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


def validate_read_resources(resources: list[dict], paths: dict[int, str]) -> None:
    """Validate in full, with fhir.resources, the resources the rules read in depth."""
    for resource in resources:
        path = paths.get(id(resource))
        if path is not None:
            validate_resource(resource, path)
            del paths[id(resource)]  # once per request, however many rules read it


# The elements the facts read from every Condition, Procedure and Coverage, by kind; each one
# present must have the right JSON shape, so that reading it can never fail.
_CODEABLE = "CodeableConcept"
_READ_ELEMENTS: dict[str, str] = {
    "id": "id", "status": "code", "code": _CODEABLE, "clinicalStatus": _CODEABLE,
    "verificationStatus": _CODEABLE, "severity": _CODEABLE, "type": _CODEABLE,
    "category": f"[{_CODEABLE}]", "bodySite": f"[{_CODEABLE}]", "reasonCode": f"[{_CODEABLE}]",
    "subject": "Reference", "encounter": "Reference", "beneficiary": "Reference",
    "payor": "[Reference]", "reasonReference": "[Reference]", "recordedDate": "dateTime",
    "onsetDateTime": "dateTime", "performedDateTime": "dateTime", "performedPeriod": "Period",
    "period": "Period", "note": "[Annotation]", "evidence": "[Evidence]",
}
_DATE_TIME = re.compile(
    r"^([0-9]{4})(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:"
    r"([0-5][0-9]|60)(\.[0-9]+)?(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$"
)


def check_read_elements(resource: dict, path: str) -> None:
    """Check the shape of the elements the facts read; a 400 naming the first bad one.
    A resource identical to one that passed before passes at the cost of a digest."""
    _check_once(SHAPE_CHECKED, _check_read_elements, resource, path)


def _check_read_elements(resource: dict, path: str) -> None:
    for name, kind in _READ_ELEMENTS.items():
        if name in resource:
            problem = _shape_problem(resource[name], kind)
            if problem:
                raise bad_request(f"{path}.{name} is not valid FHIR R4: {problem}.",
                                  f"{path}.{name}")


def _shape_problem(value: Any, kind: str) -> str | None:
    if kind.startswith("["):
        if not isinstance(value, list) or not value:
            return "must be a non-empty array"
        inner = kind[1:-1]
        return next((p for p in (_shape_problem(v, inner) for v in value) if p), None)
    if kind in ("id", "code"):
        ok = isinstance(value, str) and value.strip() != "" and (
            kind == "code" or _FHIR_ID.match(value))
        return None if ok else f"must be a FHIR {kind}"
    if kind == "dateTime":
        return None if isinstance(value, str) and _DATE_TIME.match(value) else (
            "must be a FHIR date or dateTime string")
    if not isinstance(value, dict) or not value:
        return "must be a non-empty object"
    if kind == _CODEABLE:
        if "text" in value and not isinstance(value["text"], str):
            return "text must be a string"
        if "coding" in value:
            codings = value["coding"]
            if not isinstance(codings, list) or not all(isinstance(c, dict) for c in codings):
                return "coding must be an array of objects"
            for coding in codings:
                for part in ("system", "code", "display", "version"):
                    if part in coding and not isinstance(coding[part], str):
                        return f"coding.{part} must be a string"
        return None
    if kind == "Reference":
        for part in ("reference", "display"):
            if part in value and not isinstance(value[part], str):
                return f"{part} must be a string"
        return None
    if kind == "Period":
        for part in ("start", "end"):
            if part in value and _shape_problem(value[part], "dateTime"):
                return f"{part} must be a FHIR dateTime string"
        return None
    if kind == "Annotation":
        return None if isinstance(value.get("text"), str) else "text must be a string"
    if kind == "Evidence":
        for part, inner in (("code", f"[{_CODEABLE}]"), ("detail", "[Reference]")):
            if part in value:
                problem = _shape_problem(value[part], inner)
                if problem:
                    return f"{part}: {problem}"
        return None
    return None


def _is_included(bundle: dict, index: int) -> bool:
    search = bundle["entry"][index].get("search")
    return isinstance(search, dict) and search.get("mode") == "include"


def _bundle_resources(bundle: dict, path: str) -> list[dict]:
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


def _type_name(resource: dict) -> str:
    resource_type = resource.get("resourceType")
    return resource_type if isinstance(resource_type, str) and resource_type.isalnum() else (
        "resource without a valid resourceType"
    )


class _ValidatedDigests:
    """Digests of resources that passed a check, most recent last, so that the same resource
    sent again (a patient's Conditions, Encounter and Coverage come with every order-sign of a
    visit and again at discharge) is not checked again.

    Only a 16-byte BLAKE2b digest of the resource's JSON is kept, never the resource, and only
    for valid ones: an invalid resource is checked (and refused) every time it comes.
    """

    def __init__(self, capacity: int = 8192):
        self.capacity = capacity
        self._digests: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def digest(resource: dict) -> bytes | None:
        try:
            encoded = orjson.dumps(resource)
        except (TypeError, orjson.JSONEncodeError):  # a lone surrogate, an integer past 64 bits
            return None
        return hashlib.blake2b(encoded, digest_size=16).digest()

    def __contains__(self, digest: bytes) -> bool:
        with self._lock:
            if digest in self._digests:
                self._digests.move_to_end(digest)
                return True
            return False

    def add(self, digest: bytes) -> None:
        with self._lock:
            self._digests[digest] = None
            if len(self._digests) > self.capacity:
                self._digests.popitem(last=False)


VALIDATED = _ValidatedDigests()  # passed validation with the fhir.resources model
SHAPE_CHECKED = _ValidatedDigests()  # passed check_read_elements
ORDERS_VALIDATED = _ValidatedDigests()  # draft ServiceRequests whose read elements passed


def _check_once(passed: _ValidatedDigests, check, resource: dict, path: str) -> None:
    digest = passed.digest(resource)
    if digest is not None and digest in passed:
        return
    check(resource, path)  # raises for an invalid resource, which is never remembered
    if digest is not None:
        passed.add(digest)


def validate_resource(resource: dict, path: str) -> None:
    """Parse ``resource`` with its fhir.resources model; raise a 400 naming the bad element.
    A resource identical to one validated before passes at the cost of a digest."""
    _check_once(VALIDATED, _validate_with_model, resource, path)


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
