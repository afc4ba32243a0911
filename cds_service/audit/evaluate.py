"""The evaluation pass: one partition's patients, each finished encounter in the window evaluated
as an ``encounter-discharge`` call, through ``HookPipeline.evaluate`` (the facts, rules and
cards of the hooks; nothing is re-implemented here).

A partition's lines are grouped by patient in memory as the bytes they were read as; a patient's
resources are parsed when that patient's turn comes and dropped after it, so memory is bounded by
the partition, not the export.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import orjson

from ..cards import CardRenderer
from ..errors import CdsError
from ..hooks import HookPipeline
from ..settings import configured_data_dir
from ..terminology import get_terminology
from .code_change import code_change
from .hook_request import (
    SERVICE_ID,
    PatientResource,
    carried_at_discharge,
    day_of,
    hook_request,
    patient_resource,
)
from .problems import Problem, ProblemWriter
from .split import FHIR_ID, partition_folder

_ENTRY_PATH = re.compile(r"^prefetch\.(?P<key>conditions|procedures|coverage)\.entry\[(?P<i>\d+)\]"
                         r"(?:\.resource)?")
FINDING_COLUMNS = ("encounter", "patient", "date_of_service", "rule", "indicator",
                   "codes_before", "codes_suggested", "summary")
_SEARCH_KEYS = {"Condition": "conditions", "Procedure": "procedures", "Coverage": "coverage"}
_TYPE_OF_KEY = {key: resource_type for resource_type, key in _SEARCH_KEYS.items()}

_URGENCY = {"info": 1, "warning": 2, "critical": 3}

_pipeline = None


def audit_pipeline():
    """The hooks' pipeline, built once per process: the same terminology and card templates the
    server loads; no FHIR fetching (the audit sends every prefetch key)."""
    global _pipeline
    if _pipeline is None:
        _pipeline = HookPipeline(get_terminology(configured_data_dir()), CardRenderer())
    return _pipeline



@dataclass(frozen=True)
class PartitionTask:
    partition: int
    work_dir: str
    date_from: str | None  # ISO dates, inclusive; None: open
    date_to: str | None


@dataclass
class PartitionResult:
    partition: int
    patients: int = 0
    encounters: int = 0
    finished: int = 0
    in_window: int = 0
    audited: int = 0
    cards: int = 0
    cards_by_rule: Counter = field(default_factory=Counter)
    rule_titles: dict[str, str] = field(default_factory=dict)
    rule_indicators: dict[str, str] = field(default_factory=dict)  # the most urgent seen
    indicators: Counter = field(default_factory=Counter)
    findings_per_encounter: Counter = field(default_factory=Counter)
    code_changes: Counter = field(default_factory=Counter)
    problems: dict[str, int] = field(default_factory=dict)


def partition_outputs(work_dir: str, partition: int) -> dict[str, Path]:
    base = Path(work_dir)
    return {"cards": base / f"cards-{partition:05d}.tsv",
            "findings": base / f"findings-{partition:05d}.tsv",
            "problems": base / f"problems-eval-{partition:05d}.ndjson"}


def evaluate_partition(task: PartitionTask) -> PartitionResult:
    pipeline = audit_pipeline()
    result = PartitionResult(task.partition)
    outputs = partition_outputs(task.work_dir, task.partition)
    problems = ProblemWriter(outputs["problems"], sort=True)
    patients = _read_partition(partition_folder(task.work_dir, task.partition))
    result.patients = len(patients)
    with outputs["cards"].open("wb") as cards_out, outputs["findings"].open("wb") as rows_out:
        for patient_id in sorted(patients):
            records = patients.pop(patient_id)  # dropped once read: memory is one patient's
            _audit_patient(pipeline, patient_id, records, task, result, problems, cards_out,
                           rows_out)
    problems.close()
    result.problems = problems.counts
    return result


def _read_partition(folder: Path) -> dict[str, list[tuple[int, int, bytes, bytes]]]:
    patients: dict[str, list[tuple[int, int, bytes, bytes]]] = {}
    if not folder.is_dir():
        return patients  # no patient hashed here
    for shard in sorted(folder.iterdir()):
        with shard.open("rb") as lines:
            for line in lines:
                patient, resource_type, file_index, number, raw = line.rstrip(b"\n").split(
                    b"\t", 4)
                patients.setdefault(patient.decode(), []).append(
                    (int(file_index), int(number), resource_type, raw))
    return patients


def _audit_patient(pipeline, patient_id: str, records: list, task: PartitionTask,
                   result: PartitionResult, problems: ProblemWriter, cards_out, rows_out) -> None:
    records.sort(key=lambda record: (record[0], record[1]))  # export order
    patient: PatientResource | None = None
    encounters: dict[str, PatientResource] = {}
    unnamed_encounters: list[PatientResource] = []
    linked: dict[str, list[PatientResource]] = {"Condition": [], "Procedure": [], "Coverage": []}
    seen: set[tuple[bytes, str]] = set()
    for file_index, number, resource_type, raw in records:
        resource = orjson.loads(raw)  # read once already: valid JSON
        item = PatientResource((file_index, number), resource)
        resource_id = resource.get("id")
        if isinstance(resource_id, str):
            if (resource_type, resource_id) in seen:
                problems.add(Problem.DUPLICATE, file_index, number,
                             f"a second {resource_type.decode()} with the same id")
                continue
            seen.add((resource_type, resource_id))
        if resource_type == b"Patient":
            patient = item
        elif resource_type == b"Encounter":
            if isinstance(resource_id, str) and FHIR_ID.match(resource_id):
                encounters[resource_id] = item
            else:
                unnamed_encounters.append(item)
        else:
            kind = resource_type.decode()
            linked[kind].append(patient_resource(item))
    result.encounters += len(encounters) + len(unnamed_encounters)
    for kind in ("Condition", "Procedure"):
        for item in linked[kind]:
            if item.encounter_id is not None and item.encounter_id not in encounters:
                problems.add(Problem.ENCOUNTER_NOT_IN_EXPORT, *item.source,
                             f"the {kind}'s encounter is not in the export")
    for item in unnamed_encounters:
        if item.resource.get("status") == "finished":
            result.finished += 1
            problems.add(Problem.ENCOUNTER_WITHOUT_ID, *item.source,
                         "a finished Encounter without a valid id is not audited")
    excluded: set[tuple[int, int]] = set()  # resources the checks refused, left out
    for encounter_id in sorted(encounters):
        encounter = encounters[encounter_id]
        if encounter.resource.get("status") != "finished":
            continue
        result.finished += 1
        period = encounter.resource.get("period")
        service_day = day_of(period.get("start") if isinstance(period, dict) else None)
        if service_day is None:
            problems.add(Problem.ENCOUNTER_WITHOUT_DATE, *encounter.source,
                         "a finished Encounter without a valid period.start is not audited")
            continue
        if (task.date_from and service_day < task.date_from) or (
                task.date_to and service_day > task.date_to):
            continue
        result.in_window += 1
        end_day = day_of(period.get("end"))
        discharge_day = end_day if end_day is not None and end_day >= service_day else service_day
        response, by_reference, evidence = _evaluate_encounter(
            pipeline, patient_id, encounter_id, encounter, patient, linked, discharge_day,
            excluded, problems)
        if response is None:
            continue
        result.audited += 1
        key = f"{patient_id} {encounter_id}".encode()
        encounter_reference = f"Encounter/{encounter_id}"
        cards_out.write(key + b"\t" + orjson.dumps(
            {"encounter": encounter_reference, "patient": f"Patient/{patient_id}",
             "response": response, "evidence": evidence}) + b"\n")
        cards = response.get("cards", [])
        result.findings_per_encounter[len(cards)] += 1
        for card in cards:
            topic = card.get("source", {}).get("topic", {})
            rule = topic.get("code", "")
            result.cards += 1
            result.cards_by_rule[rule] += 1
            result.rule_titles.setdefault(rule, topic.get("display", rule))
            indicator = card.get("indicator", "")
            result.indicators[indicator] += 1
            if _URGENCY.get(indicator, 0) > _URGENCY.get(result.rule_indicators.get(rule), 0):
                result.rule_indicators[rule] = indicator
            before, suggested = code_change(card, by_reference)
            if before or suggested:
                result.code_changes[f"{before or '(none)'} → {suggested or '(none)'}"] += 1
            row = (encounter_reference, f"Patient/{patient_id}", service_day, rule,
                   indicator, before, suggested, card.get("summary", ""))
            rows_out.write(key + b"\t" + orjson.dumps(row) + b"\n")


def _evaluate_encounter(pipeline, patient_id: str, encounter_id: str, encounter: PatientResource,
                        patient: PatientResource | None, linked: dict[str, list[PatientResource]],
                        discharge_day: str, excluded: set[tuple[int, int]],
                        problems: ProblemWriter
                        ) -> tuple[dict | None, dict[str, dict], list[list[dict]]]:
    """The encounter-discharge response for one encounter, and what each of its cards rests on
    (as data: references and offsets, never the words of a note, in the cards' order); a
    resource the checks refuse as not valid FHIR is reported once, left out of this and the
    patient's later calls, and the call made again without it, as a client would after fixing
    its data."""
    carried = {kind: [item for item in items
                      if item.source not in excluded and carried_at_discharge(item, encounter_id,
                                                                  discharge_day)]
               for kind, items in linked.items()}
    while True:
        use_patient = patient if patient is not None and patient.source not in excluded else None
        body = hook_request(patient_id, encounter.resource,
                            use_patient.resource if use_patient else None,
                            *([item.resource for item in carried[kind]]
                              for kind in ("Condition", "Procedure", "Coverage")))
        try:
            result = pipeline.evaluate(SERVICE_ID, body, date.fromisoformat(discharge_day))
        except CdsError as exc:
            refused = _refused_resource(exc, carried, use_patient)
            if refused is None:
                text = _message_without_prefix(exc, "prefetch.encounter", "Encounter")
                problems.add(Problem.NOT_EVALUATED, *encounter.source,
                             f"the encounter could not be evaluated ({exc.status}: {text})")
                return None, {}, []
            item, kind, text = refused
            excluded.add(item.source)
            problems.add(Problem.INVALID_RESOURCE, *item.source, text)
            if kind in carried:
                carried[kind] = [other for other in carried[kind] if other is not item]
            continue
        except Exception as exc:  # noqa: BLE001 -- one encounter's failure must not end the run
            problems.add(Problem.NOT_EVALUATED, *encounter.source,
                         f"the checks failed on this encounter ({exc.__class__.__name__})")
            return None, {}, []
        by_reference = {}
        if any(card.get("suggestions") for card in result.response.get("cards", [])):
            # what the suggestions' actions change, looked up only when there are any
            for kind in ("Condition", "Procedure"):
                for item in carried[kind]:
                    resource_id = item.resource.get("id")
                    if isinstance(resource_id, str):
                        by_reference[f"{kind}/{resource_id}"] = item.resource
        evidence = [[item.as_data() for item in finding.evidence]
                    for finding in result.findings]
        return result.response, by_reference, evidence


def _refused_resource(exc: CdsError, carried: dict[str, list[PatientResource]],
                      patient: PatientResource | None) -> tuple[PatientResource, str, str] | None:
    field_path = exc.field or ""
    if exc.status != 400:
        return None
    if patient is not None and (field_path == "prefetch.patient"
                                or field_path.startswith(("prefetch.patient.",
                                                          "prefetch.patient["))):
        return patient, "Patient", _message_without_prefix(exc, "prefetch.patient", "Patient")
    match = _ENTRY_PATH.match(field_path)
    if match is None:
        return None
    kind = _TYPE_OF_KEY[match.group("key")]
    index = int(match.group("i"))
    if index >= len(carried[kind]):
        return None
    return carried[kind][index], kind, _message_without_prefix(exc, match.group(0), kind)


def _message_without_prefix(exc: CdsError, prefix: str, resource_type: str) -> str:
    # "prefetch.conditions.entry[3].resource.code is not valid" -> "Condition.code is not valid"
    message = exc.message
    return message.replace(prefix, resource_type, 1) if message.startswith(prefix) else message


