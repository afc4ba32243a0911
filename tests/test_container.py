"""The container image, without a Docker engine: the Dockerfile's facts, read with a parser
(dockerfile-parse), and a replay of its steps.

The replay follows the image: the build context through .dockerignore, the builder stage's
COPY lines and its wheel build; then the runtime stage: a fresh environment with the wheel and
its dependencies only, the server started with the image's CMD as an unprivileged user (as root:
``setpriv`` to ``nobody``) with only the image's environment, and the image's HEALTHCHECK
command run as that user. Three differences, for a test without network access: the wheel is
built without build isolation, the dependencies the wheel declares are copied from this test
environment instead of downloaded (``pip check`` then proves they satisfy the wheel), and the
interpreter is a Python 3.11 the unprivileged user can run instead of the image's. The port is
a free loopback one instead of 0.0.0.0:8080.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
import requests
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement

from tests.support.examples import load_example
from tests.support.live_server import free_port

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534


# -- reading the Dockerfile ----------------------------------------------------------------------


@dataclass
class Stage:
    name: str | None
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [value for name, value in self.instructions if name == instruction]

    def last(self, instruction: str) -> str | None:
        values = self.all(instruction)
        return values[-1] if values else None


def read_stages(path: Path = ROOT / "Dockerfile") -> list[Stage]:
    stages: list[Stage] = []
    for item in DockerfileParser(str(path)).structure:
        instruction, value = item["instruction"], item["value"]
        if instruction == "COMMENT":
            continue
        if instruction == "FROM":
            parts = value.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(name, parts[0]))
        else:
            assert stages, f"{instruction} before the first FROM"
            stages[-1].instructions.append((instruction, value))
    return stages


def exec_form(value: str) -> list[str]:
    """A JSON-array (exec form) argument list; shell form is refused."""
    parsed = json.loads(value)
    assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed), value
    return parsed


def split_flags(value: str) -> tuple[dict[str, str], str]:
    """Leading ``--name=value`` flags of COPY or HEALTHCHECK, and the rest of the line."""
    flags = {}
    rest = value.strip()
    while match := re.match(r"--([a-z-]+)=(\S+)\s+", rest):
        flags[match.group(1)] = match.group(2)
        rest = rest[match.end():]
    return flags, rest


def env_pairs(value: str) -> dict[str, str]:
    pairs = {}
    for token in shlex.split(value):
        key, sep, val = token.partition("=")
        assert sep, f"ENV in the legacy 'key value' form: {value}"
        pairs[key] = val
    return pairs


def healthcheck_command(stage: Stage) -> tuple[dict[str, str], list[str]]:
    flags, rest = split_flags(stage.last("HEALTHCHECK") or "")
    keyword, _, command = rest.partition(" ")
    assert keyword == "CMD", rest
    return flags, exec_form(command.strip())


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return read_stages()


# -- the Dockerfile's facts ------------------------------------------------------------------------


def test_two_stages_a_builder_and_a_slim_runtime(stages):
    assert len(stages) == 2
    builder, runtime = stages
    assert builder.name == "builder"
    # pinned to a patch release and a Debian release, so that a rebuild gets the same Python
    pinned = re.fullmatch(r"python:(\d+)\.(\d+)\.\d+-slim-bookworm", runtime.base)
    assert pinned, runtime.base
    assert (int(pinned.group(1)), int(pinned.group(2))) == sys.version_info[:2]  # the replay's
    assert builder.base == runtime.base  # the wheel is built by the Python that runs it


def test_the_runtime_stage_copies_only_the_builders_wheel_and_constraints(stages):
    builder, runtime = stages
    assert runtime.all("ADD") == []
    copies = [split_flags(value) for value in runtime.all("COPY")]
    assert copies, "the runtime stage copies nothing"
    wheel_dir = _wheel_dir(builder)
    constraints_in_builder = _builder_path_of(builder, "constraints.txt")
    for flags, paths in copies:
        assert flags.get("from") == builder.name, "a COPY into the runtime stage from the context"
        source = paths.split()[0]
        assert source.rstrip("/") in (wheel_dir, constraints_in_builder), source
    arguments = runtime_install_arguments(runtime)
    assert arguments[:4] == ["python", "-m", "pip", "install"]
    options, packages = _install_options(arguments[4:])
    assert all(arg.endswith(".whl") for arg in packages) and packages  # the wheel, no sources
    # every dependency at the version the committed constraints file pins
    assert [Path(value).name for name, value in options if name == "--constraint"] == [
        "constraints.txt"]
    assert {name for name, _ in options} == {"--constraint"}


def runtime_install_arguments(runtime: Stage) -> list[str]:
    installs = [cmd for cmd in runtime.all("RUN") if "pip install" in cmd]
    assert len(installs) == 1
    return shlex.split(installs[0].split("&&")[0])


def _install_options(arguments: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    options, packages = [], []
    words = iter(arguments)
    for word in words:
        if word.startswith("-"):
            options.append((word, next(words)))
        else:
            packages.append(word)
    return options, packages


def _builder_path_of(builder: Stage, name: str) -> str:
    """Where the builder stage's COPY lines put a file of the build context."""
    workdir = builder.last("WORKDIR") or "/"
    for _flags, paths in (split_flags(v) for v in builder.all("COPY")):
        *sources, destination = paths.split()
        if name in sources:
            target = destination if destination.startswith("/") else f"{workdir}/{destination}"
            target = os.path.normpath(target)
            return f"{target}/{name}" if destination.endswith("/") else target
    raise AssertionError(f"the builder does not copy {name}")


