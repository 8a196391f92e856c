# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""Audit reports as one self-contained HTML page: inline SVG charts above sortable tables.

``render_audit_html(report)`` takes the JSON document ``nodewatch.k8s.audit`` writes for one
cluster; ``render_fleet_html(fleet)`` the fleet summary (``format: nodewatch.k8s/fleet-report``,
built by ``fleet.build_fleet_report``). Both return the page as a ``str``; a document that is not
what they expect raises ``document.ReportInputError`` naming the key.

What the page promises, and why:

* Nothing is loaded from anywhere: CSS and the few lines of sorting script are inline, charts
  are SVG in the page. A Content-Security-Policy allows exactly that style and that script (by
  hash) and nothing else, so even a missed escape could not run injected script.
* Everything that comes from the cluster (node names, zones, roles, image names, notes, errors)
  is escaped. Nothing from the report goes into script or CSS, only into text and quoted
  attributes.
* Charts show the top ``CHART_ROWS`` entries; tables hold every row as bare ``<tr><td>`` (a sort
  key attribute only where the text is not the key), so 5,000 nodes stay quick to open and sort.
* Totals of a truncated image list are lower bounds: they are shown as "≥ …", never as exact.

Pure and standard-library only (no Ansible import), like the rest of the engine.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import math
from html import escape
from urllib.parse import quote

from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.rules import THRESHOLD_KEYS, THRESHOLDS
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.quantity import human_bytes
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.document import (
    AUDIT_FORMAT,
    DEFAULT_RULE_SET,
    FLEET_FORMAT,
    FORMAT_VERSION,
    FLEET_STATUSES,
    UNREADABLE_STATUSES,
    AuditDocument,
    FleetDocument,
    group_totals,
    node_byte_limit,
    storage_percent,
    text as _text,
)

__all__ = ["CHART_ROWS", "render_audit_html", "render_fleet_html"]

CHART_ROWS = 30
NO_ZONE = "(no zone)"
NO_ROLE = "(no role)"
LOWER_BOUND = "\u2265 "          # "≥ ": the kubelet's image list is truncated
MISSING = "\u2014"               # "—"


def _zone_of(node):
    return node["zone"] or NO_ZONE


def _role_of(node):
    # The combination, not each role: a control-plane node that is also a worker counts once,
    # so the groups add up to the cluster's total.
    return ", ".join(node["roles"]) or NO_ROLE


# ----------------------------------------------------------------------------------------------
# Formatting
# ----------------------------------------------------------------------------------------------

def _e(value):
    return escape(_text(value), quote=True)


def _bytes(value, lower_bound=False):
    if value is None:
        return MISSING
    return (LOWER_BOUND if lower_bound else "") + human_bytes(int(round(value)))


def _percent(value):
    return MISSING if value is None else "%.1f %%" % value


def _count(value, lower_bound=False):
    if value is None:
        return MISSING
    return (LOWER_BOUND if lower_bound else "") + "{:,}".format(int(value))


def _yes_no(value):
    if value is None:
        return MISSING
    return "yes" if value else "no"


def _plural(count, word, plural=None):
    return "%s %s" % ("{:,}".format(count), word if count == 1 else (plural or word + "s"))


def _short(label, width=36):
    """Long names cut in the middle: registries and prefixes at the start, tags and numbers at the end matter."""
    if len(label) <= width:
        return label
    tail = (width - 1) * 2 // 3
    return label[:width - 1 - tail] + "\u2026" + label[-tail:]


def _image_label(item):
    tags = item.get("tags") or ()
    if tags:
        return _text(tags[0])
    name, digest = _text(item.get("name")), _text(item.get("digest"))
    if digest:
        return "%s@%s" % (name, digest[:19])
    return name or _text(item.get("key"))


# ----------------------------------------------------------------------------------------------
# SVG bar charts
# ----------------------------------------------------------------------------------------------

_WIDTH = 960
_LABEL_WIDTH = 260
_VALUE_WIDTH = 190
_PLOT_X = _LABEL_WIDTH + 10
_PLOT_WIDTH = _WIDTH - _PLOT_X - _VALUE_WIDTH
_ROW = 22
_BAR = 14
_TOP = 26
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_CHAR_WIDTH = 6.8   # of 12 px text, generously: the SVG cannot measure its text before it is shown


def _byte_ticks(maximum):
    """Round tick positions (in bytes) covering ``maximum``: 0, 10 GiB, 20 GiB, ..."""
    if maximum <= 0:
        maximum = 1
    power = 0
    while power < len(_UNITS) - 1 and maximum >= 1024 ** (power + 1):
        power += 1
    unit = 1024 ** power
    raw = maximum / unit / 5.0
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if power == 0:
        step = max(step, 1)  # no fractions of a byte
    count = int(math.ceil(maximum / unit / step - 1e-9))
    ticks = []
    for index in range(count + 1):
        value = index * step
        text = ("%g" % value) + " " + _UNITS[power] if index else "0"
        ticks.append((value * unit, text))
    return ticks


def _percent_ticks(peak):
    # 0-100 %, further only for a value beyond it (a kubelet reporting more use than capacity).
    top = max(100, int(math.ceil(peak / 20.0)) * 20)
    return [(value, "%d %%" % value if value else "0") for value in range(0, top + 1, 20)]


def _x(value, axis_max):
    return _PLOT_X + (value / axis_max) * _PLOT_WIDTH if axis_max else _PLOT_X


