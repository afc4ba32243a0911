"""The partition pass: every line of one input file goes to the partition of its patient.

Resources are grouped by patient without holding the export: each line is read, its patient
reference found, and the line appended to one of N partition files on disk, chosen by a stable
hash of the patient's id. A partition then holds every resource of its patients, whatever input
file they came from, and is evaluated on its own (``evaluate.py``). Memory is a write buffer,
never the file.

A partition line is ``patient-id TAB resourceType TAB file-index TAB line-number TAB json``:
the JSON is the input line's own bytes, not read again until its partition is evaluated.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import orjson

from .inputs import TruncatedInput, read_lines
from .problems import Problem, ProblemWriter

# the resources an encounter-discharge call's prefetch carries
READ_TYPES = ("Patient", "Encounter", "Condition", "Procedure", "Coverage")
# where each type names its patient (the FHIR search parameter ``patient`` of each)
PATIENT_ELEMENT = {"Encounter": "subject", "Condition": "subject", "Procedure": "subject",
                   "Coverage": "beneficiary"}
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_REFERENCE = re.compile(
    r"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
FLUSH_BYTES = 8 * 1024 * 1024  # all partitions' write buffers together, at most


@dataclass(frozen=True)
class SplitTask:
    file_index: int
    path: str
    partitions: int
    work_dir: str
    # the write buffers are flushed at this size (never more than a partition's share)
    flush_bytes: int = FLUSH_BYTES


@dataclass
class SplitResult:
    file_index: int
    lines: int
    resources: dict[str, int]
    problems: dict[str, int]


def reference_id(reference: object, resource_type: str) -> str | None:
    """The id in a reference to ``resource_type`` (relative, absolute or versioned), else None."""
    if not isinstance(reference, dict):
        return None
    target = reference.get("reference")
    if not isinstance(target, str):
        return None
    match = _REFERENCE.search(target)
    if match is None or match.group("type") != resource_type:
        return None
    return match.group("id")


def partition_of(patient_id: str, partitions: int) -> int:
    # crc32, not hash(): the same patient must land in the same partition in every process
    return zlib.crc32(patient_id.encode()) % partitions


def partition_folder(work_dir: str, partition: int) -> Path:
    return Path(work_dir) / f"part-{partition:05d}"


def partition_path(work_dir: str, partition: int, file_index: int) -> Path:
    return partition_folder(work_dir, partition) / f"from-{file_index:05d}.tsv"


def split_file(task: SplitTask) -> SplitResult:
    """Read one input file and append each resource to its patient's partition."""
    problems = ProblemWriter(Path(task.work_dir) / f"problems-read-{task.file_index:05d}.ndjson")
    buffers: dict[int, list[bytes]] = {}
    buffered = 0
    resources: dict[str, int] = {}
    lines = 0

    def flush() -> None:
        nonlocal buffered
        for partition, chunks in buffers.items():
            path = partition_path(task.work_dir, partition, task.file_index)
            path.parent.mkdir(exist_ok=True)
            with path.open("ab") as out:
                out.write(b"".join(chunks))
        buffers.clear()
        buffered = 0

    try:
        for number, line in read_lines(Path(task.path)):
            lines = number
            if not line.strip():
                continue  # a blank line (a trailing newline) is no resource
            where = (task.file_index, number)
            try:
                resource = orjson.loads(line)
            except orjson.JSONDecodeError:
                problems.add(Problem.MALFORMED, *where, "the line is not valid JSON")
                continue
            if not isinstance(resource, dict):
                problems.add(Problem.MALFORMED, *where, "the line is not a JSON object")
                continue
            resource_type = resource.get("resourceType")
            if resource_type not in READ_TYPES:
                named = (f"a resource of type {resource_type}"
                         if isinstance(resource_type, str) and _TYPE_NAME.match(resource_type)
                         else "a resource without a valid resourceType")
                problems.add(Problem.UNEXPECTED_TYPE, *where,
                             f"{named}; the audit reads {', '.join(READ_TYPES)}")
                continue
            if resource_type == "Patient":
                patient = resource.get("id")
                patient = patient if isinstance(patient, str) and FHIR_ID.match(patient) else None
                if patient is None:
                    problems.add(Problem.NO_PATIENT, *where, "the Patient has no valid id")
                    continue
            else:
                element = PATIENT_ELEMENT[resource_type]
                patient = reference_id(resource.get(element), "Patient")
                if patient is None:
                    problems.add(Problem.NO_PATIENT, *where,
                                 f"{resource_type}.{element} is not a reference to a Patient")
                    continue
            resources[resource_type] = resources.get(resource_type, 0) + 1
            record = b"\t".join((patient.encode(), resource_type.encode(),
                                 b"%d" % task.file_index, b"%d" % number, line)) + b"\n"
            buffers.setdefault(partition_of(patient, task.partitions), []).append(record)
            buffered += len(record)
            if buffered >= task.flush_bytes:
                flush()
    except TruncatedInput as exc:
        problems.add(Problem.UNREADABLE, task.file_index, exc.line + 1,
                     "the file cannot be read past this line (cut short or corrupt); "
                     "the rest of it is skipped")
    flush()
    problems.close()
    return SplitResult(task.file_index, lines, resources, problems.counts)
