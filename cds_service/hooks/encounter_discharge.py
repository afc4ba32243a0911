"""The encounter-discharge service: the closing encounter's diagnoses and procedures reviewed.

Hook: https://cds-hooks.org/hooks/encounter-discharge/
"""

from .definition import ServiceDefinition
from .prefetch_keys import RECORD_TEMPLATES

ID = "lbp-coding-encounter-discharge"
HOOK = "encounter-discharge"
TITLE = "Low back pain coding: encounter close"
DESCRIPTION = (
    "Reviews the closing encounter's low back pain diagnoses for validity on the date of "
    "service, Excludes1 conflicts, specificity, aftercare and documentation, and the "
    "procedures performed against the diagnoses and the payer's rules."
)
REQUIRED_CONTEXT = ("userId", "patientId", "encounterId")
PREFETCH = RECORD_TEMPLATES
# the rules cannot run without the encounter and its diagnoses; the other keys only switch
# rules off
REQUIRED_PREFETCH = ("encounter", "conditions")

SERVICE = ServiceDefinition(
    id=ID, hook=HOOK, title=TITLE, description=DESCRIPTION, required_context=REQUIRED_CONTEXT,
    required_prefetch=REQUIRED_PREFETCH, prefetch_templates=tuple(PREFETCH.items()),
)
