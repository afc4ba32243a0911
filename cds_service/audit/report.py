"""report.html: what a billing manager reads at a glance. One self-contained page (inline CSS
and SVG, no script, nothing loaded from anywhere): totals, findings by rule, the most frequent
code changes, encounters by number of findings, and the input problems."""

from __future__ import annotations

from html import escape
from typing import Any

from .problems import PROBLEM_TEXT, Problem

_LABEL_WIDTH = 360
BAR_WIDTH = 420  # the longest bar of a chart; the others in proportion
_ROW_HEIGHT = 26
_LABEL_CHARACTERS = 46  # what fits left of the bars at 13px
_INDICATOR_COLOURS = {"critical": "#c0392b", "warning": "#e67e22", "info": "#2e86c1"}
HISTOGRAM_BUCKETS = ("0", "1", "2", "3", "4", "5 or more")


def histogram(findings_per_encounter: dict[str, int]) -> dict[str, int]:
    buckets = dict.fromkeys(HISTOGRAM_BUCKETS, 0)
    for count, encounters in findings_per_encounter.items():
        number = int(count)
        buckets[HISTOGRAM_BUCKETS[min(number, 5)]] += encounters
    return buckets


def _bar_chart(chart: str, title: str, rows: list[tuple[str, str, int, str]],
               caption: str) -> str:
    """rows: (key, label, count, colour)."""
    if not rows:
        return (f'<section class="chart" data-chart="{chart}"><h2>{escape(title)}</h2>'
                f'<p class="empty">None.</p></section>')
    largest = max(count for _, _, count, _ in rows) or 1
    height = _ROW_HEIGHT * len(rows) + 4
    width = _LABEL_WIDTH + BAR_WIDTH + 80
    parts = [f'<section class="chart" data-chart="{chart}"><h2>{escape(title)}</h2>',
             f'<p class="caption">{escape(caption)}</p>',
             f'<svg role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">']
    for index, (key, label, count, colour) in enumerate(rows):
        y = index * _ROW_HEIGHT
        bar = round(BAR_WIDTH * count / largest, 1)
        shown = label if len(label) <= _LABEL_CHARACTERS else (
            label[:_LABEL_CHARACTERS - 1] + "…")  # the whole label is in the bar's <title>
        parts.append(
            f'<g class="bar" data-key="{escape(key)}" data-count="{count}">'
            f'<title>{escape(label)}: {count}</title>'
            f'<text class="bar-label" x="{_LABEL_WIDTH - 8}" y="{y + 17}" '
            f'text-anchor="end">{escape(shown)}</text>'
            f'<rect class="bar-fill" x="{_LABEL_WIDTH}" y="{y + 4}" width="{bar}" height="18" '
            f'fill="{colour}"></rect>'
            f'<text class="bar-value" x="{_LABEL_WIDTH + bar + 6}" y="{y + 17}">{count}</text>'
            f'</g>')
    parts.append("</svg></section>")
    return "".join(parts)


def render_report(summary: dict[str, Any]) -> str:
    encounters = summary["encounters"]
    audited = encounters["audited"]
    with_findings = encounters["with_findings"]
    share = f"{100 * with_findings / audited:.1f}%" if audited else "–"
    window = summary["window"]
    window_text = ("every date of service" if not (window["from"] or window["to"]) else
                   f"dates of service {window['from'] or 'up'} to {window['to'] or 'today'}")
    tiles = [
        ("audited", "Encounters audited", f"{audited:,}"),
        ("with-findings", "With at least one finding", f"{with_findings:,} ({share})"),
        ("cards", "Findings (cards)", f"{summary['cards']:,}"),
        ("problems", "Input problems", f"{sum(summary['problems'].values()):,}"),
    ]
    tile_html = "".join(
        f'<div class="tile" data-tile="{key}"><div class="tile-value">{escape(value)}</div>'
        f'<div class="tile-label">{escape(label)}</div></div>' for key, label, value in tiles)
    rule_rows = [(r["rule"], f"{r['title']} ({r['rule']})", r["count"],
                  _INDICATOR_COLOURS.get(r.get("indicator", ""), "#2e86c1"))
                 for r in summary["cards_by_rule"]]
    change_rows = [(c["change"], c["change"], c["count"], "#8e44ad")
                   for c in summary["code_changes"]]
    buckets = histogram(summary["findings_per_encounter"])
    histogram_rows = [(bucket, f"{bucket} finding{'' if bucket == '1' else 's'}", count,
                       "#16a085") for bucket, count in buckets.items()]
    problem_rows = "".join(
        f'<tr data-kind="{escape(kind)}"><td>{escape(_problem_text(kind))}</td>'
        f'<td class="number">{count:,}</td></tr>'
        for kind, count in sorted(summary["problems"].items(), key=lambda kv: -kv[1]))
    problems_html = (
        f'<table class="problems"><thead><tr><th>Problem</th><th>Count</th></tr></thead>'
        f'<tbody>{problem_rows}</tbody></table>'
        '<p class="caption">Each one is listed in errors.ndjson with its file and line.</p>'
        if problem_rows else '<p class="empty">None: every line was read.</p>')
    counts = (f"{summary['inputs']['files']:,} files, {summary['inputs']['lines']:,} lines read; "
              f"{encounters['read']:,} encounters, {encounters['finished']:,} finished, "
              f"{encounters['in_window']:,} in the window.")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Coding audit: {escape(window_text)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1000px; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.15em; margin-top: 1.8em; }}
.tiles {{ display: flex; gap: 1em; flex-wrap: wrap; }}
.tile {{ border: 1px solid #ccc; border-radius: 6px; padding: .8em 1.2em; min-width: 180px; }}
.tile-value {{ font-size: 1.6em; font-weight: 600; }} .tile-label {{ color: #555; }}
.caption, .empty {{ color: #555; }} svg text {{ font-size: 13px; fill: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border-bottom: 1px solid #ddd; padding: .3em .8em;
text-align: left; }} td.number {{ text-align: right; }}
.legend span {{ display: inline-block; margin-right: 1em; }}
.swatch {{ display: inline-block; width: .9em; height: .9em; margin-right: .3em; }}
</style></head>
<body>
<h1>Coding audit: {escape(window_text)}</h1>
<p class="caption">{escape(counts)} Each finished encounter was checked as the
encounter-discharge hook checks it, with the same rules and cards.</p>
<div class="tiles">{tile_html}</div>
{_bar_chart("rules", "Findings by rule", rule_rows,
            "Cards per rule, coloured by how urgent the rule's cards are.")}
<p class="legend">{"".join(f'<span><i class="swatch" style="background:{colour}"></i>{name}</span>'
                           for name, colour in _INDICATOR_COLOURS.items())}</p>
{_bar_chart("code-changes", "Most frequent code changes", change_rows,
            "The code a card replaces or removes, and what it suggests (alternatives separated "
            "by |).")}
{_bar_chart("findings-per-encounter", "Encounters by number of findings", histogram_rows,
            "How many audited encounters got no card, one card, two cards and so on.")}
<h2>Input problems</h2>
{problems_html}
</body></html>
"""


def _problem_text(kind: str) -> str:
    try:
        return PROBLEM_TEXT[Problem(kind)]
    except ValueError:
        return kind
