"""The order-sign service: therapy and chiropractic orders checked as they are signed.

Hook: https://cds-hooks.org/hooks/order-sign/
"""

from .definition import ServiceDefinition
from .prefetch_keys import RECORD_TEMPLATES

ID = "lbp-coding-order-sign"
HOOK = "order-sign"
TITLE = "Low back pain coding: orders"
DESCRIPTION = (
    "Checks therapy and chiropractic orders being signed against the encounter's low back "
    "pain diagnoses and the payer's rules, and the diagnosis codes themselves."
)
REQUIRED_CONTEXT = ("userId", "patientId", "draftOrders")
PREFETCH = RECORD_TEMPLATES
# the rules cannot run without the diagnoses; the other keys only switch rules off
REQUIRED_PREFETCH = ("conditions",)

SERVICE = ServiceDefinition(
    id=ID, hook=HOOK, title=TITLE, description=DESCRIPTION, required_context=REQUIRED_CONTEXT,
    required_prefetch=REQUIRED_PREFETCH, prefetch_templates=tuple(PREFETCH.items()),
)
