"""`cds-service evaluate`: the same code path as the HTTP endpoint, exit 0 or exit 2."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import pytest

from cds_service.cli import main
from cds_service.settings import Settings
from tests.support.examples import FIXTURES
from tests.support.live_server import cds_command


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


def test_evaluate_says_nothing_about_client_authentication(tmp_path):
    """Offline there is no caller to authenticate: no warning that hook calls will get 401,
    and no feedback database is created (HOME is empty and stays so)."""
    example = FIXTURES / "examples" / "retired-m545.json"
    result = subprocess.run([*cds_command(), "evaluate", str(example)], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "invalid-code" in result.stdout
    assert "401" not in result.stderr and "issuer" not in result.stderr, result.stderr
    assert not list(tmp_path.rglob("*.db"))


def test_serve_help_states_the_defaults_the_server_uses():
    parser_help = subprocess.run([*cds_command(), "serve", "--help"], capture_output=True,
                                 text=True, timeout=60, env={"PATH": "/usr/bin:/bin",
                                                             "COLUMNS": "200"})
    assert parser_help.returncode == 0
    text = " ".join(parser_help.stdout.split())
    defaults = Settings.load({})
    assert f"(default: CDS_THREADS, else {defaults.threads})" in text
    assert f"(default: CDS_PORT, else {defaults.port})" in text
    assert f"(default: CDS_HOST, else {defaults.host})" in text
    assert f"{defaults.workers} here)" in text  # the usable CPUs, computed


def test_report_table_shows_rule_titles_and_reason_displays():
    from cds_service.store.report import (
        ReasonCount,
        RuleStats,
        build_report,
        render_csv,
        render_table,
    )

    stats = RuleStats("invalid-code", shown=3, accepted=1, overridden=2)
    stats.top_override_reasons = [ReasonCount("urn:reasons", "payer-accepts-code", 2)]
    report = build_report([stats], None, ["invalid-code", "cmt-level"],
                          {"invalid-code": "Code not billable", "cmt-level": "Level too high"},
                          {("urn:reasons", "payer-accepts-code"): "Payer accepts it"})
    table = render_table(report)
    assert "Code not billable" in table and "Level too high" in table
    assert 'payer-accepts-code "Payer accepts it" (2)' in table
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert rows[0]["title"] == "Code not billable"
    assert rows[0]["top_override_reasons"] == 'payer-accepts-code "Payer accepts it" (2)'
