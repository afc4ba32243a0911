"""Dockerfile.codeset (a CDC ICD-10-CM release baked into the service image), without a Docker
engine: its instructions read with a parser, then its RUN step replayed in a fresh environment
with only the service's wheel installed and the image's home folder, and the server started from
that environment: its /readyz lists the baked release and a hook call is judged with it.

The release is the synthetic FY2027 TEST DATA of tests/test_codeset_releases.py (M54.50 made a
header over two invented children).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest
import requests
from dockerfile_parse import DockerfileParser

from tests.support.live_server import free_port
from tests.test_codeset_releases import (
    DISCHARGE,
    SYNTHETIC_CHILDREN,
    of,
    request_on,
    suggested,
    synthetic_fy2027_xml,
)

ROOT = Path(__file__).resolve().parent.parent
RELEASE = "icd10cm-tabular-2027.xml"


def instructions() -> list[tuple[str, str]]:
    with (ROOT / "Dockerfile.codeset").open("rb") as handle:
        parsed = DockerfileParser(fileobj=handle, env_replace=False)
        return [(i["instruction"], i["value"]) for i in parsed.structure
                if i["instruction"] != "COMMENT"]


def test_it_builds_on_the_service_image_and_keeps_the_xml_out_of_its_layers():
    steps = instructions()
    assert steps[0] == ("ARG", "BASE=cds-service")
    assert steps[1] == ("FROM", "${BASE}")
    runs = [value for name, value in steps if name == "RUN"]
    assert len(runs) == 1
    assert runs[0].startswith("--mount=type=bind,source=${RELEASE},target=/tmp/${RELEASE} ")
    assert not [value for name, value in steps if name in ("COPY", "ADD", "USER", "ENV")]


def test_the_replayed_image_serves_the_baked_release(wheel_venv, tmp_path):
    context = tmp_path / "context"
    context.mkdir()
    (context / RELEASE).write_text(synthetic_fy2027_xml(), "utf-8")
    home = tmp_path / "home" / "cds"
    home.mkdir(parents=True)
    [run] = [value for name, value in instructions() if name == "RUN"]
    mount, command = run.split(" ", 1)
    options = dict(part.split("=", 1) for part in mount.removeprefix("--mount=").split(","))
    assert options["type"] == "bind"
    build_args = {"RELEASE": RELEASE, "EFFECTIVE": ""}
    source = _expand(options["source"], build_args)
    target = _expand(options["target"], build_args)
    # the bind mount: the context's file at the target path, here inside the replay's folder
    mounted = tmp_path / target.lstrip("/")
    mounted.parent.mkdir(parents=True)
    mounted.symlink_to(context / source)
    # the command names the mount's target as written (``/tmp/${RELEASE}``)
    assert options["target"] in command
    command = command.replace(options["target"], str(mounted))
    image_env = {"PATH": f"{wheel_venv / 'bin'}:/usr/bin:/bin", "HOME": str(home),
                 "LANG": "C.UTF-8", **build_args}
    built = subprocess.run(["/bin/sh", "-c", command], env=image_env, capture_output=True,
                           text=True, timeout=600, stdin=subprocess.DEVNULL, cwd=home)
    assert built.returncode == 0, built.stderr
    stored = home / ".local" / "share" / "cds-service" / "icd10cm-releases"
    assert sorted(p.name for p in stored.iterdir()) == ["icd10cm-2026-10-01.marshal"]

    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [str(wheel_venv / "bin" / "cds-service"), "serve", "--host", "127.0.0.1", "--port",
         str(port), "--workers", "1"],
        env={**image_env, "CDS_AUTH_DISABLED": "true", "NO_PROXY": "127.0.0.1"},
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=home)
    try:
        url = f"http://127.0.0.1:{port}"
        checks = _wait_ready(url, server)
        assert [r["release"] for r in checks["icd10cm"]["releases"]] == [
            "CDC ICD-10-CM FY2026 (April 1, 2026)", "CDC ICD-10-CM FY2027"]
        assert checks["icd10cm"]["releases"][1]["origin"] == RELEASE
        found = requests.post(f"{url}/cds-services/{DISCHARGE}",
                              json=request_on("2026-11-20", "M54.50"), timeout=30).json()["cards"]
        [invalid] = of(found, "invalid-code")
        assert suggested(invalid) == list(SYNTHETIC_CHILDREN)
    finally:
        server.terminate()
        server.wait(timeout=45)
        log.close()


def _expand(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], text)


def _wait_ready(url: str, server: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited: {server.returncode}")
        try:
            response = requests.get(f"{url}/readyz", timeout=2)
            if response.status_code == 200:
                return response.json()["checks"]
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    pytest.fail("the server did not get ready")


def test_mounting_a_release_is_the_same_command_on_a_volume(tmp_path):
    """The documented mount: `cds-service codeset add` with CDS_DATA_DIR on the volume."""
    doc = (ROOT / "docs" / "code-set-releases.md").read_text("utf-8")
    block = doc.split("**Mount it**", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    first = shlex.split(block.replace("\\\n", " ").strip().splitlines()[0])
    assert first[:3] == ["docker", "run", "--rm"]
    assert "CDS_DATA_DIR=/data" in first and first[-3:] == ["codeset", "add", "/release.xml"]
    assert os.path.exists(ROOT / "Dockerfile.codeset")