def _wheel_dir(builder: Stage) -> str:
    builds = [shlex.split(cmd) for cmd in builder.all("RUN") if "pip wheel" in cmd]
    assert len(builds) == 1
    arguments = builds[0]
    assert arguments[:4] == ["python", "-m", "pip", "wheel"] and "--no-deps" in arguments
    return arguments[arguments.index("--wheel-dir") + 1].rstrip("/")


def test_the_runtime_stage_runs_as_an_unprivileged_user(stages):
    runtime = stages[-1]
    user = runtime.last("USER")
    assert user is not None
    name, _, group = user.partition(":")
    assert name not in ("root", "0") and group not in ("root", "0")
    # the numeric uid is created in the image, after which nothing runs as root
    assert any(f"--uid {name}" in cmd for cmd in runtime.all("RUN"))
    last_user = max(i for i, (inst, _) in enumerate(runtime.instructions) if inst == "USER")
    # what runs after it runs as that user, and may not climb back to root
    assert not any(inst == "RUN" and any(word in value.split() for word in ("sudo", "su"))
                   for inst, value in runtime.instructions[last_user:])


def test_port_healthcheck_and_command(stages):
    runtime = stages[-1]
    assert runtime.all("EXPOSE") == ["8080"]
    flags, check = healthcheck_command(runtime)
    assert check[0] == "python" and "curl" not in " ".join(check)
    assert "http://127.0.0.1:8080/healthz" in check[-1]
    assert {"interval", "timeout", "retries"} <= set(flags)
    assert exec_form(runtime.last("CMD")) == [
        "cds-service", "serve", "--host", "0.0.0.0", "--port", "8080"]
    assert runtime.all("ENTRYPOINT") == []


# The only settings the image bakes in: where it keeps files, folders the image prepares.
IMAGE_FOLDERS = ("CDS_DATA_DIR", "CDS_CACHE_DIR")


def image_env(stage: Stage) -> dict[str, str]:
    baked = {}
    for value in stage.all("ENV"):
        baked.update(env_pairs(value))
    return baked


