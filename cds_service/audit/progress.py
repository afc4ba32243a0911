"""A progress bar on a terminal; nothing at all when the stream is not one (a log, a pipe)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 30


class Progress:
    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None):
        self.stream = stream or sys.stderr
        self.enabled = _is_terminal(self.stream) if enabled is None else enabled
        self._label = ""
        self._total = 0
        self._done = 0
        self._drawn_at = 0.0

    def start(self, label: str, total: int) -> None:
        self._label, self._total, self._done = label, max(total, 0), 0
        self._draw(force=True)

    def advance(self, note: str = "") -> None:
        self._done += 1
        self._draw(note, force=self._done >= self._total)

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, note: str = "", force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._drawn_at < 0.1:
            return
        self._drawn_at = now
        share = self._done / self._total if self._total else 1.0
        filled = int(share * _WIDTH)
        bar = "#" * filled + "-" * (_WIDTH - filled)
        text = f"\r{self._label:<10} [{bar}] {self._done}/{self._total} {note}"
        self.stream.write(text.ljust(78)[:120])
        self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
