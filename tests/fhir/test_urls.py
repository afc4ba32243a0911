"""Which queries the FHIR client may append to an allowed base (cds_service/fhir/urls.py); the
base URLs and next links are tested in tests/test_fhir_fetch.py."""

from __future__ import annotations

import pytest

from cds_service.fhir.urls import is_safe_query


@pytest.mark.parametrize("query, safe", [
    ("Patient/p1", True),
    ("Condition?patient=Patient/p1&_count=100", True),
    ("Coverage", True),
    ("Patient/p1/_history", False),  # a read is Type/id, no more
    ("patient/p1", False),  # a type starts with a capital
    ("Patient/../admin", False),
    ("Patient//p1", False),
    ("Condition?patient=Patient/p1#x", False),
    ("Condition?patient=Patient/p 1", False),
    ("Condition?patient=Patient/p1\\", False),
    ("Condition?patient=Patient/p1\x00", False),
    ("https://elsewhere.example/Patient/p1", False),
])
def test_only_a_read_or_a_search_with_nothing_that_leaves_the_base_is_sent(query, safe):
    assert is_safe_query(query) is safe
