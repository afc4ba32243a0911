"""Golden responses: the full HTTP response to every fixture request, and to a fixed set of
generated records, recorded once and compared on every run.

It guards moves of code that must not change behaviour: any difference in a card, an action, a
link or a status fails, with the request named. Card uuids and the times the service stamps
are masked; nothing else is.

After a deliberate change of behaviour, record again and review the diff of the golden file:

    CDS_GOLDEN_RECORD=1 .venv/bin/python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
from pathlib import Path

import pytest

from tests import procedure_builders as pb
from tests.builders import condition, encounter, procedure
from tests.support.examples import fixture_requests as every_fixture_request

GOLDEN = Path(__file__).parent / "golden" / "responses.json"
SERVICE_OF_HOOK = {"encounter-discharge": "lbp-coding-encounter-discharge",
                   "order-sign": "lbp-coding-order-sign"}
RECORD = os.environ.get("CDS_GOLDEN_RECORD") == "1"

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?")


def fixture_requests() -> list[tuple[str, dict]]:
    return [(f"fixture:{name}", body) for name, body in every_fixture_request(SERVICE_OF_HOOK)]


# -- generated records: a seeded mix of what the rules read ----------------------------------
# Like test_convergence's vocabulary, but this one's own and frozen: it is the input of the
# recorded responses, so a change here is a change of the golden file (record again and review).
ICD = ["M54.50", "M54.51", "M54.59", "M54.5", "M54.16", "M54.17", "M54.41", "M54.42", "M54.30",
       "M51.26", "M51.36", "M51.16", "M51.27", "M47.816", "M48.061", "M99.03", "M99.04",
       "S39.012A", "S39.012D", "S33.5XXA", "Z47.89", "Z48.812", "M54.9", "G89.29", "M51.A0"]
SNOMED = ["279039007", "278860009", "23056005", "128196005", "2415007", "20021007",
          "26538006", "311211000119105"]
PHRASES = [
    "Left sciatica.", "Denies sciatica.", "Pain radiates down the right leg.", "No radiation.",
    "MRI shows L4-5 disc herniation.", "Lumbar radiculopathy.", "DDD at L5-S1.",
    "Strain after lifting a box.", "Follow-up visit, routine healing phase.",
    "Vertebrogenic low back pain.", "Status post L4-5 fusion.", "Post-op rehab visit.",
    "ROS: negative for fever, numbness, tingling or sciatica.", "Bilateral sciatica.",
    "Receiving active treatment.", "Assessment: mechanical low back pain.",
    "Subluxation at L4 on x-ray.", "Herniated disc at L5-S1 with left leg pain.",
]
DAYS = ["2021-06-01", "2021-10-01", "2023-05-02", "2024-09-30", "2024-10-01", "2025-01-15",
        "2026-03-02", "2026-11-20"]
ORDERS = ["97110", "97140", "97012", "97014", "98940", "98941", "98942", "97530", "97010", "72148"]


def generated_record(seed: int) -> dict:
    pick = random.Random(seed)
    day = pick.choice(DAYS)
    conditions = []
    for index in range(pick.randint(1, 3)):
        kind = pick.choice(["icd", "icd", "snomed", "both"])
        icd = pick.choice(ICD) if kind != "snomed" else None
        snomed = pick.choice(SNOMED) if kind != "icd" else None
        note = " ".join(pick.sample(PHRASES, pick.randint(0, 3)))
        conditions.append(condition(f"c{index}", icd, snomed, note or None,
                                    documented=pick.random() < 0.5))
    history = ([procedure("h1", pick.choice(["22612", "63047", "97110"]), "2020-05-01")]
               if pick.random() < 0.3 else [])
    coverage = pick.choice([None, [pb.medicare()], [pb.commercial()], []])
    start = f"{day}T09:00:00-05:00"
    if pick.random() < 0.5:
        orders = [pb.service_request(f"o{i}", code)
                  for i, code in enumerate(pick.sample(ORDERS, pick.randint(1, 3)))]
        body = pb.order_sign(orders, conditions, coverage, history, start=start)
    else:
        done = [pb.procedure(f"d{i}", code, day=day)
                for i, code in enumerate(pick.sample(ORDERS, pick.randint(0, 3)))]
        body = pb.discharge(history + done, conditions, coverage, start=start)
        body["prefetch"]["encounter"] = encounter(start=start)
    return body


def malformed_requests() -> list[tuple[str, dict]]:
    """Requests a client gets wrong: the status and OperationOutcome must not move either."""
    base = generated_record(0)
    cases = {
        "no-hook-instance": lambda body: body.pop("hookInstance"),
        "context-not-an-object": lambda body: body.update(context=[]),
        "conditions-not-a-bundle": lambda body: body["prefetch"].update(conditions={"a": 1}),
        "encounter-of-another-type": lambda body: body["prefetch"]["encounter"].update(
            resourceType="Patient"),
        "condition-code-not-a-concept": lambda body: body["prefetch"]["conditions"]["entry"][0][
            "resource"].update(code="M54.50"),
    }
    requests = []
    for name, spoil in cases.items():
        body = copy.deepcopy(base)
        spoil(body)
        requests.append((f"malformed:{name}", body))
    return requests


def golden_requests() -> list[tuple[str, dict]]:
    return fixture_requests() + [(f"generated:{seed}", generated_record(seed))
                                 for seed in range(200)] + malformed_requests()


# -- masking what changes from call to call ---------------------------------------------------
def masked(response: object, request: dict) -> object:
    sent = json.dumps(request)
    uuids: dict[str, str] = {}

    def mask(value: object) -> object:
        if isinstance(value, dict):
            return {key: mask(item) for key, item in value.items()}
        if isinstance(value, list):
            return [mask(item) for item in value]
        if isinstance(value, str):
            value = _UUID.sub(lambda m: m.group(0) if m.group(0) in sent else
                              uuids.setdefault(m.group(0), f"<uuid-{len(uuids) + 1}>"), value)
            return _DATETIME.sub(lambda m: m.group(0) if m.group(0) in sent else "<now>", value)
        return value

    return mask(response)


def respond(client, body: dict) -> dict:
    reply = client.post(f"/cds-services/{SERVICE_OF_HOOK[body['hook']]}",
                        json=copy.deepcopy(body))
    return {"status": reply.status_code, "body": masked(reply.get_json(), body)}


REQUESTS = golden_requests()


@pytest.fixture(scope="module")
def recorded() -> dict:
    if RECORD:
        return {}
    return json.loads(GOLDEN.read_text())


def test_the_golden_set_covers_every_fixture_and_most_rules(recorded):
    if RECORD:
        pytest.skip("recording")
    assert sorted(recorded) == sorted(name for name, _ in REQUESTS)
    topics = {card["source"]["topic"]["code"] for answer in recorded.values()
              for card in (answer["body"] or {}).get("cards", [])}
    assert len(topics) >= 16, topics


@pytest.mark.parametrize("name, body", REQUESTS, ids=[name for name, _ in REQUESTS])
def test_response_is_unchanged(client, recorded, name, body):
    answer = respond(client, body)
    if RECORD:
        everything = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
        everything[name] = answer
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(dict(sorted(everything.items())), indent=1,
                                     sort_keys=True) + "\n")
        return
    assert name in recorded, f"{name} has no golden response: record it (see module docstring)"
    assert answer == recorded[name]
