"""The CDS clients this service trusts, as the auth settings configure them: each issuer with its
JWKS URL, the further ``jku`` URLs it may name and the tenants it may speak for."""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import SettingsError
from ..settings.auth import AuthSettings
from ..settings.issuers import SANDBOX_ISSUER, SANDBOX_JWKS_URL


@dataclass(frozen=True)
class TrustedIssuer:
    """One CDS client this service trusts."""

    issuer: str
    jwks_url: str
    #: further JWKS URLs a token may name in its ``jku`` header
    jku_allowlist: tuple[str, ...] = ()
    #: when set, the token's ``tenant`` must be one of these
    tenants: tuple[str, ...] = ()

    def allows_jku(self, url: str) -> bool:
        return url == self.jwks_url or url in self.jku_allowlist


#: The CDS Hooks sandbox, trusted only with CDS_AUTH_ALLOW_SANDBOX=true (its key is public).
SANDBOX = TrustedIssuer(SANDBOX_ISSUER, SANDBOX_JWKS_URL)


def trusted_issuers(settings: AuthSettings) -> dict[str, TrustedIssuer]:
    """The trusted issuers by ``iss``: CDS_TRUSTED_ISSUERS and CDS_AUTH_CONFIG, and the sandbox
    when it is allowed. Raises SettingsError for an issuer configured twice."""
    issuers: dict[str, TrustedIssuer] = {}
    for item in (*settings.trusted_issuers, *settings.auth_config):
        if item["iss"] in issuers:
            raise SettingsError([f"trusted issuer {item['iss']!r} is configured twice "
                                 "(CDS_TRUSTED_ISSUERS, CDS_AUTH_CONFIG)"])
        issuers[item["iss"]] = TrustedIssuer(item["iss"], item["jwks_url"], tuple(item["jku"]),
                                             tuple(item["tenant"]))
    if settings.auth_allow_sandbox and SANDBOX_ISSUER not in issuers:
        issuers[SANDBOX_ISSUER] = SANDBOX
    return issuers
