"""Reading free text (``Condition.note``, ``Encounter.reasonCode.text``) for the findings that
decide how low back pain is coded, with negation, uncertainty, history, family history,
laterality and the note's sections.

The trigger terms are data, in ``valuesets/text-triggers/*.json``; this package only compiles and
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

The modules, in the order a text goes through them: ``compile`` (the trigger files into
``triggers``, with ``patterns`` and their ``anchors``), ``reader`` (the memo, then each text),
``sentences`` (sections and sentences), ``positions`` (word counts by offset), ``scope``
(negation and the other context), ``sides`` (laterality), ``reading`` (what comes out).

Where it stops: no parsing of syntax, so a negation reaches any mention within its window
("no fever, pain radiates down the leg" reads the leg pain as denied); no coreference ("it",
"the same"); misspellings are not corrected; a side stated in another sentence is not carried
over.
"""

from __future__ import annotations

from .reader import TextReader
from .reading import EMPTY_READING, STATUS_ORDER, Mention, Reading
from .triggers import TextTriggerError

__all__ = ["EMPTY_READING", "STATUS_ORDER", "Mention", "Reading", "TextReader", "TextTriggerError"]
