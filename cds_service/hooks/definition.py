"""What a CDS service declares (its id, hook, title, the context and prefetch it needs), and the
discovery entry generated from it. Spec: https://cds-hooks.hl7.org/2.0/#discovery"""

from __future__ import annotations

from dataclasses import dataclass

from .prefetch_keys import expand_templates


@dataclass(frozen=True)
class ServiceDefinition:
    id: str
    hook: str
    title: str
    description: str
    required_context: tuple[str, ...]
    # Keys the rules cannot run without; the others only switch individual rules off.
    required_prefetch: tuple[str, ...]
    # The prefetch templates by key, with {ValueSet} tokens still to expand.
    prefetch_templates: tuple[tuple[str, str], ...]
    usage_requirements: str = (
        "Send the prefetch keys listed (or fhirServer with fhirAuthorization so the service can "
        "fetch them), and sign each call with a JWT from a trusted issuer."
    )

    @property
    def prefetch(self) -> dict[str, str]:
        """The prefetch templates discovery publishes, by key."""
        return expand_templates(self.prefetch_templates)

    def discovery_entry(self) -> dict:
        return {
            "id": self.id,
            "hook": self.hook,
            "title": self.title,
            "description": self.description,
            "prefetch": self.prefetch,
            "usageRequirements": self.usage_requirements,
        }
