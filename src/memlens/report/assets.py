"""The page's stylesheet and script, inline in every report (no network, no build step).

The script reads the table's data from ``<script type="application/json" id="memlens-data">``
and renders the all-examples table: 100 rows a page, click a header to sort, a filter box and a
"planted only" toggle. It writes data only with ``textContent``, never as HTML, and sets
``data-ready`` on ``<body>`` (milliseconds since navigation start) once the first page is drawn.
"""

CSS = """
:root {
  --ink: #1a202c; --muted: #4a5568; --faint: #718096; --line: #e2e8f0; --page: #f4f6f9;
  --card: #ffffff; --accent: #2b6cb0; --planted: #dd6b20; --warn: #c53030; --ok: #2f855a;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--page); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
}
main { max-width: 1180px; margin: 0 auto; padding: 24px 24px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 20px; margin: 40px 0 6px; }
h3 { font-size: 15px; margin: 0 0 8px; }
p { margin: 6px 0; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 0.92em; }
.sub { color: var(--muted); margin: 0 0 14px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px; box-shadow: 0 1px 2px rgba(0,0,0,.04); }
header.top { display: flex; justify-content: space-between; align-items: baseline; gap: 16px; flex-wrap: wrap; margin-bottom: 14px; }
header.top .brand { font-weight: 700; color: var(--accent); letter-spacing: .02em; }
header.top .meta { color: var(--faint); font-size: 13px; }
nav.toc { display: flex; gap: 18px; flex-wrap: wrap; margin: 18px 2px 0; font-size: 14px; }
nav.toc a { color: var(--accent); text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }

.verdict { border-top: 5px solid var(--accent); padding: 22px 24px; }
.verdict.leaks { border-top-color: var(--warn); }
.verdict.quiet { border-top-color: var(--ok); }
.verdict .headline { font-size: 19px; font-weight: 600; margin: 2px 0 16px; max-width: 60em; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 12px; margin: 0 0 16px; }
.tile { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; background: #fbfcfd; }
.tile .label { font-size: 12.5px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.tile .value { font-size: 28px; font-weight: 700; line-height: 1.2; margin: 2px 0; font-variant-numeric: tabular-nums; }
.tile .note { font-size: 13px; color: var(--muted); }
.tile.warn .value { color: var(--warn); }
.tile.ok .value { color: var(--ok); }
ul.findings { margin: 0 0 6px; padding-left: 20px; }
ul.findings li { margin: 5px 0; }
.twocol { display: grid; grid-template-columns: 1.2fr 1fr; gap: 20px; margin-top: 14px; }
@media (max-width: 860px) { .twocol { grid-template-columns: 1fr; } }

table.small { border-collapse: collapse; width: 100%; font-size: 13.5px; font-variant-numeric: tabular-nums; }
table.small th, table.small td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: right; }
table.small th:first-child, table.small td:first-child { text-align: left; }
table.small th { color: var(--muted); font-weight: 600; }
table.small tr.best td { font-weight: 600; }
table.small td .ci { color: var(--faint); font-weight: 400; font-size: 11.5px; white-space: nowrap; }
table.small td:first-child { white-space: nowrap; }
dl.config { display: grid; grid-template-columns: max-content 1fr; gap: 3px 14px; margin: 0; font-size: 13.5px; }
dl.config dt { color: var(--muted); }
dl.config dd { margin: 0; overflow-wrap: anywhere; }
.warnings { color: var(--warn); font-size: 13px; }

.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 16px; }
figure { margin: 0; }
figure img { width: 100%; height: auto; display: block; }
figcaption { font-size: 13.5px; color: var(--muted); margin-top: 8px; }
figcaption b { color: var(--ink); }
.howto { display: block; margin-top: 4px; }

.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 12px; }
.example { border: 1px solid var(--line); border-radius: 8px; padding: 10px; background: var(--card); font-size: 12.5px; }
.example.is-planted { border-color: var(--planted); box-shadow: inset 0 0 0 1px var(--planted); }
.example img { width: 112px; height: 112px; image-rendering: pixelated; display: block; margin: 0 auto 8px; border-radius: 4px; border: 1px solid var(--line); }
.example .excerpt { font-size: 12px; color: var(--muted); margin-bottom: 6px; overflow-wrap: anywhere; }
.example .score { font-weight: 700; font-size: 14px; font-variant-numeric: tabular-nums; }
.example .row { display: flex; justify-content: space-between; gap: 6px; }
.example .row span:first-child { color: var(--faint); }
.example .row span:last-child { text-align: right; overflow-wrap: anywhere; }
.example .mismatch { color: var(--warn); font-weight: 600; }
.badge { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 11px; font-weight: 600; background: #fdebd8; color: #9c4221; }
.notice { background: #fffbea; border: 1px solid #f6e05e; border-radius: 8px; padding: 10px 14px; color: #744210; }

.controls { display: flex; gap: 14px; align-items: center; flex-wrap: wrap; margin-bottom: 10px; }
.controls input[type=search] { flex: 1 1 320px; padding: 7px 10px; border: 1px solid #cbd5e0; border-radius: 6px; font: inherit; }
.controls label { font-size: 14px; color: var(--muted); user-select: none; }
.pager { display: flex; gap: 6px; align-items: center; font-size: 13.5px; color: var(--muted); }
.pager button { font: inherit; padding: 3px 10px; border: 1px solid #cbd5e0; background: #fff; border-radius: 5px; cursor: pointer; }
.pager button:disabled { opacity: .4; cursor: default; }
.tablewrap { overflow: auto; max-height: 660px; border: 1px solid var(--line); border-radius: 8px; background: var(--card); }
table.scores { border-collapse: collapse; width: 100%; font-size: 12.5px; font-variant-numeric: tabular-nums; }
table.scores th { position: sticky; top: 0; z-index: 1; background: #edf2f7; text-align: right; padding: 6px 7px; white-space: nowrap; cursor: pointer; user-select: none; border-bottom: 1px solid #cbd5e0; }
table.scores th:hover { background: #e2e8f0; }
table.scores th.sorted-desc::after { content: " \\25BC"; font-size: 9px; }
table.scores th.sorted-asc::after { content: " \\25B2"; font-size: 9px; }
table.scores td { padding: 3px 7px; border-bottom: 1px solid #edf2f7; text-align: right; white-space: nowrap; }
table.scores td.str, table.scores th.str, table.scores td.label, table.scores th.label { text-align: left; }
table.scores tr.planted td { background: #fff8f1; }
/* the language-model table: score headers stand upright and the text column (last) wraps, so all of it fits 1280 px */
table.scores.lm th:not(.str) { writing-mode: vertical-rl; transform: rotate(180deg); text-align: left; vertical-align: bottom; padding: 7px 4px; }
table.scores.lm th.str { vertical-align: bottom; }
table.scores.lm td { padding: 3px 5px; }
table.scores.lm td.str:last-child { white-space: normal; min-width: 16em; max-width: 32em; overflow-wrap: anywhere; }
table.scores td.strong { color: var(--warn); font-weight: 600; }
.hint { font-size: 13px; color: var(--faint); }
footer { margin-top: 48px; color: var(--faint); font-size: 12.5px; }
"""