def _bar_chart(rows, scale, label, line=None):
    """One horizontal bar chart as SVG.

    ``rows``: ``{"label", "value", "text", "css", "tip", "limit"}`` (``value`` None: no bar, the
    text is shown in its place; ``limit``: a tick across that bar). ``scale``: "bytes" or
    "percent". ``line``: ``(value, text)`` of one limit drawn across every bar.
    """
    peak = max([r["value"] or 0 for r in rows] + [r.get("limit") or 0 for r in rows] + [line[0] if line else 0])
    ticks = _percent_ticks(peak) if scale == "percent" else _byte_ticks(peak)
    axis_max = ticks[-1][0]
    height = _TOP + len(rows) * _ROW + 8
    out = ['<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" '
           'role="img" aria-label="%s">' % (_WIDTH, height, _WIDTH, height, _e(label))]
    bottom = _TOP + len(rows) * _ROW
    for value, text in ticks:
        x = _x(value, axis_max)
        out.append('<line class="grid" x1="%.1f" y1="%d" x2="%.1f" y2="%d"/><text class="tick" x="%.1f" y="%d">%s</text>'
                   % (x, _TOP - 6, x, bottom, x, _TOP - 10, _e(text)))
    for index, row in enumerate(rows):
        y = _TOP + index * _ROW
        bar_y = y + (_ROW - _BAR) / 2.0
        out.append('<g class="row%s"><title>%s</title>' % (" " + row["css"] if row.get("css") else "", _e(row["tip"])))
        out.append('<text class="label" x="%d" y="%.1f">%s</text>' % (_LABEL_WIDTH, y + 15, _e(_short(row["label"]))))
        end = _PLOT_X
        if row["value"] is not None:
            width = max(_x(row["value"], axis_max) - _PLOT_X, 1.0 if row["value"] > 0 else 0.0)
            end = _PLOT_X + width
            out.append('<rect class="bar" x="%d" y="%.1f" width="%.1f" height="%d"/>' % (_PLOT_X, bar_y, width, _BAR))
        if row.get("limit") is not None:
            x = _x(row["limit"], axis_max)
            out.append('<line class="limit-tick" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>'
                       % (x, bar_y - 3, x, bar_y + _BAR + 3))
            end = max(end, x)
        if end + 6 + len(row["text"]) * _CHAR_WIDTH > _WIDTH and end - _PLOT_X > len(row["text"]) * _CHAR_WIDTH + 12:
            # No room after the bar: the value goes inside its end.
            out.append('<text class="value inside" x="%.1f" y="%.1f">%s</text></g>' % (end - 6, y + 15, _e(row["text"])))
        else:
            out.append('<text class="value" x="%.1f" y="%.1f">%s</text></g>' % (end + 6, y + 15, _e(row["text"])))
    if line is not None:
        x = _x(line[0], axis_max)
        out.append('<g class="limit"><title>%s</title><line class="limit-line" x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>'
                   '</g>' % (_e(line[1]), x, _TOP - 4, x, bottom + 4))
    out.append("</svg>")
    return "".join(out)


def _figure(figure_id, title, svg, legend=None, note=None, total=None, shown=None):
    parts = ['<figure class="chart-box" id="%s"><figcaption><h3>%s</h3>' % (figure_id, _e(title))]
    if total is not None and shown is not None and total > shown:
        parts.append('<p class="sub">The top %d of %s.</p>' % (shown, "{:,}".format(total)))
    parts.append("</figcaption>")
    parts.append(svg)
    if legend:
        parts.append('<p class="legend">%s</p>' % " ".join(
            '<span class="swatch %s"></span>%s' % (css, _e(text)) for css, text in legend))
    if note:
        parts.append('<p class="note">%s</p>' % _e(note))
    parts.append("</figure>")
    return "".join(parts)


def _empty_figure(figure_id, title, text):
    return '<figure class="chart-box" id="%s"><figcaption><h3>%s</h3></figcaption><p class="empty">%s</p></figure>' % (
        figure_id, _e(title), _e(text))


# ----------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------

def _td(text, key=None, css=None):
    attrs = ""
    if key is not None:
        attrs += ' data-v="%s"' % _e(key)
    if css:
        attrs += ' class="%s"' % css
    return "<td%s>%s</td>" % (attrs, _e(text))


def _table(table_id, caption, columns, rows, sorted_by=None, empty="Nothing to show."):
    """``columns``: ``[(title, "text" | "num")]``; ``rows``: ``[(css or None, [cell html])]``."""
    head = []
    for index, (title, kind) in enumerate(columns):
        attrs = ' data-type="num"' if kind == "num" else ""
        if sorted_by is not None and sorted_by[0] == index:
            attrs += ' aria-sort="%s"' % sorted_by[1]
        head.append('<th scope="col"%s>%s</th>' % (attrs, _e(title)))
    body = []
    for css, cells in rows:
        body.append('<tr class="%s">' % css if css else "<tr>")
        body.extend(cells)
        body.append("</tr>")
    if not rows:
        body.append('<tr class="empty"><td colspan="%d">%s</td></tr>' % (len(columns), _e(empty)))
    return ('<div class="table-wrap"><table class="sortable" id="%s"><caption>%s</caption><thead><tr>%s</tr></thead>'
            '<tbody>%s</tbody></table></div>' % (table_id, _e(caption), "".join(head), "\n".join(body)))


