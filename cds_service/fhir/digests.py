"""Remembering which resources passed a check, by digest, so that the same resource sent again
(a patient's Conditions, Encounter and Coverage come with every order-sign of a visit and again
at discharge) is not checked again."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

import orjson


class ValidatedDigests:
    """Digests of resources that passed a check, most recent last.

    Only a 16-byte BLAKE2b digest of the resource's JSON is kept, never the resource, and only
    for valid ones: an invalid resource is checked (and refused) every time it comes.
    """

    def __init__(self, capacity: int = 8192):
        self.capacity = capacity
        self._digests: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def digest(resource: dict) -> bytes | None:
        try:
            encoded = orjson.dumps(resource)
        except (TypeError, orjson.JSONEncodeError):  # a lone surrogate, an integer past 64 bits
            return None
        return hashlib.blake2b(encoded, digest_size=16).digest()

    def __contains__(self, digest: bytes) -> bool:
        with self._lock:
            if digest in self._digests:
                self._digests.move_to_end(digest)
                return True
            return False

    def add(self, digest: bytes) -> None:
        with self._lock:
            self._digests[digest] = None
            if len(self._digests) > self.capacity:
                self._digests.popitem(last=False)


def check_once(passed: ValidatedDigests, check: Callable[[dict, str], None], resource: dict,
               path: str) -> None:
    """Run ``check(resource, path)`` unless a resource identical to it passed before; remember
    the resource when it passes (``check`` raises for an invalid one)."""
    digest = passed.digest(resource)
    if digest is not None and digest in passed:
        return
    check(resource, path)  # raises for an invalid resource, which is never remembered
    if digest is not None:
        passed.add(digest)
