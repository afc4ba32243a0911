"""[codeset-outdated]: the date of service is past the last ICD-10-CM release the service has
(FY2026 ends 2026-09-30), so its codes were judged by an older release. Its
``evaluate(facts, terminology)`` on a table of codes and dates. (Whole requests:
tests/test_codeset_releases.py.)"""

from __future__ import annotations

import pytest

from cds_service.rules import codeset_outdated
from tests.builders import condition
from tests.rules.facts_tables import diagnosis_facts, terminology


# -- evaluate(facts, terminology) on tables of facts -----------------------------------------------
@pytest.mark.parametrize("icd, snomed, day, dates", [
    pytest.param("M54.50", None, "2026-11-20", ["2026-11-20"], id="past-fy2026"),
    pytest.param(None, "279039007", "2026-11-20", ["2026-11-20"], id="candidate-codes-too"),
    pytest.param("M54.50", None, "2026-03-02", None, id="within-fy2026"),
    pytest.param(None, None, "2026-11-20", None, id="nothing-to-judge"),
])
def test_evaluate_on_a_table_of_codes_and_dates(icd, snomed, day, dates):
    facts = diagnosis_facts(condition(icd=icd, snomed=snomed, recorded=None), day=day)
    found = codeset_outdated.evaluate(facts, terminology())
    if dates is None:
        assert found == []
        return
    [finding] = found
    assert (finding.rule_id, finding.target, finding.suggestions) == (
        codeset_outdated.RULE_ID, None, [])
    assert finding.params["dates"] == dates