def _breach_table(breaches, with_cluster=False):
    columns = ([("Cluster", "text")] if with_cluster else []) + [
        ("Node", "text"), ("Rule", "text"), ("Rule set", "text"), ("Observed", "num"), ("Limit", "num"), ("What", "text")]
    rows = []
    for breach in breaches:
        observed = breach["observed_human"] or _text(breach["observed"])
        if breach["lower_bound"] and not observed.startswith(LOWER_BOUND):
            observed = LOWER_BOUND + observed
        cells = ([_td(breach["cluster"])] if with_cluster else []) + [
            _td(breach["node"]), _td(breach["rule"]), _td(breach["rule_set"]),
            _td(observed, breach["observed"]), _td(breach["limit_human"] or _text(breach["limit"]), breach["limit"]),
            _td(breach["message"], css="wrap")]
        rows.append(("breach", cells))
    return _table("breaches-table", "Every limit crossed (click a column to sort)", columns, rows)


# ----------------------------------------------------------------------------------------------
# The page
# ----------------------------------------------------------------------------------------------

_CSS = """
:root{--ink:#1d2330;--muted:#5b6475;--line:#d9dde5;--ok:#3d6fb4;--breach:#c62828;--soft:#f4f6f9;--warn:#8a5a00}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--ink);background:#fff}
header,main,footer{max-width:1200px;margin:0 auto;padding:0 20px}
header{padding-top:18px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:19px;margin:28px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:0}
.meta,.sub,.note,.legend,footer{color:var(--muted)}
.sub,.note,.legend{margin:4px 0;font-size:13px}
.status{display:inline-block;margin:8px 0;padding:6px 12px;border-radius:4px;font-weight:600}
.status.ok{background:#e6f1e8;color:#1e5e2b}
.status.breach{background:#fde8e8;color:#8e1b1b}
nav a{margin-right:14px;color:var(--ok)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:10px;margin:14px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 12px;background:var(--soft)}
.card dt{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.card dd{margin:2px 0 0;font-size:20px;font-weight:600}
.card dd small{display:block;font-size:12px;font-weight:400;color:var(--muted)}
.card.bad dd{color:var(--breach)}
.chart-box{margin:0 0 22px;padding:0}
.chart-box svg{max-width:100%;height:auto;display:block}
svg text{font-size:12px;fill:var(--ink)}
svg .tick{fill:var(--muted);text-anchor:middle;font-size:11px}
svg .label{text-anchor:end}
svg .grid{stroke:#e8ebf0}
svg .bar{fill:var(--ok)}
svg .breach .bar{fill:var(--breach)}
svg .breach .label,svg .breach .value{fill:var(--breach);font-weight:600}
svg .lower .bar{fill-opacity:.62}
svg .unread .value{fill:var(--warn);font-style:italic}
svg .value{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
svg .value.inside,svg .breach .value.inside{text-anchor:end;fill:#fff;stroke:none}
svg .limit-line{stroke:var(--ink);stroke-width:2;stroke-dasharray:6 3}
svg .limit-tick{stroke:var(--ink);stroke-width:2.5}
.swatch{display:inline-block;width:11px;height:11px;margin:0 4px 0 10px;vertical-align:-1px;border-radius:2px;background:var(--ok)}
.swatch.sw-breach{background:var(--breach)}
.swatch.sw-lower{background:var(--ok);opacity:.62}
.swatch.sw-limit{background:none;border-left:2px dashed var(--ink);border-radius:0;width:4px}
.swatch.sw-tick{background:var(--ink);width:3px;border-radius:0}
.empty{color:var(--muted);font-style:italic}
.table-wrap{overflow-x:auto;margin-bottom:22px}
table{border-collapse:collapse;width:100%;font-size:13px}
caption{text-align:left;color:var(--muted);padding:4px 0}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
td{white-space:nowrap}
td.wrap{white-space:normal}
th{background:var(--soft);cursor:pointer;user-select:none;white-space:nowrap;position:sticky;top:0}
th[data-type=num],td[data-v]{text-align:right}
th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}
tr.breach td{background:#fdf0f0}
tr.breach td:first-child{border-left:3px solid var(--breach)}
tr.unread td{background:#fff7e6}
td.err{color:var(--warn)}
ul.notes li{margin:3px 0}
footer{margin:30px auto 20px;font-size:12px}
@media print{th{position:static}nav{display:none}}
"""

_SCRIPT = """
(function () {
  "use strict";
  var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});
  function keyOf(cell, numeric) {
    var raw = cell.getAttribute("data-v");
    if (raw === null) { raw = cell.textContent; }
    if (!numeric) { return raw; }
    var number = parseFloat(raw);
    return isNaN(number) ? null : number;
  }
  function sortBy(table, index, header) {
    var numeric = header.getAttribute("data-type") === "num";
    var current = header.getAttribute("aria-sort");
    var descending = current ? current === "ascending" : numeric;
    var body = table.tBodies[0];
    var keyed = Array.prototype.map.call(body.rows, function (row, position) {
      return [keyOf(row.cells[index], numeric), position, row];
    });
    keyed.sort(function (a, b) {
      if (a[0] === null || b[0] === null) {
        return a[0] === b[0] ? a[1] - b[1] : (a[0] === null ? 1 : -1);
      }
      var order = numeric ? a[0] - b[0] : collator.compare(a[0], b[0]);
      return (descending ? -order : order) || a[1] - b[1];
    });
    var fragment = document.createDocumentFragment();
    keyed.forEach(function (entry) { fragment.appendChild(entry[2]); });
    body.appendChild(fragment);
    Array.prototype.forEach.call(header.parentNode.cells, function (cell) { cell.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    if (table.tBodies[0].rows.length < 2 || table.tBodies[0].rows[0].classList.contains("empty")) { return; }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, index) {
      header.tabIndex = 0;
      header.title = "Sort by this column";
      header.addEventListener("click", function () { sortBy(table, index, header); });
      header.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(table, index, header); }
      });
    });
  });
}());
"""


def _csp_hash(text):
    return "'sha256-%s'" % base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


