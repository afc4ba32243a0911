"""The /analytics page in headless Chromium (Debian's ``chromium``, installed by scripts/test)
against the real server: the rendered DOM has one bar per rule with the numbers of
/analytics/rules, and the page loads nothing from outside the service."""

from __future__ import annotations

import copy
import re
import uuid
from html.parser import HTMLParser

import pytest
import requests

from tests.support import browser
from tests.support.examples import load_example
from tests.support.live_server import LiveServer

DISCHARGE = "lbp-coding-encounter-discharge"
REASONS = "https://lbp-coding.example.org/fhir/CodeSystem/override-reasons"
BAR_WIDTH = 380  # analytics.js


@pytest.fixture(scope="module")
def server():
    server = LiveServer(workers=2)
    yield server
    server.stop()


def dump_dom(chromium: str, url: str, tmp_path) -> str:
    dom = browser.dump_dom(chromium, url, tmp_path, virtual_time_ms=15000)
    assert 'data-loaded="true"' in dom, "the page did not render its data:\n" + dom[-3000:]
    return dom


class Bars(HTMLParser):
    """The chart's bars (<g class="rule-bar">) and the details table's rows, from the DOM."""

    def __init__(self):
        super().__init__()
        self.bars: dict[str, dict] = {}
        self.rows: dict[str, list[str]] = {}
        self._bar: dict | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._text: str | None = None  # the class of the <text> being read

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "g" and "rule-bar" in classes:
            self._bar = {**attributes, "rects": {}, "texts": {}}
            self.bars[attributes["data-rule-id"]] = self._bar
        elif self._bar is not None and tag == "rect":
            self._bar["rects"][classes[0]] = float(attributes["width"])
        elif self._bar is not None and tag == "text":
            self._text = classes[0]
            self._bar["texts"][self._text] = ""
        elif tag == "tr" and "data-rule-id" in attributes:
            self._row = []
            self.rows[attributes["data-rule-id"]] = self._row
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "g":
            self._bar = None
        elif tag == "text":
            self._text = None
        elif tag == "td" and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._bar is not None and self._text is not None:
            self._bar["texts"][self._text] += data
        if self._cell is not None:
            self._cell.append(data)


def parse(dom: str) -> Bars:
    bars = Bars()
    bars.feed(dom)
    return bars


def test_the_page_draws_one_bar_per_rule_with_the_right_numbers(server, chromium, tmp_path):
    cards = []
    for _ in range(3):
        body = copy.deepcopy(load_example("retired-m545")["request"])
        body["hookInstance"] = str(uuid.uuid4())
        response = requests.post(f"{server.url}/cds-services/{DISCHARGE}", json=body, timeout=30)
        cards += [c for c in response.json()["cards"]
                  if c["source"]["topic"]["code"] == "invalid-code"]
    at = "2026-11-20T10:00:00Z"
    feedback = [
        {"card": cards[0]["uuid"], "outcome": "accepted", "outcomeTimestamp": at,
         "acceptedSuggestions": [{"id": cards[0]["suggestions"][0]["uuid"]}]},
        {"card": cards[1]["uuid"], "outcome": "accepted", "outcomeTimestamp": at},
        {"card": cards[2]["uuid"], "outcome": "overridden", "outcomeTimestamp": at,
         "overrideReason": {"reason": {"system": REASONS, "code": "corrected-elsewhere"}}},
    ]
    assert requests.post(f"{server.url}/cds-services/{DISCHARGE}/feedback",
                         json={"feedback": feedback}, timeout=30).status_code == 200
    report = requests.get(f"{server.url}/analytics/rules", timeout=30).json()

    page = parse(dump_dom(chromium, f"{server.url}/analytics", tmp_path))

    assert set(page.bars) == {r["ruleId"] for r in report["rules"]}
    for rule in report["rules"]:
        bar = page.bars[rule["ruleId"]]
        assert (int(bar["data-shown"]), int(bar["data-accepted"]),
                int(bar["data-overridden"])) == (rule["shown"], rule["accepted"],
                                                 rule["overridden"])
        assert page.rows[rule["ruleId"]][1:5] == [str(rule["shown"]), str(rule["accepted"]),
                                                  str(rule["overridden"]),
                                                  str(rule["noFeedback"])]
    invalid = page.bars["invalid-code"]
    assert invalid["texts"]["bar-label"] == "invalid-code"
    assert invalid["texts"]["bar-value"] == "66.7% accepted (2 of 3; 3 shown)"
    assert invalid["rects"]["bar-accepted"] == pytest.approx(BAR_WIDTH * 2 / 3, abs=0.1)
    assert invalid["rects"]["bar-overridden"] == pytest.approx(BAR_WIDTH / 3, abs=0.1)
    assert page.rows["invalid-code"][5] == "66.7%"
    assert page.rows["invalid-code"][6] == (
        "Code will be corrected in the billing system [corrected-elsewhere]: 1")
    never_shown = [r for r in report["rules"] if r["shown"] == 0]
    for rule in never_shown:
        assert page.bars[rule["ruleId"]]["texts"]["bar-value"] == "no cards shown"
        assert page.bars[rule["ruleId"]]["rects"]["bar-accepted"] == 0


def test_the_page_filters_by_date(server, chromium, tmp_path):
    page = parse(dump_dom(chromium, f"{server.url}/analytics?since=2999-01-01", tmp_path))
    assert page.bars
    assert all(bar["data-shown"] == "0" for bar in page.bars.values())


def test_the_page_loads_only_its_own_assets(server):
    response = requests.get(f"{server.url}/analytics", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    references = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert references, response.text
    for reference in references:
        assert not re.match(r"[a-z]+:|//", reference), reference  # no CDN, no other host
        asset = requests.get(f"{server.url}/{reference}", timeout=30)
        assert asset.status_code == 200, reference