JS = r"""
"use strict";
(function () {
  var source = document.getElementById("memlens-data");
  if (!source) {  // a page without the interactive table is drawn as soon as it loads
    document.body.setAttribute("data-ready", String(Math.round(performance.now())));
    return;
  }
  var data = JSON.parse(source.textContent);
  var cols = data.columns, n = data.n, classes = data.classes;
  var PAGE = 100, STRONG = 0.5;
  var byName = {};
  cols.forEach(function (c, i) { c.index = i; byName[c.name] = c; });

  function fmtFloat(v) {
    if (v === null) { return "\u2013"; }
    var a = Math.abs(v);
    if (a !== 0 && (a < 0.001 || a >= 100000)) { return v.toExponential(2); }
    return a >= 1000 ? v.toFixed(0) : v.toFixed(3);
  }
  function className(v) {
    if (v === null || v < 0) { return "\u2013"; }
    var name = classes && classes[v] !== undefined ? classes[v] : null;
    return name === null || name === String(v) ? String(v) : v + " \u00b7 " + name;
  }
  function show(c, v) {
    if (c.kind === "float") { return fmtFloat(v); }
    if (c.kind === "label") { return className(v); }
    if (c.kind === "bool") { return v ? "yes" : ""; }
    if (c.kind === "int") { return v === null ? "\u2013" : String(v); }
    return v === null ? "" : String(v);
  }

  // --- filtering --------------------------------------------------------------------------
  var searchText = null;  // lower-case text of each row's id, labels and strings, built on first use
  function buildSearchText() {
    var textual = cols.filter(function (c) { return c.kind === "label" || c.kind === "str" || c.name === "id"; });
    searchText = new Array(n);
    for (var i = 0; i < n; i++) {
      var parts = [];
      for (var j = 0; j < textual.length; j++) { parts.push(show(textual[j], textual[j].values[i])); }
      searchText[i] = parts.join(" \u0001 ").toLowerCase();
    }
  }
  var OPS = {
    ">=": function (a, b) { return a >= b; }, "<=": function (a, b) { return a <= b; },
    "!=": function (a, b) { return a !== b; }, "=": function (a, b) { return a === b; },
    ">": function (a, b) { return a > b; }, "<": function (a, b) { return a < b; }
  };
  function parseQuery(q) {
    var tests = [];
    q.trim().split(/\s+/).forEach(function (tok) {
      if (!tok) { return; }
      var m = /^([A-Za-z_][\w.-]*)(>=|<=|!=|=|>|<)(.+)$/.exec(tok);
      var c = m ? byName[m[1]] : null;
      if (c) {
        var op = OPS[m[2]], want = m[3];
        if (c.kind === "str" || (c.kind === "label" && isNaN(Number(want)))) {
          var w = want.toLowerCase();
          tests.push(function (i) {
            var s = show(c, c.values[i]).toLowerCase();
            var hit = c.kind === "str" ? s === w : s.indexOf(w) >= 0;
            return m[2] === "!=" ? !hit : hit;
          });
        } else if (!isNaN(Number(want))) {
          var x = Number(want);
          tests.push(function (i) { var v = c.values[i]; return v !== null && op(v, x); });
        }
        return;
      }
      var t = tok.toLowerCase();
      tests.push(function (i) {
        if (searchText === null) { buildSearchText(); }
        return searchText[i].indexOf(t) >= 0;
      });
    });
    return tests;
  }

  // --- state --------------------------------------------------------------------------------
  var order = new Uint32Array(n);
  for (var i = 0; i < n; i++) { order[i] = i; }
  var sortCol = byName[data.sort] || byName.memorization || cols[0], sortDesc = true;
  var rows = order, page = 0;
  var plantedCol = byName[data.planted || "planted"];

  function sortOrder() {
    var v = sortCol.values, desc = sortDesc ? -1 : 1, numeric = sortCol.kind !== "str";
    var idx = Array.prototype.slice.call(order);
    idx.sort(function (a, b) {
      var x = v[a], y = v[b];
      if (x === y) { return a - b; }
      if (x === null) { return 1; }
      if (y === null) { return -1; }
      if (numeric) { return (x < y ? -1 : 1) * desc; }
      return String(x).localeCompare(String(y)) * desc;
    });
    order = Uint32Array.from(idx);
  }
  function applyFilter() {
    var q = document.getElementById("filter").value;
    var onlyPlanted = plantedCol && document.getElementById("only-planted").checked;
    var tests = parseQuery(q);
    if (!tests.length && !onlyPlanted) { rows = order; return; }
    var keep = [];
    for (var k = 0; k < order.length; k++) {
      var i = order[k], ok = !onlyPlanted || plantedCol.values[i] === 1;
      for (var t = 0; ok && t < tests.length; t++) { ok = tests[t](i); }
      if (ok) { keep.push(i); }
    }
    rows = keep;
  }

  // --- drawing ------------------------------------------------------------------------------
  var table = document.getElementById("scores-table");
  var thead = table.createTHead(), tbody = table.createTBody();
  var headRow = thead.insertRow();
  cols.forEach(function (c) {
    var th = document.createElement("th");
    th.textContent = c.name;
    th.title = c.help + " (click to sort)";
    th.className = c.kind;
    th.dataset.col = c.name;
    th.tabIndex = 0;
    function sortBy() {
      if (sortCol === c) { sortDesc = !sortDesc; } else { sortCol = c; sortDesc = c.kind !== "str"; }
      sortOrder(); applyFilter(); page = 0; draw();
    }
    th.addEventListener("click", sortBy);
    th.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(); }
    });
    headRow.appendChild(th);
  });
  var memCol = byName.memorization;

  function draw() {
    var pages = Math.max(1, Math.ceil(rows.length / PAGE));
    page = Math.min(Math.max(page, 0), pages - 1);
    var start = page * PAGE, stop = Math.min(rows.length, start + PAGE);
    var body = document.createElement("tbody");
    for (var k = start; k < stop; k++) {
      var i = rows[k], tr = document.createElement("tr");
      if (plantedCol && plantedCol.values[i] === 1) { tr.className = "planted"; }
      for (var j = 0; j < cols.length; j++) {
        var c = cols[j], td = document.createElement("td");
        td.textContent = show(c, c.values[i]);
        td.className = c.kind;
        if (c === memCol && c.values[i] !== null && c.values[i] >= STRONG) { td.className += " strong"; }
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    table.replaceChild(body, tbody);
    tbody = body;
    Array.prototype.forEach.call(headRow.children, function (th) {
      var on = th.dataset.col === sortCol.name;
      th.classList.toggle("sorted-desc", on && sortDesc);
      th.classList.toggle("sorted-asc", on && !sortDesc);
      th.setAttribute("aria-sort", on ? (sortDesc ? "descending" : "ascending") : "none");
    });
    var fmt = function (x) { return x.toLocaleString("en-US"); };
    document.getElementById("page-info").textContent = rows.length
      ? "rows " + fmt(start + 1) + "\u2013" + fmt(stop) + " of " + fmt(rows.length) +
        (rows.length < n ? " (filtered from " + fmt(n) + ")" : "") + " \u00b7 page " + (page + 1) + " of " + fmt(pages)
      : "no rows match (of " + fmt(n) + ")";
    document.getElementById("first").disabled = document.getElementById("prev").disabled = page === 0;
    document.getElementById("next").disabled = document.getElementById("last").disabled = page >= pages - 1;
  }

  var timer = null;
  document.getElementById("filter").addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { applyFilter(); page = 0; draw(); }, 120);
  });
  var toggle = document.getElementById("only-planted");
  if (plantedCol) {
    toggle.addEventListener("change", function () { applyFilter(); page = 0; draw(); });
  } else {
    toggle.parentNode.hidden = true;
  }
  document.getElementById("first").addEventListener("click", function () { page = 0; draw(); });
  document.getElementById("prev").addEventListener("click", function () { page -= 1; draw(); });
  document.getElementById("next").addEventListener("click", function () { page += 1; draw(); });
  document.getElementById("last").addEventListener("click", function () { page = 1e9; draw(); });

  sortOrder();
  applyFilter();
  draw();
  document.body.setAttribute("data-ready", String(Math.round(performance.now())));
})();
"""