def test_configuration_comes_only_from_the_environment(stages):
    runtime = stages[-1]
    baked = image_env(runtime)
    # the image sets how Python and pip behave, and where its folders are; no other setting
    assert all(key.startswith(("PYTHON", "PIP_")) or key in IMAGE_FOLDERS for key in baked), baked
    assert all(baked[key].startswith("/") for key in IMAGE_FOLDERS), baked
    assert not any(baked[key].startswith("/home") for key in IMAGE_FOLDERS)  # HOME may be /
    assert not any(arg.startswith("--config") for arg in exec_form(runtime.last("CMD")))


def labels(stage: Stage) -> dict[str, str]:
    found = {}
    for value in stage.all("LABEL"):
        found.update(env_pairs(value))
    return found


def test_oci_labels_name_the_source_version_and_licence(stages):
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = labels(stages[-1])
    assert found["org.opencontainers.image.version"] == project["version"]
    assert found["org.opencontainers.image.licenses"] == project["license"]
    assert (ROOT / "LICENSE").read_text().split()[:3] == ["Apache", "License", "Version"]
    # the repository's address is given at build time (docker build --build-arg SOURCE_URL=)
    assert found["org.opencontainers.image.source"] == "${SOURCE_URL}"
    assert any(value.split("=")[0] == "SOURCE_URL" for value in stages[-1].all("ARG"))


def test_the_constraints_pin_every_runtime_dependency(image_wheel):
    """constraints.txt holds one exact pin per distribution the wheel needs (its whole
    dependency tree), each satisfying what the wheel asks for."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            [specifier] = requirement.specifier
            assert specifier.operator == "==", line
            pins[_key(requirement.name)] = specifier.version
    needed = {_key(dist.metadata["Name"]) for dist in
              dependency_closure(wheel_requirements(image_wheel))}
    assert needed <= set(pins), f"not pinned: {sorted(needed - set(pins))}"
    for requirement in wheel_requirements(image_wheel):
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            assert requirement.specifier.contains(pins[_key(requirement.name)],
                                                  prereleases=True), requirement


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# -- the build context -----------------------------------------------------------------------------


def dockerignore_patterns() -> list[tuple[bool, str]]:
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            patterns.append((negated, line.lstrip("!").strip("/")))
    return patterns


def _pattern_regex(pattern: str) -> re.Pattern:
    """Docker's .dockerignore pattern syntax (Go's filepath.Match plus ``**``) as a regex."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def is_ignored(relative: str, patterns: list[tuple[bool, str]]) -> bool:
    """The last pattern that matches the path, or a folder above it, decides."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negated, pattern in patterns:
        regex = _pattern_regex(pattern)
        if any(regex.match(candidate) for candidate in candidates):
            ignored = not negated
    return ignored


def build_context() -> list[str]:
    patterns = dockerignore_patterns()
    files = []
    for path in ROOT.rglob("*"):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith((".git/", ".venv")) or not path.is_file():
            continue
        if not is_ignored(relative, patterns):
            files.append(relative)
    return sorted(files)


def test_the_build_context_holds_only_what_the_builder_copies():
    context = build_context()
    assert "pyproject.toml" in context and "cds_service/__init__.py" in context
    assert "cds_service/openapi.json" in context
    assert "cards/_common.toml" in context and any(f.startswith("valuesets/") for f in context)
    tops = {f.split("/")[0] for f in context}
    assert tops == {"pyproject.toml", "README.md", "LICENSE", "constraints.txt", "cds_service",
                    "cards", "valuesets"}
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in context)


# -- the replay ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace() -> Iterator[Path]:
    # not under pytest's tmp_path: its parents are private to root, and the server runs as nobody
    path = Path(tempfile.mkdtemp(prefix="cds-image-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def image_wheel(stages, workspace) -> Path:
    """The builder stage: its COPY lines from the build context, then its wheel build."""
    builder = stages[0]
    context = set(build_context())
    src = workspace / "src"
    src.mkdir()
    for _flags, paths in (split_flags(v) for v in builder.all("COPY")):
        *sources, destination = paths.split()
        for source in sources:
            if source in context:  # a file: into the folder, or to the name given
                targets = {source: src / destination / source if destination.endswith("/")
                           else src / destination}
            else:  # a folder: its contents
                targets = {f: src / destination / Path(f).relative_to(source)
                           for f in context if f.startswith(source + "/")}
            assert targets, f"COPY {source}: not in the build context"
            for relative, target in targets.items():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / relative, target)
    dist = workspace / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "--wheel-dir", str(dist), "."],
                   cwd=src, check=True, stdin=subprocess.DEVNULL, timeout=300)
    wheels = list(dist.glob("*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def unprivileged() -> list[str]:
    """The command prefix that runs a program as the image's unprivileged user."""
    if os.getuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot drop to an unprivileged user")
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]


