"""The in-process replay cache (cds_service/auth/replay.py), with a clock the test moves; the
replay across workers and replicas is tested on live servers in test_auth.py."""

from __future__ import annotations

from cds_service.auth.replay import ReplayCache
from tests.auth_support import Clock


def test_replay_cache_forgets_expired_entries_and_stays_bounded():
    clock = Clock()
    cache = ReplayCache(capacity=3, clock=clock)
    assert cache.add(("iss", "a"), clock.now + 10)
    assert not cache.add(("iss", "a"), clock.now + 10)
    assert cache.add(("other-iss", "a"), clock.now + 10)  # jti is per issuer
    clock.now += 11
    assert cache.add(("iss", "a"), clock.now + 10)  # expired, so forgotten
    for jti in "bcde":
        assert cache.add(("iss", jti), clock.now + 100)
    assert len(cache) == 3
