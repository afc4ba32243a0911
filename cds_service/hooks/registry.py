"""The CDS services this product offers, by id: discovery lists them, the hook route finds the
one a call names. Spec: https://cds-hooks.hl7.org/2.0/#discovery"""

from __future__ import annotations

from . import encounter_discharge, order_sign
from .definition import ServiceDefinition

SERVICES: dict[str, ServiceDefinition] = {
    s.id: s for s in (order_sign.SERVICE, encounter_discharge.SERVICE)
}