# Only this stylesheet and this script may run: nothing from the network, nothing injected.
_CSP = "default-src 'none'; img-src data:; style-src %s; script-src %s; base-uri 'none'; form-action 'none'" % (
    _csp_hash(_CSS), _csp_hash(_SCRIPT))


def _page(title, header, sections, footer):
    return "".join([
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta http-equiv="Content-Security-Policy" content="%s">\n' % _e(_CSP),
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        '<meta name="generator" content="nodewatch.k8s">\n',
        "<title>%s</title>\n" % _e(title),
        "<style>%s</style>\n</head>\n<body>\n" % _CSS,
        "<header>%s</header>\n<main>\n" % header,
        "\n".join(sections),
        "\n</main>\n<footer>%s</footer>\n" % footer,
        "<script>%s</script>\n</body>\n</html>\n" % _SCRIPT,
    ])


def _nav(links):
    return "<nav>%s</nav>" % "".join('<a href="#%s">%s</a>' % (anchor, _e(text)) for anchor, text in links)


def _cards(cards):
    """``[(title, value, detail, bad)]`` as a row of summary cards."""
    out = ['<dl class="cards">']
    for title, value, detail, bad in cards:
        out.append('<div class="card%s"><dt>%s</dt><dd>%s%s</dd></div>' % (
            " bad" if bad else "", _e(title), _e(value), "<small>%s</small>" % _e(detail) if detail else ""))
    out.append("</dl>")
    return "".join(out)


def _section(section_id, title, *parts):
    return '<section id="%s"><h2>%s</h2>%s</section>' % (section_id, _e(title), "".join(parts))


def _notes_list(notes):
    return '<ul class="notes">%s</ul>' % "".join("<li>%s</li>" % _e(note) for note in notes)


def _footer(doc_format, generated_at):
    return "Written by the nodewatch.k8s collection (%s, version %d) from data generated %s. " \
           "Sizes are sums of the sizeBytes the kubelets report; \u2265 marks a lower bound." % (
               _e(doc_format), FORMAT_VERSION, _e(generated_at or "at an unknown time"))


# ----------------------------------------------------------------------------------------------
# One cluster
# ----------------------------------------------------------------------------------------------

def _limits_text(by_set):
    """The default limits in a few words, for the page header."""
    default = by_set[DEFAULT_RULE_SET]
    parts = []
    for threshold in THRESHOLDS:
        value = default.get(threshold.name)
        if value is None or value == [] or value is False or threshold.rule is None:
            continue
        if threshold.kind == "patterns":
            parts.append("%s: %s" % (threshold.name, _plural(len(value), "pattern")))
        elif threshold.kind == "bool":
            parts.append(threshold.name)
        else:
            parts.append("%s %s" % (threshold.name, _threshold_text(threshold.name, value)))
    words = "limits: " + (", ".join(parts) if parts else "none")
    if len(by_set) > 1:
        words += " (and %s)" % _plural(len(by_set) - 1, "rule set")
    return words


def _limit_legend(by_set, measured, rules):
    """What the limit marks of the node chart mean, in words: ``(legend text, note)``.

    ``rules``: the rules whose limits are drawn (the one that binds on each node shown).
    """
    default = by_set[DEFAULT_RULE_SET]
    parts = []
    if "max_total_bytes" in rules:
        parts.append("max_total_bytes" + (" %s" % _bytes(default["max_total_bytes"])
                                          if default.get("max_total_bytes") is not None else ""))
    if "max_percent" in rules:
        parts.append("max_percent%s of the node's ephemeral storage" % (
            " " + _percent(default["max_percent"]) if default.get("max_percent") is not None else ""))
    legend = "limit: " + (" or ".join(parts) if parts else "none")
    if len(parts) > 1:
        legend += ", whichever is lower on the node"
    notes = []
    if len(by_set) > 1:
        notes.append("Rule sets give some nodes other limits (see Policy); a node's mark shows the limit of its "
                     "rule set when the report names it.")
    if measured and default.get("max_percent") is not None:
        notes.append("Where the image filesystem was measured, max_percent is checked against its use, not "
                     "against these bytes, so those nodes have no percent mark here: see \u201cFullest nodes\u201d.")
    return legend, " ".join(notes)


def _bar_legend(rows, ok="within limits", breach="breaches a limit"):
    """The legend entries the rows need: no "breaches" swatch on a chart without a breach."""
    legend = [("", ok)]
    if any("breach" in row["css"].split() for row in rows):
        legend.append(("sw-breach", breach))
    if any("lower" in row["css"].split() for row in rows):
        legend.append(("sw-lower", "truncated list (lower bound)"))
    return legend


def _node_bar_rows(doc, nodes):
    rows = []
    for node in nodes:
        limit, rule = node_byte_limit(node, doc.thresholds_of(node))
        rules = doc.breaching.get(node["name"])
        css = " ".join(c for c in ("breach" if rules else "", "lower" if node["truncated"] else "") if c)
        value = _bytes(node["total_bytes"], node["truncated"])
        tip = "%s: %s of images in %s" % (node["name"], value, _count(node["image_count"], node["truncated"]))
        if node["percent_of_capacity"] is not None:
            tip += ", %s of ephemeral storage" % _percent(node["percent_of_capacity"])
        if limit is not None:
            tip += "; limit %s (%s, rule set %s)" % (_bytes(limit), rule, doc.rule_set_of(node))
        if node["truncated"]:
            tip += "; the kubelet's list is truncated, so this is a lower bound"
        if rules:
            tip += "; breaches: " + ", ".join(sorted(rules))
        rows.append({"label": node["name"], "value": node["total_bytes"], "text": value, "css": css, "tip": tip,
                     "limit": limit, "rule": rule})
    return rows


