"""Replay protection: each token's ``(iss, jti)`` is accepted once, in this worker
(``ReplayCache``) and across every worker and replica through the feedback database
(``SharedReplayCache``)."""

from __future__ import annotations

import hashlib
import heapq
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("cds_service.auth")


class ReplayCache:
    """``(iss, jti)`` pairs seen, each kept until it expires; bounded (the soonest to expire go
    first when full). In-process, so per worker; ``SharedReplayCache`` adds the shared database.
    """

    def __init__(self, capacity: int, clock: Callable[[], float] = time.time):
        self.capacity = capacity
        self._clock = clock
        self._seen: dict[tuple[str, str], float] = {}
        self._expiry: list[tuple[float, tuple[str, str]]] = []
        self._lock = threading.Lock()
        self._warned_full = False

    def add(self, key: tuple[str, str], expires_at: float) -> bool:
        """Remember ``key``; False if it was already seen (a replay)."""
        with self._lock:
            now = self._clock()
            while self._expiry and self._expiry[0][0] <= now:
                expires, old = heapq.heappop(self._expiry)
                if self._seen.get(old) == expires:
                    del self._seen[old]
            if key in self._seen:
                return False
            while len(self._seen) >= self.capacity:
                expires, old = heapq.heappop(self._expiry)
                if self._seen.get(old) == expires:
                    del self._seen[old]
                    if not self._warned_full:
                        self._warned_full = True
                        log.warning("jti replay cache full: forgetting the oldest entries",
                                    extra={"capacity": self.capacity})
            self._seen[key] = expires_at
            heapq.heappush(self._expiry, (expires_at, key))
            return True

    def __len__(self) -> int:
        return len(self._seen)


class SharedReplayCache:
    """Replay protection across every worker and replica: the in-process cache first (a replay
    to the same worker costs no query), then the feedback database that all of them share,
    where the first to record a token's (iss, jti) wins. Fails closed: if the database cannot be
    reached the call is refused (503), never let through unchecked."""

    def __init__(self, local: ReplayCache, store: Any):
        self.local = local
        self.store = store

    def add(self, key: tuple[str, str], expires_at: float) -> bool:
        if not self.local.add(key, expires_at):
            return False
        digest = hashlib.sha256("\0".join(key).encode("utf-8")).hexdigest()
        return self.store.remember_token(digest, datetime.fromtimestamp(expires_at, UTC))

    def __len__(self) -> int:
        return len(self.local)
