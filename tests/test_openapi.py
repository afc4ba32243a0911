"""The OpenAPI document (cds_service/openapi.json): a valid OpenAPI 3 document, and the real
server holds to it under schemathesis' generated requests: no 5xx, no status code, content
type or body the document does not describe.

The run is bounded (a fixed number of examples per operation, a fixed seed) so that it takes
seconds and is the same run each time; the seed can be changed to explore further."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis

from tests.support.live_server import LiveServer

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "cds_service" / "openapi.json"
CHECKS = ("not_a_server_error", "response_schema_conformance", "status_code_conformance",
          "content_type_conformance")


@pytest.fixture(scope="module")
def fuzzed_server() -> Iterator[LiveServer]:
    """Its own server: the fuzzing sends over a thousand requests and must not disturb the
    counts other tests read from the shared one."""
    server = LiveServer(workers=2)
    yield server
    server.stop()


def test_the_document_is_openapi_3_and_loads():
    document = json.loads(DOCUMENT.read_text())
    assert document["openapi"].startswith("3.")
    schema = schemathesis.openapi.from_path(DOCUMENT)
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {f"{op.method.upper()} {op.path}" for op in operations}
    assert {"GET /cds-services", "POST /cds-services/lbp-coding-order-sign",
            "POST /cds-services/lbp-coding-encounter-discharge",
            "POST /cds-services/{service_id}/feedback", "GET /healthz", "GET /readyz",
            "GET /metrics", "GET /openapi.json", "GET /analytics/rules", "GET /analytics",
            "GET /rules", "GET /rules/{rule_id}", "GET /valuesets/{valueset_id}"} <= labels


def test_the_document_ships_in_the_wheel(built_wheel):
    import zipfile

    assert "cds_service/openapi.json" in zipfile.ZipFile(built_wheel).namelist()


def test_the_server_holds_to_its_document_under_generated_requests(fuzzed_server, tmp_path):
    command = [sys.executable, "-m", "schemathesis.cli", "run",
               f"{fuzzed_server.url}/openapi.json",  # the document as served
               "--checks", ",".join(CHECKS),
               "--max-examples", "40", "--seed", "20261127",
               "--phases", "examples,coverage,fuzzing",
               "--request-timeout", "30", "--workers", "2", "--no-color"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path,
                            stdin=subprocess.DEVNULL)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    generated = re.search(r"(\d+) generated", output)
    assert generated and int(generated.group(1)) >= 200, output[-3000:]
