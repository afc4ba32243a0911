"""Every example in ../shared/examples (copied to tests/fixtures/examples) over real HTTP."""

from __future__ import annotations

import json

import pytest
import requests

from cds_service.hooks import SERVICES
from tests.contract import check_response
from tests.support.examples import EXAMPLES

HOOK_TO_SERVICE = {s.hook: s.id for s in SERVICES.values()}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_over_http(live_server, path):
    example = json.loads(path.read_text())
    request = example["request"]
    service_id = HOOK_TO_SERVICE[request["hook"]]
    response = requests.post(f"{live_server.url}/cds-services/{service_id}", json=request,
                             timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    problems = check_response(response.json(), request, example["expect"])
    assert not problems, problems


def test_examples_are_present():
    names = {p.stem for p in EXAMPLES}
    assert {"retired-m545", "documented-nonspecific-is-quiet"} <= names
