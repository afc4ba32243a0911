"""Reading free text (``Condition.note``, ``Encounter.reasonCode.text``) for the findings that
decide how low back pain is coded, with negation, uncertainty, history, family history,
laterality and the note's sections.

The trigger terms are data, in ``valuesets/text-triggers/*.json``; this module only compiles and
applies them. How it works (NegEx and ConText, after Chapman et al. 2001 and Harkema et al.
2009); docs/note-reading.md says the same at more length, with the limits:

1. Only the first ``limits.max_characters_per_text`` characters of a text are read. Section
   headers ("HPI:", "ROS:", "Exam:", "A:", "A/P:", "PMH:", "FH:" ...) open a section that lasts
   to the next header. The text is cut into sentences at ``.``, ``!``, ``?`` or ``;`` followed by
   a space, at line breaks and before every header. Nothing crosses a sentence boundary.
2. Each concept's terms are found in the sentence. A term is a phrase in a small syntax: words
   match whole words, case-insensitively, with spaces or hyphens between them; ``word*`` matches
   any ending; ``{group}`` matches any phrase of a named group; ``...`` lets up to
   ``gap_words`` words sit between; ``re:`` starts a raw regular expression.
   A concept may name ``blockers_before`` / ``blockers_after``: phrases that, close to a match,
   show the words are not this concept ("worse with lifting" is an aggravating factor, not a
   lifting injury; "fall risk" is not a fall). At most ``limits.max_mentions_per_sentence``
   mentions are kept per sentence (the first ones).
3. Context triggers decide each mention's status (ConText: a modifier with a direction and a
   scope):
   - a pre-trigger ("denies", "no", "without", "negative for") reaches forward ``window`` words,
     and further over a list: while the items after it are separated by commas and each is at
     most ``list_item_words`` words without a ``list_breakers`` word (a verb or pronoun that
     shows a new clause), to the end of the list. A terminator ("but", "however", "reports",
     "positive for") ends the scope, as does the sentence end;
   - a post-trigger ("negative", "denied", "resolved") negates the nearest mention ending within
     ``post_window`` words before it, with no comma or terminator between, and the mentions of
     the same group joined to that one by "and" / "or" / commas ("numbness and tingling
     denied");
   - pseudo-triggers ("no change", "not improved", "history of present illness") contain
     trigger words but are not triggers;
   - the same machinery marks uncertainty ("possible", "rule out", "likely"), history ("history
     of", "prior episode of"; "s/p" for spine surgery only, ``pre_for_groups``) and another
     person ("family history of");
   - a section can set a status on everything in it (past medical history: historical; family
     history: family).
   Status precedence: family, absent, historical, uncertain, present.
4. Laterality: for a concept marked ``lateral``, a side word inside the match wins, else the
   nearest side word within ``side_window`` words in the same sentence.
5. A section that names a concept (``documents``) documents it when the section has content
   ("A: lumbar strain" documents an assessment; "Exam: deferred" documents no exam).

Every check is a lookup in sorted positions (prefix counts of words, the nearest trigger, the
end of a list worked out once per sentence from its end), so reading takes time linear in the
text's length (times a logarithm), not the product of triggers and mentions.

Where it stops: no parsing of syntax, so a negation reaches any mention within its window
("no fever, pain radiates down the leg" reads the leg pain as denied); no coreference ("it",
"the same"); misspellings are not corrected; a side stated in another sentence is not carried
over.
"""

from __future__ import annotations

import hashlib
import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from cachetools import TTLCache

try:  # the parser of the re module, to see where a raw term's matches begin
    from re import _constants as _sre_constants
    from re import _parser as _sre_parser
except ImportError:  # Python before 3.11
    import sre_constants as _sre_constants  # type: ignore[no-redef]
    import sre_parse as _sre_parser  # type: ignore[no-redef]

from .valuesets import TerminologyError, read_json_object

STATUS_ORDER = ("family", "absent", "historical", "uncertain", "present")
_CONTEXT_KINDS = ("negation", "uncertainty", "historical", "family")
_STATUS_OF = {"negation": "absent", "uncertainty": "uncertain", "historical": "historical",
              "family": "family"}
_KIND_OF = {status: kind for kind, status in _STATUS_OF.items()}
# a break: the spaces after a full stop, "!", "?" or ";", or line breaks (the punctuation is
# matched first, not looked behind for at every character, so that a search skips fast)
_SENTENCE_BREAK = re.compile(r"[.!?;](\s+)|\n+")
_WORD = re.compile(r"\w+")
_WORD_CHAR = re.compile(r"\w")
_COMMA = re.compile(",")
_HEADER_COLON = re.compile(":(?!//)")
_LINE = re.compile(r"[^\n]+")
_LIST_SEPARATOR = re.compile(r",|(?<!\w)(?:and/or|and|or|nor)(?!\w)", re.IGNORECASE)
_CONNECTOR_TOKEN = re.compile(r"\w+|[,/]")
_CONNECTORS = frozenset({"and", "or", "nor", "/", ","})
# where a header may begin: the start of the text or after a space or punctuation
_HEADER_BEFORE = r"(?<![^\s.;!?,])"


