"""The service's one settings object, read from environment variables and an optional file.

Sources, each overriding the one before: the defaults below; the file named by
``CDS_CONFIG_FILE`` (TOML or JSON, a flat table whose keys are the field names, e.g.
``max_body_bytes = 1048576``); environment variables; the ``serve`` command's options. Every
value is validated at start-up, each bad one gets one message naming where it came from, and
``cds-service serve`` exits with code 2 listing them.

Adding a setting is one field on ``Settings`` (its parser is one of the small functions below,
or a new one raising ``ValueError("must ...")``)::

    fhir_max_pages: int = setting("CDS_FHIR_MAX_PAGES", 10, integer(1, 1000),
                                  "Search result pages followed per query")

A ``secret=True`` setting is never printed: ``cds-service config`` masks it and error messages
do not repeat its value. Passwords inside any URL-valued setting are masked as well.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .auth import parse_algorithms, parse_issuers, parse_issuers_file

CONFIG_FILE_ENV = "CDS_CONFIG_FILE"
MASK = "********"

Parser = Callable[[Any], Any]


class SettingsError(ValueError):
    """One or more configuration values are invalid; each message names its variable."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


# -- parsers: a value from the environment (str) or the file (str, int, list ...) -> the value ---


def integer(minimum: int | None = None, maximum: int | None = None) -> Parser:
    def parse(value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            number = int(value)
        else:
            raise ValueError("must be a whole number")
        _check_range(number, minimum, maximum)
        return number

    return parse


def number(minimum: float | None = None, maximum: float | None = None) -> Parser:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError("must be a number")
        try:
            result = float(value)
        except (TypeError, ValueError):
            raise ValueError("must be a number") from None
        if not math.isfinite(result):
            raise ValueError("must be a finite number")
        _check_range(result, minimum, maximum)
        return result

    return parse


def _check_range(value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise ValueError(f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ValueError(f"must be at most {maximum}")


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("must be true or false")


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def choice(*options: str) -> Parser:
    def parse(value: Any) -> str:
        if isinstance(value, str) and value.strip().lower() in options:
            return value.strip().lower()
        raise ValueError(f"must be one of {', '.join(options)}")

    return parse


def string_list(value: Any) -> tuple[str, ...]:
    """A comma-separated string (environment) or a list of strings (file)."""
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = value
    else:
        raise ValueError("must be a comma-separated list")
    return tuple(item.strip() for item in items if item.strip())


def url(*schemes: str) -> Parser:
    """A URL with a host; ``schemes`` limits the scheme (e.g. "https", "postgresql+psycopg")."""

    def parse(value: Any) -> str:
        match = isinstance(value, str) and re.fullmatch(r"([A-Za-z][A-Za-z0-9+.-]*)://[^/\s]+\S*",
                                                        value.strip())
        if not match:
            raise ValueError("must be a URL such as scheme://host/path")
        if schemes and match.group(1).lower() not in schemes:
            raise ValueError(f"must be a URL with scheme {' or '.join(schemes)}")
        return value.strip()

    return parse


def url_list(*schemes: str) -> Parser:
    """A comma-separated string (environment) or a list (file) of URLs."""
    one = url(*schemes)

    def parse(value: Any) -> tuple[str, ...]:
        return tuple(one(item) for item in string_list(value))

    return parse


def fhir_base_list(value: Any) -> tuple[str, ...]:
    """FHIR base URLs (http or https), normalised as the FHIR fetcher compares them."""
    from .fhir.urls import normalize_base_url

    bases = []
    for item in string_list(value):
        normalized = normalize_base_url(item)
        if normalized is None:
            raise ValueError(f"must be http(s) FHIR base URLs (a host and an optional path; no "
                             f"user, query or fragment), and {_short(item)} is not one")
        bases.append(normalized)
    return tuple(dict.fromkeys(bases))


def database_url(value: Any) -> str:
    """A PostgreSQL or SQLite SQLAlchemy URL; postgres:// and postgresql:// use psycopg 3."""
    match = isinstance(value, str) and re.fullmatch(r"([A-Za-z][A-Za-z0-9+]*)://(\S*)",
                                                    value.strip())
    if not match:
        raise ValueError("must be a database URL (postgresql://user@host/db or "
                         "sqlite:////path/file.db)")
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        if not rest or rest.startswith("/"):
            raise ValueError("must name a host: postgresql://user@host:5432/database")
        return f"postgresql+psycopg://{rest}"
    if scheme in ("sqlite", "sqlite+pysqlite"):
        if not rest.startswith("/") or rest.strip("/") in ("", ":memory:"):
            raise ValueError("must name a file: sqlite:////absolute/path/file.db")
        return f"sqlite://{rest}"
    raise ValueError("must be a postgresql:// or sqlite:/// URL")


def hash_key(value: Any) -> str:
    if not isinstance(value, str) or len(value.strip()) < 32:
        raise ValueError("must be at least 32 characters (e.g. the output of "
                         "`python3 -c 'import secrets; print(secrets.token_hex(32))'`)")
    return value.strip()


# -- the field table ------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    env: str
    parse: Parser
    description: str
    secret: bool = False


def setting(env: str, default: Any, parse: Parser, description: str, *, secret: bool = False,
            default_factory: Callable[[], Any] | None = None) -> Any:
    """Declare one setting: its environment variable, default, parser and meaning."""
    metadata = {"spec": Spec(env, parse, description, secret)}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def usable_cpus() -> int:
    """CPUs this process may use: its CPU affinity, capped by a cgroup (container) CPU quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        count = min(count, math.ceil(quota))
    return max(1, count)


def _cgroup_cpu_quota() -> float | None:
    try:  # cgroup v2: "max 100000" or "<quota> <period>"
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        quota_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class Settings:
    # Serving (gunicorn). Each request is CPU work (FHIR parsing, rules), so one single-threaded
    # worker process per usable CPU: threads in one process contend for the GIL and the SQLite
    # write lock (benchmarks/README.md: p99 at 64 clients 89 ms with 1 thread, 315 ms with 4).
    # Deployments that fetch from a slow FHIR server raise CDS_WORKERS or CDS_THREADS.
    host: str = setting("CDS_HOST", "127.0.0.1", text, "Address `cds-service serve` binds to")
    port: int = setting("CDS_PORT", 8080, integer(1, 65535), "Port `cds-service serve` listens on")
    workers: int = setting("CDS_WORKERS", None, integer(1, 256),
                           "gunicorn worker processes (default: the CPUs this process may use)",
                           default_factory=usable_cpus)
    threads: int = setting("CDS_THREADS", 1, integer(1, 64), "Threads per worker")
    worker_timeout: int = setting("CDS_WORKER_TIMEOUT", 30, integer(1),
                                  "Seconds a request may run before its worker is restarted")
    graceful_timeout: int = setting("CDS_GRACEFUL_TIMEOUT", 20, integer(0),
                                    "Seconds in-flight requests get to finish after SIGTERM")
    keepalive: int = setting("CDS_KEEPALIVE", 5, integer(0, 3600),
                             "Seconds an idle keep-alive connection is kept open")
    client_read_timeout: float = setting(
        "CDS_CLIENT_READ_TIMEOUT", 15.0, number(0.5, 600),
        "Seconds a client may take to send one request, headers and body (then 408)")
    request_budget_seconds: float = setting(
        "CDS_REQUEST_BUDGET_SECONDS", 10.0, number(0, 3600),
        "Seconds of work one hook call may take, below CDS_WORKER_TIMEOUT (then 503; 0: none)")
    log_level: str = setting("CDS_LOG_LEVEL", "info",
                             choice("debug", "info", "warning", "error", "critical"), "Log level")
    # HTTP
    max_body_bytes: int = setting("CDS_MAX_BODY_BYTES", 5 * 1024 * 1024, integer(1024),
                                  "Largest request body accepted (413 above)")
    cors_origins: tuple[str, ...] = setting("CDS_CORS_ORIGINS", ("*",), string_list,
                                            "Origins allowed by CORS (comma-separated)")
    # Feedback (cds_service/feedback.py): every call within these, else 400 or 413
    feedback_max_items: int = setting("CDS_FEEDBACK_MAX_ITEMS", 100, integer(1, 10_000),
                                      "Feedback items (and accepted suggestions) in one call")
    feedback_max_string_chars: int = setting(
        "CDS_FEEDBACK_MAX_STRING_CHARS", 256, integer(36, 65_536),
        "Longest suggestion id, override reason code or system in feedback")
    feedback_max_comment_chars: int = setting(
        "CDS_FEEDBACK_MAX_COMMENT_CHARS", 4000, integer(1, 1_000_000),
        "Longest override comment (userComment) in feedback")
    # Feedback store (cds_service/store): SQLite in CDS_DATA_DIR unless DATABASE_URL is set
    database_url: str | None = setting(
        "DATABASE_URL", None, database_url,
        "Feedback database: postgresql://user:password@host/db (default: SQLite in "
        "CDS_DATA_DIR)", secret=True)
    data_dir: str | None = setting(
        "CDS_DATA_DIR", None, text,
        "Folder of the SQLite feedback database and its patient hash key (default: "
        "$XDG_DATA_HOME/cds-service, else ~/.local/share/cds-service)")
    patient_hash_key: str | None = setting(
        "CDS_PATIENT_HASH_KEY", None, hash_key,
        "Key of the HMAC that stands in for patient ids in the feedback database (default with "
        "SQLite: generated into CDS_DATA_DIR/patient-hash.key; required with PostgreSQL)",
        secret=True)
    # FHIR server fallback (cds_service/fhir/client.py): off while no server is allowed
    fhir_allowed_servers: tuple[str, ...] = setting(
        "CDS_FHIR_ALLOWED_SERVERS", (), fhir_base_list,
        "FHIR base URLs the service may fetch missing prefetch from (comma-separated)")
    fhir_connect_timeout: float = setting("CDS_FHIR_CONNECT_TIMEOUT", 2.0, number(0.1, 60),
                                          "Seconds to connect to the FHIR server")
    fhir_read_timeout: float = setting("CDS_FHIR_READ_TIMEOUT", 5.0, number(0.1, 120),
                                       "Seconds to wait for each FHIR response read")
    fhir_deadline: float = setting("CDS_FHIR_DEADLINE", 8.0, number(0.1, 300),
                                   "Seconds all of one hook call's FHIR fetches may take")
    fhir_max_pages: int = setting("CDS_FHIR_MAX_PAGES", 100, integer(1, 1000),
                                  "Search result pages followed per query")
    fhir_max_resources: int = setting("CDS_FHIR_MAX_RESOURCES", 2000, integer(1, 100_000),
                                      "Resources read per FHIR search, over all its pages")
    fhir_max_response_bytes: int = setting("CDS_FHIR_MAX_RESPONSE_BYTES", 5 * 1024 * 1024,
                                           integer(1024), "Largest FHIR response read")
    fhir_cache_ttl: float = setting("CDS_FHIR_CACHE_TTL", 60.0, number(0),
                                    "Seconds a fetched FHIR result is cached (0: no cache)")
    fhir_cache_size: int = setting("CDS_FHIR_CACHE_SIZE", 256, integer(0),
                                   "FHIR results cached per worker")
    # Client authentication (cds_service/auth.py; docs/security.md)
    auth_disabled: bool = setting("CDS_AUTH_DISABLED", False, boolean,
                                  "Accept calls without a client JWT (local testing only)")
    trusted_issuers: tuple[dict, ...] = setting(
        "CDS_TRUSTED_ISSUERS", (), parse_issuers,
        'Trusted CDS clients, JSON: [{"iss", "jwks_url", "jku": [...]?, "tenant"?}]')
    auth_config: tuple[dict, ...] = setting("CDS_AUTH_CONFIG", (), parse_issuers_file,
                                            "A JSON file of more trusted issuers (same form)")
    auth_algorithms: tuple[str, ...] = setting("CDS_AUTH_ALGORITHMS", ("RS384", "ES384"),
                                               parse_algorithms, "JWS algorithms accepted")
    public_base_url: str | None = setting("CDS_PUBLIC_BASE_URL", None, url("http", "https"),
                                          "The service's public base URL (the JWT audience)")
    auth_audience_aliases: tuple[str, ...] = setting(
        "CDS_AUTH_AUDIENCE_ALIASES", (), url_list("http", "https"),
        "Further base URLs a JWT's aud may name (a proxy in front)")
    auth_leeway_seconds: int = setting("CDS_AUTH_LEEWAY_SECONDS", 60, integer(0, 300),
                                       "Clock leeway for exp, nbf and iat")
    auth_max_lifetime_seconds: int = setting("CDS_AUTH_MAX_LIFETIME_SECONDS", 3600,
                                             integer(60, 86400), "Longest JWT lifetime accepted")
    auth_jwks_ttl_seconds: int = setting("CDS_AUTH_JWKS_TTL_SECONDS", 300, integer(0, 86400),
                                         "Seconds a fetched JWKS is used before re-fetching")
    auth_jwks_max_stale_seconds: int = setting(
        "CDS_AUTH_JWKS_MAX_STALE_SECONDS", 3600, integer(0, 604800),
        "Seconds past its TTL a JWKS stays usable while its endpoint does not answer")
    auth_jwks_min_refetch_seconds: int = setting(
        "CDS_AUTH_JWKS_MIN_REFETCH_SECONDS", 30, integer(0, 3600),
        "Least seconds between two fetches of one JWKS (unknown kid, endpoint down)")
    auth_discovery: bool = setting("CDS_AUTH_DISCOVERY", False, boolean,
                                   "Require a client JWT on discovery too")
    auth_allow_sandbox: bool = setting("CDS_AUTH_ALLOW_SANDBOX", False, boolean,
                                       "Trust the CDS Hooks sandbox (its key is public: dev only)")
    auth_replay_cache_size: int = setting("CDS_AUTH_REPLAY_CACHE_SIZE", 200_000,
                                          integer(1000), "jti values remembered per worker")

    # -- loading ------------------------------------------------------------------------------
    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None,
             overrides: Mapping[str, Any] | None = None) -> Settings:
        """Settings from defaults, CDS_CONFIG_FILE, the environment and ``overrides`` (the
        command line, keyed by field name; None values are ignored). Raises SettingsError."""
        return cls._resolve(environ, overrides)[0]

    @classmethod
    def from_env(cls) -> Settings:
        return cls.load()

    @classmethod
    def load_with_sources(cls, environ: Mapping[str, str] | None = None,
                          overrides: Mapping[str, Any] | None = None
                          ) -> tuple[Settings, dict[str, str]]:
        """As ``load``, with where each value came from (default, the file, env, option)."""
        return cls._resolve(environ, overrides)

    @classmethod
    def _resolve(cls, environ: Mapping[str, str] | None, overrides: Mapping[str, Any] | None
                 ) -> tuple[Settings, dict[str, str]]:
        environ = os.environ if environ is None else environ
        problems: list[str] = []
        raw: dict[str, tuple[Any, str, str]] = {}  # name -> (value, label for messages, source)
        specs = {f.name: f.metadata["spec"] for f in fields(cls) if "spec" in f.metadata}

        config_file = (environ.get(CONFIG_FILE_ENV) or "").strip()
        if config_file:
            for key, value in _read_config_file(config_file, problems).items():
                if key not in specs:
                    problems.append(f"{config_file}: unknown setting '{key}' (the keys are the "
                                    "field names `cds-service config` lists)")
                else:
                    raw[key] = (value, f"{key} in {config_file}", f"file {config_file}")
        for name, spec in specs.items():
            value = environ.get(spec.env)
            if value is not None and value.strip() != "":
                raw[name] = (value, spec.env, "environment")
        for name, value in (overrides or {}).items():
            if value is not None:
                raw[name] = (value, f"--{name.replace('_', '-')}", "command line")

        values: dict[str, Any] = {}
        sources = dict.fromkeys(specs, "default")
        for name, (value, label, source) in raw.items():
            spec = specs[name]
            try:
                values[name] = spec.parse(value)
            except ValueError as exc:
                shown = "" if spec.secret else f", got {_short(value)}"
                problems.append(f"{label} {exc}{shown}")
                continue
            sources[name] = source
        if problems:
            raise SettingsError(problems)
        settings = cls(**values)
        budget, timeout = settings.request_budget_seconds, settings.worker_timeout
        if budget and budget > timeout * 0.8:
            raise SettingsError([
                f"CDS_REQUEST_BUDGET_SECONDS ({budget:g}) must stay well below "
                f"CDS_WORKER_TIMEOUT ({timeout}): at most {timeout * 0.8:g} seconds, so that a "
                "call past its budget is answered before its worker is restarted"])
        return settings, sources

    # -- showing --------------------------------------------------------------------------------
    def describe(self, sources: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """One row per setting, secrets masked: name, env, value, source, description."""
        rows = []
        for f in fields(self):
            spec: Spec = f.metadata["spec"]
            rows.append({
                "name": f.name,
                "env": spec.env,
                "value": _display(getattr(self, f.name), spec.secret),
                "source": (sources or {}).get(f.name, "default"),
                "secret": spec.secret,
                "description": spec.description,
            })
        return rows

    def as_dict(self, masked: bool = True) -> dict[str, Any]:
        return {f.name: _display(getattr(self, f.name), f.metadata["spec"].secret) if masked
                else getattr(self, f.name) for f in fields(self)}


def _read_config_file(path: str, problems: list[str]) -> dict[str, Any]:
    suffix = Path(path).suffix.lower()
    if suffix not in (".toml", ".json"):
        problems.append(f"{CONFIG_FILE_ENV} must name a .toml or .json file, got {path!r}")
        return {}
    try:
        content = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{CONFIG_FILE_ENV}: cannot read {path} ({exc.__class__.__name__})")
        return {}
    try:
        data = tomllib.loads(content) if suffix == ".toml" else json.loads(content)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        problems.append(f"{path} is not valid {suffix[1:].upper()}: {exc}")
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path} must hold one table (object) of settings")
        return {}
    return data


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


_URL_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)([^@/\s]+)(@)")


def _display(value: Any, secret: bool) -> Any:
    if secret:
        return None if value is None or value == "" else MASK
    if isinstance(value, str):
        return _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), value)
    if isinstance(value, tuple):
        return list(value)
    return value
