"""The README's shell examples run as printed, after the Quick start, in a fresh copy of the
repository (its tracked files), from a shell that has not activated any environment.

The Quick start's serve command runs in the background and is stopped at the end; every other
example runs against it and must succeed. What differs from a newcomer's machine, and why:

- the server's port is a free loopback one instead of 8080 (the machine is shared), in the
  serve command and in the examples that call it;
- so that the test needs no network and stays short, the `.venv` the serve command creates is
  seeded beforehand with the project's dependencies and its build backend, copied from the test
  environment, and pip runs offline (PIP_NO_INDEX) without build isolation: the printed
  `pip install .` then builds and installs the project itself, from the fresh copy;
- HOME is a scratch folder, so the feedback database lands there.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from packaging.requirements import Requirement

from tests.support.live_server import free_port
from tests.test_container import dependency_closure, dockerignore_patterns, is_ignored

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PRINTED_PORT = "8080"
TEST_COMMAND = "bash scripts/test"


def shell_examples(text: str) -> list[list[str]]:
    """The ```sh blocks of a Markdown text, each as its commands (continued lines joined)."""
    blocks = re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)
    examples = []
    for block in blocks:
        commands, current = [], ""
        for line in block.splitlines():
            if line.rstrip().endswith("\\"):
                current += line.rstrip()[:-1].rstrip() + " "
                continue
            current += line.strip()
            if current.strip() and not current.lstrip().startswith("#"):
                commands.append(current.strip())
            current = ""
        examples.append(commands)
    return examples


def _is_serve(command: str) -> bool:
    return "cds-service serve" in command


def test_the_readme_has_a_two_command_quick_start_and_ci_runs_its_test_command():
    examples = shell_examples(README.read_text())
    quick_start = README.read_text().split("## Quick start", 1)[1]
    first, second = shell_examples(quick_start)[:2]
    assert len(first) == 1 and _is_serve(first[0]) and "pip install" in first[0]
    assert second == [TEST_COMMAND]
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#")]
    assert ci[-1].split() == ["exec", *TEST_COMMAND.split()]  # CI runs the README's command
    assert sum(_is_serve(c) for block in examples for c in block) == 1


def _fresh_copy(destination: Path) -> None:
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True,
                            timeout=60)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: no list of the repository's files to copy")
    for relative in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / relative
        if source.is_file():
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _plain_path() -> str:
    """PATH without any virtual environment of this project (a shell that activated none)."""
    ours = (str(ROOT), sys.prefix)
    kept = [entry for entry in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
            if entry and not entry.startswith(ours)]
    return os.pathsep.join(kept)


def _seed_venv(clone: Path, environment: dict[str, str]) -> None:
    """`.venv` with the project's dependencies and build backend, copied from this environment."""
    subprocess.run(["python3", "-m", "venv", ".venv"], cwd=clone, env=environment, check=True,
                   timeout=300, stdin=subprocess.DEVNULL)
    site = Path(subprocess.run([str(clone / ".venv" / "bin" / "python"), "-c",
                                "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True,
                               timeout=60).stdout.strip())
    pyproject = tomllib.loads((clone / "pyproject.toml").read_text())
    needed = [Requirement(r) for r in pyproject["project"]["dependencies"]]
    needed += [Requirement(r) for r in pyproject["build-system"]["requires"]]
    for dist in dependency_closure(needed):
        for entry in dist.files or []:
            if ".." in entry.parts or "__pycache__" in entry.parts:
                continue
            source = Path(dist.locate_file(entry))
            if source.is_file():
                target = site / entry
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)


@pytest.fixture(scope="module")
def newcomer() -> Iterator[tuple[Path, dict[str, str], str]]:
    """A fresh copy after the Quick start: the serve command running, as printed."""
    workspace = Path(tempfile.mkdtemp(prefix="cds-readme-"))
    clone, home = workspace / "clone", workspace / "home"
    home.mkdir()
    _fresh_copy(clone)
    port = str(free_port())
    environment = {"PATH": _plain_path(), "HOME": str(home), "LANG": "C.UTF-8",
                   "NO_PROXY": "127.0.0.1,localhost", "PIP_NO_INDEX": "1",
                   # pip reads PIP_NO_BUILD_ISOLATION inverted: "0" builds without isolation
                   "PIP_NO_BUILD_ISOLATION": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    _seed_venv(clone, environment)
    [serve] = [c for block in shell_examples(README.read_text()) for c in block if _is_serve(c)]
    assert f"--port {PRINTED_PORT}" in serve
    log_path = Path(os.environ.get("CDS_TEST_LOG_DIR", str(workspace))) / "readme-server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(["bash", "-c", serve.replace(PRINTED_PORT, port)], cwd=clone,
                                  env=environment, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300  # the install, then the start
        while True:
            assert server.poll() is None, log_path.read_text()[-3000:]
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.5)
        yield clone, environment, port
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # the shell and the server it started
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        shutil.rmtree(workspace, ignore_errors=True)


def _other_commands() -> list[str]:
    return [command for block in shell_examples(README.read_text()) for command in block
            if not _is_serve(command) and command != TEST_COMMAND]


def test_the_readme_shows_commands_to_run_after_the_quick_start():
    commands = _other_commands()
    assert any("curl" in c for c in commands)
    assert any("evaluate" in c for c in commands)


@pytest.mark.parametrize("command", _other_commands(),
                         ids=lambda c: " ".join(shlex.split(c)[:2])[:40])
def test_each_readme_command_runs_as_printed(newcomer, command):
    clone, environment, port = newcomer
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command.replace(
        f"127.0.0.1:{PRINTED_PORT}", f"127.0.0.1:{port}")], cwd=clone, env=environment,
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{command}\n{result.stderr[-2000:]}"
    assert result.stdout.strip(), command
    if "curl" in command or " evaluate " in command:  # JSON, and not an error
        answer = json.loads(result.stdout)
        assert answer.get("resourceType") != "OperationOutcome", result.stdout[:500]
        assert "cards" in answer or "services" in answer, result.stdout[:500]


def test_the_test_command_installs_apart_from_the_served_environment():
    """An editable reinstall into the environment a running server was installed into replaces
    the files it serves (/openapi.json and /analytics then answered 500): scripts/test keeps its
    own environment, which git and the image's build context leave out."""
    [serve] = [c for block in shell_examples(README.read_text()) for c in block if _is_serve(c)]
    served_from = re.search(r"python3 -m venv (\S+)", serve).group(1)
    script = (ROOT / "scripts" / "test").read_text()
    [tested_in] = re.findall(r"^VENV=(\S+)$", script, flags=re.M)
    assert tested_in != served_from
    assert 'python3 -m venv "$VENV"' in script
    assert not re.search(rf"(^|\s){re.escape(served_from)}/bin/", script)  # never the server's
    assert f"{tested_in}/" in (ROOT / ".gitignore").read_text().splitlines()
    assert is_ignored(f"{tested_in}/bin/python", dockerignore_patterns())


def test_the_fast_command_the_readme_names_runs_the_fast_subset():
    """`bash scripts/test --fast`, named in the README's prose (not a ```sh block: this test would
    run it), is one scripts/test takes: pytest -m "not slow" (tests/support/slow.py)."""
    assert f"`{TEST_COMMAND} --fast`" in README.read_text()
    script = (ROOT / "scripts" / "test").read_text()
    assert re.search(r'^if \[ "\$\{1:-\}" = --fast \]; then$', script, flags=re.M)
    assert 'pytest_extra+=(-m "not slow")' in script
