"""The settings object: sources and their precedence, validation messages, masking, sizing, and
the `config` and `serve` commands' handling of it."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from cds_service.settings import MASK, Settings, SettingsError
from cds_service.settings.parsers import integer, text, url
from cds_service.settings.server import usable_cpus
from cds_service.settings.spec import setting
from tests.support.live_server import cds_command

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class _WithSecret(Settings):
    """Settings plus a secret and a URL, the way the auth and database helpers add theirs."""

    api_key: str | None = setting("TEST_API_KEY", None, text, "a secret", secret=True)
    pin: int | None = setting("TEST_PIN", None, integer(1000, 9999), "a secret", secret=True)
    database_url: str | None = setting("TEST_DATABASE_URL", None, url("postgresql"), "a URL")


def test_defaults_need_no_environment():
    settings = Settings.load({})
    assert settings.port == 8080
    assert settings.max_body_bytes == 5 * 1024 * 1024
    assert settings.cors_origins == ("*",)
    assert settings.workers == usable_cpus() >= 1
    assert settings.threads == 1


def test_environment_values_are_parsed():
    settings = Settings.load({"CDS_WORKERS": "3", "CDS_CORS_ORIGINS": "https://a.test, https://b",
                              "CDS_LOG_LEVEL": "WARNING", "CDS_MAX_BODY_BYTES": " 2048 "})
    assert settings.workers == 3
    assert settings.cors_origins == ("https://a.test", "https://b")
    assert settings.log_level == "warning"
    assert settings.max_body_bytes == 2048


def test_an_empty_variable_means_unset():
    assert Settings.load({"CDS_PORT": ""}).port == 8080


@pytest.mark.parametrize("suffix, content", [
    (".toml", 'port = 9000\nthreads = 2\ncors_origins = ["https://ehr.test"]\n'),
    (".json", '{"port": 9000, "threads": 2, "cors_origins": ["https://ehr.test"]}'),
])
def test_file_then_environment_then_command_line(tmp_path, suffix, content):
    path = tmp_path / f"cds{suffix}"
    path.write_text(content)
    env = {"CDS_CONFIG_FILE": str(path), "CDS_THREADS": "8"}
    settings, sources = Settings.load_with_sources(env, overrides={"port": 9100, "host": None})
    assert settings.cors_origins == ("https://ehr.test",)  # from the file
    assert settings.threads == 8  # the environment beats the file
    assert settings.port == 9100  # the command line beats both
    assert sources["cors_origins"] == f"file {path}"
    assert sources["threads"] == "environment"
    assert sources["port"] == "command line"
    assert sources["host"] == "default"


def test_every_bad_value_is_reported_with_its_variable():
    with pytest.raises(SettingsError) as caught:
        Settings.load({"CDS_WORKERS": "many", "CDS_PORT": "70000", "CDS_LOG_LEVEL": "loud",
                       "CDS_KEEPALIVE": "-1", "CDS_THREADS": "2"})
    problems = caught.value.problems
    assert len(problems) == 4
    assert "CDS_WORKERS must be a whole number, got 'many'" in problems
    assert "CDS_PORT must be at most 65535, got '70000'" in problems
    assert any(p.startswith("CDS_LOG_LEVEL must be one of debug, info") for p in problems)
    assert "CDS_KEEPALIVE must be at least 0, got '-1'" in problems


def test_file_problems_name_the_file_and_key(tmp_path):
    path = tmp_path / "cds.toml"
    path.write_text('workers = "two"\nwrokers = 2\n')
    with pytest.raises(SettingsError) as caught:
        Settings.load({"CDS_CONFIG_FILE": str(path)})
    assert f"workers in {path} must be a whole number, got 'two'" in caught.value.problems
    assert any("unknown setting 'wrokers'" in p for p in caught.value.problems)


@pytest.mark.parametrize("name, content, expected", [
    ("cds.yaml", "port: 1", "must name a .toml or .json file"),
    ("cds.toml", "port = ", "is not valid TOML"),
    ("cds.json", "[1, 2]", "must hold one table"),
    ("missing.json", None, "cannot read"),
])
def test_unusable_config_files(tmp_path, name, content, expected):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(SettingsError, match=expected):
        Settings.load({"CDS_CONFIG_FILE": str(path)})


def test_a_secret_is_never_repeated_or_shown():
    with pytest.raises(SettingsError) as caught:
        _WithSecret.load({"TEST_PIN": "12345678"})
    assert caught.value.problems == ["TEST_PIN must be at most 9999"]
    settings = _WithSecret.load({"TEST_API_KEY": "s3cr3t-value",
                                 "TEST_DATABASE_URL": "postgresql://app:pa55word@db:5432/cds"})
    assert settings.api_key == "s3cr3t-value"
    shown = settings.as_dict()
    assert shown["api_key"] == MASK
    assert shown["database_url"] == f"postgresql://app:{MASK}@db:5432/cds"
    assert "s3cr3t" not in json.dumps(settings.describe()) + repr(shown)
    assert "pa55word" not in json.dumps(settings.describe())


def test_adding_a_setting_is_one_field():
    @dataclass(frozen=True)
    class Extended(Settings):
        batch_size: int = setting("TEST_BATCH_SIZE", 10, integer(1), "items per batch")

    assert Extended.load({"TEST_BATCH_SIZE": "25"}).batch_size == 25
    assert Extended.load({}).batch_size == 10
    assert [r["env"] for r in Extended.load({}).describe()][-1] == "TEST_BATCH_SIZE"


def test_usable_cpus_follows_the_affinity_mask():
    import os

    assert 1 <= usable_cpus() <= len(os.sched_getaffinity(0))


def test_config_command_prints_effective_settings_masked(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CDS_WORKERS": "3",
           "CDS_CORS_ORIGINS": "https://a.test,https://b.test"}
    result = subprocess.run([*cds_command(), "config"], env=env, capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "CDS_WORKERS=3" in [line.split("  #")[0].strip() for line in lines]
    assert any(line.startswith("CDS_WORKERS=3") and line.endswith("# environment")
               for line in lines)
    assert "CDS_CORS_ORIGINS=https://a.test,https://b.test" in result.stdout
    for row in Settings.load({}).describe():  # whatever the secrets, none is printed in clear
        if row["secret"]:
            assert f"{row['env']}=" in result.stdout
    as_json = subprocess.run([*cds_command(), "config", "--format", "json"], env=env,
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)
    values = json.loads(as_json.stdout)
    assert values["CDS_WORKERS"] == 3
    assert set(values) == {f.metadata["spec"].env for f in fields(Settings)}


@pytest.mark.parametrize("command", ["serve", "config"])
def test_bad_settings_stop_the_command_with_code_2_and_no_traceback(tmp_path, command):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CDS_WORKERS": "zero",
           "CDS_MAX_BODY_BYTES": "12"}
    result = subprocess.run([*cds_command(), command], env=env, capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "CDS_WORKERS must be a whole number, got 'zero'" in result.stderr
    assert "CDS_MAX_BODY_BYTES must be at least 1024, got '12'" in result.stderr


SETTINGS_REFERENCE = ROOT / "docs" / "deployment.md"  # its Configuration table


def _reference_rows() -> dict[str, list[str]]:
    """The settings table's rows by variable: | `NAME` | default | meaning |."""
    rows = {}
    for line in SETTINGS_REFERENCE.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0].endswith("`"):
            rows[cells[0].strip("`")] = cells
    return rows


def test_the_settings_reference_documents_every_variable():
    rows = _reference_rows()
    missing = [f.metadata["spec"].env for f in fields(Settings)
               if f.metadata["spec"].env not in rows]
    assert not missing, f"{SETTINGS_REFERENCE.relative_to(ROOT)} does not document {missing}"


def test_the_settings_reference_states_the_defaults():
    """The table's default column says what the code uses (a computed or absent default is
    described in words)."""
    rows = _reference_rows()
    for f in fields(Settings):
        if f.default is dataclasses.MISSING or f.default in (None, ()):
            continue
        spec = f.metadata["spec"]
        shown = f.default if not isinstance(f.default, tuple) else ",".join(f.default)
        if isinstance(shown, bool):
            shown = str(shown).lower()
        elif isinstance(shown, float) and shown.is_integer():
            shown = int(shown)
        assert rows[spec.env][1].strip("`") == str(shown), (spec.env, rows[spec.env][1])


def test_file_keys_are_the_variable_names_in_lower_case():
    """docs/deployment.md: a key of CDS_CONFIG_FILE is its variable's name in lower case without
    CDS_."""
    for f in fields(Settings):
        env = f.metadata["spec"].env
        assert f.name == env.lower().removeprefix("cds_"), (f.name, env)
