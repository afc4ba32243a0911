"""Client authentication on the HTTP endpoints: a CDS client's JWT is verified before each hook
and feedback call (and discovery, if configured), and a failed check is answered with one
generic 401 (cds_service/auth verifies; this module reads the request and answers)."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, request

from ..auth.audience import expected_audiences
from ..auth.config import trusted_issuers
from ..auth.replay import ReplayCache, SharedReplayCache
from ..auth.verify import AuthFailure, TokenVerifier
from .errors import error_response
from .request_context import current

log = logging.getLogger("cds_service.auth")

_HOOK_ENDPOINTS = frozenset({"services.call_service", "services.feedback"})
_DISCOVERY_ENDPOINTS = frozenset({"discovery.discovery"})


def unauthorized() -> Response:
    response = error_response(401, "The request could not be authenticated.")
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


def authenticate(verifier: TokenVerifier, failure_log: logging.Logger = log) -> Response | None:
    """Verify this request's bearer JWT: None when it passes (the client noted on the request's
    record), else the 401 to answer (the failed check noted there and logged to
    ``failure_log``)."""
    context = current()
    audiences = expected_audiences(verifier.settings, request.host_url, request.path)
    try:
        identity = verifier.verify(request.headers.get("Authorization"), audiences)
    except AuthFailure as failure:
        context.auth_failure = failure.check
        failure_log.warning("client authentication failed",
                            extra={"request_id": context.request_id, "auth_check": failure.check,
                                   "auth_issuer": failure.issuer, "auth_kid": failure.kid})
        return unauthorized()
    context.client_issuer = identity.issuer
    context.client_tenant = identity.tenant
    return None


def init_app(app: Flask) -> None:
    """Check client JWTs before the hook and feedback endpoints (and discovery if configured)."""
    settings = app.extensions["cds"].settings
    trusted = trusted_issuers(settings)  # first: an issuer configured twice stops the start
    protected = set(_HOOK_ENDPOINTS)
    if settings.auth_discovery:
        protected |= _DISCOVERY_ENDPOINTS
    store = getattr(app.extensions.get("cds"), "feedback_store", None)
    replay = (SharedReplayCache(ReplayCache(settings.auth_replay_cache_size), store)
              if store is not None and hasattr(store, "remember_token") else None)
    verifier = None if settings.auth_disabled else TokenVerifier(settings, replay=replay)
    app.extensions["cds_auth"] = verifier
    if settings.auth_disabled:
        log.warning("CLIENT AUTHENTICATION IS DISABLED (CDS_AUTH_DISABLED=true): any caller can "
                    "call the hook endpoints; use this for local testing only")
    elif not trusted:
        log.warning("no trusted CDS client issuers configured (CDS_TRUSTED_ISSUERS or "
                    "CDS_AUTH_CONFIG): every hook and feedback call will be refused with 401")
    elif settings.auth_allow_sandbox:
        log.warning("the CDS Hooks sandbox issuer is trusted (CDS_AUTH_ALLOW_SANDBOX=true): its "
                    "private key is public; development only")

    @app.before_request
    def _authenticate() -> Response | None:
        if request.method == "OPTIONS" or request.endpoint not in protected:
            return None  # CORS preflight carries no credentials
        if settings.auth_disabled:
            return None
        return authenticate(current_app.extensions["cds_auth"])
