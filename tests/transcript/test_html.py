"""``trace show --html``: one self-contained page; trace content never becomes markup.

The Chromium test opens the page in Debian's headless ``chromium`` and reads the DOM the
page's own script built: lane headers and one row element per transcript row."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import SERVE_CMD
from tests.transcript.helpers import Event, trace_bytes
from tests.transcript.scenario import EVENTS
from w800at.transcript import Row, parse_trace, transcribe
from w800at.transcript_html import render_html

EVIL = b"</script><b>bold</b><!--"
#: the scenario, then a send whose payload and a module line try to break out of the page
HOSTILE: list[Event] = [
    *EVENTS,
    (3.0, ">>", b"AT+CIPSEND=" + str(len(EVIL)).encode() + b"\r\n"),
    (3.001, "<<", b"AT+CIPSEND=" + str(len(EVIL)).encode() + b"\r\n\r\nOK\r\n\r\n>"),
    (3.1, ">>", EVIL),
    (3.2, "<<", b"\r\n" + EVIL + b"\r\n"),
    (3.3, "--", "rule </script><script>alert(1)</script>"),
]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


def rows() -> list[Row]:
    return transcribe(parse_trace(trace_bytes(HOSTILE)))


def embedded(page: str) -> dict[str, object]:
    m = re.search(r'<script type="application/json" id="transcript-data">(.*?)</script>', page)
    assert m is not None
    data = json.loads(m.group(1))
    assert isinstance(data, dict)
    return data


def test_page_is_self_contained_and_escaped() -> None:
    page = render_html(rows(), title="<x>&y", started="2026-12-01T10:00:00.000")
    for outside in ("http:", "https:", "//", " src=", "<link", "@import", "url(", "<iframe"):
        assert outside not in page.replace("<!DOCTYPE", "")
    assert "<title>w800at transcript: &lt;x&gt;&amp;y</title>" in page
    # the only "</script" are the page's own two, and no <b> element anywhere
    assert page.count("</script>") == 2
    assert "<b>" not in page and "<!--" not in page
    data = embedded(page)
    assert data["lanes"] == ["host", "module", "L0", "event"]
    got = data["rows"]
    assert isinstance(got, list)
    assert [(r["lane"], r["kind"], r["text"]) for r in got] == [
        (r.lane, r.kind, r.text) for r in rows()
    ]
    evil = [
        r for r in got if r["payload"] and r["payload"]["preview"] == "</script><b>bold</b><!--"
    ]
    assert len(evil) == 1 and evil[0]["lane"] == "host"


class DomRows(HTMLParser):
    """Rows and lane headers of the DOM Chromium dumped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.heads: list[str] = []
        self.tags: dict[str, int] = {}
        self.body: dict[str, str | None] = {}
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "body":
            self.body = a
        if tag == "div" and "row" in cls:
            self.rows.append([a.get("data-lane") or "", a.get("data-kind") or "", ""])
        if "lane-head" in cls:
            self.heads.append(a.get("data-lane") or "")
        if tag not in VOID:
            self._stack.append("text" if "text" in cls else "")

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if "text" in self._stack:
            self.rows[-1][2] += data


def chromium() -> str:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    )
    if found is None:
        pytest.skip(
            "the HTML page test needs Debian's chromium (apt-get install chromium); "
            ".ci/run installs it"
        )
    return found


def test_page_in_headless_chromium(tmp_path: Path) -> None:
    browser = chromium()
    trace = tmp_path / "hostile.trace"
    trace.write_bytes(trace_bytes(HOSTILE))
    page = tmp_path / "page.html"
    res = subprocess.run(
        [*SERVE_CMD, "trace", "show", str(trace), "--html", str(page)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    profile = tmp_path / "chromium-profile"
    dom = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, HOME=str(tmp_path)),
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = DomRows()
    parser.feed(dom.stdout)
    expected = rows()
    # the script ran: it drew one element per row, and said so
    assert parser.body.get("data-rendered") == str(len(expected))
    assert parser.heads == ["host", "module", "L0", "event"]
    assert parser.rows == [[r.lane, r.kind, r.text] for r in expected]
    # the hostile bytes are text on the page, never elements
    assert "b" not in parser.tags
    assert parser.tags.get("script") == 2
    texts = [r[2] for r in parser.rows]
    assert "</script><b>bold</b><!--" in texts
    assert "rule" in [r[1] for r in parser.rows]
