"""Trusting CDS clients: verify the signed JWT that a CDS client (the EHR) sends with each call.

CDS Hooks 2.0 §Trusting CDS Clients (https://cds-hooks.hl7.org/2.0/#trusting-cds-clients): the
client sends ``Authorization: Bearer <JWT>``, signed with its private key (never ``none``, never
an HMAC); the header carries ``alg``, ``kid``, ``typ`` ("JWT") and optionally ``jku``; the payload
``iss``, ``aud`` (the URL of the endpoint being called), ``exp``, ``iat``, ``jti`` and optionally
``tenant``; services keep an allow-list of ``iss`` and ``jku``.

One job a module: ``config`` (the trusted issuers, from the auth settings), ``jwks`` (their key
sets, fetched and cached), ``replay`` (each ``jti`` once), ``token`` (reading a compact JWS),
``audience`` (the URLs ``aud`` may name) and ``verify`` (the checks, in order). Nothing here
knows Flask: ``cds_service/http/client_auth.py`` runs the checks on each request.
"""
