"""Counting words and finding spans by offset in O(log n): the lookups that keep reading a
sentence linear in its length, however many triggers and mentions it holds."""

from __future__ import annotations

import re
from bisect import bisect_left

WORD = re.compile(r"\w+")
WORD_CHAR = re.compile(r"\w")


class Words:
    """A sentence's word starts, to count the words between two offsets in O(log n): the same
    count as ``len(re.findall(r"\\w+", sentence[a:b]))``."""

    __slots__ = ("text", "starts")

    def __init__(self, text: str):
        self.text = text
        starts = getattr(text, "word_starts", None)
        self.starts = starts if starts is not None else [m.start() for m in WORD.finditer(text)]

    def _inside_word(self, position: int) -> bool:
        return (0 < position < len(self.text) and WORD_CHAR.match(self.text, position - 1)
                is not None and WORD_CHAR.match(self.text, position) is not None)

    def between(self, a: int, b: int) -> int:
        if a >= b:
            return 0
        return (bisect_left(self.starts, b) - bisect_left(self.starts, a)
                + (1 if self._inside_word(a) else 0))

    def reach(self, a: int, window: int) -> int:
        """The last offset b with ``between(a, b) <= window``, or the sentence's length."""
        allowed = window - (1 if self._inside_word(a) else 0)
        if allowed < 0:
            return a
        at = bisect_left(self.starts, a) + allowed
        return self.starts[at] if at < len(self.starts) else len(self.text)


class SortedSpans:
    """Spans from one pattern's ``finditer``: in order and not overlapping, so that their
    starts and their ends are both sorted."""

    __slots__ = ("spans", "starts", "ends")

    def __init__(self, spans: list[tuple[int, int]]):
        self.spans = spans
        self.starts = [s for s, _ in spans]
        self.ends = [e for _, e in spans]

    def last_starting_before(self, position: int) -> tuple[int, int] | None:
        at = bisect_left(self.starts, position) - 1
        return self.spans[at] if at >= 0 else None

    def first_starting_from(self, position: int) -> tuple[int, int] | None:
        at = bisect_left(self.starts, position)
        return self.spans[at] if at < len(self.spans) else None

    def overlaps(self, span: tuple[int, int]) -> bool:
        last = self.last_starting_before(span[1])
        return last is not None and last[1] > span[0]

