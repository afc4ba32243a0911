"""`cds-service audit` over a small FHIR Bulk Data export made here (tests/audit_export.py):
split and gzipped files, bad lines counted and the run going on, the cards of each encounter
equal to the hook's answer to the same data over HTTP, the local and Dask engines giving the same
findings, report.html drawn in headless Chromium, and nothing of the patients' in the output of
the command."""

from __future__ import annotations

import copy
import csv
import gzip
import json
import os
import pty
import subprocess
import sys
import tracemalloc
from collections import Counter
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests

from cds_service.audit import AuditError, AuditOptions, run_audit
from cds_service.audit.report import BAR_WIDTH
from tests.audit_export import hook_body, write_export
from tests.support import browser
from tests.support.live_server import cds_command, free_port
from tests.support.logs import register_secret

DISCHARGE = "lbp-coding-encounter-discharge"
WINDOW = ["--from", "2020-01-01", "--to", "2026-12-31"]
OUTPUTS = ("findings.csv", "findings.parquet", "cards.ndjson", "errors.ndjson", "summary.json",
           "report.html")


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    made = write_export(tmp_path_factory.mktemp("audit") / "export")
    for secret in made.secrets:
        register_secret(secret, "audit patient data")
    return made


def _audit(export, out: Path, engine: str = "local", workers: int = 1, folder: Path | None = None):
    return run_audit(AuditOptions(inputs=[str(folder or export.folder)], out=str(out),
                                  engine=engine, workers=workers, date_from=date(2020, 1, 1),
                                  date_to=date(2026, 12, 31)))


@pytest.fixture(scope="module")
def local_run(export, tmp_path_factory):
    out = tmp_path_factory.mktemp("audit-local")
    summary = _audit(export, out, workers=2)
    return out, summary


def _cards_by_encounter(out: Path) -> dict[str, dict]:
    lines = (out / "cards.ndjson").read_text().splitlines()
    return {record["encounter"]: record for record in map(json.loads, lines)}


def _masked(value):
    """The response with every uuid blanked (each call mints its own) and without the rule
    page links (``source.url`` names the host that answered; the offline audit has none)."""
    value = copy.deepcopy(value)
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "uuid" in item:
                item["uuid"] = "-"
            if isinstance(item.get("topic"), dict):
                item.pop("url", None)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


def _findings(out: Path) -> list[dict]:
    with (out / "findings.csv").open(newline="", encoding="utf-8") as rows:
        return list(csv.DictReader(rows))


def test_every_finished_encounter_in_the_window_is_audited(export, local_run):
    out, summary = local_run
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    assert not [p for p in out.iterdir() if p.name.startswith(".audit-work")]
    cards = _cards_by_encounter(out)
    # the visit in progress and the one before the window are not audited
    assert set(cards) == set(export.calls)
    assert summary["encounters"] == {"read": 10, "finished": 9, "in_window": 8, "audited": 8,
                                     "with_findings": sum(
                                         1 for c in cards.values() if c["response"]["cards"])}
    assert cards["Encounter/audtwice1"]["patient"] == "Patient/audtwicepatient"
    # the gzipped and the plain Condition files were both read
    assert summary["inputs"]["resources"]["Condition"] == 10


def test_findings_have_one_row_per_card_with_the_code_change(export, local_run):
    out, summary = local_run
    rows = _findings(out)
    cards = _cards_by_encounter(out)
    assert len(rows) == sum(len(c["response"]["cards"]) for c in cards.values())
    assert len(rows) == summary["cards"]
    retired = [r for r in rows if r["encounter"] == "Encounter/audtwice1"
               and r["rule"] == "invalid-code"]
    assert len(retired) == 1
    assert retired[0]["patient"] == "Patient/audtwicepatient"
    assert retired[0]["indicator"] == "critical"
    assert retired[0]["date_of_service"] == "2025-02-03"
    assert retired[0]["codes_before"] == "M54.5"
    assert retired[0]["codes_suggested"].split(" | ") == ["M54.50", "M54.51", "M54.59"]
    assert "M54.5 stopped being billable" in retired[0]["summary"]
    # in (patient, encounter) order, the order of cards.ndjson
    keys = [(r["patient"], r["encounter"]) for r in rows]
    assert keys == sorted(keys, key=lambda k: (k[0].split("/")[1], k[1].split("/")[1]))

    import pyarrow.parquet as pq

    table = pq.read_table(out / "findings.parquet")
    assert table.column_names == list(rows[0])
    assert table.to_pylist() == rows


