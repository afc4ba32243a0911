"""The JWKS cache (cds_service/auth/jwks.py), with a clock the test moves and a real JWKS served
over loopback HTTP: kept for its TTL, re-fetched once on a rotated key, a stale copy through an
outage, failing closed when cold, public signing keys only."""

from __future__ import annotations

import pytest

from cds_service.auth.jwks import JwksCache, JwksUnavailable, fetch_jwks
from tests.auth_support import Clock, JwksServer, ec_key


@pytest.fixture()
def fresh_jwks():
    server = JwksServer()
    yield server
    server.stop()


def test_jwks_cache_keeps_a_set_for_its_ttl(fresh_jwks):
    key = ec_key("k1")
    fresh_jwks.publish("/j", key)
    clock = Clock()
    cache = JwksCache(ttl=300, max_stale=3600, min_refetch=30, timeout=5, clock=clock)
    url = fresh_jwks.url("/j")
    assert cache.get_key(url, "k1")["kid"] == "k1"
    clock.now += 299
    assert cache.get_key(url, "k1") is not None
    assert fresh_jwks.hit_count("/j") == 1
    clock.now += 2
    assert cache.get_key(url, "k1") is not None
    assert fresh_jwks.hit_count("/j") == 2


def test_unknown_kid_refetches_once_and_is_rate_limited(fresh_jwks):
    fresh_jwks.publish("/j", ec_key("k1"))
    clock = Clock()
    cache = JwksCache(ttl=300, max_stale=3600, min_refetch=30, timeout=5, clock=clock)
    url = fresh_jwks.url("/j")
    cache.get_key(url, "k1")
    assert cache.get_key(url, "made-up-1") is None
    assert cache.get_key(url, "made-up-2") is None
    clock.now += 10
    assert cache.get_key(url, "made-up-3") is None
    assert fresh_jwks.hit_count("/j") == 1  # within min_refetch of the last fetch: none
    clock.now += 25
    fresh_jwks.publish("/j", ec_key("k1"), ec_key("k2"))
    assert cache.get_key(url, "k2") is not None  # rotation picked up
    assert fresh_jwks.hit_count("/j") == 2


def test_stale_keys_serve_through_an_outage_then_expire(fresh_jwks):
    fresh_jwks.publish("/j", ec_key("k1"))
    clock = Clock()
    cache = JwksCache(ttl=60, max_stale=600, min_refetch=5, timeout=5, clock=clock)
    url = fresh_jwks.url("/j")
    cache.get_key(url, "k1")
    fresh_jwks.down = True
    clock.now += 300
    assert cache.get_key(url, "k1") is not None  # stale but within max_stale
    assert fresh_jwks.hit_count("/j") == 2
    clock.now += 1
    assert cache.get_key(url, "k1") is not None
    assert fresh_jwks.hit_count("/j") == 2  # a failed fetch is not retried at once
    clock.now += 400  # past ttl + max_stale
    with pytest.raises(JwksUnavailable):
        cache.get_key(url, "k1")
    fresh_jwks.down = False
    clock.now += 10
    assert cache.get_key(url, "k1") is not None


def test_cold_cache_with_the_endpoint_down_fails_closed(fresh_jwks):
    clock = Clock()
    cache = JwksCache(ttl=60, max_stale=600, min_refetch=5, timeout=5, clock=clock)
    url = fresh_jwks.url("/never-published")
    with pytest.raises(JwksUnavailable):
        cache.get_key(url, "k1")
    with pytest.raises(JwksUnavailable):
        cache.get_key(url, "k1")
    assert fresh_jwks.hit_count("/never-published") == 1


def test_jwks_keeps_only_public_signing_keys(fresh_jwks):
    good = ec_key("good")
    private = {**ec_key("private").public_jwk, "d": "c2VjcmV0"}
    fresh_jwks.publish("/j", good, extra=[
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {**ec_key("enc").public_jwk, "use": "enc"},
        private,
        {"kty": "RSA", "n": "AQAB", "e": "AQAB"},  # no kid
    ])
    assert set(fetch_jwks(fresh_jwks.url("/j"), 5)) == {"good"}
