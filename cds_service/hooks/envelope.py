"""The CDS Hooks request envelope: hook, hookInstance, context, fhirServer with
fhirAuthorization, and the prefetch the client sent, read into a :class:`HookRequest`.

Spec: https://cds-hooks.hl7.org/2.0/#http-request . The FHIR resources the envelope carries (the
draft orders, each prefetch value) are checked as they are read, with ``cds_service.fhir``: a
400 names the first bad element, before anything is fetched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import bad_request
from ..fhir.received import bundle_resources, check_received
from ..fhir.repair import repair_single_lists, type_name
from ..fhir.shapes import FHIR_ID
from ..fhir.validation import validate_order
from ..identifiers import is_uuid
from .definition import ServiceDefinition
from .prefetch_keys import FACTS_KEYS, LEGACY_PREFETCH, PREFETCH_RESOURCE_TYPES, SEARCH_KEYS

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


def read_envelope(body: Any, service: ServiceDefinition) -> HookRequest:
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
    if not isinstance(hook_instance, str) or not is_uuid(hook_instance):
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
        if name in context and not FHIR_ID.match(context[name]):
            raise bad_request(f"context.{name} must be a FHIR resource id.", f"context.{name}")

    fhir_server, access_token = _read_fhir_access(body)
    request = HookRequest(
        service=service,
        hook_instance=hook_instance,
        context=context,
        fhir_server=fhir_server,
        access_token=access_token,
    )
    if "draftOrders" in service.required_context:
        request.draft_orders = _read_draft_orders(context["draftOrders"])
    _read_prefetch(body.get("prefetch"), request)
    return request


def _read_fhir_access(body: dict) -> tuple[str | None, str | None]:
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


def _read_draft_orders(draft_orders: Any) -> list[dict]:
    # Read leniently: the CDS Hooks sandbox sends a Bundle without 'type'.
    path = "context.draftOrders"
    if not isinstance(draft_orders, dict) or draft_orders.get("resourceType") != "Bundle":
        raise bad_request(f"{path} must be a FHIR Bundle.", path)
    orders = []
    for index, resource in enumerate(bundle_resources(draft_orders, path)):
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str) or resource_type not in _ORDER_TYPES:
            raise bad_request(
                f"{path}.entry[{index}] is a {type_name(resource)}, not an order resource.",
                f"{path}.entry[{index}].resource",
            )
        repair_single_lists(resource)
        if resource_type == _JUDGED_ORDER_TYPE:
            validate_order(resource, f"{path}.entry[{index}].resource")
        orders.append(resource)
    return orders


def _read_prefetch(prefetch: Any, request: HookRequest) -> None:
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
        check_received(value, PREFETCH_RESOURCE_TYPES[key], key in SEARCH_KEYS, path)
        request.prefetch[key] = value
    # A client that sends a broad key (all the patient's Conditions, as discovery asked before)
    # has sent everything the narrow keys of it would hold: nothing of those to fetch.
    for facts_key, parts in FACTS_KEYS.items():
        if facts_key in request.prefetch:
            request.absent.difference_update(parts)