def interpreter_for_the_user() -> str:
    """A Python of this minor version that the unprivileged user can run (this test's own may
    live under a private home directory), and that is the same Python for root and that user:
    the image's build steps run as root and its server as the user, one interpreter for both."""
    wanted = f"{sys.version_info[0]}.{sys.version_info[1]}"
    probe_code = "import sys; print('%d.%d' % sys.version_info[:2], sys.version)"
    candidates = [os.path.realpath(getattr(sys, "_base_executable", sys.executable)),
                  f"/usr/local/bin/python{wanted}", f"/usr/bin/python{wanted}"]
    for candidate in dict.fromkeys(candidates):
        if not os.path.exists(candidate):
            continue
        as_user, as_self = (subprocess.run([*prefix, candidate, "-c", probe_code],
                                           capture_output=True, text=True, cwd="/")
                            for prefix in (unprivileged(), []))
        if (as_user.returncode == 0 and as_user.stdout.split(" ")[0] == wanted
                and as_user.stdout == as_self.stdout):
            return candidate
    pytest.skip(f"no Python {wanted} that an unprivileged user can run")


def wheel_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode()
    return [Requirement(line.split(":", 1)[1].strip()) for line in text.splitlines()
            if line.startswith("Requires-Dist:")]


def dependency_closure(requirements: list[Requirement]) -> list[metadata.Distribution]:
    """The installed distributions ``requirements`` need, extras and markers followed."""
    found: dict[str, metadata.Distribution] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    todo: list[tuple[Requirement, tuple[str, ...]]] = [(r, ()) for r in requirements]
    while todo:
        requirement, parent_extras = todo.pop()
        environments = [{"extra": e} for e in ("", *parent_extras)]
        if requirement.marker and not any(requirement.marker.evaluate(e) for e in environments):
            continue
        key = re.sub(r"[-_.]+", "-", requirement.name).lower()
        if (key, frozenset(requirement.extras)) in seen:
            continue
        seen.add((key, frozenset(requirement.extras)))
        dist = found.setdefault(key, metadata.distribution(requirement.name))
        todo += [(Requirement(r), tuple(requirement.extras)) for r in dist.requires or []]
    return list(found.values())


