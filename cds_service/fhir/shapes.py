"""The JSON shape of the elements the facts read from a Condition, Procedure or Coverage: each one
present must have the right shape, so that reading it can never fail. Cheaper than a full
validation, this is what every resource of a patient's history gets; the ones the rules read in
depth are validated in full (``validation``)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from ..errors import bad_request
from .digests import ValidatedDigests, check_once

# FHIR R4 §2.1.0.2 'id'
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")

# The elements the facts read from every Condition, Procedure and Coverage, by kind.
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

def _on_the_calendar(value: str) -> bool:
    """A full date's day exists (the pattern lets 2026-02-31 through); a year or a month alone
    is a valid FHIR date."""
    if len(value) < 10:
        return True
    try:
        date.fromisoformat(value[:10])
    except ValueError:
        return False
    return True


SHAPE_CHECKED = ValidatedDigests()  # passed check_read_elements


def check_read_elements(resource: dict, path: str) -> None:
    """Check the shape of the elements the facts read; a 400 naming the first bad one.
    A resource identical to one that passed before passes at the cost of a digest."""
    check_once(SHAPE_CHECKED, _check_read_elements, resource, path)


def _check_read_elements(resource: dict, path: str) -> None:
    for name, kind in _READ_ELEMENTS.items():
        if name in resource:
            problem = shape_problem(resource[name], kind)
            if problem:
                raise bad_request(f"{path}.{name} is not valid FHIR R4: {problem}.",
                                  f"{path}.{name}")


def shape_problem(value: Any, kind: str) -> str | None:
    """What is wrong with the JSON shape of ``value`` as a FHIR ``kind`` (a list when in
    brackets), or None."""
    if kind.startswith("["):
        if not isinstance(value, list) or not value:
            return "must be a non-empty array"
        inner = kind[1:-1]
        return next((p for p in (shape_problem(v, inner) for v in value) if p), None)
    if kind in ("id", "code"):
        ok = isinstance(value, str) and value.strip() != "" and (
            kind == "code" or FHIR_ID.match(value))
        return None if ok else f"must be a FHIR {kind}"
    if kind == "dateTime":
        if not isinstance(value, str) or not _DATE_TIME.match(value):
            return "must be a FHIR date or dateTime string"
        return None if _on_the_calendar(value) else "must be a day that exists on the calendar"
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
            if part in value and shape_problem(value[part], "dateTime"):
                return f"{part} must be a FHIR dateTime string"
        return None
    if kind == "Annotation":
        return None if isinstance(value.get("text"), str) else "text must be a string"
    if kind == "Evidence":
        for part, inner in (("code", f"[{_CODEABLE}]"), ("detail", "[Reference]")):
            if part in value:
                problem = shape_problem(value[part], inner)
                if problem:
                    return f"{part}: {problem}"
        return None
    return None
