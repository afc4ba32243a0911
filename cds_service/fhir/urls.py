"""URL checks for the outbound FHIR client: a base URL's canonical form, whether a URL stays under
a base, whether a query is one we can send safely. Pure functions; this module imports nothing
of the service, so that the settings can use it to read the allow-list."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
# A query we send: a read (Type/id) or a search (Type?params), the id a FHIR id.
_READ = re.compile(r"[A-Z][A-Za-z]{1,63}/[A-Za-z0-9\-.]{1,64}")
_SEARCH_PATH = re.compile(r"[A-Z][A-Za-z]{1,63}")
_UNSAFE = re.compile(r"[\s#\\\x00-\x1f\x7f]")


def normalize_base_url(url: str) -> str | None:
    """The canonical form of a FHIR base URL, or None when it is not a plain http(s) base.

    >>> normalize_base_url("HTTPS://EHR.example:443/fhir/R4/")
    'https://ehr.example/fhir/R4'
    >>> normalize_base_url("ftp://ehr.example/fhir") is None
    True
    """
    if not isinstance(url, str) or _UNSAFE.search(url):
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


def within_base(url: str, base: str) -> bool:
    """True when ``url`` (absolute) addresses a resource under the normalised ``base``.

    The path is percent-decoded before it is checked, as a server decodes it before it resolves
    dot segments: ``/fhir/%2e%2e/admin`` is ``/fhir/../admin``, outside ``/fhir``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.fragment:
        return False
    path = parts.path
    for _ in range(3):  # %252e%252e decodes to %2e%2e, then to ..
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    else:
        return False  # still encoded after three rounds: not a path anyone means
    without_query = normalize_base_url(parts._replace(path=path, query="").geturl())
    return without_query is not None and (
        without_query == base or without_query.startswith(base + "/")
    )


def is_safe_query(query: str) -> bool:
    """True for a read (``Type/id``) or a search (``Type?params``) with nothing in it that could
    take the request outside the base it is appended to."""
    if not isinstance(query, str) or _UNSAFE.search(query) or "//" in query or ".." in query:
        return False
    path, _, _params = query.partition("?")
    return bool(_READ.fullmatch(path) if "/" in path else _SEARCH_PATH.fullmatch(path))
