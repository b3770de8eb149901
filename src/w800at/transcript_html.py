"""The HTML view of a transcript (``w800at trace show --html``): one self-contained page.

Lanes (host, module, each link's peer, events) are columns on a time axis; each row sits
in its lane, with its time and delta on the left; payload rows expand to show their
first bytes and whole SHA-256; link events and fired faults/rules are marked.  Inline
CSS and JavaScript only: the page needs no network and loads nothing.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence

from .transcript import LANE_EVENT, LANE_HOST, LANE_MODULE, LANE_TRACE, PREVIEW_BYTES, Row


def lane_order(rows: Iterable[Row]) -> list[str]:
    """host, module, the links by id, event, trace (those that occur; host and module
    always)."""
    seen = {r.lane for r in rows}
    links = sorted(
        (lane for lane in seen if re.fullmatch(r"L\d+", lane)), key=lambda lane: int(lane[1:])
    )
    rest = sorted(seen - set(links) - {LANE_HOST, LANE_MODULE, LANE_EVENT, LANE_TRACE})
    tail = [lane for lane in (LANE_EVENT, LANE_TRACE) if lane in seen]
    return [LANE_HOST, LANE_MODULE, *links, *rest, *tail]


def _script_json(obj: object) -> str:
    """JSON that is safe inside ``<script>``: no ``<``, ``>``, ``&`` or non-ASCII."""
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(rows: Sequence[Row], *, title: str, started: str = "") -> str:
    """One self-contained page: lanes on a time axis, payloads expandable.

    The rows travel as JSON in a ``<script type="application/json">`` element (escaped
    so that no trace content can end it) and an inline script draws them with
    ``textContent`` only: no markup from the trace ever reaches the page as markup.
    """
    data = {
        "title": title,
        "started": started,
        "lanes": lane_order(rows),
        "rows": [
            {
                "t": round(r.t, 6),
                "time": f"{r.t:.6f}",
                "delta": f"{r.delta:+.6f}",
                "lane": r.lane,
                "kind": r.kind,
                "text": r.text,
                "mark": r.mark,
                "payload": None
                if r.payload is None
                else {
                    "length": r.payload.length,
                    "sha256": r.payload.sha256,
                    "preview": r.payload.preview,
                    "more": r.payload.length > PREVIEW_BYTES,
                },
            }
            for r in rows
        ],
    }
    return "".join((_PAGE_HEAD, html.escape(title), _PAGE_BODY, _script_json(data), _PAGE_TAIL))


_PAGE_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>w800at transcript: """

_PAGE_BODY = """</title>
<style>
:root { --lanes: 2; }
body { font: 13px/1.35 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
       margin: 0; color: #1d1d1f; background: #fafafa; }
header { padding: 8px 12px; background: #fff; border-bottom: 1px solid #ddd; }
h1 { font-size: 15px; margin: 0 0 4px 0; }
#filters label { margin-right: 12px; }
.grid { display: grid;
        grid-template-columns: 7.5em 7.5em repeat(var(--lanes), minmax(14em, 1fr)); }
#lanes { position: sticky; top: 0; z-index: 2; background: #eee;
         border-bottom: 1px solid #ccc; font-weight: bold; }
#lanes div { padding: 4px 6px; }
.row { border-bottom: 1px solid #f0f0f0; }
.row > span { padding: 1px 6px; }
.row .t, .row .d, #lanes .t, #lanes .d { text-align: right; color: #666; }
.row .cell { overflow-wrap: anywhere; white-space: pre-wrap; border-left: 3px solid #ccc; }
.row.gap { border-top: 2px dashed #bbb; }
.kind { display: inline-block; min-width: 5.5em; color: #555; font-size: 11px; }
.lane-host .cell { background: #eef4ff; border-left-color: #3b6fd8; }
.lane-module .cell { background: #eefaf0; border-left-color: #2f9a46; }
.lane-peer .cell { background: #fff5e8; border-left-color: #d98a1c; }
.lane-event .cell, .lane-trace .cell { background: #f3f3f3; border-left-color: #999; }
.mark-link .cell { font-weight: bold; border-left-width: 6px; }
.mark-fault .cell, .mark-rule .cell, .mark-bad .cell { background: #ffe9e9;
    border-left: 6px solid #d22; font-weight: bold; }
.badge { color: #fff; background: #d22; border-radius: 3px; padding: 0 4px; margin-right: 4px; }
.mark-link .badge { background: #d98a1c; }
details summary { cursor: pointer; }
details pre { margin: 2px 0 4px 0; white-space: pre-wrap; overflow-wrap: anywhere; color: #333; }
.hidden { display: none; }
</style>
</head>
<body>
<header>
<h1>w800at transcript</h1>
<div id="summary"></div>
<div id="filters"></div>
</header>
<main id="transcript">
<div id="lanes" class="grid"></div>
<div id="rows"></div>
</main>
<noscript>This page draws the transcript with JavaScript;
<code>w800at trace show FILE</code> prints it as text.</noscript>
<script type="application/json" id="transcript-data">"""