def test_each_problem_is_counted_with_its_file_and_line_and_never_the_content(export, local_run):
    out, summary = local_run
    errors = [json.loads(line) for line in (out / "errors.ndjson").read_text().splitlines()]
    assert {(Path(e["file"]).name, e["line"], e["kind"]) for e in errors} == export.problems
    assert set(errors[0]) == {"file", "line", "kind", "problem"}
    invalid = next(e for e in errors if e["kind"] == "invalid-resource")
    assert invalid["problem"].startswith("Condition.recordedDate is not valid FHIR R4")
    assert summary["problems"] == dict(Counter(kind for _, _, kind in export.problems))
    text = (out / "errors.ndjson").read_text()
    for secret in [*export.secrets, "audbroken", "audobs", "audorphan", "audnobody",
                   "audinvalid", "day before yesterday"]:
        assert secret not in text


def test_the_cards_of_an_encounter_are_the_cards_of_the_hook_call(export, local_run,
                                                                  live_server):
    out, _ = local_run
    audited = _cards_by_encounter(out)
    assert any(record["response"]["cards"] for record in audited.values())
    for reference, call in export.calls.items():
        response = requests.post(f"{live_server.url}/cds-services/{DISCHARGE}",
                                 json=hook_body(call), timeout=30)
        assert response.status_code == 200, response.text
        assert _masked(audited[reference]["response"]) == _masked(response.json()), reference


@pytest.mark.slow  # a Dask LocalCluster: a scheduler and two worker processes
def test_the_dask_engine_finds_what_the_local_engine_finds(export, local_run, tmp_path):
    local_out, local_summary = local_run
    dask_out = tmp_path / "dask"
    summary = _audit(export, dask_out, engine="dask", workers=2)
    assert summary["engine"] == "dask" and summary["workers"] == 2
    for name in ("findings.csv", "errors.ndjson"):
        assert (dask_out / name).read_bytes() == (local_out / name).read_bytes(), name
    local_cards = (local_out / "cards.ndjson").read_text().splitlines()
    dask_cards = (dask_out / "cards.ndjson").read_text().splitlines()
    assert [_masked(json.loads(x)) for x in dask_cards] == [
        _masked(json.loads(x)) for x in local_cards]
    ignore = {"engine", "workers", "partitions"}
    assert {k: v for k, v in summary.items() if k not in ignore} == {
        k: v for k, v in local_summary.items() if k not in ignore}


def test_the_partitioning_does_not_change_the_findings(export, local_run, tmp_path):
    local_out, _ = local_run
    out = tmp_path / "one-by-one"
    _audit(export, out, workers=1)
    assert (out / "findings.csv").read_bytes() == (local_out / "findings.csv").read_bytes()


class _Report(HTMLParser):
    def __init__(self):
        super().__init__()
        self.bars: dict[str, dict[str, dict]] = {}
        self.tiles: dict[str, str] = {}
        self.problems: dict[str, str] = {}
        self.references: list[str] = []
        self._chart: str | None = None
        self._bar: dict | None = None
        self._tile: str | None = None
        self._problem: str | None = None
        self._text: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.references += [v for k, v in attrs if k in ("src", "href") and v]
        if tag == "section" and "data-chart" in attributes:
            self._chart = attributes["data-chart"]
            self.bars[self._chart] = {}
        elif tag == "g" and self._chart:
            self._bar = {"count": int(attributes["data-count"])}
            self.bars[self._chart][attributes["data-key"]] = self._bar
        elif tag == "rect" and self._bar is not None:
            self._bar["width"] = float(attributes["width"])
        elif tag == "div" and "data-tile" in attributes:
            self._tile = attributes["data-tile"]
        elif tag == "div" and self._tile and attributes.get("class") == "tile-value":
            self._text = []
        elif tag == "tr" and "data-kind" in attributes:
            self._problem = attributes["data-kind"]
        elif tag == "td" and self._problem and attributes.get("class") == "number":
            self._text = []

    def handle_endtag(self, tag):
        if tag == "section":
            self._chart = None
        elif tag == "g":
            self._bar = None
        elif tag == "div" and self._text is not None and self._tile:
            self.tiles[self._tile] = "".join(self._text).strip()
            self._tile, self._text = None, None
        elif tag == "td" and self._text is not None and self._problem:
            self.problems[self._problem] = "".join(self._text).strip()
            self._problem, self._text = None, None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def test_the_report_draws_what_the_findings_say(export, local_run, chromium, tmp_path):
    out, _ = local_run
    report = _Report()
    report.feed(browser.dump_dom(chromium, (out / "report.html").as_uri(), tmp_path))
    rows = _findings(out)

    by_rule = {rule: bar["count"] for rule, bar in report.bars["rules"].items()}
    assert by_rule == dict(Counter(r["rule"] for r in rows))
    largest = max(by_rule.values())
    for bar in report.bars["rules"].values():
        assert bar["width"] == pytest.approx(BAR_WIDTH * bar["count"] / largest, abs=0.1)
    changes = Counter(f"{r['codes_before'] or '(none)'} → {r['codes_suggested'] or '(none)'}"
                      for r in rows if r["codes_before"] or r["codes_suggested"])
    assert {k: b["count"] for k, b in report.bars["code-changes"].items()} == dict(changes)
    assert report.bars["code-changes"]["M54.5 → M54.50 | M54.51 | M54.59"]["count"] == 2
    per_encounter = Counter(Counter(r["encounter"] for r in rows).values())
    audited = len(export.calls)
    per_encounter[0] = audited - sum(per_encounter.values())
    histogram = {k: b["count"] for k, b in report.bars["findings-per-encounter"].items()}
    assert histogram == {bucket: per_encounter.get(int(bucket[0]), 0) if bucket[0] != "5"
                         else sum(n for k, n in per_encounter.items() if k >= 5)
                         for bucket in ("0", "1", "2", "3", "4", "5 or more")}
    assert report.tiles["audited"] == str(audited)
    assert report.tiles["cards"] == str(len(rows))
    assert report.tiles["problems"] == str(len(export.problems))
    assert report.problems == {kind: "1" for _, _, kind in export.problems}
    assert report.references == []  # nothing loaded from anywhere