def _nodes_chart(doc, measured):
    title = "Largest nodes by image bytes"
    if not doc.nodes:
        return _empty_figure("chart-nodes", title, "No nodes in this report.")
    top = sorted(doc.nodes, key=lambda n: (-n["total_bytes"], n["name"]))[:CHART_ROWS]
    rows = _node_bar_rows(doc, top)
    limits = set(row["limit"] for row in rows)
    line = None
    if len(limits) == 1 and None not in limits:
        # One limit for every bar (max_total_bytes, one rule set): one line across the chart.
        line = (limits.pop(), "the limit of every node shown")
        for row in rows:
            row["limit"] = None
    rules = set(row["rule"] for row in rows if row["rule"])
    legend_text, note = _limit_legend(doc.thresholds_by_set, measured, rules)
    legend = _bar_legend(rows)
    if line is not None or any(row["limit"] is not None for row in rows):
        legend.append(("sw-limit" if line else "sw-tick", legend_text))
    elif not measured:
        note = (note + " " if note else "") + "No byte or percent limit applies to these nodes, so none is drawn."
    return _figure("chart-nodes", title, _bar_chart(rows, "bytes", title, line), legend, note,
                   total=len(doc.nodes), shown=len(top))


def _percent_chart(doc):
    title = "Fullest nodes (image storage, % of capacity)"
    known = [(storage_percent(node), node) for node in doc.nodes]
    known = [(pair, node) for pair, node in known if pair[0] is not None]
    if not known:
        return ""
    known.sort(key=lambda item: (-item[0][0], item[1]["name"]))
    top = known[:CHART_ROWS]
    rows = []
    for (percent, source), node in top:
        where = "image filesystem (measured)" if source == "imagefs" else "ephemeral storage (sum of image sizes)"
        rows.append({"label": node["name"], "value": percent, "text": _percent(percent) + (" fs" if source == "imagefs" else ""),
                     "css": "breach" if node["name"] in doc.breaching else "",
                     "tip": "%s: %s of its %s" % (node["name"], _percent(percent), where)})
    max_percent = doc.thresholds_by_set[DEFAULT_RULE_SET].get("max_percent")
    line = (max_percent, "max_percent %s" % _percent(max_percent)) if max_percent is not None else None
    legend = _bar_legend(rows)
    if line:
        legend.append(("sw-limit", "limit: max_percent %s" % _percent(max_percent)))
    note = "\u201cfs\u201d: the image filesystem as the kubelet measures it; otherwise image bytes over ephemeral storage."
    return _figure("chart-percent", title, _bar_chart(rows, "percent", title, line), legend, note,
                   total=len(known), shown=len(top))


def _group_chart(figure_id, title, groups, what):
    if not groups:
        return _empty_figure(figure_id, title, "No nodes in this report.")
    top = groups[:CHART_ROWS]
    rows = []
    for group in top:
        value = "%s \u00b7 %s" % (_bytes(group["total_bytes"], group["lower_bound"]), _plural(group["node_count"], "node"))
        if group["breaching_nodes"]:
            value += " \u00b7 %d breaching" % group["breaching_nodes"]
        rows.append({"label": group["name"], "value": group["total_bytes"], "text": value,
                     "css": "breach" if group["breaching_nodes"] else "", "tip": "%s %s: %s" % (what, group["name"], value)})
    return _figure(figure_id, title, _bar_chart(rows, "bytes", title), _bar_legend(rows, "image bytes", "has breaching nodes"),
                   total=len(groups), shown=len(top))


def _images_chart(figure_id, title, images, exact, scope):
    if not images:
        return _empty_figure(figure_id, title, "No images in this report.")
    rows = []
    for item in images:
        size, count = item.get("size_bytes") or 0, item.get("node_count") or 0
        value = "%s \u00d7 %s = %s" % (_bytes(size), _plural(count, "node"), _bytes(item["total_bytes"]))
        tip = "%s (%s): %s" % (_image_label(item), _text(item.get("digest")) or "no digest", value)
        if item.get("clusters"):
            tip += "; clusters: " + ", ".join(_text(c) for c in item["clusters"])
        rows.append({"label": _image_label(item), "value": item["total_bytes"], "text": value, "css": "", "tip": tip})
    note = None if exact else ("Among the largest and the most common images the report lists: it does not rank every "
                               "image %s." % scope)
    return _figure(figure_id, title, _bar_chart(rows, "bytes", title), [("", "size \u00d7 nodes holding the image")], note)


def _node_rows(doc, nodes, with_imagefs):
    rows = []
    for node in nodes:
        lower = node["truncated"]
        percent = node["percent_of_capacity"]
        cells = [
            _td(node["name"]), _td(", ".join(node["roles"])), _td(node["zone"]),
            _td(_yes_no(node["ready"])), _td(_yes_no(node["schedulable"])),
            _td(_count(node["image_count"], lower), node["image_count"]),
            _td(_bytes(node["total_bytes"], lower), node["total_bytes"]),
            _td(_percent(percent), "" if percent is None else percent),
        ]
        if with_imagefs:
            imagefs = node["imagefs"]
            if imagefs:
                measured = storage_percent(node)[0]
                cells.append(_td("%s / %s (%s)" % (_bytes(imagefs["used_bytes"]), _bytes(imagefs["capacity_bytes"]),
                                                   _percent(measured)), "" if measured is None else measured))
            elif node["imagefs_error"]:
                cells.append(_td("not read: " + node["imagefs_error"], "", "err wrap"))
            else:
                cells.append(_td(MISSING, ""))
        rules = doc.breaching.get(node["name"])
        cells.append(_td(", ".join(sorted(rules)) if rules else "", css="wrap"))
        rows.append(("breach" if rules else None, cells))
    return rows


