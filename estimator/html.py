"""Results -> self-contained HTML: the report document, and the offline map page.

Everything is inline (CSS, the map as a base64 PNG or an inline SVG): the files open offline,
can be e-mailed as one attachment, and load nothing from the network.
"""

from __future__ import annotations

import base64
import html
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .pipeline import Report
    from .report import DocBlock, DocTable

__all__ = ["map_html", "report_html"]

_CSS = """
:root { --ink: #1f1f1f; --muted: #5a5a5a; --rule: #d0d0d0; --band: #f5f5f5; }
* { box-sizing: border-box; }
body { font: 15px/1.45 "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink);
  max-width: 1180px; margin: 2em auto; padding: 0 1.2em; }
h1 { font-size: 1.7em; margin: 0 0 .3em; }
h2 { font-size: 1.25em; margin: 1.8em 0 .6em; padding-bottom: .2em;
  border-bottom: 1px solid var(--rule); }
p.caption { color: var(--muted); font-size: .85em; margin: .1em 0; }
table { border-collapse: collapse; margin: .6em 0 1em; font-size: .82em; width: 100%; }
th, td { border-bottom: 1px solid var(--rule); padding: .3em .5em; vertical-align: top; }
th { background: var(--band); text-align: left; }
td.num, th.num { text-align: right; white-space: nowrap; }
tr.total td { font-weight: bold; border-top: 2px solid var(--ink); }
figure { margin: 1em 0; }
figure img, figure svg { width: 100%; height: auto; border: 1px solid var(--rule); }
figcaption { color: var(--muted); font-size: .85em; }
code { font-size: .92em; background: var(--band); padding: 0 .2em; }
.wrap { overflow-x: auto; }
@media print { body { max-width: none; margin: 0; } h2 { page-break-after: avoid; }
  table, figure { page-break-inside: avoid; } }
"""

_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str) -> str:
    """Escape text for HTML, keeping `code` spans and line breaks."""
    out = html.escape(text)
    out = _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", out)
    return out.replace("\n", "<br>")


def _table(t: DocTable) -> str:
    def cls(i: int) -> str:
        return ' class="num"' if i >= t.numeric_from else ""

    head = "".join(f"<th{cls(i)}>{_inline(h)}</th>" for i, h in enumerate(t.header))
    rows = []
    for j, row in enumerate(t.rows):
        total = ' class="total"' if t.bold_last and j == len(t.rows) - 1 else ""
        cells = "".join(f"<td{cls(i)}>{_inline(c)}</td>" for i, c in enumerate(row))
        rows.append(f"<tr{total}>{cells}</tr>")
    return (
        f'<div class="wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _blocks(blocks: list[DocBlock], map_png: bytes | None) -> str:
    from .report import DocMap, DocTable

    out = []
    for b in blocks:
        if isinstance(b, DocTable):
            out.append(_table(b))
        elif isinstance(b, DocMap):
            if map_png is None:
                continue
            data = base64.b64encode(map_png).decode("ascii")
            out.append(
                f'<figure><img alt="{html.escape(b.alt)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(b.alt)}</figcaption></figure>"
            )
        elif isinstance(b, list):
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b) + "</ul>")
        else:
            out.append(f"<p>{_inline(b)}</p>")
    return "\n".join(out)


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def report_html(report: Report, *, map_png: bytes | None = None) -> str:
    """Render the report document as one self-contained HTML page.

    Parameters
    ----------
    report : Report
        A computed report.
    map_png : bytes, optional
        The map (:func:`estimator.plot.render_map`), embedded as a base64 image; without it
        the map section is left out.

    Returns
    -------
    str
        An HTML5 document with inline CSS and no external resources.
    """
    from .report import DocMap, caption_lines, report_document

    head, _ = caption_lines(report)
    parts = ["<h1>demine report</h1>"]
    parts += [f'<p class="caption">{_inline(line)}</p>' for line in head]
    for title, blocks in report_document(report):
        if map_png is None and all(isinstance(b, DocMap) for b in blocks):
            continue
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(_blocks(blocks, map_png))
    regions = ", ".join(r.name for r in report.regions)
    return _page(f"demine report: {regions}", "\n".join(parts))


def map_html(report: Report, svg: bytes) -> str:
    """Wrap an SVG map (:func:`estimator.plot.render_map` with ``fmt="svg"``) in an offline page.

    The map is vector: the browser zooms it without blur, and each deposit shows its figures
    when hovered.

    Parameters
    ----------
    report : Report
        The report the map was drawn from.
    svg : bytes
        The SVG image.

    Returns
    -------
    str
        An HTML5 document with the SVG inline and no external resources.
    """
    from .report import data_credits

    text = svg.decode("utf-8")
    start = text.find("<svg")
    regions = ", ".join(r.name for r in report.regions)
    body = (
        f"<h1>demine map: {html.escape(regions)}</h1>"
        '<p class="caption">Hover a deposit for its figures; zoom with the browser '
        "(Ctrl/Cmd and +). The page works offline.</p>"
        f"<figure>{text[start:]}</figure>"
        '<p class="caption">' + "<br>".join(_inline(c) for c in data_credits(report)) + "</p>"
    )
    return _page(f"demine map: {regions}", body)
