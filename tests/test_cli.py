"""`cds-service evaluate`: the same code path as the HTTP endpoint, exit 0 or exit 2."""

from __future__ import annotations

import json

import pytest

from cds_service.cli import main
from tests.conftest import FIXTURES


def test_evaluate_prints_the_response(capsys):
    assert main(["evaluate", str(FIXTURES / "examples" / "retired-m545.json")]) == 0
    response = json.loads(capsys.readouterr().out)
    codes = [c["source"]["topic"]["code"] for c in response["cards"]]
    assert "invalid-code" in codes


def test_evaluate_reads_a_bare_request_from_stdin(capsys, monkeypatch):
    import io

    request = json.loads((FIXTURES / "examples" / "retired-m545.json").read_text())["request"]
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(request)))
    assert main(["evaluate", "-"]) == 0
    assert "invalid-code" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content, args, message",
    [
        ("{not json", [], "not valid JSON"),
        ('{"hook": "patient-view"}', [], "cannot tell the service"),
        ('{"hook": "encounter-discharge"}', [], "400"),
        ('{"hook": "order-sign"}', ["--service", "nope"], "404"),
    ],
)
def test_evaluate_bad_input_exits_2_with_one_line(tmp_path, capsys, content, args, message):
    path = tmp_path / "request.json"
    path.write_text(content)
    assert main(["evaluate", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_evaluate_missing_file_exits_2(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "absent.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