_PAGE_TAIL = """</script>
<script>
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("transcript-data").textContent);
  var lanes = data.lanes;
  var column = {};
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function laneClass(lane) {
    return /^L[0-9]+$/.test(lane) ? "lane-peer" : "lane-" + lane;
  }
  document.getElementById("transcript").style.setProperty("--lanes", String(lanes.length));
  var head = document.getElementById("lanes");
  head.appendChild(el("div", "t", "time (s)"));
  head.appendChild(el("div", "d", "delta"));
  lanes.forEach(function (lane, i) {
    column[lane] = i + 3;
    var h = el("div", "lane-head " + laneClass(lane),
               /^L[0-9]+$/.test(lane) ? "peer " + lane : lane);
    h.setAttribute("data-lane", lane);
    h.style.gridColumn = String(i + 3);
    head.appendChild(h);
  });
  var rows = document.getElementById("rows");
  var frag = document.createDocumentFragment();
  data.rows.forEach(function (r, n) {
    var row = el("div", "row grid " + laneClass(r.lane));
    if (r.mark) { row.className += " mark-" + r.mark; }
    if (n > 0 && Math.abs(r.t - data.rows[n - 1].t) >= 1.0) { row.className += " gap"; }
    row.setAttribute("data-lane", r.lane);
    row.setAttribute("data-kind", r.kind);
    row.setAttribute("data-index", String(n));
    row.appendChild(el("span", "t", r.time));
    row.appendChild(el("span", "d", r.delta));
    var cell = el("span", "cell");
    cell.style.gridColumn = String(column[r.lane]);
    cell.appendChild(el("span", "kind", r.kind));
    if (r.mark) { cell.appendChild(el("span", "badge", r.mark === "link" ? "link" : "!!")); }
    if (r.payload) {
      var det = el("details");
      det.appendChild(el("summary", "text", r.text));
      det.appendChild(el("pre", "preview", r.payload.preview +
        (r.payload.more ? "..." : "") + "\\nsha256 " + r.payload.sha256));
      cell.appendChild(det);
    } else {
      cell.appendChild(el("span", "text", r.text));
    }
    row.appendChild(cell);
    frag.appendChild(row);
  });
  rows.appendChild(frag);
  var last = data.rows.length ? data.rows[data.rows.length - 1].time : "0";
  document.getElementById("summary").textContent = data.title + ": " + data.rows.length +
    " rows, " + last + " s" + (data.started ? ", started " + data.started : "");
  var filters = document.getElementById("filters");
  lanes.forEach(function (lane) {
    var label = el("label");
    var box = el("input");
    box.type = "checkbox";
    box.checked = true;
    box.setAttribute("data-lane", lane);
    box.addEventListener("change", function () {
      var all = rows.children;
      for (var i = 0; i < all.length; i++) {
        if (all[i].getAttribute("data-lane") === lane) {
          all[i].classList.toggle("hidden", !box.checked);
        }
      }
    });
    label.appendChild(box);
    label.appendChild(document.createTextNode(" " + lane));
    filters.appendChild(label);
  });
  document.body.setAttribute("data-rendered", String(data.rows.length));
})();
</script>
</body>
</html>
"""