def _nodes_table(doc, with_imagefs):
    columns = [("Node", "text"), ("Roles", "text"), ("Zone", "text"), ("Ready", "text"), ("Schedulable", "text"),
               ("Images", "num"), ("Image bytes", "num"), ("% of storage", "num")]
    if with_imagefs:
        columns.append(("Image filesystem", "num"))
    columns.append(("Breaches", "text"))
    ordered = sorted(doc.nodes, key=lambda n: (-n["total_bytes"], n["name"]))
    return _table("nodes-table", "All %s, largest first (click a column to sort)" % _plural(len(ordered), "node"), columns,
                  _node_rows(doc, ordered, with_imagefs), sorted_by=(6, "descending"),
                  empty="No nodes matched the selection.")


def _image_table(table_id, caption, images):
    columns = [("Image", "text"), ("Digest", "text"), ("Size", "num"), ("Nodes", "num"), ("Size \u00d7 nodes", "num"),
               ("On nodes (first listed)", "text")]
    rows = []
    for item in images:
        size, count = item.get("size_bytes") or 0, item.get("node_count") or 0
        total = item.get("total_bytes")
        if total is None:
            total = size * count
        listed = [_text(n) for n in item.get("nodes") or ()]
        if listed and count > len(listed):
            listed.append("and %s more" % "{:,}".format(int(count) - len(listed)))
        tags = ", ".join(_text(t) for t in item.get("tags") or ())
        rows.append((None, [
            _td(tags or _text(item.get("name"))), _td(_text(item.get("digest"))), _td(_bytes(size), size),
            _td(_count(count), count), _td(_bytes(total), total), _td(", ".join(listed), css="wrap")]))
    return _table(table_id, caption, columns, rows, empty="No images listed.")


_POLICY_KEYS = THRESHOLD_KEYS
THRESHOLD_KINDS = dict((t.name, t.kind) for t in THRESHOLDS)


