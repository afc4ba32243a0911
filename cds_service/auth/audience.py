"""The audience of a client's JWT: the URLs of the endpoint being called that its ``aud`` may
name (CDS Hooks 2.0: "the URL of the CDS Service endpoint being invoked"), compared in
normalised form."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..settings.auth import AuthSettings


def _normalise_url(url: str) -> str:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port and not ((scheme == "https" and port == 443) or (scheme == "http" and port == 80)):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path.rstrip("/"), "", ""))


def audience_matches(aud: Any, audiences: list[str]) -> bool:
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not values:
        return False
    expected = {_normalise_url(a) for a in audiences}
    return any(isinstance(v, str) and _normalise_url(v) in expected for v in values)


def expected_audiences(settings: AuthSettings, host_url: str, path: str) -> list[str]:
    """The URLs a token for this request may name in ``aud``: the endpoint's URL under the
    configured public base URL (else the scheme and host the request came in on) and under
    each configured alias."""
    bases = [settings.public_base_url or host_url, *settings.auth_audience_aliases]
    return [base.rstrip("/") + path for base in bases]
