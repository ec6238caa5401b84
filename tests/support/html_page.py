"""Reading a conformance HTML page back (the file, or the DOM headless Chromium rendered
from it) with the standard library's parser, and checking every section against the
report it was made from."""

from __future__ import annotations

from html.parser import HTMLParser

from hil.conformance import ConformanceReport, Verdict
from hil.conformance.views import hex_lines

SECTIONS = ("summary", "checks", "timeline")


class PageSections(HTMLParser):
    """Ids, each check's article (classes and text), timeline rows, and anything that
    would make the page depend on more than itself."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.articles: dict[str, tuple[set[str], list[str]]] = {}
        self.timeline_rows = 0
        self.external: list[str] = []
        self.scripts = 0
        self.text: list[str] = []
        self._article: str | None = None
        self._timeline_depth = 0  # tables open inside the timeline's, itself included

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if (element_id := found.get("id")) is not None:
            self.ids.append(element_id)
        if tag == "article" and element_id is not None:
            self._article = element_id
            self.articles[element_id] = (set((found.get("class") or "").split()), [])
        if tag == "table" and (self._timeline_depth or "timeline" in (found.get("class") or "")):
            self._timeline_depth += 1
        if tag == "tr" and self._timeline_depth == 1 and found.get("class"):
            self.timeline_rows += 1
        if tag == "script":
            self.scripts += 1
        for name in ("src", "href"):
            if found.get(name):
                self.external.append(f"{tag} {name}={found[name]}")
        if tag == "link":
            self.external.append("link")

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self._article = None
        if tag == "table" and self._timeline_depth:
            self._timeline_depth -= 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._article is not None:
            self.articles[self._article][1].append(data)

    def article_text(self, article_id: str) -> str:
        return "".join(self.articles[article_id][1])


def read_page(page: str) -> PageSections:
    parser = PageSections()
    parser.feed(page)
    parser.close()
    return parser


def check_page(page: str, report: ConformanceReport) -> PageSections:
    """Every section is there and says what the report says."""
    found = read_page(page)
    for section in SECTIONS:
        assert found.ids.count(section) == 1, f"section {section} missing or repeated"
    assert found.scripts == 0
    assert found.external == [], found.external
    text = "".join(found.text)
    verdict = "PASS" if report.passed else "FAIL"
    assert f"verdict{verdict}" in text.replace("\n", "")
    assert report.recording.device_id in text
    for result in report.results:
        check, outcome = result.check, result.outcome
        classes, _ = found.articles[f"check-{check.id}"]
        assert {"check", str(outcome.verdict)} <= classes
        shown = found.article_text(f"check-{check.id}")
        assert outcome.reason in shown
        assert ", ".join(check.rules) in shown
        if outcome.verdict is Verdict.FAIL:
            for entry in outcome.evidence:
                if entry.gbcs is not None:
                    assert hex_lines(entry.gbcs.hex().upper()) in shown
    assert found.timeline_rows == len(report.recording.entries)
    return found
