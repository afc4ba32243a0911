"""Known client quirks, repaired on read: one JSON object sent where FHIR R4 has a list."""

from __future__ import annotations

import logging
import threading

from fhir.resources.R4B import get_fhir_model_class

log = logging.getLogger(__name__)

_LIST_ELEMENTS: dict[str, frozenset[str]] = {}
_LIST_ELEMENTS_LOCK = threading.Lock()


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
                     "list; read as a list of one", type_name(resource), name)


def type_name(resource: dict) -> str:
    """The resource's type as a message may name it: never a string the client made up."""
    resource_type = resource.get("resourceType")
    return resource_type if isinstance(resource_type, str) and resource_type.isalnum() else (
        "resource without a valid resourceType"
    )


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
