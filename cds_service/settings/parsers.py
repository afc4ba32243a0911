"""The value parsers of the settings: each turns a value from the environment (str) or the config
file (str, int, list ...) into the setting's value, or raises ValueError("must ...") naming what
it wants; the loader adds which variable it came from."""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

from .spec import Parser


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
    bases = []
    for item in string_list(value):
        normalized = normalize_base_url(item)
        if normalized is None:
            raise ValueError(f"must be http(s) FHIR base URLs (a host and an optional path; no "
                             f"user, query or fragment), and {short(item)} is not one")
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


_DEFAULT_PORTS = {"http": 80, "https": 443}
# Never in a URL we accept or send: whitespace, fragments, backslashes, control characters
UNSAFE_URL_CHARACTERS = re.compile(r"[\s#\\\x00-\x1f\x7f]")


def normalize_base_url(url: str) -> str | None:
    """The canonical form of a FHIR base URL, or None when it is not a plain http(s) base.

    >>> normalize_base_url("HTTPS://EHR.example:443/fhir/R4/")
    'https://ehr.example/fhir/R4'
    >>> normalize_base_url("ftp://ehr.example/fhir") is None
    True
    """
    if not isinstance(url, str) or UNSAFE_URL_CHARACTERS.search(url):
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        return None
    path = parts.path.rstrip("/")
    if any(segment in (".", "..") for segment in path.split("/")):
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}{path}"


def short(value: Any) -> str:
    """A value fit for a message: its repr, cut to 60 characters."""
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."
