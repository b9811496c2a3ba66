"""Terminal tables keep every figure whole, whatever the console width (real rich rendering)."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import Counter
from collections.abc import Callable

import pytest
from rich.console import Console
from rich.table import Table

from estimator import report as rep
from estimator.cli._common import print_table
from estimator.pipeline import Inputs, estimate

# A figure as printed: digits with their separators ("75,448", "(104.5-251.0", "2061-10..2099-05").
NUMBER = re.compile(r"\d[\d,.\-]*")


@pytest.fixture(scope="module")
def report():
    inputs = Inputs(start_date=dt.date(2027, 1, 1), access_date=dt.date(2027, 6, 1))
    return estimate(inputs, n_draws=20, seed=1, sensitivity=True)


@pytest.fixture(scope="module")
def whole_regions():
    from estimator.wholeregion import summarize_whole_regions

    return summarize_whole_regions()


def render(tables: list[Table], width: int) -> str:
    """The text printed for the tables on a console of ``width`` columns, as the CLI prints."""
    console = Console(width=width, record=True, file=io.StringIO(), highlight=False)
    for table in tables:
        print_table(console, table)
    return console.export_text()


def _table_builders(report, whole_regions) -> dict[str, Callable[[], list[Table]]]:
    from estimator.cli.regions import _table as regions_table

    return {
        "report": lambda: rep.render_tables(report),
        "schedule": lambda: [rep.render_schedule(report)],
        "sensitivity": lambda: rep.render_sensitivity(report),
        "regions": lambda: [regions_table(whole_regions)],
    }


@pytest.mark.parametrize("kind", ["report", "schedule", "sensitivity", "regions"])
@pytest.mark.parametrize("width", [80, 120])
def test_no_figure_is_cut_at_a_narrow_width(report, whole_regions, kind, width):
    build = _table_builders(report, whole_regions)[kind]
    wide = render(build(), 1000)  # room for everything: the reference
    narrow = render(build(), width)
    # Every figure of the cells is printed whole at the wide width...
    for table in build():
        for col in table.columns:
            for cell in col.cells:
                for figure in NUMBER.findall(str(cell)):
                    assert figure in wide
    # ... and the narrow print holds exactly the same figures, none cut or lost.
    assert Counter(NUMBER.findall(narrow)) == Counter(NUMBER.findall(wide))
    assert "…" not in "".join(NUMBER.findall(narrow))


@pytest.mark.parametrize("width", [80, 120])
def test_names_stay_readable(report, width):
    text = render(rep.render_tables(report), width)
    for header in ("Deposit", "Control", "Status"):
        assert header in text
    for d in report.deposits:
        for word in d.name.split():
            # A text column keeps at least TEXT_MIN_WIDTH characters: long words fold after it.
            assert word[: rep.TEXT_MIN_WIDTH] in text, (d.name, text)
    schedule = render([rep.render_schedule(report)], width)
    for d in report.deposits:
        assert d.name.split()[0][: rep.TEXT_MIN_WIDTH] in schedule


def test_text_columns_give_way_first(report):
    """A table that can fit does, by narrowing its text column; the figures stay whole."""
    wide = render(rep.render_sensitivity(report)[:1], 1000)
    natural = max(len(line) for line in wide.splitlines()[1:])  # the title is a line of its own
    table = rep.render_sensitivity(report)[0]
    text = render([table], natural - 8)
    assert max(len(line) for line in text.splitlines()) <= natural - 8
    assert Counter(NUMBER.findall(text)) == Counter(NUMBER.findall(wide))
    parameter, *figures = table.columns
    assert parameter.width == max(len(str(c)) for c in parameter.cells) - 8
    assert all(col.width == max(len(str(c)) for c in col.cells) for col in figures)


def test_a_table_that_fits_is_printed_as_rich_prints_it(report):
    """A table that fits the console (e.g. piped output, 240 columns) is left as rich prints it."""
    tables = [*rep.render_tables(report), *rep.render_sensitivity(report)]
    plain = Console(width=1000, record=True, file=io.StringIO(), highlight=False)
    for table in tables:
        table.title = None
        plain.print(table)
    assert plain.export_text() == render(tables, 1000)


@pytest.mark.parametrize("width", [80, 120, 140])
def test_a_narrow_terminal_gets_the_report_without_class_areas(report, width):
    from estimator.cli.report import _print_table

    def printed(console_width: int, terminal: bool, quiet: int = 0) -> str:
        console = Console(
            width=console_width,
            record=True,
            file=io.StringIO(),
            highlight=False,
            force_terminal=terminal,
        )
        _print_table(console, report, quiet=quiet, sensitivity=False)
        return console.export_text()

    text = printed(width, True)
    assert f"hazard class areas and P10-P90 ranges not shown in {width} columns" in text

    def header(t: str) -> str:
        return " ".join(line for line in t.splitlines() if line.startswith("┃"))

    assert "medium" not in header(text) and "Clearance" in header(text)
    if width >= 120:  # at 80 even the compact table is wider: printed whole, wrapped
        assert max(len(ln) for ln in text.splitlines() if ln.startswith(("┃", "│"))) <= width
    # -q leaves out the caption, not the line that says columns are missing
    assert "not shown in" in printed(width, True, quiet=1)
    # the columns it keeps hold the same figures as the full table
    full = printed(1000, True)
    assert "medium" in header(full) and "not shown" not in full
    for d in report.deposits:
        if d.figures:
            cost = rep._money(d.figures["cost_usd"]["p50"])
            assert cost in text and cost in full
    # a pipe or file keeps every column
    assert "medium" in header(printed(width, False))