class TextTriggerError(TerminologyError):
    """A trigger file is malformed; the service must not start with it."""


@dataclass(frozen=True)
class Mention:
    """One mention of a concept. ``start``/``end`` are offsets in its sentence; the evidence
    fields place it in the text it was read from, so that it can be quoted and marked."""

    concept: str
    status: str  # present | absent | uncertain | historical | family
    side: str | None  # right | left | bilateral | None
    sentence: int
    start: int
    end: int
    text: str = field(repr=False, compare=False, default="")
    # the index of the text among those passed to TextReader.read (None and "" count)
    text_index: int = field(repr=False, compare=False, default=0)
    # offsets of the matched words in that text
    text_start: int = field(repr=False, compare=False, default=0)
    text_end: int = field(repr=False, compare=False, default=0)
    # the sentence's span in that text
    sentence_start: int = field(repr=False, compare=False, default=0)
    sentence_end: int = field(repr=False, compare=False, default=0)
    # the section the mention is in ("hpi", "ros", "exam", "assessment", ...), None before any
    section: str | None = field(repr=False, compare=False, default=None)
    # the context kind that set the status (negation, uncertainty, historical, family), and the
    # span of the trigger words (or of the section header) in the text; None when present
    set_aside_by: str | None = field(repr=False, compare=False, default=None)
    trigger_start: int | None = field(repr=False, compare=False, default=None)
    trigger_end: int | None = field(repr=False, compare=False, default=None)


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

    def sections(self, *concepts: str) -> set[str]:
        """The sections in which the concepts are affirmed."""
        return {m.section for m in self.of(*concepts) if m.status == "present" and m.section}

    def __add__(self, other: Reading) -> Reading:
        """Both readings, as if their texts had been read in one call: the other's sentences
        and text indexes come after this one's."""
        if not other.mentions:
            return self
        if not self.mentions:
            return other
        offset = 1 + max(m.sentence for m in self.mentions)
        texts = 1 + max(m.text_index for m in self.mentions)
        shifted = tuple(replace(m, sentence=m.sentence + offset, text_index=m.text_index + texts)
                        for m in other.mentions)
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
class _Section:
    name: str
    status: str | None  # a status every mention in the section takes (historical, family)
    documents: str | None  # a concept the section documents when it has content
    empty: re.Pattern | None  # content that is no content ("deferred", "not done")


@dataclass
class _HeaderPatterns:
    before_colon: re.Pattern  # a header ending where the text is cut, before its colon
    line: re.Pattern  # a header alone on its line
    names: dict[str, str]  # header (in lower case when matched in any case) -> section
    longest: int  # the longest header, with room for spaces


@dataclass
class _Context:
    pre: dict[str, _Prefiltered | None]
    post: dict[str, _Prefiltered | None]
    # pre-triggers that reach only the concepts of some groups ("s/p" before a spine surgery)
    pre_for_groups: dict[str, dict[str, _Prefiltered]]
    pseudo: _Prefiltered | None
    terminators: _Prefiltered | None
    window: int
    post_window: int
    list_item_words: int
    list_breakers: _Prefiltered | None
    sides: dict[str, _Prefiltered]
    side_window: int
    headers: list[_HeaderPatterns]
    sections: dict[str, _Section]
    max_characters: int
    max_mentions: int


