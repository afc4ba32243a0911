"""Reading free text (``Condition.note``, ``Encounter.reasonCode.text``) for the findings that
decide how low back pain is coded, with negation, uncertainty, family history and laterality.

The trigger terms are data, in ``valuesets/text-triggers/*.json``; this module only compiles and
applies them. How it works (NegEx-like, after Chapman et al. 2001):

1. The text is cut into sentences (``.``, ``!``, ``?``, ``;`` followed by a space, or a line
   break). Nothing crosses a sentence boundary.
2. Each concept's terms are found in the sentence. A term is a phrase in a small syntax: words
   match whole words, case-insensitively, with spaces or hyphens between them; ``word*`` matches
   any ending; ``{group}`` matches any phrase of a named group; ``...`` lets up to
   ``gap_words`` words sit between; ``re:`` starts a raw regular expression.
   A concept may name ``blockers_before`` / ``blockers_after``: phrases that, close to a match,
   show the words are not this concept ("worse with lifting" is an aggravating factor, not a
   lifting injury; "fall risk" is not a fall).
3. Context triggers decide each mention's status:
   - a pre-trigger ("denies", "no", "without", "negative for") negates mentions that start
     within ``window`` words after it, unless a terminator ("but", "however", "reports") comes
     between;
   - a post-trigger ("negative", "denied", "resolved") negates the nearest mention ending within
     ``post_window`` words before it, with no comma or terminator between, and the mentions of
     the same group joined to that one by "and" / "or" / commas ("numbness and tingling
     denied");
   - pseudo-triggers ("no change", "not improved", "history of present illness") contain
     trigger words but are not triggers;
   - the same machinery marks uncertainty ("possible", "rule out", "likely"), history ("history
     of", "prior episode of") and another person ("family history of").
   Status precedence: family, absent, historical, uncertain, present.
4. Laterality: for a concept marked ``lateral``, a side word inside the match wins, else the
   nearest side word within ``side_window`` words in the same sentence.

Where it stops: no parsing of syntax, so a negation reaches any mention within its window
("no fever, pain radiates down the leg" reads the leg pain as denied when within the window);
no coreference ("it", "the same"); no section semantics beyond what the trigger lists say;
misspellings are not corrected; a side stated in another sentence is not carried over.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cachetools import TTLCache

from .valuesets import TerminologyError, read_json_object

STATUS_ORDER = ("family", "absent", "historical", "uncertain", "present")
_CONTEXT_KINDS = ("negation", "uncertainty", "historical", "family")
_STATUS_OF = {"negation": "absent", "uncertainty": "uncertain", "historical": "historical",
              "family": "family"}
_SENTENCE_BREAK = re.compile(r"(?<=[.!?;])\s+|\n+")
_WORD = re.compile(r"\w+")
_CONNECTORS = frozenset({"and", "or", "nor", "/", ","})


class TextTriggerError(TerminologyError):
    """A trigger file is malformed; the service must not start with it."""


@dataclass(frozen=True)
class Mention:
    concept: str
    status: str  # present | absent | uncertain | historical | family
    side: str | None  # right | left | bilateral | None
    sentence: int
    start: int
    end: int
    text: str = field(repr=False, compare=False, default="")


@dataclass(frozen=True)
class Reading:
    """What one or more texts say: every mention of every concept, with its status."""

    mentions: tuple[Mention, ...]

    @cached_property
    def _by_concept(self) -> dict[str, tuple[Mention, ...]]:
        index: dict[str, list[Mention]] = {}
        for mention in self.mentions:
            index.setdefault(mention.concept, []).append(mention)
        return {concept: tuple(found) for concept, found in index.items()}

    def of(self, *concepts: str) -> tuple[Mention, ...]:
        if len(concepts) == 1:
            return self._by_concept.get(concepts[0], ())
        return tuple(m for m in self.mentions if m.concept in concepts)

    def status(self, *concepts: str) -> str | None:
        """present if any mention is affirmed; else the strongest other status; else None."""
        found = {m.status for m in self.of(*concepts)}
        if "present" in found:
            return "present"
        return next((s for s in STATUS_ORDER if s in found), None)

    def present(self, *concepts: str) -> bool:
        return any(m.status == "present" for m in self.of(*concepts))

    def absent(self, *concepts: str) -> bool:
        return self.status(*concepts) == "absent"

    def documented(self, *concepts: str) -> bool:
        """Mentioned about the patient, affirmed or denied (not a relative's history)."""
        return any(m.status != "family" for m in self.of(*concepts))

    def sides(self, *concepts: str) -> set[str]:
        return {m.side for m in self.of(*concepts) if m.status == "present" and m.side}

    def sentences_with(self, *concepts: str) -> set[int]:
        return {m.sentence for m in self.of(*concepts) if m.status == "present"}

    def present_in(self, sentences: Iterable[int], *concepts: str) -> bool:
        wanted = set(sentences)
        return any(m.status == "present" and m.sentence in wanted for m in self.of(*concepts))

    def __add__(self, other: Reading) -> Reading:
        if not other.mentions:
            return self
        if not self.mentions:
            return other
        offset = 1 + max(m.sentence for m in self.mentions)
        shifted = tuple(
            Mention(m.concept, m.status, m.side, m.sentence + offset, m.start, m.end, m.text)
            for m in other.mentions
        )
        return Reading(self.mentions + shifted)


EMPTY_READING = Reading(())


@dataclass
class _Concept:
    id: str
    group: str
    lateral: bool
    pattern: _Prefiltered
    blockers_before: _Prefiltered | None
    blockers_after: _Prefiltered | None
    blocker_window: int


@dataclass
class _Context:
    pre: dict[str, _Prefiltered | None]
    post: dict[str, _Prefiltered | None]
    pseudo: _Prefiltered | None
    terminators: _Prefiltered | None
    window: int
    post_window: int
    sides: dict[str, _Prefiltered]
    side_window: int


class TextReader:
    """Compiled trigger terms from a directory of trigger files."""

    def __init__(self, directory: Path):
        self.directory = directory
        files = sorted(directory.glob("*.json"))
        if not files:
            raise TextTriggerError(f"{directory}: no trigger files found.")
        documents = [(path, _read(path)) for path in files]
        self.groups: dict[str, list[str]] = {}
        for path, doc in documents:
            for name, terms in (doc.get("groups") or {}).items():
                if name in self.groups:
                    raise TextTriggerError(f"{path.name}: groups.{name} is defined twice")
                if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
                    raise TextTriggerError(f"{path.name}: groups.{name} must be a list of terms")
                self.groups[name] = terms
        self.gap_words = 8
        self._compiled: list[_Prefiltered] = []
        context_docs = [(p, d) for p, d in documents if "context" in d]
        if len(context_docs) != 1:
            raise TextTriggerError(f"{directory}: exactly one trigger file needs 'context'")
        self.context = self._context(*context_docs[0])
        self.concepts: list[_Concept] = []
        for path, doc in documents:
            for concept_id, spec in (doc.get("concepts") or {}).items():
                if any(c.id == concept_id for c in self.concepts):
                    raise TextTriggerError(f"{path.name}: concepts.{concept_id} is defined twice")
                self.concepts.append(self._concept(path, concept_id, spec))
        self.concept_ids = frozenset(c.id for c in self.concepts)
        self._anchors_index = _AnchorIndex(self._compiled)
        self._cache: TTLCache = TTLCache(maxsize=2048, ttl=300)
        self._cache_lock = threading.Lock()

    # -- compiling -----------------------------------------------------------------------
    def _compile(self, terms: list[str], where: str) -> _Prefiltered | None:
        compiled = self._compile_terms(terms, where)
        if compiled is not None:
            self._compiled.append(compiled)  # for the anchor index
        return compiled

    def _compile_terms(self, terms: list[str], where: str) -> _Prefiltered | None:
        if not terms:
            return None
        try:
            compiled = [(t, self._term(t, where)) for t in terms]
            pattern = _alternation(a for _, a in compiled)
        except re.error as exc:
            raise TextTriggerError(f"{where}: bad term ({exc})") from None
        # Where can a match begin? At a word starting with one of the literal beginnings of
        # the terms' first words, or where one of the other terms (raw regexes, terms starting
        # with a pattern) matches (a search of those alone).
        anchors: set[str] = set()
        unanchored: list[str] = []
        for term, regex in compiled:
            beginnings = self._anchors([term])
            if beginnings is None:
                unanchored.append(regex)
            else:
                anchors |= beginnings
        if not anchors:
            return _Prefiltered(pattern, None, None)
        literals = "|".join(re.escape(a) for a in sorted(anchors, key=len, reverse=True))
        starts = re.compile(rf"(?<!\w)(?:{literals})", re.IGNORECASE)
        ascii_anchors = (tuple(sorted(a.lower() for a in anchors))
                         if all(a.isascii() for a in anchors) else None)
        return _Prefiltered(pattern, starts, _alternation(unanchored) if unanchored else None,
                            ascii_anchors)

    def _anchors(self, terms: list[str], depth: int = 0) -> set[str] | None:
        """The literal beginnings of every term's first word, or None when a term has none
        (a raw regex, a term starting with punctuation): then there is nothing to prefilter."""
        anchors: set[str] = set()
        for term in terms:
            first = term.split()[0] if term.split() else ""
            if term.startswith("re:") or not first:
                return None
            if first.startswith("{") and first.endswith("}") and depth <= 2:
                inner = self._anchors(self.groups.get(first[1:-1], []), depth + 1)
                if inner is None:
                    return None
                anchors |= inner
                continue
            literal = first[:-1] if first.endswith("*") else first
            if not literal or not re.match(r"\w", literal) or first == "...":
                return None
            anchors.add(literal)
        return anchors or None

    def _term(self, term: str, where: str, depth: int = 0) -> str:
        if not isinstance(term, str) or not term.strip():
            raise TextTriggerError(f"{where}: terms must be non-empty strings")
        if term.startswith("re:"):
            return term[3:]
        parts = []
        for token in term.split():
            if token == "...":
                parts.append(("gap", rf"(?:\W+\w+){{0,{self.gap_words}}}?"))
            elif token.startswith("{") and token.endswith("}"):
                name = token[1:-1]
                if name not in self.groups or depth > 2:
                    raise TextTriggerError(f"{where}: unknown group {{{name}}} in {term!r}")
                inner = "|".join(sorted((self._term(t, where, depth + 1)
                                         for t in self.groups[name]), key=len, reverse=True))
                parts.append(("word", f"(?:{inner})"))
            elif token.endswith("*") and len(token) > 1:
                parts.append(("word", re.escape(token[:-1]) + r"\w*"))
            else:
                parts.append(("word", re.escape(token)))
        body = ""
        for index, (kind, regex) in enumerate(parts):
            if index and kind == "word" and parts[index - 1][0] == "word":
                body += r"[\s\-]+"
            elif index and kind == "word":
                body += r"\W+"
            body += regex
        left = r"(?<!\w)" if re.match(r"\w", term) else ""
        right = r"(?!\w)" if re.search(r"\w$", term) else ""
        return f"{left}{body}{right}"

    def _context(self, path: Path, doc: dict) -> _Context:
        ctx = doc["context"]
        where = f"{path.name}: context"
        try:
            pre = {kind: self._compile(ctx[kind].get("pre", []), f"{where}.{kind}.pre")
                   for kind in _CONTEXT_KINDS}
            post = {kind: self._compile(ctx[kind].get("post", []), f"{where}.{kind}.post")
                    for kind in _CONTEXT_KINDS}
            sides = {side: self._compile(terms, f"{where}.sides.{side}")
                     for side, terms in ctx["sides"].items()}
            return _Context(
                pre=pre, post=post,
                pseudo=self._compile(ctx.get("pseudo", []), f"{where}.pseudo"),
                terminators=self._compile(ctx.get("terminators", []), f"{where}.terminators"),
                window=int(ctx["window"]), post_window=int(ctx["post_window"]),
                sides=sides, side_window=int(ctx["side_window"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TextTriggerError(f"{where}: missing or malformed {exc}") from None

    def _concept(self, path: Path, concept_id: str, spec: dict) -> _Concept:
        where = f"{path.name}: concepts.{concept_id}"
        if not isinstance(spec, dict) or not spec.get("terms"):
            raise TextTriggerError(f"{where}: terms are required")
        pattern = self._compile(spec["terms"], f"{where}.terms")
        assert pattern is not None
        return _Concept(
            id=concept_id,
            group=spec.get("group", concept_id),
            lateral=bool(spec.get("lateral", False)),
            pattern=pattern,
            blockers_before=self._compile(spec.get("blockers_before", []),
                                          f"{where}.blockers_before"),
            blockers_after=self._compile(spec.get("blockers_after", []),
                                         f"{where}.blockers_after"),
            blocker_window=int(spec.get("blocker_window", 3)),
        )

    # -- reading -------------------------------------------------------------------------
    def read(self, *texts: str | None) -> Reading:
        reading = EMPTY_READING
        for text in texts:
            if text:
                reading = reading + self._read_one(text)
        return reading

    def _read_one(self, text: str) -> Reading:
        # The same note comes back for each order signed and again at discharge: read it once
        # in a while. Bounded in size and time, so that notes do not linger in memory.
        with self._cache_lock:
            cached = self._cache.get(text)
        if cached is not None:
            return cached
        reading = self._read_uncached(text)
        with self._cache_lock:
            self._cache[text] = reading
        return reading

    def _read_uncached(self, text: str) -> Reading:
        mentions: list[Mention] = []
        for index, sentence in enumerate(s for s in _SENTENCE_BREAK.split(text) if s.strip()):
            mentions.extend(self._read_sentence(index, self._anchors_index.sentence(sentence)))
        return Reading(tuple(mentions))

    def _read_sentence(self, index: int, sentence: str) -> list[Mention]:
        ctx = self.context
        pseudo = _spans(ctx.pseudo, sentence)
        terminators = _spans(ctx.terminators, sentence)
        pre = {kind: [s for s in _spans(p, sentence) if not _overlaps(s, pseudo)]
               for kind, p in ctx.pre.items()}
        post = {kind: [s for s in _spans(p, sentence) if not _overlaps(s, pseudo)]
                for kind, p in ctx.post.items()}
        found: list[tuple[_Concept, tuple[int, int]]] = []
        for concept in self.concepts:
            for match in concept.pattern.finditer(sentence):
                span = match.span()
                if span[0] == span[1] or self._blocked(concept, sentence, span):
                    continue
                found.append((concept, span))
        found.sort(key=lambda item: item[1])
        mentions = []
        for position, (concept, span) in enumerate(found):
            statuses = set()
            for kind in _CONTEXT_KINDS:
                if self._pre_scope(sentence, span, pre[kind], terminators):
                    statuses.add(_STATUS_OF[kind])
                if self._post_scope(sentence, position, found, post[kind], terminators):
                    statuses.add(_STATUS_OF[kind])
            status = next((s for s in STATUS_ORDER if s in statuses), "present")
            side = self._side(sentence, span) if concept.lateral else None
            mentions.append(Mention(concept.id, status, side, index, span[0], span[1],
                                    sentence[span[0]:span[1]]))
        return mentions

    def _blocked(self, concept: _Concept, sentence: str, span: tuple[int, int]) -> bool:
        # a blocker may overlap the match ("pain when" before "when lifting")
        window = concept.blocker_window
        if concept.blockers_before is not None:
            for start, end in _spans(concept.blockers_before, sentence):
                if start < span[0] and _words_between(
                        sentence, min(end, span[0]), span[0]) <= window:
                    return True
        if concept.blockers_after is not None:
            for start, end in _spans(concept.blockers_after, sentence):
                if end > span[1] and _words_between(
                        sentence, span[1], max(start, span[1])) <= window:
                    return True
        return False

    def _pre_scope(self, sentence, span, triggers, terminators) -> bool:
        for _start, end in triggers:
            if end > span[0]:
                continue
            if _words_between(sentence, end, span[0]) > self.context.window:
                continue
            if any(end <= t_start and t_end <= span[0] for t_start, t_end in terminators):
                continue
            return True
        return False

    def _post_scope(self, sentence, position, found, triggers, terminators) -> bool:
        concept, span = found[position]
        for start, _end in triggers:
            if start < span[1]:
                continue
            # the trigger binds to the nearest mention before it ...
            nearest = max((i for i, (_, s) in enumerate(found) if s[1] <= start), default=None)
            if nearest is None:
                continue
            near_concept, near_span = found[nearest]
            between = sentence[near_span[1]:start]
            if (_words_between(sentence, near_span[1], start) > self.context.post_window
                    or "," in between
                    or any(near_span[1] <= t0 and t1 <= start for t0, t1 in terminators)):
                continue
            if nearest == position:
                return True
            # ... and to mentions of the same group listed before it ("numbness and tingling")
            if near_concept.group != concept.group:
                continue
            chain = [i for i in range(position, nearest + 1)
                     if found[i][0].group == concept.group]
            if all(_only_connectors(sentence[found[a][1][1]:found[b][1][0]])
                   for a, b in zip(chain, chain[1:], strict=False)):
                return True
        return False

    def _side(self, sentence: str, span: tuple[int, int]) -> str | None:
        best: tuple[int, str] | None = None
        for side, pattern in self.context.sides.items():
            for start, end in _spans(pattern, sentence):
                if span[0] <= start and end <= span[1]:
                    distance = -1  # inside the match: the match's own side
                elif end <= span[0]:
                    distance = _words_between(sentence, end, span[0])
                elif start >= span[1]:
                    distance = _words_between(sentence, span[1], start)
                else:
                    distance = 0
                if distance > self.context.side_window:
                    continue
                if best is None or distance < best[0]:
                    best = (distance, side)
                elif distance == best[0] and side != best[1] and distance == -1:
                    best = (distance, "bilateral")
        return best[1] if best else None


class _Sentence(str):
    """A sentence with, for each pattern, the positions where one of its anchors begins (when
    the sentence is ASCII; None otherwise): see _AnchorIndex."""

    anchored: dict[_Prefiltered, list[int]] | None


class _AnchorIndex:
    """Every ASCII anchor of every pattern (``_Prefiltered.ascii_anchors``), to find in one pass
    over a sentence's word starts where each pattern can match: a few dict lookups per word,
    instead of a search (or a scan of the word starts) per pattern. Most patterns have no
    anchor in a given sentence and are then not tried at all. (For ASCII text, lower-casing is
    exactly the case-insensitive match of the patterns.)"""

    def __init__(self, patterns: list[_Prefiltered]):
        # anchors made of word characters only ("radiat", "l5") are looked up by the prefixes
        # of each word; the few with others ("x-ray", "l5-s1") are tried at each word start
        self._by_prefix: dict[str, list[_Prefiltered]] = {}
        self._spanning: dict[str, list[_Prefiltered]] = {}
        for pattern in patterns:
            for anchor in pattern.ascii_anchors or ():
                table = self._by_prefix if _WORD.fullmatch(anchor) else self._spanning
                table.setdefault(anchor, []).append(pattern)
        self._longest = max(map(len, self._by_prefix), default=0)
        self._spanning_anchors = tuple(self._spanning)

    def sentence(self, text: str) -> _Sentence:
        sentence = _Sentence(text)
        if not text.isascii():
            sentence.anchored = None
            return sentence
        lower = text.lower()
        anchored: dict[_Prefiltered, list[int]] = {}
        by_prefix, spanning = self._by_prefix.get, self._spanning_anchors
        for word in _WORD.finditer(lower):
            start, end = word.span()
            found = [pattern for stop in range(start + 1, min(end, start + self._longest) + 1)
                     for pattern in by_prefix(lower[start:stop], ())]
            if spanning and lower.startswith(spanning, start):
                found += [pattern for anchor in spanning if lower.startswith(anchor, start)
                          for pattern in self._spanning[anchor]]
            for pattern in found:
                positions = anchored.setdefault(pattern, [])
                if not positions or positions[-1] != start:
                    positions.append(start)
        sentence.anchored = anchored
        return sentence


def _alternation(regexes) -> re.Pattern:
    # longest first, so that of two terms matching at one place the longer one wins
    ordered = sorted(regexes, key=len, reverse=True)
    return re.compile("|".join(f"(?:{r})" for r in ordered), re.IGNORECASE)


class _Prefiltered:
    """A compiled alternation of terms, tried only where a match can begin.

    A match of ``pattern`` begins where ``starts`` matches (the literal beginnings of the terms'
    first words, at a word start) or, for the terms that have no such beginning (raw regexes),
    where ``unanchored`` (those terms alone) matches. ``pattern`` is matched at those positions
    only, in order, not tried at every character of the sentence: the same matches as
    ``pattern.finditer``, found several times faster. With neither it is ``pattern.finditer``.
    """

    __slots__ = ("pattern", "starts", "unanchored", "ascii_anchors")

    def __init__(self, pattern: re.Pattern, starts: re.Pattern | None,
                 unanchored: re.Pattern | None, ascii_anchors: tuple[str, ...] | None = None):
        self.pattern = pattern
        self.starts = starts
        self.unanchored = unanchored
        self.ascii_anchors = ascii_anchors  # the anchors in lower case, when all are ASCII

    def finditer(self, text: str) -> Iterator[re.Match]:
        if self.starts is None:
            return self.pattern.finditer(text)
        anchored = getattr(text, "anchored", None)
        if anchored is not None and self.ascii_anchors is not None:
            candidates = anchored.get(self, [])  # an ASCII sentence, indexed (_AnchorIndex)
        else:
            candidates = _starts(self.starts, text)
        if self.unanchored is not None:
            candidates = sorted(set(candidates).union(_starts(self.unanchored, text)))
        # most patterns have no anchor in a given sentence: nothing to try
        return self._matches_at(text, candidates) if candidates else iter(())

    def _matches_at(self, text: str, candidates: list[int]) -> Iterator[re.Match]:
        match = self.pattern.match
        position = 0  # where the next match may begin (finditer's matches do not overlap)
        for start in candidates:
            if start < position:
                continue
            found = match(text, start)
            if found is not None and found.end() > start:
                yield found
                position = found.end()


def _starts(pattern: re.Pattern, text: str) -> list[int]:
    """Every position where ``pattern`` matches, overlapping ones included ("x-ray", "ray")."""
    found = []
    hit = pattern.search(text)
    while hit is not None:
        found.append(hit.start())
        hit = pattern.search(text, hit.start() + 1)
    return found


def _spans(pattern: _Prefiltered | None, text: str) -> list[tuple[int, int]]:
    if pattern is None:
        return []
    return [m.span() for m in pattern.finditer(text) if m.start() != m.end()]


def _overlaps(span: tuple[int, int], others: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in others)


def _words_between(text: str, start: int, end: int) -> int:
    return len(_WORD.findall(text[start:end]))


def _only_connectors(text: str) -> bool:
    tokens = re.findall(r"\w+|[,/]", text.lower())
    return all(token in _CONNECTORS for token in tokens)


def _read(path: Path) -> dict:
    doc = read_json_object(path, TextTriggerError, "a trigger file (a JSON object)")
    for required in ("name", "version", "description"):
        if not isinstance(doc.get(required), str) or not doc[required]:
            raise TextTriggerError(f"{path.name}: {required} is required")
    return doc
