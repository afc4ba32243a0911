"""The auth group of the settings: client authentication (cds_service/auth, docs/security.md):
which CDS clients are trusted, the JWT checks' limits, the JWKS and replay caches."""

from __future__ import annotations

from dataclasses import dataclass

from .issuers import DEFAULT_ALGORITHMS, parse_algorithms, parse_issuers, parse_issuers_file
from .parsers import boolean, integer, url, url_list
from .spec import setting


@dataclass(frozen=True)
class AuthSettings:
    """Client authentication: trusted issuers and the checks of their JWTs."""

    auth_disabled: bool = setting("CDS_AUTH_DISABLED", False, boolean,
                                  "Accept calls without a client JWT (local testing only)")
    trusted_issuers: tuple[dict, ...] = setting(
        "CDS_TRUSTED_ISSUERS", (), parse_issuers,
        'Trusted CDS clients, JSON: [{"iss", "jwks_url", "jku": [...]?, "tenant"?}]')
    auth_config: tuple[dict, ...] = setting("CDS_AUTH_CONFIG", (), parse_issuers_file,
                                            "A JSON file of more trusted issuers (same form)")
    auth_algorithms: tuple[str, ...] = setting("CDS_AUTH_ALGORITHMS", DEFAULT_ALGORITHMS,
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
