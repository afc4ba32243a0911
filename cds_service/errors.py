"""The service's errors: one base every other error derives from, and the one error type for
everything a client can get wrong, rendered as a FHIR OperationOutcome.

CDS Hooks 2.0 leaves error bodies to the service; 3.0 moves to OperationOutcome, so we answer
in that form already. Messages name the offending field, never echo patient data.
"""

from __future__ import annotations

from dataclasses import dataclass

# HTTP status -> OperationOutcome.issue.code (http://hl7.org/fhir/issue-type)
_ISSUE_CODE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    412: "incomplete",
    413: "too-costly",
    415: "not-supported",
    429: "throttled",
    500: "exception",
    502: "transient",
    503: "transient",
}


class ServiceError(Exception):
    """Base of every error this package raises on purpose (settings, knowledge files, the
    store, the FHIR client, auth, the audit...), so a caller can tell ours from a bug."""


@dataclass
class CdsError(ServiceError):
    """A problem with a request, carrying the HTTP status and a message fit for the client."""

    status: int
    message: str
    field: str | None = None

    def __str__(self) -> str:
        return self.message

    def to_operation_outcome(self) -> dict:
        return operation_outcome(self.status, self.message, self.field)


def operation_outcome(status: int, message: str, field: str | None = None) -> dict:
    issue = {
        "severity": "error" if status < 500 else "fatal",
        "code": _ISSUE_CODE.get(status, "processing"),
        "diagnostics": message,
    }
    if field:
        issue["expression"] = [field]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def bad_request(message: str, field: str | None = None) -> CdsError:
    return CdsError(400, message, field)