@pytest.fixture(scope="module")
def image_root(image_wheel, workspace) -> Path:
    """The runtime stage's install: a fresh environment with the wheel and its dependencies
    only."""
    venv = workspace / "venv"
    subprocess.run([interpreter_for_the_user(), "-m", "venv", "--without-pip", str(venv)],
                   check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; "
                                "print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    for dist in dependency_closure(wheel_requirements(image_wheel)):
        assert dist.files, f"{dist.metadata['Name']} has no RECORD"
        for entry in dist.files:
            if ".." in entry.parts or "__pycache__" in entry.parts:
                continue  # scripts outside site-packages; byte code
            source = Path(dist.locate_file(entry))
            if source.is_file():
                target = site / entry
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    subprocess.run([*pip, "install", "--quiet", "--no-deps", "--no-index", str(image_wheel)],
                   check=True, timeout=300, stdin=subprocess.DEVNULL)
    check = subprocess.run([*pip, "check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    return venv


# Steps of the runtime stage's RUN lines that the replay does its own way: the install (the
# environment above) and the creation of the image's user (the replay's is nobody).
DONE_OTHERWISE = ("python -m pip install", "rm -rf /tmp/dist", "groupadd ", "useradd ")
ARBITRARY_UID = 1000650000  # as OpenShift assigns one: outside /etc/passwd, group 0


@dataclass
class Image:
    venv: Path
    rootfs: Path  # stands in for the image's /
    env: dict[str, str]  # the image's ENV, its folders under rootfs
    workdir: Path

    def folder(self, name: str) -> Path:
        return Path(self.env[name])


@pytest.fixture(scope="module")
def image(stages, image_root, workspace) -> Image:
    """The rest of the runtime stage: its RUN steps (the folders, the ICD-10-CM table built into
    CDS_CACHE_DIR, owners and modes) run as written, as root, with the image's folders under a
    scratch root and the image's user replayed as nobody."""
    runtime = stages[-1]
    rootfs = workspace / "rootfs"
    (rootfs / "tmp").mkdir(parents=True)
    (rootfs / "tmp").chmod(0o1777)
    env = image_env(runtime)
    for name in IMAGE_FOLDERS:
        env[name] = str(rootfs / env[name].lstrip("/"))
    image_uid = runtime.last("USER").partition(":")[0]
    build_env = {**env, "PATH": f"{image_root / 'bin'}:/usr/bin:/bin",
                 "HOME": str(workspace / "build-home")}
    for command in runtime.all("RUN"):
        for step in (part.strip() for part in command.split("&&")):
            if step.startswith(DONE_OTHERWISE):
                continue
            assert "/" not in step, f"a path the replay cannot redirect (use the ENV): {step}"
            if step.startswith("chown") and os.getuid() != 0:
                continue  # not root: the files stay this user's, who runs the server
            step = re.sub(rf"(?<![\w]){image_uid}:", f"{NOBODY}:", step)
            subprocess.run(["sh", "-c", step], env=build_env, cwd=workspace, check=True,
                           timeout=300, stdin=subprocess.DEVNULL)
    workdir = Path(string.Template(runtime.last("WORKDIR")).substitute(env))
    assert workdir.is_relative_to(rootfs) and workdir.is_dir(), workdir
    return Image(image_root, rootfs, env, workdir)


def _as(uid: int, gid: int) -> list[str]:
    """The command prefix that runs a program as uid:gid (group 0 only: --clear-groups)."""
    if os.getuid() != 0:
        return []
    return [shutil.which("setpriv"), f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]


def _cache_files(image: Image) -> dict[str, tuple[int, int]]:
    return {path.name: (path.stat().st_ino, path.stat().st_mtime_ns)
            for path in image.folder("CDS_CACHE_DIR").iterdir()}


@contextlib.contextmanager
def container(stages, image: Image, *, uid: int, gid: int, home: str, tmp: Path,
              name: str) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """`docker run` of the image as uid:gid: a fresh data folder (a new container starts from
    the image's), the CMD with only the image's environment, HOME and the operator's
    variables, in the image's WORKDIR; yields once the image's own HEALTHCHECK passes, run as
    the same user; SIGTERM at the end must stop it with code 0."""
    runtime = stages[-1]
    for path in image.folder("CDS_DATA_DIR").iterdir():
        path.unlink()
    port = free_port()
    environment = {**image.env, "PATH": f"{image.venv / 'bin'}:/usr/bin:/bin", "HOME": home,
                   "TMPDIR": str(tmp),
                   # the operator's configuration, as `docker run -e` would pass it
                   "CDS_AUTH_DISABLED": "true", "CDS_WORKERS": "2"}
    command = [arg.replace("8080", str(port)).replace("0.0.0.0", "127.0.0.1")
               for arg in exec_form(runtime.last("CMD"))]
    _, check = healthcheck_command(runtime)
    check = [arg.replace("8080", str(port)) for arg in check]
    log_path = Path(os.environ.get("CDS_TEST_LOG_DIR", str(image.rootfs))) / f"{name}.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen([*_as(uid, gid), *command], cwd=image.workdir,
                                  env=environment, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while True:  # the image's own HEALTHCHECK, as the image's user
            assert server.poll() is None, log_path.read_text()[-3000:]
            healthy = subprocess.run([*_as(uid, gid), *check], cwd=image.workdir,
                                     env=environment, capture_output=True, timeout=30)
            if healthy.returncode == 0:
                break
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", server, log_path
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=60) == 0, log_path.read_text()[-3000:]


def _hook_call_answers_with_cards(base: str) -> None:
    body = load_example("retired-m545")["request"]
    answer = requests.post(f"{base}/cds-services/lbp-coding-encounter-discharge", json=body,
                           timeout=30)
    assert answer.status_code == 200
    assert "invalid-code" in {c["source"]["topic"]["code"] for c in answer.json()["cards"]}


def test_the_image_serves_as_an_unprivileged_user(stages, image, workspace):
    home = workspace / "home"  # the user's own, as useradd --create-home made it
    (home / "tmp").mkdir(parents=True)
    uid, gid = (NOBODY, NOBODY) if os.getuid() == 0 else (os.getuid(), os.getgid())
    if os.getuid() == 0:
        for path in (home, home / "tmp"):
            os.chown(path, NOBODY, NOBODY)
    cache_before = _cache_files(image)
    with container(stages, image, uid=uid, gid=gid, home=str(home), tmp=home / "tmp",
                   name="image-server") as (base, server, log):
        # every process of the server runs as the unprivileged user
        uids = {_uid(pid) for pid in [server.pid, *_children(server.pid)]}
        assert uids == {uid} and 0 not in uids
        # CDS_WORKERS from the environment: the second worker may still be booting when the
        # first answers (a loaded machine), so wait for it a little
        deadline = time.monotonic() + 20
        while len(_children(server.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_children(server.pid)) == 2

        _hook_call_answers_with_cards(base)
        served = requests.get(f"{base}/openapi.json", timeout=10)
        assert served.json() == json.loads((ROOT / "cds_service/openapi.json").read_text())
        assert requests.get(f"{base}/readyz", timeout=10).json()["status"] == "ready"
        assert list((home / "tmp").glob("cds-metrics-*")), "metrics not kept in TMPDIR"
        # the feedback database in the image's data folder, not under HOME
        assert (image.folder("CDS_DATA_DIR") / "cds-service.db").is_file()
        assert not (home / ".local").exists()
    assert not list((home / "tmp").glob("cds-metrics-*"))  # removed on exit
    assert _cache_files(image) == cache_before  # the table built with the image was read
    assert "not cached" not in log.read_text()


def test_the_image_serves_as_an_arbitrary_uid_in_group_0_with_home_at_the_root(stages, image):
    """As OpenShift (and `docker run --user 1000650000`) starts it: a UID the image does not
    know, group 0, HOME=/ (not writable). The data folder is group 0's to write, and the
    ICD-10-CM table built with the image is the one read."""
    if os.getuid() != 0:
        pytest.skip("running the server as another UID needs root (setpriv)")
    cache_before = _cache_files(image)
    assert cache_before, "the image build left no ICD-10-CM table in CDS_CACHE_DIR"
    with container(stages, image, uid=ARBITRARY_UID, gid=0, home="/",
                   tmp=image.rootfs / "tmp", name="image-server-arbitrary-uid"
                   ) as (base, server, log):
        uids = {_uid(pid) for pid in [server.pid, *_children(server.pid)]}
        assert uids == {ARBITRARY_UID}
        _hook_call_answers_with_cards(base)
        assert requests.get(f"{base}/readyz", timeout=10).json()["status"] == "ready"
        data = image.folder("CDS_DATA_DIR")
        for written in ("cds-service.db", "patient-hash.key"):
            assert (data / written).stat().st_uid == ARBITRARY_UID, written
    assert _cache_files(image) == cache_before  # read, not rebuilt nor rewritten
    assert "not cached" not in log.read_text()


def _uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid for {pid}")


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children
