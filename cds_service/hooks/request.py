"""The CDS Hooks request envelope: validated, with every FHIR resource parsed by fhir.resources.

Spec: https://cds-hooks.hl7.org/2.0/#http-request . We read FHIR R4 JSON with the R4B models of
``fhir.resources``: R4B changed none of the elements of Encounter, Condition, Procedure,
ServiceRequest, Coverage, Patient and Bundle that an R4 client sends, and the package's
R4 models are no longer maintained alongside its R4B/R5 ones.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from ..errors import bad_request
from .services import PREFETCH_RESOURCE_TYPES, SEARCH_KEYS, ServiceDefinition

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
        if resource.get("resourceType") not in _ORDER_TYPES:
            raise bad_request(
                f"{path}.entry[{index}] is a {_type_name(resource)}, not an order resource.",
                f"{path}.entry[{index}].resource",
            )
        validate_resource(resource, f"{path}.entry[{index}].resource")
        orders.append(resource)
    return orders


def _parse_prefetch(prefetch: Any, request: HookRequest) -> None:
    if prefetch is None:
        prefetch = {}
    if not isinstance(prefetch, dict):
        raise bad_request("'prefetch' must be an object.", "prefetch")
    for key in request.service.prefetch:
        if key not in prefetch:
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
            request.absent.add(key)
            continue
        request.prefetch[key] = parse_prefetch_value(key, value, path)


def parse_prefetch_value(key: str, value: dict, path: str) -> dict:
    """Check one prefetch value (sent by the client or fetched by us) and return it."""
    expected = PREFETCH_RESOURCE_TYPES[key]
    if key in SEARCH_KEYS:
        if value.get("resourceType") != "Bundle":
            raise bad_request(f"{path} must be a Bundle of {expected} resources.", path)
        for index, resource in enumerate(_bundle_resources(value, path)):
            entry_path = f"{path}.entry[{index}].resource"
            resource_type = resource.get("resourceType")
            if resource_type == "OperationOutcome":
                continue  # search warnings travel as entries with search.mode = outcome
            validate_resource(resource, entry_path)
            if resource_type != expected and not _is_included(value, index):
                raise bad_request(
                    f"{entry_path} is a {_type_name(resource)}; {path} holds {expected} "
                    "resources.",
                    entry_path,
                )
        return value
    if value.get("resourceType") != expected:
        raise bad_request(f"{path} must be a {expected} resource.", path)
    validate_resource(value, path)
    return value


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


def validate_resource(resource: dict, path: str) -> None:
    """Parse ``resource`` with its fhir.resources model; raise a 400 naming the bad element."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        raise bad_request(f"{path}.resourceType is required.", f"{path}.resourceType")
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError):
        raise bad_request(f"{path} has an unknown resourceType.", f"{path}.resourceType") from None
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        raise bad_request(f"{path} is not valid FHIR R4: {_describe(exc)}",
                          _error_path(path, exc)) from None
    except (KeyError, ValueError, TypeError, RecursionError):
        # fhir.resources raises KeyError for a contained or nested resource of an unknown type
        raise bad_request(f"{path} is not valid FHIR R4: a nested resource has an unknown type.",
                          path) from None


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
