"""Bad input found while auditing: counted, written to errors.ndjson, and the run goes on.

A problem names the file, the line and what is wrong, in fixed words and FHIR element paths:
never the line's content, which is patient data.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import orjson


class Problem(StrEnum):
    MALFORMED = "malformed-line"
    UNEXPECTED_TYPE = "unexpected-resource-type"
    NO_PATIENT = "no-patient-reference"
    UNREADABLE = "unreadable-rest-of-file"
    DUPLICATE = "duplicate-resource"
    ENCOUNTER_NOT_IN_EXPORT = "encounter-not-in-export"
    ENCOUNTER_WITHOUT_ID = "encounter-without-id"
    ENCOUNTER_WITHOUT_DATE = "encounter-without-date"
    INVALID_RESOURCE = "invalid-resource"
    NOT_EVALUATED = "encounter-not-evaluated"


# what each kind means, for report.html
PROBLEM_TEXT = {
    Problem.MALFORMED: "Lines that are not a JSON object",
    Problem.UNEXPECTED_TYPE: "Resources of a type the audit does not read",
    Problem.NO_PATIENT: "Resources without a reference to their patient",
    Problem.UNREADABLE: "Files cut short or corrupt (the rest of the file was skipped)",
    Problem.DUPLICATE: "Resources found twice (the first one was used)",
    Problem.ENCOUNTER_NOT_IN_EXPORT: "Conditions or Procedures whose encounter is not in the "
                                     "export",
    Problem.ENCOUNTER_WITHOUT_ID: "Finished encounters without a valid id (not audited)",
    Problem.ENCOUNTER_WITHOUT_DATE: "Finished encounters without period.start (not audited)",
    Problem.INVALID_RESOURCE: "Resources that are not valid FHIR R4 (left out of every call)",
    Problem.NOT_EVALUATED: "Encounters the checks could not evaluate",
}


class ProblemWriter:
    """Problems of one task, written as NDJSON lines ``[file-index, line, kind, text]``; the
    merge turns the file index into its path. ``sort`` keeps them in memory to write them in
    (file, line) order; without it they must be added in that order."""

    def __init__(self, path: Path, sort: bool = False):
        self.path = path
        self.counts: dict[str, int] = {}
        self._sort = sort
        self._held: list[tuple[int, int, str, str]] = []
        self._out = None if sort else path.open("wb")

    def add(self, kind: Problem, file_index: int, line: int, text: str) -> None:
        self.counts[kind.value] = self.counts.get(kind.value, 0) + 1
        row = (file_index, line, kind.value, text)
        if self._out is None:
            self._held.append(row)
        else:
            self._out.write(orjson.dumps(row) + b"\n")

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            return
        with self.path.open("wb") as out:
            for row in sorted(self._held):
                out.write(orjson.dumps(row) + b"\n")
        self._held = []
