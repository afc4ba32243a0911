"""Laterality: the side (right, left, bilateral) a mention of a lateral concept is on, from a
side word inside the match or the nearest one within a window of words."""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from .positions import SortedSpans, Words


def side_of(sides: dict[str, SortedSpans], words: Words, span: tuple[int, int],
          window: int) -> str | None:
    """A side word inside the match wins (two sides inside it: bilateral), else the nearest
    within ``window`` words; of sides at the same distance, the first listed."""
    best: tuple[int, str] | None = None
    inside = 0
    for side, spans in sides.items():
        distance = _side_distance(spans, words, span)
        if distance is None or distance > window:
            continue
        inside += distance == -1
        if best is None or distance < best[0]:
            best = (distance, side)
    if best is not None and best[0] == -1 and inside > 1:
        return "bilateral"
    return best[1] if best else None


def _side_distance(spans: SortedSpans, words: Words, span: tuple[int, int]) -> int | None:
    """-1 for a side word inside the match, 0 for one overlapping it, else the words between
    the match and the nearest side word; None when there is none."""
    if not spans.spans:
        return None
    start, end = span
    first_inside = bisect_left(spans.starts, start)
    if first_inside < len(spans.spans) and spans.ends[first_inside] <= end:
        return -1
    candidates = []
    before = first_inside - 1
    if before >= 0 and spans.ends[before] > start:
        return 0  # begins before the match and reaches into it
    last_within = bisect_left(spans.starts, end) - 1
    if last_within >= first_inside and spans.ends[last_within] > end:
        return 0  # begins inside the match and reaches past it
    ended = bisect_right(spans.ends, start) - 1
    if ended >= 0:
        candidates.append(words.between(spans.ends[ended], start))
    after = bisect_left(spans.starts, end)
    if after < len(spans.spans):
        candidates.append(words.between(end, spans.starts[after]))
    return min(candidates) if candidates else None

