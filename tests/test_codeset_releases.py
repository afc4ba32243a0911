"""ICD-10-CM releases by date of service: ``cds-service codeset add|list|remove`` (a real
subprocess), hook calls judged with the release in force, the ``codeset-outdated`` card,
``/readyz`` and the gauges, and a running server picking a new release up on SIGHUP.

The FY2027 release here is TEST DATA: the CDC April 1, 2026 tabular that simple-icd-10-cm ships,
with ``<version>`` set to 2027 and M54.50 turned into a header over two invented children,
M54.500 and M54.509. No such codes exist in any CDC release.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import time
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import requests

from cds_service.cards import CardRenderer
from cds_service.hooks import HookPipeline
from cds_service.terminology import ICD10CM_SYSTEM, Terminology, codeset, release_store, releases
from tests.support.live_server import LiveServer, cds_command

DISCHARGE = "lbp-coding-encounter-discharge"
BUNDLED_XML = codeset.package_data_dir() / "icd10c-tabular-April-1-2026.xml"
BUNDLED_CODES = codeset.package_data_dir() / "code-list-April-2026.txt"
# TEST DATA: invented children of M54.50, only inside the synthetic FY2027 release below
SYNTHETIC_CHILDREN = ("M54.500", "M54.509")
M5450_ENTRY = "<name>M54.50</name>\n            <desc>Low back pain, unspecified</desc>"
AFTER_FY2027_START = "2026-11-20"
INSIDE_FY2026 = "2026-09-15"
PAST_FY2027 = "2027-10-15"


def synthetic_fy2027_xml() -> str:
    xml = BUNDLED_XML.read_text("utf-8")
    assert xml.count("<version>2026</version>") == 1 and xml.count(M5450_ENTRY) == 1
    children = "".join(
        f"<diag><name>{code}</name><desc>TEST DATA, not a CDC code: low back pain, synthetic "
        f"child {n}</desc></diag>" for n, code in enumerate(SYNTHETIC_CHILDREN, 1))
    return (xml.replace("<version>2026</version>", "<version>2027</version>")
            .replace(M5450_ENTRY, M5450_ENTRY + children))


def run_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CDS_DATA_DIR": str(data_dir)}
    return subprocess.run([*cds_command(), "codeset", *args], env=env, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


def stored_files(data_dir: Path) -> list[str]:
    folder = data_dir / release_store.STORE_FOLDER
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture(scope="module")
def fy2027_xml(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("release") / "icd10cm-tabular-2027.xml"
    path.write_text(synthetic_fy2027_xml(), "utf-8")
    return path


@pytest.fixture(scope="module")
def fy2027_dir(fy2027_xml, tmp_path_factory) -> Path:
    """A CDS_DATA_DIR with the synthetic FY2027 release, loaded through the command."""
    data_dir = tmp_path_factory.mktemp("data")
    result = run_cli("add", str(fy2027_xml), "--codes", str(BUNDLED_CODES), data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert "stored CDC ICD-10-CM FY2027: dates of service 2026-10-01 to 2027-09-30" in \
        result.stdout
    assert stored_files(data_dir) == ["icd10cm-2026-10-01.marshal"]
    return data_dir


def pipeline_for(data_dir: Path) -> HookPipeline:
    terminology = Terminology(releases_dir=data_dir / release_store.STORE_FOLDER)
    return HookPipeline(terminology, CardRenderer())


@pytest.fixture(scope="module")
def with_fy2027(fy2027_dir) -> HookPipeline:
    return pipeline_for(fy2027_dir)


@pytest.fixture(scope="module")
def bundled_only(tmp_path_factory) -> HookPipeline:
    return pipeline_for(tmp_path_factory.mktemp("empty"))


def request_on(day: str, *codes: str, system: str = ICD10CM_SYSTEM) -> dict:
    condition = {
        "resourceType": "Condition", "id": "c1",
        "subject": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/e1"},
        "recordedDate": day,
        "code": {"coding": [{"system": system, "code": c} for c in codes]},
    }
    encounter = {"resourceType": "Encounter", "id": "e1", "status": "finished",
                 "class": {"code": "AMB"}, "subject": {"reference": "Patient/p1"},
                 "period": {"start": f"{day}T09:00:00-05:00"}}
    return {
        "hook": "encounter-discharge", "hookInstance": "5b0c8a9e-7c33-4d7b-9a53-3f0f3c1d2e44",
        "context": {"userId": "Practitioner/pr1", "patientId": "p1", "encounterId": "e1"},
        "prefetch": {"encounter": encounter,
                     "conditions": {"resourceType": "Bundle", "type": "searchset",
                                    "entry": [{"resource": condition}]},
                     "procedures": None, "coverage": None},
    }


def cards(pipeline: HookPipeline, body: dict) -> list[dict]:
    return pipeline.evaluate(DISCHARGE, body).response["cards"]


def of(found: list[dict], rule_id: str) -> list[dict]:
    return [c for c in found if c["source"]["topic"]["code"] == rule_id]


def suggested(card: dict) -> list[str]:
    return [coding["code"] for s in card.get("suggestions", []) for a in s["actions"]
            for coding in a["resource"]["code"]["coding"] if coding["system"] == ICD10CM_SYSTEM]


# -- codeset add / list / remove, through the command ----------------------------------------


def test_list_shows_each_release_and_its_window(fy2027_dir):
    result = run_cli("list", "--format", "json", data_dir=fy2027_dir)
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    windows = [(r["release"], r["effective"], r["until"], r["source"])
               for r in listing["releases"]]
    assert windows == [
        ("CDC ICD-10-CM FY2026 (April 1, 2026)", "2026-04-01", "2026-09-30", "bundled"),
        ("CDC ICD-10-CM FY2027", "2026-10-01", "2027-09-30", "loaded"),
    ]
    table = run_cli("list", data_dir=fy2027_dir)
    assert re.search(r"^CDC ICD-10-CM FY2027 +2026-10-01 to 2027-09-30 +98,468 codes +loaded +"
                     r"icd10cm-tabular-2027\.xml", table.stdout, re.MULTILINE), table.stdout


BAD_FILES = {
    "corrupt.xml": lambda: BUNDLED_XML.read_bytes()[:300_000],
    "empty.xml": lambda: b"",
    "unrelated.xml": lambda: b'<?xml version="1.0"?><project><modelVersion>4.0.0</modelVersion>'
                             b"</project>",
    "no-version.xml": lambda: b"<ICD10CM.tabular><chapter><name>1</name><desc>x</desc>"
                              b"</chapter></ICD10CM.tabular>",
    "not-a-year.xml": lambda: b"<ICD10CM.tabular><version>FY27</version><chapter><name>1</name>"
                              b"<desc>x</desc></chapter></ICD10CM.tabular>",
    "entities.xml": lambda: b'<?xml version="1.0"?><!DOCTYPE ICD10CM.tabular [<!ENTITY a "aaaa">'
                            b'<!ENTITY b "&a;&a;&a;&a;">]><ICD10CM.tabular><version>2027'
                            b"</version>&b;</ICD10CM.tabular>",
    "unrelated.zip": lambda: _zip({"readme.txt": b"hello", "data.xml": b"<a/>"}),
    "damaged.zip": lambda: _zip({"icd10cm-tabular-2027.xml": b"<a/>"})[:40],
    "image.png": lambda: b"\x89PNG\r\n\x1a\n" + bytes(64),
}


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_what_is_not_a_tabular_release_is_refused_and_nothing_is_stored(name, tmp_path):
    path = tmp_path / name
    path.write_bytes(BAD_FILES[name]())
    data_dir = tmp_path / "data"
    result = run_cli("add", str(path), data_dir=data_dir)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a CDC ICD-10-CM tabular release: " in lines[0], lines
    assert "Traceback" not in result.stderr
    assert stored_files(data_dir) == []


def test_an_effective_date_outside_the_fiscal_year_is_refused(fy2027_xml, tmp_path):
    result = run_cli("add", str(fy2027_xml), "--effective", "2027-10-01", data_dir=tmp_path)
    assert result.returncode == 2
    assert "outside FY2027 (2026-10-01 to 2027-09-30)" in result.stderr
    assert stored_files(tmp_path) == []


def test_a_cdc_zip_is_read_and_an_april_update_takes_its_effective_date(fy2027_xml, tmp_path):
    archive = tmp_path / "icd10cm-table-index-2027.zip"
    archive.write_bytes(_zip({"Table and Index/icd10cm-tabular-2027.xml": fy2027_xml.read_bytes(),
                              "Table and Index/icd10cm-index-2027.xml": b"<index/>"}))
    result = run_cli("add", str(archive), "--effective", "2027-04-01", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "CDC ICD-10-CM FY2027 (April 1, 2027): dates of service 2027-04-01 to 2027-09-30" in \
        result.stdout
    assert stored_files(tmp_path) == ["icd10cm-2027-04-01.marshal"]


def test_remove_drops_one_release(fy2027_dir, tmp_path):
    folder = tmp_path / release_store.STORE_FOLDER
    folder.mkdir()
    stored = fy2027_dir / release_store.STORE_FOLDER / "icd10cm-2026-10-01.marshal"
    (folder / stored.name).write_bytes(stored.read_bytes())
    missing = run_cli("remove", "FY2030", data_dir=tmp_path)
    assert missing.returncode == 2 and "no stored release matches 'FY2030'" in missing.stderr
    result = run_cli("remove", "FY2027", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "removed CDC ICD-10-CM FY2027" in result.stdout
    assert stored_files(tmp_path) == []


# -- hook calls judged with the release in force --------------------------------------------


def test_after_the_effective_date_the_expanded_code_is_invalid_with_the_new_codes(with_fy2027):
    found = cards(with_fy2027, request_on(AFTER_FY2027_START, "M54.50"))
    [invalid] = of(found, "invalid-code")
    assert suggested(invalid) == list(SYNTHETIC_CHILDREN)
    assert invalid["summary"].startswith("M54.50 stopped being billable on 2026-10-01")
    assert "CDC ICD-10-CM FY2027" in invalid["detail"]
    assert "TEST DATA, not a CDC code: low back pain, synthetic child 1" in invalid["detail"]
    assert of(found, "codeset-outdated") == []


def test_before_the_effective_date_the_code_is_judged_as_before(with_fy2027, bundled_only):
    body = request_on(INSIDE_FY2026, "M54.50")
    found = cards(with_fy2027, body)
    assert of(found, "invalid-code") == []
    topics = [c["source"]["topic"]["code"] for c in found]
    assert topics == [c["source"]["topic"]["code"] for c in cards(bundled_only, body)]
    # and a code of the new release does not exist yet on that date
    [invalid] = of(cards(with_fy2027, request_on(INSIDE_FY2026, "M54.500")), "invalid-code")
    assert "not an ICD-10-CM code" in invalid["summary"]
    assert "CDC ICD-10-CM FY2026 (April 1, 2026)" in invalid["detail"]


def test_a_new_code_is_billable_in_its_release(with_fy2027):
    found = cards(with_fy2027, request_on(AFTER_FY2027_START, "M54.500"))
    assert of(found, "invalid-code") == []
    icd = with_fy2027.terminology.icd
    day = date.fromisoformat(AFTER_FY2027_START)
    assert icd.description("M54.500", day).startswith("TEST DATA")
    assert icd.parent("M54.500", day) == "M54.50"
    assert icd.release_label(day) == "CDC ICD-10-CM FY2027"
    assert icd.release_label(None) == "CDC ICD-10-CM FY2026 (April 1, 2026)"


def test_outdated_card_with_only_the_bundled_release(bundled_only):
    found = cards(bundled_only, request_on(AFTER_FY2027_START, "M54.50"))
    [card] = of(found, "codeset-outdated")
    assert card["indicator"] == "info"
    assert card["summary"] == ("Checked with CDC ICD-10-CM FY2026 (April 1, 2026): CDC ICD-10-CM "
                               "FY2027 applies to this 2026-11-20 visit but is not loaded")
    assert "`cds-service codeset add FILE`" in card["detail"]
    assert "icd10cm-tabular-2027.xml" in card["detail"]
    assert of(found, "invalid-code") == []


def test_no_outdated_card_inside_the_bundled_window(bundled_only):
    for day in (INSIDE_FY2026, "2026-09-30", "2021-06-01"):
        assert of(cards(bundled_only, request_on(day, "M54.50")), "codeset-outdated") == []


def test_no_outdated_card_when_no_icd10cm_code_was_judged(bundled_only):
    body = request_on(AFTER_FY2027_START, "L-123", system="urn:example:local-codes")
    assert of(cards(bundled_only, body), "codeset-outdated") == []


def test_past_the_window_an_unknown_code_is_not_called_invalid(bundled_only):
    # M54.52 is in no release loaded here; FY2027 may have added it
    found = cards(bundled_only, request_on(AFTER_FY2027_START, "M54.52"))
    assert of(found, "invalid-code") == []
    [card] = of(found, "codeset-outdated")
    assert "- **M54.52**" in card["detail"]
    assert "Not in CDC ICD-10-CM FY2026 (April 1, 2026), so not checked" in card["detail"]


def test_past_the_window_a_code_retired_before_the_newest_release_is_still_invalid(
        bundled_only):
    found = cards(bundled_only, request_on(AFTER_FY2027_START, "M54.5"))
    [invalid] = of(found, "invalid-code")
    assert invalid["summary"].startswith("M54.5 stopped being billable on 2021-10-01")
    assert suggested(invalid) == ["M54.50", "M54.51", "M54.59"]
    assert len(of(found, "codeset-outdated")) == 1
    # a header of the newest release stays a header
    header = cards(bundled_only, request_on(AFTER_FY2027_START, "M54.4"))
    assert len(of(header, "invalid-code")) == 1


def test_past_the_newest_loaded_release_the_card_names_it(with_fy2027):
    found = cards(with_fy2027, request_on(PAST_FY2027, "M54.500"))
    [card] = of(found, "codeset-outdated")
    assert card["summary"].startswith("Checked with CDC ICD-10-CM FY2027: CDC ICD-10-CM FY2028")
    assert of(found, "invalid-code") == []


def test_start_up_warns_when_today_is_not_covered(bundled_only, caplog):
    terminology = bundled_only.terminology
    with caplog.at_level(logging.WARNING, logger="cds_service.terminology"):
        assert terminology.warn_if_outdated(date(2026, 11, 20)) is True
        assert terminology.warn_if_outdated(date(2026, 9, 1)) is False
    [record] = [r for r in caplog.records if "outdated" in r.getMessage()]
    assert record.release_that_applies == "CDC ICD-10-CM FY2027"


def test_readyz_and_the_gauge_report_the_loaded_releases(client):
    body = client.get("/readyz").get_json()
    check = body["checks"]["icd10cm"]
    today = datetime.now(UTC).date()
    covered = releases.ReleaseSet([releases.bundled_release()]).covers(today)
    assert check["todayCovered"] is covered
    assert check["status"] == ("pass" if covered else "warn")
    assert body["status"] == "ready"  # a missing release is said, not a reason to stop serving
    assert [r["release"] for r in check["releases"]][0] == "CDC ICD-10-CM FY2026 (April 1, 2026)"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert f"cds_icd10cm_today_covered {1.0 if covered else 0.0}" in metrics
    assert 'cds_icd10cm_release_window_end_timestamp_seconds{effective="2026-04-01",' \
           'fiscal_year="2026"}' in metrics


# -- a running server takes a new release on SIGHUP ------------------------------------------


def test_a_running_server_reads_a_new_release_on_sighup(fy2027_xml, tmp_path):
    data_dir = tmp_path / "data"
    server = LiveServer(env={"CDS_DATA_DIR": str(data_dir)}, workers=2)
    try:
        url = f"{server.url}/cds-services/{DISCHARGE}"
        body = request_on(AFTER_FY2027_START, "M54.50")
        before = requests.post(url, json=body, timeout=30).json()["cards"]
        assert of(before, "invalid-code") == [] and len(of(before, "codeset-outdated")) == 1
        ready = requests.get(f"{server.url}/readyz", timeout=10).json()["checks"]["icd10cm"]
        assert [r["fiscalYear"] for r in ready["releases"]] == [2026]

        added = run_cli("add", str(fy2027_xml), data_dir=data_dir)
        assert added.returncode == 0, added.stderr
        # the running workers keep what they loaded until they are replaced
        still = requests.post(url, json=body, timeout=30).json()["cards"]
        assert of(still, "invalid-code") == []

        os.kill(server.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            checks = requests.get(f"{server.url}/readyz", timeout=10).json()["checks"]
            if [r["fiscalYear"] for r in checks["icd10cm"]["releases"]] == [2026, 2027]:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the workers did not read the new release after SIGHUP")
        # every worker answers with it (a few calls land on each of them)
        for _ in range(6):
            after = requests.post(url, json=body, timeout=30).json()["cards"]
            [invalid] = of(after, "invalid-code")
            assert suggested(invalid) == list(SYNTHETIC_CHILDREN)
            assert of(after, "codeset-outdated") == []
        today_covered = date(2026, 10, 1) <= datetime.now(UTC).date() <= date(2027, 9, 30)
        metrics = requests.get(f"{server.url}/metrics", timeout=10).text
        assert f"cds_icd10cm_today_covered {1.0 if today_covered else 0.0}" in metrics
        assert 'effective="2026-10-01",fiscal_year="2027"' in metrics
    finally:
        server.stop()
    log = server.log_text()
    assert "ICD-10-CM releases reloaded" in log