class TextReader:
    """Compiled trigger terms from a directory of trigger files.

    ``max_characters`` and ``max_mentions_per_sentence`` override the trigger files' limits
    (the benchmarks read past them to measure the algorithm itself)."""

    def __init__(self, directory: Path, *, max_characters: int | None = None,
                 max_mentions_per_sentence: int | None = None):
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
        if max_characters is not None:
            self.context.max_characters = max_characters
        if max_mentions_per_sentence is not None:
            self.context.max_mentions = max_mentions_per_sentence
        self.concepts: list[_Concept] = []
        for path, doc in documents:
            for concept_id, spec in (doc.get("concepts") or {}).items():
                if any(c.id == concept_id for c in self.concepts):
                    raise TextTriggerError(f"{path.name}: concepts.{concept_id} is defined twice")
                self.concepts.append(self._concept(path, concept_id, spec))
        self.concept_ids = frozenset(c.id for c in self.concepts)
        for section in self.context.sections.values():
            if section.documents and section.documents not in self.concept_ids:
                raise TextTriggerError(f"{context_docs[0][0].name}: context.sections."
                                       f"{section.name}.documents: unknown concept "
                                       f"{section.documents!r}")
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
        term_anchors: dict[str, frozenset[str]] = {}
        for term, regex in compiled:
            beginnings = self._anchors([term])
            if beginnings is None:
                unanchored.append(regex)
            else:
                anchors |= beginnings
                term_anchors[regex] = term_anchors.get(regex, frozenset()) | {
                    a.lower() for a in beginnings}
        # in a sentence the reader indexes, raw terms that begin at a word start are found by
        # their first character; the others are searched, each alone (so that re can skip to
        # its literal first character)
        first_classes: dict[str, re.Pattern] = {}
        searched = []
        for regex in unanchored:
            first = _first_class(regex)
            if first is None:
                searched.append(re.compile(regex, re.IGNORECASE))
            else:
                first_classes[regex] = first
        index = dict(term_anchors=term_anchors, first_classes=first_classes,
                     searched=tuple(searched))
        if not anchors:
            return _Prefiltered(pattern, None, None, **index)
        literals = "|".join(re.escape(a) for a in sorted(anchors, key=len, reverse=True))
        starts = re.compile(rf"(?<!\w)(?:{literals})", re.IGNORECASE)
        return _Prefiltered(pattern, starts, _alternation(unanchored) if unanchored else None,
                            **index)

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
            # cut before a character that is not ASCII ("lasègue": "las"): the index looks
            # words up by their ASCII beginnings
            literal = re.match(r"[\x00-\x7f]*", literal).group()
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
            pre_for_groups = {
                kind: {group: self._compile(terms, f"{where}.{kind}.pre_for_groups.{group}")
                       for group, terms in ctx[kind].get("pre_for_groups", {}).items() if terms}
                for kind in _CONTEXT_KINDS}
            sides = {side: self._compile(terms, f"{where}.sides.{side}")
                     for side, terms in ctx["sides"].items()}
            limits = ctx.get("limits", {})
            window = int(ctx["window"])
            headers, sections = self._sections(ctx.get("sections", {}), f"{where}.sections")
            return _Context(
                pre=pre, post=post, pre_for_groups=pre_for_groups,
                pseudo=self._compile(ctx.get("pseudo", []), f"{where}.pseudo"),
                terminators=self._compile(ctx.get("terminators", []), f"{where}.terminators"),
                window=window, post_window=int(ctx["post_window"]),
                list_item_words=int(ctx.get("list_item_words", window)),
                list_breakers=self._compile(ctx.get("list_breakers", []),
                                            f"{where}.list_breakers"),
                sides=sides, side_window=int(ctx["side_window"]),
                headers=headers, sections=sections,
                max_characters=int(limits.get("max_characters_per_text", 200_000)),
                max_mentions=int(limits.get("max_mentions_per_sentence", 400)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TextTriggerError(f"{where}: missing or malformed {exc}") from None

    def _sections(self, spec: dict, where: str
                  ) -> tuple[list[_HeaderPatterns], dict[str, _Section]]:
        """Header patterns: a header is followed by a colon ("A/P:"), or stands alone on its
        line. ``headers`` match in any case, ``abbreviations`` only as written ("A:", "PE:")."""
        sections: dict[str, _Section] = {}
        by_case: dict[bool, dict[str, str]] = {True: {}, False: {}}
        for name, section in spec.items():
            if not isinstance(section, dict):
                raise TextTriggerError(f"{where}.{name}: must be an object")
            status = section.get("status")
            if status is not None and status not in _STATUS_OF.values():
                raise TextTriggerError(f"{where}.{name}.status: unknown status {status!r}")
            empty = section.get("empty", [])
            sections[name] = _Section(
                name=name, status=status, documents=section.get("documents"),
                empty=(re.compile("(?:" + "|".join(_phrase(e) for e in empty) + r")(?!\w)",
                                  re.IGNORECASE) if empty else None))
            for ignore_case, key in ((True, "headers"), (False, "abbreviations")):
                for header in section.get(key, []):
                    if not isinstance(header, str) or not header.strip():
                        raise TextTriggerError(f"{where}.{name}.{key}: headers are strings")
                    normal = " ".join(header.split())
                    by_case[ignore_case][normal.lower() if ignore_case else normal] = name
        patterns = []
        for ignore_case, names in by_case.items():
            if not names:
                continue
            alternation = "|".join(_phrase(h) for h in sorted(names, key=len, reverse=True))
            flags = re.MULTILINE | (re.IGNORECASE if ignore_case else 0)
            # tried only before a colon and on short lines, not at every character
            patterns.append(_HeaderPatterns(
                before_colon=re.compile(rf"{_HEADER_BEFORE}(?P<header>{alternation})[ \t]*$",
                                        flags),
                line=re.compile(rf"[ \t]*(?P<header>{alternation})[ \t]*", flags),
                names=names, longest=max(map(len, names)) + 8))
        return patterns, sections

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
        mentions: list[Mention] = []
        last_sentence = -1
        for index, text in enumerate(texts):
            if not text:
                continue
            found = self._read_one(text).mentions
            if not found:
                continue
            # as Reading.__add__: the sentences of each text come after those of the last
            shift = last_sentence + 1 if mentions else 0
            if shift or index:
                found = tuple(replace(m, sentence=m.sentence + shift, text_index=index)
                              for m in found)
            mentions.extend(found)
            last_sentence = max(m.sentence for m in found)
        return Reading(tuple(mentions)) if mentions else EMPTY_READING

    def _read_one(self, text: str) -> Reading:
        # The same note comes back for each order signed and again at discharge: read it once
        # in a while. Bounded in size and time, so that notes do not linger in memory; the key
        # is a digest, so a long note is not kept twice.
        text = text[:self.context.max_characters]
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        with self._cache_lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        reading = self._read_uncached(text)
        with self._cache_lock:
            self._cache[key] = reading
        return reading

    def _read_uncached(self, text: str) -> Reading:
        text = text[:self.context.max_characters]
        headers = self._headers(text)
        mentions: list[Mention] = []
        header_at = 0  # the next header not yet entered
        section: tuple[int, int, str] | None = None
        index = 0
        for start, end in _sentence_spans(text, [h[0] for h in headers]):
            if not text[start:end].strip():
                continue
            while header_at < len(headers) and headers[header_at][0] <= start:
                section = headers[header_at]
                header_at += 1
            found = self._read_sentence(index, text, start, end, section)
            if section is not None and section[0] == start:
                found += self._section_mention(index, text, start, end, section, found,
                                               headers[header_at][0] if header_at < len(headers)
                                               else len(text))
            mentions.extend(found)
            index += 1
        return Reading(tuple(mentions))

    def _headers(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, section) of every section header, in order, none overlapping."""
        found = []
        colons = [m.start() for m in _HEADER_COLON.finditer(text)]
        lines = [m.span() for m in _LINE.finditer(text)]
        for headers in self.context.headers:
            matches = [headers.before_colon.search(text, max(0, colon - headers.longest), colon)
                       for colon in colons]
            matches += [headers.line.fullmatch(text, start, end) for start, end in lines
                        if end - start <= headers.longest]
            for match in matches:
                if match is None:
                    continue
                words = " ".join(match.group("header").split())
                name = headers.names.get(words) or headers.names.get(words.lower())
                if name is not None:
                    found.append((match.start("header"), match.end("header"), name))
        found.sort()
        kept: list[tuple[int, int, str]] = []
        for header in found:
            if not kept or header[0] >= kept[-1][1]:
                kept.append(header)
        return kept

    def _section_mention(self, index: int, text: str, start: int, end: int,
                         header: tuple[int, int, str], found: list[Mention],
                         next_header: int) -> list[Mention]:
        """The concept a section documents when it has content ("A: lumbar strain")."""
        section = self.context.sections[header[2]]
        if section.documents is None:
            return []
        content = text[header[1]:next_header].lstrip(" \t:-")
        if not _WORD_CHAR.search(content) or (section.empty is not None
                                              and section.empty.match(content.strip())):
            return []
        h0, h1 = header[0] - start, header[1] - start
        if any(m.concept == section.documents and m.start < h1 and h0 < m.end for m in found):
            return []  # the header's words already are a term of the concept ("Assessment:")
        return [Mention(section.documents, "present", None, index, h0, h1, text[header[0]:
                        header[1]], text_start=header[0], text_end=header[1],
                        sentence_start=start, sentence_end=end, section=section.name)]

    def _read_sentence(self, index: int, text: str, start: int, end: int,
                       header: tuple[int, int, str] | None) -> list[Mention]:
        ctx = self.context
        sentence = self._anchors_index.sentence(text[start:end])
        words = _Words(sentence)
        found: list[tuple[tuple[int, int], _Concept]] = []
        anchored = sentence.anchored
        for concept in self.concepts:
            if concept.pattern not in anchored and not concept.pattern.searched:
                continue  # no word of the sentence can begin one of its terms
            blocked, kept = None, 0
            for match in concept.pattern.finditer(sentence):
                span = match.span()
                if span[0] == span[1]:
                    continue
                if blocked is None:
                    blocked = _Blockers(concept, sentence, words)
                if not blocked(span):
                    found.append((span, concept))
                    kept += 1
                    if kept >= ctx.max_mentions:
                        break  # a later one of this concept cannot be among the first kept
        if not found:
            return []
        found.sort(key=lambda item: item[0])
        if len(found) > ctx.max_mentions:
            # past the cap only the context of the mentions kept is read: up to the widest
            # window after the last of them
            del found[ctx.max_mentions:]
            margin = 1 + max(ctx.window, ctx.post_window, ctx.side_window, ctx.list_item_words)
            limit = words.reach(found[-1][0][1], margin)
            sentence = self._anchors_index.sentence(sentence[:limit])
            words = _Words(sentence)
        scope = _Scope(self.context, sentence, words, found)
        section = ctx.sections[header[2]] if header is not None else None
        sides = {side: _SortedSpans(_spans(pattern, sentence))
                 for side, pattern in ctx.sides.items()}
        mentions = []
        for position, (span, concept) in enumerate(found):
            setting: dict[str, tuple[int, int]] = {}  # status -> the trigger's span
            for kind in _CONTEXT_KINDS:
                trigger = scope.pre(kind, span[0], concept.group) or scope.post(kind, position)
                if trigger is not None:
                    setting.setdefault(_STATUS_OF[kind], trigger)
            if section is not None and section.status is not None:
                setting.setdefault(section.status, (header[0] - start, header[1] - start))
            status = next((s for s in STATUS_ORDER if s in setting), "present")
            trigger = setting.get(status)
            side = _side(sides, words, span, ctx.side_window) if concept.lateral else None
            mentions.append(Mention(
                concept.id, status, side, index, span[0], span[1], sentence[span[0]:span[1]],
                text_start=start + span[0], text_end=start + span[1],
                sentence_start=start, sentence_end=end,
                section=section.name if section is not None else None,
                set_aside_by=_KIND_OF.get(status),
                trigger_start=start + trigger[0] if trigger else None,
                trigger_end=start + trigger[1] if trigger else None))
        return mentions


def _phrase(words: str) -> str:
    """A header or phrase as a regex: its words, any spaces between."""
    return r"[ \t]+".join(re.escape(w) for w in words.split())


def _sentence_spans(text: str, header_starts: list[int]) -> Iterator[tuple[int, int]]:
    """The sentences' spans: cut at every sentence break and before every header."""
    cuts = [m.span(1) if m.start(1) >= 0 else m.span() for m in _SENTENCE_BREAK.finditer(text)]
    cuts += [(h, h) for h in header_starts]
    cuts.sort()
    position = 0
    for cut_start, cut_end in cuts:
        if cut_start >= position:
            yield position, cut_start
            position = cut_end
        else:
            position = max(position, cut_end)
    yield position, len(text)


class _Words:
    """A sentence's word starts, to count the words between two offsets in O(log n): the same
    count as ``len(re.findall(r"\\w+", sentence[a:b]))``."""

    __slots__ = ("text", "starts")

    def __init__(self, text: str):
        self.text = text
        starts = getattr(text, "word_starts", None)
        self.starts = starts if starts is not None else [m.start() for m in _WORD.finditer(text)]

    def _inside_word(self, position: int) -> bool:
        return (0 < position < len(self.text) and _WORD_CHAR.match(self.text, position - 1)
                is not None and _WORD_CHAR.match(self.text, position) is not None)

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


class _SortedSpans:
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


class _Blockers:
    """Whether a match of a concept is blocked: a blocker phrase close before or after it."""

    __slots__ = ("before", "after", "window", "words")

    def __init__(self, concept: _Concept, sentence: str, words: _Words):
        self.before = (_SortedSpans(_spans(concept.blockers_before, sentence))
                       if concept.blockers_before is not None else None)
        self.after = (_SortedSpans(_spans(concept.blockers_after, sentence))
                      if concept.blockers_after is not None else None)
        self.window = concept.blocker_window
        self.words = words

    def __call__(self, span: tuple[int, int]) -> bool:
        # a blocker may overlap the match ("pain when" before "when lifting"); the nearest one
        # is the last to start before the match (the spans' ends are sorted too)
        if self.before is not None:
            last = self.before.last_starting_before(span[0])
            if last is not None and self.words.between(min(last[1], span[0]),
                                                       span[0]) <= self.window:
                return True
        if self.after is not None:
            at = bisect_right(self.after.ends, span[1])
            if at < len(self.after.spans) and self.words.between(
                    span[1], max(self.after.starts[at], span[1])) <= self.window:
                return True
        return False


class _Scope:
    """The context triggers of one sentence and what each reaches, worked out once: a mention
    is then looked up in O(log n)."""

    def __init__(self, ctx: _Context, sentence: str, words: _Words,
                 found: list[tuple[tuple[int, int], _Concept]]):
        self.ctx = ctx
        self.sentence = sentence
        self.words = words
        self.found = found
        self.pseudo = _SortedSpans(_spans(ctx.pseudo, sentence))
        self.terminators = _SortedSpans(_spans(ctx.terminators, sentence))
        self._commas: list[int] | None = None
        self._list_reach: list[int] | None = None
        self._list_separators: _SortedSpans | None = None
        self._breakers: _SortedSpans | None = None
        self._pre = {kind: self._reaches(ctx.pre[kind]) for kind in _CONTEXT_KINDS}
        self._pre_for_groups = {kind: {group: self._reaches(pattern)
                                       for group, pattern in by_group.items()}
                                for kind, by_group in ctx.pre_for_groups.items()}
        self._post: dict[str, list[tuple[int, int] | None]] = {}

    # -- pre-triggers: a scope forward, over a list, to a terminator -----------------------
    def _triggers(self, pattern: _Prefiltered | None) -> list[tuple[int, int]]:
        return [s for s in _spans(pattern, self.sentence) if not self.pseudo.overlaps(s)]

    def _reaches(self, pattern: _Prefiltered | None):
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

    def _separators(self) -> _SortedSpans:
        if self._list_separators is None:
            self._list_separators = _SortedSpans(
                [m.span() for m in _LIST_SEPARATOR.finditer(self.sentence)])
        return self._list_separators

    def _comma_positions(self) -> list[int]:
        if self._commas is None:
            self._commas = [m.start() for m in _COMMA.finditer(self.sentence)]
        return self._commas

    def _breaker_spans(self) -> _SortedSpans:
        if self._breakers is None:
            self._breakers = _SortedSpans(_spans(self.ctx.list_breakers, self.sentence))
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


def _side(sides: dict[str, _SortedSpans], words: _Words, span: tuple[int, int],
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


def _side_distance(spans: _SortedSpans, words: _Words, span: tuple[int, int]) -> int | None:
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


class _Sentence(str):
    """A sentence with, for each pattern, the positions where it can begin (_AnchorIndex), and
    the starts of its words."""

    anchored: dict[_Prefiltered, list[tuple[int, Callable]]] | None
    word_starts: list[int]


# The only characters that Python's re.IGNORECASE matches to ASCII word characters, besides
# ASCII itself (a test scans every code point): looked up as the letters they match.
_NOTHING: tuple = ((), ())  # a word that begins no pattern
_FOLDS_TO_ASCII = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


class _AnchorIndex:
    """Where each pattern can begin, found in one pass over a sentence's words: the anchors of
    every pattern (the literal beginnings of their terms' first words, in lower case) looked up
    by the prefixes of each word, and the raw terms that begin at a word start looked up by
    their possible first characters. What a word's beginning holds is remembered, so a word
    seen before costs one lookup. Most patterns have no anchor in a given sentence and are then
    not tried at all."""

    _MEMO_LIMIT = 50_000  # distinct words remembered (cleared when full)

    def __init__(self, patterns: list[_Prefiltered]):
        # anchors made of word characters only ("radiat", "l5") are looked up by the prefixes
        # of each word; the few with others ("x-ray", "l5-s1") by their first word ("x", "l5"),
        # which must be the whole word, and then compared with the text
        self._by_prefix: dict[str, list[tuple[_Prefiltered, str]]] = {}
        self._spanning: dict[str, list[tuple[str, list[tuple[_Prefiltered, str]]]]] = {}
        spanning: dict[str, list[tuple[_Prefiltered, str]]] = {}
        self._first_classes: list[tuple[re.Pattern, _Prefiltered, str]] = []
        for pattern in patterns:
            for term, anchors in pattern.term_anchors.items():
                for anchor in anchors:
                    table = self._by_prefix if _WORD.fullmatch(anchor) else spanning
                    table.setdefault(anchor, []).append((pattern, term))
            self._first_classes += [(first, pattern, term)
                                    for term, first in pattern.first_classes.items()]
        for anchor, owners in spanning.items():
            leading = _WORD.match(anchor).group()
            self._spanning.setdefault(leading, []).append((anchor, owners))
        self._longest = max(1, max(map(len, [*self._by_prefix, *self._spanning]), default=0))
        self._memo: dict[str, tuple[tuple[tuple[_Prefiltered, Callable], ...], tuple]] = {}

    def _at_word(self, beginning: str) -> tuple[tuple[tuple[_Prefiltered, Callable], ...], tuple]:
        """The patterns that can begin at a word beginning so (at most ``_longest`` chars),
        each with the matcher of its terms that can, and the anchors with other characters
        than word ones that may begin there."""
        folded = beginning.translate(_FOLDS_TO_ASCII)
        found: dict[_Prefiltered, set[str]] = {}
        for stop in range(1, len(folded) + 1):
            prefix = folded[:stop]
            if not prefix.isascii():
                break  # no ASCII anchor can match past a character that is not one
            for pattern, term in self._by_prefix.get(prefix.lower(), ()):
                found.setdefault(pattern, set()).add(term)
        for first, pattern, term in self._first_classes:
            if first.match(beginning):
                found.setdefault(pattern, set()).add(term)
        spanning = self._spanning.get(folded.lower(), ()) if folded.isascii() else ()
        if not found and not spanning:
            return _NOTHING
        return (tuple((pattern, pattern.matcher(frozenset(terms)))
                      for pattern, terms in found.items()), tuple(spanning))

    def sentence(self, text: str) -> _Sentence:
        sentence = _Sentence(text)
        anchored: dict[_Prefiltered, list[tuple[int, Callable]]] = {}
        # the words and their starts, each list made in one pass in C
        words = _WORD.findall(text)
        word_starts = [m.start() for m in _WORD.finditer(text)]
        memo, longest, nothing = self._memo, self._longest, _NOTHING
        if len(memo) > self._MEMO_LIMIT:
            memo.clear()
        get = memo.get
        for start, word in zip(word_starts, words, strict=True):
            found = get(word)
            if found is None:
                found = memo[word] = self._at_word(word[:longest]) or nothing
            if found is nothing:
                continue  # most words begin no pattern
            for pattern, matcher in found[0]:
                positions = anchored.get(pattern)
                if positions is None:
                    anchored[pattern] = [(start, matcher)]
                else:
                    positions.append((start, matcher))
            if found[1]:
                self._spanning_at(text, start, found, anchored)
        sentence.anchored = anchored
        sentence.word_starts = word_starts
        return sentence

    @staticmethod
    def _spanning_at(text: str, start: int, found: tuple, anchored: dict) -> None:
        terms: dict[_Prefiltered, set[str]] = {}
        for anchor, owners in found[1]:
            if text[start:start + len(anchor)].translate(_FOLDS_TO_ASCII).lower() == anchor:
                for pattern, term in owners:
                    terms.setdefault(pattern, set()).add(term)
        for pattern, more in terms.items():
            positions = anchored.setdefault(pattern, [])
            if positions and positions[-1][0] == start:  # with the word's own terms
                word_terms = next(set(t) for p, m in found[0] if p is pattern
                                  for t in [_terms_of(p, m)])
                positions[-1] = (start, pattern.matcher(frozenset(word_terms | more)))
            else:
                positions.append((start, pattern.matcher(frozenset(more))))


def _terms_of(pattern: _Prefiltered, matcher: Callable) -> frozenset[str]:
    return next(terms for terms, found in pattern._subsets.items() if found is matcher)


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

    In a sentence read by the reader (an ``_AnchorIndex`` sentence) the positions come from
    the index instead, each with the alternation of only the terms that can begin there (those
    whose anchor begins the word, or whose first character it is), in the same order as in
    ``pattern``, so that the same term wins. ``term_anchors``: each anchored term's anchors in
    lower case, cut before any character that is not ASCII; ``first_classes``: the possible first
    characters of the raw terms that begin at a word start; the other raw terms (``searched``)
    are searched, and where they match the whole alternation is tried.
    """

    __slots__ = ("pattern", "starts", "unanchored", "term_anchors", "first_classes",
                 "searched", "_order", "_subsets")

    def __init__(self, pattern: re.Pattern, starts: re.Pattern | None,
                 unanchored: re.Pattern | None,
                 term_anchors: dict[str, frozenset[str]] | None = None,
                 first_classes: dict[str, re.Pattern] | None = None,
                 searched: tuple[re.Pattern, ...] = ()):
        self.pattern = pattern
        self.starts = starts
        self.unanchored = unanchored
        self.term_anchors = term_anchors or {}
        self.first_classes = first_classes or {}
        self.searched = searched
        self._order = {regex: at for at, regex in enumerate(
            sorted([*self.term_anchors, *self.first_classes], key=len, reverse=True))}
        self._subsets: dict[frozenset[str], Callable] = {}

    @property
    def index_anchors(self) -> set[str]:
        return {a for anchors in self.term_anchors.values() for a in anchors}

    def matcher(self, terms: frozenset[str]) -> Callable:
        """``match`` of the alternation of these terms alone, in the order of ``pattern``."""
        found = self._subsets.get(terms)
        if found is None:
            ordered = sorted(terms, key=self._order.__getitem__)
            found = (re.compile("|".join(f"(?:{r})" for r in ordered), re.IGNORECASE).match
                     if len(terms) < len(self._order) else self.pattern.match)
            self._subsets[terms] = found
        return found

    def finditer(self, text: str) -> Iterator[re.Match]:
        anchored = getattr(text, "anchored", None)
        if anchored is not None:
            candidates = anchored.get(self, [])  # a sentence indexed by _AnchorIndex
            if self.searched:
                whole = self.pattern.match
                at = dict(candidates)
                for regex in self.searched:
                    at.update((start, whole) for start in _starts(regex, text))
                candidates = sorted(at.items())
            return self._matches_with(text, candidates) if candidates else iter(())
        if self.starts is None:
            return self.pattern.finditer(text)
        positions = _starts(self.starts, text)
        if self.unanchored is not None:
            positions = sorted(set(positions).union(_starts(self.unanchored, text)))
        # most patterns have no anchor in a given sentence: nothing to try
        match = self.pattern.match
        return self._matches_with(text, [(p, match) for p in positions]) if positions else iter(())

    @staticmethod
    def _matches_with(text: str, candidates: list[tuple[int, Callable]]) -> Iterator[re.Match]:
        position = 0  # where the next match may begin (finditer's matches do not overlap)
        for start, match in candidates:
            if start < position:
                continue
            found = match(text, start)
            if found is not None and found.end() > start:
                yield found
                position = found.end()


def _first_class(regex: str) -> re.Pattern | None:
    """When every match of ``regex`` begins at a word start (``\\b`` or ``(?<!\\w)`` first)
    with a word character from a set that can be written down: that set, as a character class
    (case-insensitive, as the terms). None otherwise."""
    try:
        parsed = _sre_parser.parse(regex)
    except re.error:
        return None
    found = _first(list(parsed.data))
    if found is None or not found[0] or not found[1]:
        return None
    return re.compile("[" + "".join(found[1]) + "]", re.IGNORECASE)


def _first(items: list) -> tuple[bool, list[str]] | None:
    """(whether a word start is asserted first, the class parts of the first character)."""
    c = _sre_constants
    boundary = False
    at = 0
    while at < len(items):
        op, av = items[at]
        if op is c.AT and av is c.AT_BOUNDARY or (op is c.ASSERT_NOT and av[0] == -1
              and list(av[1].data) == [(c.IN, [(c.CATEGORY, c.CATEGORY_WORD)])]):
            boundary = True
        else:
            break
        at += 1
    if at == len(items):
        return None
    op, av = items[at]
    if op is c.LITERAL:
        char = chr(av)
        return (boundary, [re.escape(char)]) if _WORD_CHAR.match(char) else None
    if op is c.IN:
        parts = []
        for kind, value in av:
            if kind is c.LITERAL and _WORD_CHAR.match(chr(value)):
                parts.append(re.escape(chr(value)))
            elif (kind is c.RANGE and all(chr(v).isascii() and chr(v).isalnum() for v in value)
                  and chr(value[0]).isdigit() == chr(value[1]).isdigit()):
                parts.append(f"{re.escape(chr(value[0]))}-{re.escape(chr(value[1]))}")
            elif kind is c.CATEGORY and value is c.CATEGORY_DIGIT:
                parts.append(r"\d")
            elif kind is c.CATEGORY and value is c.CATEGORY_WORD:
                parts.append(r"\w")
            else:
                return None
        return boundary, parts
    if op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] >= 1:
        inner = _first(list(av[2].data))
    elif op is c.SUBPATTERN:
        inner = _first(list(av[3].data))
    elif op is c.BRANCH:
        branches = [_first(list(branch.data)) for branch in av[1]]
        if any(b is None for b in branches):
            return None
        inner = (all(b[0] for b in branches), [p for b in branches for p in b[1]])
    else:
        return None
    return None if inner is None else (boundary or inner[0], inner[1])


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


def _only_connectors(text: str) -> bool:
    tokens = _CONNECTOR_TOKEN.findall(text.lower())
    return all(token in _CONNECTORS for token in tokens)


def _read(path: Path) -> dict:
    doc = read_json_object(path, TextTriggerError, "a trigger file (a JSON object)")
    for required in ("name", "version", "description"):
        if not isinstance(doc.get(required), str) or not doc[required]:
            raise TextTriggerError(f"{path.name}: {required} is required")
    return doc
