"""The wheel: installed into a fresh venv (not editable), the command works from any directory,
with cards/ and valuesets/ shipped inside the package."""

from __future__ import annotations

import json
import subprocess
import zipfile

from tests.support.examples import FIXTURES


def test_wheel_ships_the_knowledge_files(built_wheel):
    names = zipfile.ZipFile(built_wheel).namelist()
    assert "cds_service/_data/cards/invalid-code.toml" in names
    assert "cds_service/_data/cards/_common.toml" in names
    assert "cds_service/_data/valuesets/icd10cm-billable-periods.json" in names
    assert "cds_service/_data/valuesets/sources.json" in names  # the catalog of sources
    assert "cds_service/http/rule_pages_static/rule.html" in names  # the rule pages
    assert not any(name.startswith("tests/") for name in names)


def test_installed_command_evaluates_a_request_from_another_directory(wheel_venv, tmp_path):
    request = tmp_path / "request.json"
    request.write_text((FIXTURES / "examples" / "retired-m545.json").read_text())
    # nothing of this checkout's environment (a PYTHONPATH to it would import it, not the wheel)
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CDS_AUTH_DISABLED": "true",
                   "CDS_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [str(wheel_venv / "bin" / "cds-service"), "evaluate", str(request)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=environment,
    )
    assert result.returncode == 0, result.stderr
    cards = json.loads(result.stdout)["cards"]
    assert "invalid-code" in [c["source"]["topic"]["code"] for c in cards]
    installed = subprocess.run(
        [str(wheel_venv / "bin" / "python"), "-c",
         "import cds_service, pathlib; print(pathlib.Path(cds_service.__file__).parent)"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert "site-packages" in installed