def test_a_missing_folder_or_an_unreadable_file_stops_before_any_work(export, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(AuditError, match="no such file or folder"):
        run_audit(AuditOptions(inputs=[str(export.folder), str(tmp_path / "nowhere")],
                               out=str(out)))
    assert not out.exists()
    broken = tmp_path / "Encounter.ndjson.gz"
    broken.write_bytes(b"\x1f\x8b" + b"not gzip at all")
    with pytest.raises(AuditError, match="cannot be decompressed"):
        run_audit(AuditOptions(inputs=[str(broken)], out=str(out)))
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    with pytest.raises(AuditError, match="holds no NDJSON files"):
        run_audit(AuditOptions(inputs=[str(empty)], out=str(out)))
    assert not out.exists()
    if os.geteuid() != 0:  # root reads any file
        locked = tmp_path / "Patient.ndjson"
        locked.write_text("{}\n")
        locked.chmod(0)
        with pytest.raises(AuditError, match="permission denied"):
            run_audit(AuditOptions(inputs=[str(locked)], out=str(out)))


def test_a_file_cut_short_is_reported_and_the_rest_is_audited(export, tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    for source in export.folder.iterdir():
        (folder / source.name).write_bytes(source.read_bytes())
    whole = gzip.compress((export.folder / "Patient.ndjson").read_bytes())
    (folder / "Patient.ndjson").unlink()
    (folder / "Patient.ndjson.gz").write_bytes(whole[: len(whole) - 12])  # no gzip trailer
    summary = _audit(export, tmp_path / "out", folder=folder)
    assert summary["problems"]["unreadable-rest-of-file"] == 1
    assert summary["encounters"]["audited"] == len(export.calls)


def test_the_command_line_is_quiet_off_a_terminal_and_leaks_nothing(export, tmp_path):
    out = tmp_path / "out"
    result = subprocess.run([*cds_command(), "audit", str(export.folder), "--out", str(out),
                             *WINDOW, "--workers", "1"],
                            capture_output=True, text=True, timeout=300,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr == ""
    assert result.stdout.startswith(f"audited {len(export.calls)} encounters")
    assert "\r" not in result.stdout
    for secret in export.secrets:
        assert secret not in result.stdout
    assert (out / "findings.csv").is_file()


def test_the_command_line_draws_a_progress_bar_on_a_terminal(export, tmp_path):
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [*cds_command(), "audit", str(export.folder), "--out", str(tmp_path / "out"), *WINDOW,
         "--workers", "1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    assert process.wait(timeout=300) == 0
    os.close(leader)
    text = seen.decode(errors="replace")
    assert "reading" in text and "auditing" in text and "[" in text and "\r" in text
    assert "encounters" in text
    for secret in export.secrets:
        assert secret not in text


def test_the_command_line_names_its_errors_in_one_line(export, tmp_path):
    result = subprocess.run([*cds_command(), "audit", str(tmp_path / "nowhere"), "--out",
                             str(tmp_path / "out")], capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"cds-service audit: {tmp_path / 'nowhere'}: no such file or folder"]
    result = subprocess.run([*cds_command(), "audit", str(export.folder), "--out",
                             str(tmp_path / "out"), "--scheduler", "tcp://127.0.0.1:1"],
                            capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "--scheduler needs --engine dask" in result.stderr
    result = subprocess.run([*cds_command(), "audit", str(export.folder), "--out",
                             str(tmp_path / "out"), "--engine", "dask", "--scheduler",
                             f"tcp://127.0.0.1:{free_port()}"],
                            capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "cds-service audit: cannot reach the Dask scheduler (OSError)"]
    assert not (tmp_path / "out" / "findings.csv").exists()


def test_without_the_audit_extra_the_command_says_what_to_install(export, tmp_path):
    # pyarrow made unimportable, as in an installation without the [audit] extra
    program = ("import sys; sys.modules['pyarrow'] = None; sys.modules['distributed'] = None; "
               "from cds_service.cli import main; sys.exit(main(sys.argv[1:]))")
    for engine in ("local", "dask"):
        result = subprocess.run(
            [sys.executable, "-c", program, "audit", str(export.folder), "--out",
             str(tmp_path / "out"), "--engine", engine],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "pip install 'cds-service[audit]'" in lines[0]
        assert not (tmp_path / "out").exists()


def test_memory_is_bounded_by_a_partition_not_by_the_export(tmp_path):
    """An export of ~16 MB audited with 1 MB partitions in this process: the Python memory it
    allocates at its peak stays far below the export's size (the whole export read at once
    would hold at least its bytes; what is left is mostly the pipeline's bounded caches)."""
    folder = tmp_path / "export"
    folder.mkdir()
    filler = "Blood pressure reviewed at home and in clinic; diet and exercise discussed. " * 100
    with (folder / "Patient.ndjson").open("w") as patients, (
            folder / "Encounter.ndjson").open("w") as encounters, (
            folder / "Condition.ndjson").open("w") as conditions:
        for number in range(200):
            patient = f"memp{number}"
            patients.write(json.dumps({"resourceType": "Patient", "id": patient}) + "\n")
            encounters.write(json.dumps({
                "resourceType": "Encounter", "id": f"meme{number}", "status": "finished",
                "class": {"code": "AMB"}, "subject": {"reference": f"Patient/{patient}"},
                "period": {"start": "2026-06-01T09:00:00Z"}}) + "\n")
            for index in range(10):
                conditions.write(json.dumps({
                    "resourceType": "Condition", "id": f"memc{number}x{index}",
                    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm",
                                         "code": "I10"}]},
                    "subject": {"reference": f"Patient/{patient}"},
                    "encounter": {"reference": f"Encounter/meme{number}"},
                    "recordedDate": "2026-06-01", "note": [{"text": f"{filler} {index}"}]})
                    + "\n")
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size > 15_000_000
    import pyarrow.parquet  # noqa: F401 (imported once, whatever the export)

    from cds_service.audit.evaluate import audit_pipeline

    audit_pipeline()  # the terminology is loaded once per process, whatever the export
    tracemalloc.start()
    try:
        summary = run_audit(AuditOptions(inputs=[str(folder)], out=str(tmp_path / "out"),
                                         workers=1, partition_mb=1), progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary["encounters"]["audited"] == 200
    assert summary["partitions"] >= 15
    assert peak < 0.3 * size, (peak, size)


def test_each_card_carries_its_evidence_as_data_without_the_words(export, local_run):
    """Evidence for programs: aligned with the cards, references and offsets into the
    resources' texts, never the words themselves."""
    out, _ = local_run
    audited = _cards_by_encounter(out)
    with_evidence = 0
    for record in audited.values():
        cards, evidence = record["response"]["cards"], record["evidence"]
        assert len(evidence) == len(cards)
        for card, items in zip(cards, evidence, strict=True):
            for item in items:
                assert item["reference"] and item["kind"] in ("text", "code", "absent")
                assert "text" not in item and "quote" not in item
                with_evidence += 1
            if items:  # the card's Why section names what its evidence points at
                assert any(item["reference"] in card["detail"] for item in items)
    assert with_evidence > 0


def test_partitions_are_handed_out_largest_first(tmp_path):
    from cds_service.audit.run import _largest_first
    from cds_service.audit.split import partition_path

    for partition, sizes in {0: [10], 1: [300, 5], 2: [], 3: [120]}.items():
        for file_index, size in enumerate(sizes):
            path = partition_path(str(tmp_path), partition, file_index)
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(b"x" * size)
    # partition 2 got no line at all (its folder was never made), partition 4 neither
    assert _largest_first(tmp_path, 5) == [1, 3, 0, 2, 4]
