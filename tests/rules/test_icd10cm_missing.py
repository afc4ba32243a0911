"""[icd10cm-missing]: a low back pain diagnosis coded only in SNOMED CT (or WHO ICD-10) gets
the ICD-10-CM code a claim needs. Its ``evaluate(facts, terminology)`` on a table of codings.
(Whole requests: tests/test_uncoded_diagnoses.py.)"""

from __future__ import annotations

import pytest

from cds_service.rules import icd10cm_missing
from cds_service.terminology import ICD10_WHO_SYSTEM
from tests.builders import FULL_NOTE, condition
from tests.rules.facts_tables import diagnosis_facts, outcome, terminology


# -- evaluate(facts, terminology) on tables of facts -----------------------------------------------
@pytest.mark.parametrize("icd, snomed, expected", [
    pytest.param(None, "279039007", [("Condition/c1", ["M54.50"], None)], id="snomed-lbp"),
    pytest.param("M54.50", "279039007", [], id="icd10cm-there"),
    pytest.param(None, "38341003", [], id="not-low-back-pain"),
    pytest.param(None, None, [], id="no-code"),
])
def test_evaluate_on_a_table_of_codings(icd, snomed, expected):
    facts = diagnosis_facts(condition(icd=icd, snomed=snomed, note=FULL_NOTE))
    found = icd10cm_missing.evaluate(facts, terminology())
    assert outcome(found, icd10cm_missing.RULE_ID) == expected


def test_evaluate_on_a_who_icd10_code():
    who = condition(icd=None, note=FULL_NOTE)
    who["code"]["coding"] = [{"system": ICD10_WHO_SYSTEM, "code": "M54.5"}]
    found = icd10cm_missing.evaluate(diagnosis_facts(who), terminology())
    assert [(f.target, f.rule_id) for f in found] == [("Condition/c1", icd10cm_missing.RULE_ID)]
    assert found[0].suggestions
