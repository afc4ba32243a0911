"""The two CDS services this product offers, declared once; discovery is generated from these.

Spec: https://cds-hooks.hl7.org/2.0/#discovery ; hooks: https://cds-hooks.org/hooks/order-sign/
and https://cds-hooks.org/hooks/encounter-discharge/
"""

from __future__ import annotations

from dataclasses import dataclass, field

PATIENT_PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "encounter": "Encounter/{{context.encounterId}}",
    # The typed reference form (patient=Patient/id) is valid FHIR search syntax and is the form
    # every server we test against matches, unlike a bare id on some in-memory repositories.
    "conditions": "Condition?patient=Patient/{{context.patientId}}",
    "procedures": "Procedure?patient=Patient/{{context.patientId}}",
    "coverage": "Coverage?patient=Patient/{{context.patientId}}",
}

# The resource type each prefetch key must hold; search keys hold a Bundle of that type.
PREFETCH_RESOURCE_TYPES = {
    "patient": "Patient",
    "encounter": "Encounter",
    "conditions": "Condition",
    "procedures": "Procedure",
    "coverage": "Coverage",
}
SEARCH_KEYS = frozenset({"conditions", "procedures", "coverage"})


@dataclass(frozen=True)
class ServiceDefinition:
    id: str
    hook: str
    title: str
    description: str
    required_context: tuple[str, ...]
    # Keys the rules cannot run without; the others only switch individual rules off.
    required_prefetch: tuple[str, ...]
    prefetch: dict[str, str] = field(default_factory=lambda: dict(PATIENT_PREFETCH))
    usage_requirements: str = (
        "Send the prefetch keys listed (or fhirServer with fhirAuthorization so the service can "
        "fetch them), and sign each call with a JWT from a trusted issuer."
    )

    def discovery_entry(self) -> dict:
        return {
            "id": self.id,
            "hook": self.hook,
            "title": self.title,
            "description": self.description,
            "prefetch": self.prefetch,
            "usageRequirements": self.usage_requirements,
        }


ORDER_SIGN = ServiceDefinition(
    id="lbp-coding-order-sign",
    hook="order-sign",
    title="Low back pain coding: orders",
    description=(
        "Checks therapy and chiropractic orders being signed against the encounter's low back "
        "pain diagnoses and the payer's rules, and the diagnosis codes themselves."
    ),
    required_context=("userId", "patientId", "draftOrders"),
    required_prefetch=("conditions",),
)

ENCOUNTER_DISCHARGE = ServiceDefinition(
    id="lbp-coding-encounter-discharge",
    hook="encounter-discharge",
    title="Low back pain coding: encounter close",
    description=(
        "Reviews the closing encounter's low back pain diagnoses for validity on the date of "
        "service, Excludes1 conflicts, specificity, aftercare and documentation, and the "
        "procedures performed against the diagnoses and the payer's rules."
    ),
    required_context=("userId", "patientId", "encounterId"),
    required_prefetch=("encounter", "conditions"),
)

SERVICES: dict[str, ServiceDefinition] = {s.id: s for s in (ORDER_SIGN, ENCOUNTER_DISCHARGE)}
