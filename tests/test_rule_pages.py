"""A page behind every card: GET /rules, GET /rules/{rule-id} and GET /valuesets/{id} on the real
server, as JSON (Accept: application/json) and as HTML in headless Chromium (Debian's
``chromium``, installed by scripts/test), and every card's source.url pointing at its page."""

from __future__ import annotations

import copy
import tomllib
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests

from cds_service.rules._registry import RULES
from cds_service.sources import catalog, rule_page_text
from tests.support import browser
from tests.support.examples import load_example
from tests.support.live_server import LiveServer

ROOT = Path(__file__).resolve().parent.parent
JSON = {"Accept": "application/json"}
PLACEHOLDER_HOST = "lbp-coding.example.org"
PUBLIC_BASE = "https://cds.hospital.test/lbp"
EXAMPLES = {"medicare-cmt-needs-subluxation": "lbp-coding-order-sign",
            "order-not-supported-by-diagnosis": "lbp-coding-order-sign",
            "retired-m545": "lbp-coding-encounter-discharge"}


@pytest.fixture(scope="module")
def public_server():
    """A server told its public address, as behind a reverse proxy."""
    server = LiveServer(env={"CDS_PUBLIC_BASE_URL": PUBLIC_BASE}, workers=1)
    yield server
    server.stop()


def card_template(rule_id: str) -> dict:
    return tomllib.loads((ROOT / "cards" / f"{rule_id}.toml").read_text("utf-8"))


def call(server: LiveServer, example: str) -> list[dict]:
    body = copy.deepcopy(load_example(example)["request"])
    body["hookInstance"] = str(uuid.uuid4())
    response = requests.post(f"{server.url}/cds-services/{EXAMPLES[example]}", json=body,
                             timeout=60)
    assert response.status_code == 200, response.text[:500]
    return response.json()["cards"]


