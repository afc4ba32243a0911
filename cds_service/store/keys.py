"""The keys the store files rows under: the patient hash (HMAC-SHA256 of a patient id under a
secret key, so that no patient id is stored), the key file that secret lives in for SQLite, and
a feedback item's identity (to store a re-sent item once)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from ..feedback import FeedbackItem, parse_instant
from .errors import StoreError

KEY_FILE = "patient-hash.key"
_MIN_KEY_CHARS = 32


def load_or_create_key(path: Path) -> bytes:
    """The patient hash key in ``path``; a new random one (mode 0600) when there is none. Safe
    when several processes start together: the key is written to a temporary file and linked
    into place, so every process reads the same, complete key."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process was first: use its key
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    key = path.read_text("ascii").strip()
    if len(key) < _MIN_KEY_CHARS:
        raise StoreError(f"the patient hash key file {path} holds fewer than {_MIN_KEY_CHARS} "
                         "characters")
    return key.encode("ascii")


def patient_hash(key: bytes, patient_id: str) -> str:
    """HMAC-SHA256 of the patient id under ``key`` (hex)."""
    return hmac.new(key, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()


def dedup_key(item: FeedbackItem) -> str:
    """Identity of a feedback item: the same card, outcome, accepted suggestions, override
    reason and outcome instant make the same item (a re-sent one)."""
    identity = [item.card_uuid, item.outcome, sorted(item.accepted_suggestions),
                item.override_reason_system, item.override_reason_code,
                parse_instant(item.outcome_timestamp).isoformat()]
    return hashlib.sha256(json.dumps(identity, separators=(",", ":")).encode()).hexdigest()
