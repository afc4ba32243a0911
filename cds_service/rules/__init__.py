"""Rules: small pure functions, one per guideline, over an encounter's facts.

Each rule is a module in this package defining ``RULE_ID`` (the card's ``source.topic.code`` and
the name of its template in ``cards/``), ``HOOKS`` (the hooks it runs on), ``SOURCES`` (ids of
the public sources it rests on, in ``valuesets/sources.json``), ``VALUESETS`` (the knowledge
files it reads, by name) and ``evaluate(facts, terminology) -> list[Finding]``, with the
guideline it enforces cited in its docstring (docs/sources.md). Modules are discovered
(``_registry``), so adding a rule is one module and one template.

What a rule returns is in ``_findings``; the helpers the rules share are the modules whose names
start with an underscore: ``_codes`` (ICD-10-CM codes of documented findings), ``_options``
(the codes a picture supports), ``_pictures`` (the pictures each specificity rule speaks for),
``_suggestions`` (suggestions that recode a diagnosis), ``_fhir`` (the resources actions
carry), ``_uncoded`` (the plan for an uncoded diagnosis), ``_excludes`` (Excludes1 pairs),
``_procedures`` (procedure and payer lookups), ``_memo`` (answers shared within one
evaluation).
"""
