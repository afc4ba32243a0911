"""Negation and the other context (NegEx and ConText): which pre- and post-triggers reach each
mention of a sentence, over lists and up to a terminator, worked out once per sentence so that
each mention is looked up in O(log n)."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right

from .patterns import Prefiltered, spans_of
from .positions import SortedSpans, Words
from .triggers import CONTEXT_KINDS, Concept, Context

_COMMA = re.compile(",")
_LIST_SEPARATOR = re.compile(r",|(?<!\w)(?:and/or|and|or|nor)(?!\w)", re.IGNORECASE)
_CONNECTOR_TOKEN = re.compile(r"\w+|[,/]")
_CONNECTORS = frozenset({"and", "or", "nor", "/", ","})


class Scope:
    """The context triggers of one sentence and what each reaches, worked out once: a mention
    is then looked up in O(log n)."""

    def __init__(self, ctx: Context, sentence: str, words: Words,
                 found: list[tuple[tuple[int, int], Concept]]):
        self.ctx = ctx
        self.sentence = sentence
        self.words = words
        self.found = found
        self.pseudo = SortedSpans(spans_of(ctx.pseudo, sentence))
        self.terminators = SortedSpans(spans_of(ctx.terminators, sentence))
        self._commas: list[int] | None = None
        self._list_reach: list[int] | None = None
        self._list_separators: SortedSpans | None = None
        self._breakers: SortedSpans | None = None
        self._pre = {kind: self._reaches(ctx.pre[kind]) for kind in CONTEXT_KINDS}
        self._pre_for_groups = {kind: {group: self._reaches(pattern)
                                       for group, pattern in by_group.items()}
                                for kind, by_group in ctx.pre_for_groups.items()}
        self._post: dict[str, list[tuple[int, int] | None]] = {}

    # -- pre-triggers: a scope forward, over a list, to a terminator -----------------------
    def _triggers(self, pattern: Prefiltered | None) -> list[tuple[int, int]]:
        return [s for s in spans_of(pattern, self.sentence) if not self.pseudo.overlaps(s)]

    def _reaches(self, pattern: Prefiltered | None):
        """(trigger ends, best reach so far, its trigger) for the triggers in order: a mention
        starting at m is in scope when some trigger ending at or before m reaches m."""
        triggers = self._triggers(pattern)
        if not triggers:
            return None
        ends, best, best_trigger = [], [], []
        for trigger in triggers:
            reach = self._reach(trigger[1])
            ends.append(trigger[1])
            if best and best[-1] >= reach:
                best.append(best[-1])
                best_trigger.append(best_trigger[-1])
            else:
                best.append(reach)
                best_trigger.append(trigger)
        return ends, best, best_trigger

    def _reach(self, position: int) -> int:
        """The last offset at which a mention can start in the scope of a pre-trigger ending at
        ``position``: ``window`` words, or the end of the list that follows, and never past
        the end of the first terminator after it."""
        reach = max(self.words.reach(position, self.ctx.window), self._list_end(position))
        terminator = self.terminators.first_starting_from(position)
        if terminator is not None:
            reach = min(reach, terminator[1] - 1)
        return reach

    def _list_end(self, position: int) -> int:
        """Where a list starting at ``position`` ends. It runs over items separated by commas,
        "and", "or", "nor" while each item is at most ``list_item_words`` words; it ends at a
        word of a new clause (``list_breakers``: "he", "is", "radiates"), or in the first long
        item, which is covered for ``window`` words."""
        separators = self._separators()
        at = bisect_left(separators.starts, position)
        after = self._reach_after_separator()
        return self._item_reach(position, separators.starts[at] if at < len(separators.spans)
                                else len(self.sentence),
                                after[at] if at < len(after) else len(self.sentence))

    def _item_reach(self, start: int, end: int, next_reach: int) -> int:
        reach = (next_reach if self.words.between(start, end) <= self.ctx.list_item_words
                 else self.words.reach(start, self.ctx.window))
        breaker = self._breaker_spans().first_starting_from(start)
        if breaker is not None and breaker[0] < end:
            reach = min(reach, breaker[0] - 1)  # a new clause: the list ends before it
        return reach

    def _separators(self) -> SortedSpans:
        if self._list_separators is None:
            self._list_separators = SortedSpans(
                [m.span() for m in _LIST_SEPARATOR.finditer(self.sentence)])
        return self._list_separators

    def _comma_positions(self) -> list[int]:
        if self._commas is None:
            self._commas = [m.start() for m in _COMMA.finditer(self.sentence)]
        return self._commas

    def _breaker_spans(self) -> SortedSpans:
        if self._breakers is None:
            self._breakers = SortedSpans(spans_of(self.ctx.list_breakers, self.sentence))
        return self._breakers

    def _reach_after_separator(self) -> list[int]:
        """For each separator, where a list that goes on past it ends (once per sentence, from
        its end backwards, so that a long list is not walked again for each trigger in it)."""
        if self._list_reach is None:
            separators, length = self._separators(), len(self.sentence)
            count = len(separators.spans)
            reach = [0] * count
            for at in range(count - 1, -1, -1):
                end = separators.starts[at + 1] if at + 1 < count else length
                reach[at] = self._item_reach(separators.ends[at], end,
                                             reach[at + 1] if at + 1 < count else length)
            self._list_reach = reach
        return self._list_reach

    def pre(self, kind: str, start: int, group: str) -> tuple[int, int] | None:
        """The pre-trigger of ``kind`` whose scope holds a mention starting at ``start``."""
        for reaches in (self._pre[kind], self._pre_for_groups.get(kind, {}).get(group)):
            if reaches is None:
                continue
            ends, best, best_trigger = reaches
            at = bisect_right(ends, start) - 1
            if at >= 0 and best[at] >= start:
                return best_trigger[at]
        return None

    # -- post-triggers: back to the nearest mention and the same group listed before it -----
    def post(self, kind: str, position: int) -> tuple[int, int] | None:
        if kind not in self._post:
            self._post[kind] = self._post_marks(kind)
        return self._post[kind][position]

    def _post_marks(self, kind: str) -> list[tuple[int, int] | None]:
        found, marks = self.found, [None] * len(self.found)
        triggers = self._triggers(self.ctx.post[kind])
        if not triggers:
            return marks
        by_end = sorted(range(len(found)), key=lambda i: found[i][0][1])
        groups: dict[str, list[int]] = {}
        for i, (_, concept) in enumerate(found):
            groups.setdefault(concept.group, []).append(i)
        place = {i: k for members in groups.values() for k, i in enumerate(members)}
        chain_start: dict[str, list[int]] = {}
        ranges: dict[str, list[tuple[int, int, tuple[int, int]]]] = {}
        commas = self._comma_positions()
        seen, nearest = 0, -1
        for trigger in triggers:
            # the trigger binds to the mention with the highest position among those ending
            # before it ...
            while seen < len(by_end) and found[by_end[seen]][0][1] <= trigger[0]:
                nearest = max(nearest, by_end[seen])
                seen += 1
            if nearest < 0:
                continue
            near_end = found[nearest][0][1]
            comma = bisect_left(commas, near_end)
            terminator = self.terminators.first_starting_from(near_end)
            if (self.words.between(near_end, trigger[0]) > self.ctx.post_window
                    or (comma < len(commas) and commas[comma] < trigger[0])
                    or (terminator is not None and terminator[1] <= trigger[0])):
                continue
            # ... and to the mentions of its group joined to it by "and", "or", commas
            group = found[nearest][1].group
            if group not in chain_start:
                chain_start[group] = self._chains(groups[group])
            q = place[nearest]
            ranges.setdefault(group, []).append((chain_start[group][q], q, trigger))
        for group, spans in ranges.items():
            # both ends of the ranges only grow with the trigger's position, so the ranges
            # holding a mention are consecutive: the last of them has the latest trigger,
            # the one most likely to come after the mention's end
            members, at = groups[group], 0
            firsts = [first for first, _, _ in spans]
            for k, i in enumerate(members):
                while at < len(spans) and spans[at][1] < k:
                    at += 1
                last = bisect_right(firsts, k) - 1
                if last >= at and found[i][0][1] <= spans[last][2][0]:
                    marks[i] = spans[last][2]
        return marks

    def _chains(self, members: list[int]) -> list[int]:
        """For each mention of a group, the first of the run of mentions of that group before
        it joined only by connectors ("numbness, tingling and weakness")."""
        starts = [0] * len(members)
        for k in range(1, len(members)):
            between = self.sentence[self.found[members[k - 1]][0][1]:
                                    self.found[members[k]][0][0]]
            starts[k] = starts[k - 1] if _only_connectors(between) else k
        return starts


def _only_connectors(text: str) -> bool:
    tokens = _CONNECTOR_TOKEN.findall(text.lower())
    return all(token in _CONNECTORS for token in tokens)