def _threshold_text(key, value):
    kind = THRESHOLD_KINDS.get(key)
    if value is None or value == [] or value is False:
        return "no" if kind == "bool" else MISSING
    if kind == "size":
        return _bytes(value)
    if kind in ("percent", "growth_percent"):
        return _percent(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    return "yes" if value is True else _text(value)


def _policy_section(by_set):
    columns = [("Rule set", "text")] + [(key, "text") for key in _POLICY_KEYS]
    rows = [(None, [_td(name)] + [_td(_threshold_text(key, thresholds.get(key))) for key in _POLICY_KEYS])
            for name, thresholds in by_set.items()]
    return _table("policy-table", "Limits per rule set (the first rule set whose selector matches a node applies; "
                  "otherwise the default)", columns, rows)


def _notes_section(doc):
    items = list(doc.notes)
    baseline = doc.baseline
    if baseline:
        if baseline["found"]:
            items.append("Baseline (%s) captured %s, %s." % (
                baseline["source"], baseline["captured_at"] or "at an unknown time", _plural(int(baseline["nodes"] or 0), "node")))
        else:
            items.append("No baseline was compared (source: %s)." % (baseline["source"] or "none"))
    for names, what in ((doc.nodes_added, "Nodes added since the baseline"), (doc.nodes_removed, "Nodes removed since the baseline")):
        if names:
            shown = ", ".join(names[:50]) + (" and %d more" % (len(names) - 50) if len(names) > 50 else "")
            items.append("%s (%d): %s." % (what, len(names), shown))
    if not items:
        return '<p class="empty">No notes.</p>'
    return _notes_list(items)


def render_audit_html(report):
    """The audit report of one cluster as a self-contained HTML page (a ``str``)."""
    doc = AuditDocument(report)
    title = "Image storage audit" + (": " + doc.name if doc.name else "")
    measured = any(node["imagefs"] for node in doc.nodes)
    with_imagefs = measured or any(node["imagefs_error"] for node in doc.nodes)
    if doc.ok:
        status = '<p class="status ok">All %s within limits</p>' % _e(_plural(doc.node_count, "node"))
    else:
        status = '<p class="status breach">%s on %s</p>' % (
            _e(_plural(len(doc.breaches), "breach", "breaches")), _e(_plural(len(doc.breaching), "node")))
    header = '<h1>%s</h1><p class="meta">Generated %s \u00b7 %s \u00b7 %s</p>%s' % (
        _e(title), _e(doc.generated_at or "at an unknown time"), _e(_plural(doc.node_count, "node")),
        _e(_limits_text(doc.thresholds_by_set)), status)
    header += _nav([("summary", "Summary"), ("charts", "Charts")] + ([] if doc.ok else [("breaches", "Breaches")]) +
                   [("nodes", "Nodes"), ("images", "Images"), ("policy", "Policy"), ("notes", "Notes")])

    not_ready = sum(1 for node in doc.nodes if node["ready"] is False)
    cordoned = sum(1 for node in doc.nodes if node["schedulable"] is False)
    cards = [
        ("Nodes", "{:,}".format(int(doc.node_count)), "%d not ready, %d cordoned" % (not_ready, cordoned), False),
        ("Images", _count(doc.image_count_total, doc.lower_bound), "%s distinct" % _count(doc.distinct_images), False),
        ("Image bytes", _bytes(doc.total_bytes, doc.lower_bound),
         "at least: %s truncated" % _plural(int(doc.nodes_truncated), "list") if doc.lower_bound else "sum over nodes", False),
        ("Shared by several nodes", _bytes(doc.shared_bytes), "on one node only: %s" % _bytes(doc.unique_bytes), False),
        ("Each image once", _bytes(doc.distinct_bytes), "the distinct images, counted once", False),
    ]
    if doc.imagefs:
        cards.append(("Image filesystems (measured)", _bytes(doc.imagefs["used_bytes"]), "%s of %s on %s" % (
            _percent(doc.imagefs["percent"]), _bytes(doc.imagefs["capacity_bytes"]),
            _plural(int(doc.imagefs["nodes_measured"] or 0), "node")), False))
    cards.append(("Breaches", "{:,}".format(len(doc.breaches)), "on %s" % _plural(len(doc.breaching), "node"), not doc.ok))

    images, exact = doc.heaviest_images(CHART_ROWS)
    sections = [
        _section("summary", "Summary", _cards(cards)),
        _section("charts", "Charts",
                 _nodes_chart(doc, measured),
                 _percent_chart(doc),
                 _group_chart("chart-zones", "Image bytes per zone", group_totals(doc.nodes, _zone_of, doc.breaching), "zone"),
                 _group_chart("chart-roles", "Image bytes per role", group_totals(doc.nodes, _role_of, doc.breaching), "role"),
                 _images_chart("chart-images", "Images that take most space (size \u00d7 nodes)", images, exact,
                               "by size \u00d7 nodes")),
    ]
    if not doc.ok:
        sections.append(_section("breaches", "Breaches", _breach_table(doc.breaches)))
    sections += [
        _section("nodes", "Nodes", _nodes_table(doc, with_imagefs)),
        _section("images", "Images", _image_table("largest-images", "The largest images", doc.largest_images),
                 _image_table("common-images", "The most common images", doc.most_common_images)),
        _section("policy", "Policy", _policy_section(doc.thresholds_by_set)),
        _section("notes", "Notes", _notes_section(doc)),
    ]
    return _page(title, header, sections, _footer(AUDIT_FORMAT, doc.generated_at))


# ----------------------------------------------------------------------------------------------
# A fleet of clusters
# ----------------------------------------------------------------------------------------------

def _report_link(path, label):
    """A link to a cluster's own HTML report: relative paths and local files only, never a URL scheme."""
    if not path or not path.lower().endswith((".html", ".htm")):
        return _e(label)
    if ":" in path.split("/", 1)[0] or path.startswith("//"):
        return _e(label)  # "javascript:...", "https://...": not a report file
    href = ("file://" if path.startswith("/") else "") + quote(path, safe="/._-~")
    return '<a href="%s">%s</a>' % (_e(href), _e(label))


def _cluster_chart(doc):
    title = "Image bytes per cluster"
    if not doc.clusters:
        return _empty_figure("chart-clusters", title, "No clusters in this report.")
    ordered = sorted(doc.clusters, key=lambda c: (c["status"] in UNREADABLE_STATUSES, -(c["total_bytes"] or 0), c["name"]))
    top = ordered[:CHART_ROWS]
    rows = []
    for cluster in top:
        if cluster["status"] in UNREADABLE_STATUSES:
            rows.append({"label": cluster["name"], "value": None, "text": "%s: no data" % cluster["status"],
                         "css": "unread", "tip": "%s: %s" % (cluster["name"], cluster["error"] or cluster["status"])})
            continue
        value = "%s \u00b7 %s" % (_bytes(cluster["total_bytes"] or 0, cluster["lower_bound"]),
                                  _plural(int(cluster["node_count"] or 0), "node"))
        if cluster["breach_count"]:
            value += " \u00b7 %s" % _plural(int(cluster["breach_count"]), "breach", "breaches")
        rows.append({"label": cluster["name"], "value": cluster["total_bytes"] or 0, "text": value,
                     "css": "breach" if cluster["status"] == "breach" else "", "tip": "%s: %s" % (cluster["name"], value)})
    return _figure("chart-clusters", title, _bar_chart(rows, "bytes", title), _bar_legend(rows, breach="has breaches"),
                   total=len(doc.clusters), shown=len(top))


def _fleet_percent(node):
    return node["storage_percent"] if node["storage_percent"] is not None else node["percent_of_capacity"]


def _worst_chart(doc):
    title = "Worst nodes of the fleet"
    if not doc.worst_nodes:
        return _empty_figure("chart-worst", title, "No nodes in this report.")
    top = doc.worst_nodes[:CHART_ROWS]
    rows = []
    for node in top:
        label = "%s / %s" % (node["cluster"], node["name"])
        value = _bytes(node["total_bytes"], node["truncated"])
        if _fleet_percent(node) is not None:
            value += " \u00b7 " + _percent(_fleet_percent(node))
        tip = "%s: %s" % (label, value) + ("; breaches: " + ", ".join(node["breaches"]) if node["breaches"] else "")
        css = " ".join(c for c in ("breach" if node["breaches"] else "", "lower" if node["truncated"] else "") if c)
        rows.append({"label": label, "value": node["total_bytes"], "text": value, "css": css, "tip": tip})
    return _figure("chart-worst", title, _bar_chart(rows, "bytes", title), _bar_legend(rows),
                   "Ranked by the fleet audit: the most breaches first, then the fullest storage, then the most bytes.",
                   total=len(doc.worst_nodes), shown=len(top))


def _cluster_rows(doc):
    rows = []
    for c in doc.clusters:
        unread = c["status"] in UNREADABLE_STATUSES

        def number(value, shown):
            return _td(MISSING, "") if unread or value is None else _td(shown, value)

        rows.append(("unread" if unread else ("breach" if c["status"] == "breach" else None), [
            "<td>%s</td>" % _report_link(c["report_path"], c["name"]),
            _td(c["status"] + (": " + c["error"] if c["error"] else ""), css="wrap"),
            number(c["node_count"], _count(c["node_count"])),
            number(c["image_count_total"], _count(c["image_count_total"], c["lower_bound"])),
            number(c["total_bytes"], _bytes(c["total_bytes"], c["lower_bound"])),
            number(c["imagefs_percent"], _percent(c["imagefs_percent"])),
            number(c["breach_count"], _count(c["breach_count"])),
            number(c["breaching_nodes"], _count(c["breaching_nodes"])),
            _td(c["generated_at"]),
        ]))
    return rows


def render_fleet_html(fleet):
    """The fleet summary (``fleet.build_fleet_report``) as a self-contained HTML page (a ``str``)."""
    doc = FleetDocument(fleet)
    title = "Image storage audit: fleet of %s" % _plural(len(doc.clusters), "cluster")
    problems = []
    if doc.breach_count:
        problems.append("%s on %s" % (_plural(int(doc.breach_count), "breach", "breaches"),
                                      _plural(int(doc.breaching_nodes), "node")))
    if doc.unreadable:
        problems.append("%s not read" % _plural(len(doc.unreadable), "cluster"))
    status = ('<p class="status ok">Every cluster read, every node within limits</p>' if doc.ok else
              '<p class="status breach">%s</p>' % _e("; ".join(problems) or "not ok"))
    header = '<h1>%s</h1><p class="meta">Generated %s \u00b7 %s \u00b7 %s of images \u00b7 %s</p>%s' % (
        _e(title), _e(doc.generated_at or "at an unknown time"), _e(_plural(int(doc.node_count), "node")),
        _e(_bytes(doc.total_bytes, doc.lower_bound)), _e(_limits_text(doc.thresholds_by_set)), status)
    links = [("summary", "Summary"), ("charts", "Charts")]
    if doc.unreadable:
        links.append(("unreadable", "Clusters not read"))
    if doc.breaches:
        links.append(("breaches", "Breaches"))
    header += _nav(links + [("clusters", "Clusters"), ("worst", "Worst nodes")])

    counts = dict((s, sum(1 for c in doc.clusters if c["status"] == s)) for s in FLEET_STATUSES)
    cards = [
        ("Clusters", "{:,}".format(len(doc.clusters)), "%d ok, %d with breaches, %d not read"
         % (counts["ok"], counts["breach"], len(doc.unreadable)), bool(doc.unreadable)),
        ("Nodes", "{:,}".format(int(doc.node_count)), "in the clusters read", False),
        ("Image bytes", _bytes(doc.total_bytes, doc.lower_bound), "sum over every node read", False),
        ("Breaches", "{:,}".format(int(doc.breach_count)), "on %s" % _plural(int(doc.breaching_nodes), "node"),
         bool(doc.breach_count)),
    ]
    charts = [_cluster_chart(doc), _worst_chart(doc)]
    if doc.heaviest:
        images = sorted(doc.heaviest, key=lambda item: -(item.get("total_bytes") or 0))[:CHART_ROWS]
        charts.append(_images_chart("chart-images", "Images that take most space across the fleet (size \u00d7 nodes)",
                                    images, doc.heaviest_exact, "across the fleet"))
    sections = [_section("summary", "Summary", _cards(cards)), _section("charts", "Charts", *charts)]
    if doc.unreadable:
        rows = [("unread", [_td(c["name"]), _td(c["status"]), _td(c["error"] or "no reason given", css="wrap")])
                for c in doc.unreadable]
        sections.append(_section("unreadable", "Clusters not read", _table(
            "unreadable-table", "These clusters are missing from every figure",
            [("Cluster", "text"), ("Status", "text"), ("What happened", "text")], rows)))
    if doc.breaches:
        sections.append(_section("breaches", "Breaches", _breach_table(doc.breaches, with_cluster=True)))
    columns = [("Cluster", "text"), ("Status", "text"), ("Nodes", "num"), ("Images", "num"), ("Image bytes", "num"),
               ("Image filesystems", "num"), ("Breaches", "num"), ("Breaching nodes", "num"), ("Generated", "text")]
    sections.append(_section("clusters", "Clusters", _table(
        "clusters-table", "Every cluster of the fleet (click a column to sort)", columns, _cluster_rows(doc),
        empty="No clusters.")))
    columns = [("Cluster", "text"), ("Node", "text"), ("Images", "num"), ("Image bytes", "num"), ("% of storage", "num"),
               ("Breaches", "text")]
    rows = []
    for node in doc.worst_nodes:
        percent = _fleet_percent(node)
        rows.append(("breach" if node["breaches"] else None, [
            _td(node["cluster"]), _td(node["name"]),
            _td(_count(node["image_count"], node["truncated"]), "" if node["image_count"] is None else node["image_count"]),
            _td(_bytes(node["total_bytes"], node["truncated"]), node["total_bytes"]),
            _td(_percent(percent), "" if percent is None else percent), _td(", ".join(node["breaches"]), css="wrap")]))
    sections.append(_section("worst", "Worst nodes", _table(
        "worst-table", "The fleet's worst nodes (click a column to sort)", columns, rows, empty="No nodes.")))
    if len(doc.thresholds_by_set) > 1 or doc.thresholds_by_set[DEFAULT_RULE_SET]:
        sections.append(_section("policy", "Policy", _policy_section(doc.thresholds_by_set)))
    return _page(title, header, sections, _footer(FLEET_FORMAT, doc.generated_at))
