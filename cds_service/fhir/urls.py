"""URL checks for the outbound FHIR client: a base URL's canonical form, whether a URL stays under
a base, whether a query is one we can send safely. Pure functions. A base URL's canonical form
is the settings' parser (``settings.parsers.normalize_base_url``): the allow-list is read with
it at start-up, and the client compares a request's ``fhirServer`` in the same form."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from ..settings.parsers import UNSAFE_URL_CHARACTERS, normalize_base_url

# A query we send: a read (Type/id) or a search (Type?params), the id a FHIR id.
_READ = re.compile(r"[A-Z][A-Za-z]{1,63}/[A-Za-z0-9\-.]{1,64}")
_SEARCH_PATH = re.compile(r"[A-Z][A-Za-z]{1,63}")


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
    if (not isinstance(query, str) or UNSAFE_URL_CHARACTERS.search(query)
            or "//" in query or ".." in query):
        return False
    path, _, _params = query.partition("?")
    return bool(_READ.fullmatch(path) if "/" in path else _SEARCH_PATH.fullmatch(path))
