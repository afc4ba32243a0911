"""The service's one settings object, read from environment variables and an optional file.

Sources, each overriding the one before: the defaults; the file named by ``CDS_CONFIG_FILE``
(TOML or JSON, a flat table whose keys are the field names, e.g. ``max_body_bytes = 1048576``);
environment variables; the ``serve`` command's options. Every value is validated at start-up,
each bad one gets one message naming where it came from, and ``cds-service serve`` exits with
code 2 listing them.

The fields are declared in groups, one module each: ``server`` (gunicorn and HTTP),
``feedback``, ``store``, ``fhir`` and ``auth``. ``Settings`` is all of them in one flat object, so
that a field's name is its config-file key and every caller reads ``settings.<field>``; a
component takes the group it needs (``AuthSettings``, ``FhirSettings`` ...) as its type. The value
parsers are in ``parsers`` (the trusted-issuer ones in ``issuers``); nothing here imports the
modules it configures.

Adding a setting is one field on its group (its parser is one of ``parsers``, or a new one
raising ``ValueError("must ...")``)::

    fhir_max_pages: int = setting("CDS_FHIR_MAX_PAGES", 10, integer(1, 1000),
                                  "Search result pages followed per query")

A ``secret=True`` setting is never printed: ``cds-service config`` masks it and error messages
do not repeat its value. Passwords inside any URL-valued setting are masked as well.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import ServiceError
from .auth import AuthSettings
from .feedback import FeedbackSettings
from .fhir import FhirSettings
from .parsers import short
from .server import ServerSettings
from .spec import Spec
from .store import StoreSettings

CONFIG_FILE_ENV = "CDS_CONFIG_FILE"
MASK = "********"


class SettingsError(ServiceError, ValueError):
    """One or more configuration values are invalid; each message names its variable."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


# A dataclass takes its bases' fields from the last base to the first: the groups are listed in
# reverse so that the fields (and `cds-service config`) read server, feedback, store, FHIR, auth.
@dataclass(frozen=True)
class Settings(AuthSettings, FhirSettings, StoreSettings, FeedbackSettings, ServerSettings):
    """Every setting of the service, validated; one frozen object made at start-up."""

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
                shown = "" if spec.secret else f", got {short(value)}"
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


_URL_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)([^@/\s]+)(@)")


def _display(value: Any, secret: bool) -> Any:
    if secret:
        return None if value is None or value == "" else MASK
    if isinstance(value, str):
        return _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), value)
    if isinstance(value, tuple):
        return list(value)
    return value


def configured_data_dir() -> str | None:
    """CDS_DATA_DIR as the settings resolve it (environment or CDS_CONFIG_FILE), for commands
    that need no other setting (``codeset``, ``audit``): the environment's alone when some other
    setting is invalid, so that a bad unrelated value does not stop them."""
    try:
        return Settings.load().data_dir
    except SettingsError:
        return os.environ.get("CDS_DATA_DIR", "").strip() or None