def links_in(value, key: str | None = None):
    """Every value of a ``url`` key anywhere in a JSON document."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from links_in(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from links_in(item, key)
    elif key == "url" and isinstance(value, str):
        yield value


# -- JSON ----------------------------------------------------------------------------------


def test_the_index_lists_every_rule_with_its_page(live_server):
    response = requests.get(f"{live_server.url}/rules", headers=JSON, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    listed = {rule["id"]: rule for rule in response.json()["rules"]}
    assert set(listed) == {rule.id for rule in RULES}
    for rule_id, rule in listed.items():
        assert rule["url"] == f"{live_server.url}/rules/{rule_id}"
        assert rule["title"] == card_template(rule_id)["title"]
        assert rule["checks"] == rule_page_text(rule_id)["checks"]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_each_rule_page_says_what_the_rule_checks_reads_and_rests_on(live_server, rule):
    response = requests.get(f"{live_server.url}/rules/{rule.id}", headers=JSON, timeout=30)
    assert response.status_code == 200
    page = response.json()
    template = card_template(rule.id)
    assert page["id"] == rule.id and page["title"] == template["title"]
    assert page["hooks"] == sorted(rule.module.HOOKS)
    assert {k: page[k] for k in ("checks", "fires", "quiet")} == rule_page_text(rule.id)
    assert [s["id"] for s in page["sources"]] == list(rule.module.SOURCES)
    for source in page["sources"]:
        assert source == catalog()[source["id"]].as_json()
    assert [(r["code"], r["display"]) for r in page["overrideReasons"]] == [
        (r["code"], r["display"]) for r in template.get("override_reasons", [])]
    assert [v["name"] for v in page["valueSets"]] == list(rule.module.VALUESETS)
    for valueset in page["valueSets"]:
        assert valueset["url"] == f"{live_server.url}/valuesets/{valueset['id']}"


def test_each_knowledge_file_a_page_names_is_served_as_fhir_json(live_server):
    seen = set()
    for rule in RULES:
        page = requests.get(f"{live_server.url}/rules/{rule.id}", headers=JSON, timeout=30).json()
        for valueset in page["valueSets"]:
            if valueset["id"] in seen:
                continue
            seen.add(valueset["id"])
            response = requests.get(valueset["url"], timeout=30)
            assert response.status_code == 200
            assert response.headers["Content-Type"].startswith("application/fhir+json")
            resource = response.json()
            assert (resource["resourceType"], resource["id"], resource["name"],
                    resource["url"]) == (valueset["resourceType"], valueset["id"],
                                         valueset["name"], valueset["canonical"])
    assert len(seen) >= 20


@pytest.mark.parametrize("path", ["/rules/no-such-rule", "/valuesets/no-such-valueset",
                                  "/valuesets/sources"])
def test_an_unknown_id_is_a_404_operation_outcome(live_server, path):
    response = requests.get(f"{live_server.url}{path}", headers=JSON, timeout=30)
    assert response.status_code == 404
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "not-found"


def test_every_card_links_to_its_rule_page_on_this_server(live_server):
    for example in EXAMPLES:
        cards = call(live_server, example)
        assert cards, example
        for card in cards:
            rule_id = card["source"]["topic"]["code"]
            assert card["source"]["url"] == f"{live_server.url}/rules/{rule_id}"
            page = requests.get(card["source"]["url"], headers=JSON, timeout=30)
            assert page.status_code == 200 and page.json()["id"] == rule_id


def test_cards_and_pages_use_the_public_base_url_when_set(public_server):
    cards = call(public_server, "medicare-cmt-needs-subluxation")
    assert [c["source"]["url"] for c in cards] == [
        f"{PUBLIC_BASE}/rules/{c['source']['topic']['code']}" for c in cards]
    page = requests.get(f"{public_server.url}/rules/cmt-subluxation", headers=JSON,
                        timeout=30).json()
    assert page["url"] == f"{PUBLIC_BASE}/rules/cmt-subluxation"
    assert all(v["url"].startswith(f"{PUBLIC_BASE}/valuesets/") for v in page["valueSets"])


def test_no_link_in_any_response_points_at_the_placeholder_host(live_server):
    """Links (every ``url`` a client may follow, every href of the pages) never name the
    placeholder host. FHIR canonical identifiers (``system``, a ValueSet's ``url``, a rule
    page's ``canonical``) are identifiers, not links, and are not judged here."""
    documents = [{"cards": call(live_server, example)} for example in EXAMPLES]
    documents.append(requests.get(f"{live_server.url}/rules", headers=JSON, timeout=30).json())
    for rule in RULES:
        documents.append(requests.get(f"{live_server.url}/rules/{rule.id}", headers=JSON,
                                      timeout=30).json())
    links = [link for document in documents for link in links_in(document)]
    assert len(links) > 100
    assert not [link for link in links if PLACEHOLDER_HOST in link]
    for path in ["/rules", *(f"/rules/{rule.id}" for rule in RULES)]:
        page = Page()
        page.feed(requests.get(f"{live_server.url}{path}", timeout=30).text)
        assert page.links and not [h for h in page.links if PLACEHOLDER_HOST in h], path


def test_a_browser_gets_html_and_the_page_loads_nothing_from_elsewhere(live_server):
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    response = requests.get(f"{live_server.url}/rules/invalid-code", headers=browser, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Vary"] == "Accept"


# -- the pages in a browser ----------------------------------------------------------------


class Page(HTMLParser):
    """What a rule page (or the index) shows: the text of each section, its links."""

    def __init__(self):
        super().__init__()
        self.sections: dict[str, str] = {}
        self.links: list[str] = []
        self.source_links: dict[str, str] = {}
        self.rows: list[str] = []
        self.h1 = ""
        self._section: str | None = None
        self._source: str | None = None
        self._in_h1 = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "section":
            self._section = attributes.get("id")
            self.sections[self._section] = ""
        elif tag == "li" and "data-source" in attributes:
            self._source = attributes["data-source"]
        elif tag == "tr" and "data-rule" in attributes:
            self.rows.append(attributes["data-rule"])
        elif tag == "h1":
            self._in_h1 = True
        if tag in ("a", "link") and attributes.get("href"):
            self.links.append(attributes["href"])
            if tag == "a" and self._source is not None:
                self.source_links[self._source] = attributes["href"]

    def handle_endtag(self, tag):
        if tag == "section":
            self._section = None
        elif tag == "li":
            self._source = None
        elif tag == "h1":
            self._in_h1 = False

    def handle_data(self, data):
        if self._section is not None:
            self.sections[self._section] += data
        if self._in_h1:
            self.h1 += data


def dump_dom(chromium: str, url: str, tmp_path) -> str:
    dom = browser.dump_dom(chromium, url, tmp_path)
    assert "</main>" in dom, dom[-3000:]
    return dom


def squash(text: str) -> str:
    return " ".join(text.split())


def test_the_index_in_a_browser_links_every_rule(live_server, chromium, tmp_path):
    index = Page()
    index.feed(dump_dom(chromium, f"{live_server.url}/rules", tmp_path))
    assert index.rows == [rule.id for rule in RULES]
    for rule in RULES:
        assert f"rules/{rule.id}" in index.links


def test_a_rule_page_in_a_browser_shows_its_prose_knowledge_sources_and_reasons(
        live_server, chromium, tmp_path):
    rule = next(r for r in RULES if r.id == "cmt-subluxation")
    data = requests.get(f"{live_server.url}/rules/{rule.id}", headers=JSON, timeout=30).json()
    page = Page()
    page.feed(dump_dom(chromium, f"{live_server.url}/rules/{rule.id}", tmp_path))

    assert squash(page.h1) == data["title"]
    for key in ("checks", "fires", "quiet"):
        assert data[key] in squash(page.sections[key])
    assert page.source_links == {s["id"]: s["url"] for s in data["sources"]}
    assert "LCD L37254 Chiropractic Services" in squash(page.sections["sources"])
    for valueset in data["valueSets"]:
        assert f"../valuesets/{valueset['id']}" in page.links
        assert valueset["title"] in squash(page.sections["valuesets"])
    for reason in data["overrideReasons"]:
        assert reason["display"] in squash(page.sections["override-reasons"])
    # the page's relative links resolve on this server
    for href in page.links:
        if not href.startswith("https://"):
            target = requests.compat.urljoin(f"{live_server.url}/rules/{rule.id}", href)
            assert requests.get(target, timeout=30).status_code == 200, href
