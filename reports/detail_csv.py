"""The enrollment detail as CSV: the 明细 sheet's rows without Excel's row limit, written
about six times as fast as the sheet (bench/export.py), for very large scopes.

UTF-8 with a BOM (``utf-8-sig``), so Excel opens the Chinese correctly; the 明细 sheet's
headers and values (``xlsx.detail_values``: ID numbers masked, Chinese labels), dates as
YYYY-MM-DD and hours with one decimal. A text cell that Excel would read as a formula
(starting with = + - @, a tab or a carriage return) gets a leading single quote, as OWASP
advises against CSV injection.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from . import figures as f
from .pipeline import Pipeline
from .xlsx import DETAIL_HEADERS, Progress, detail_values

HEADERS = [label for label, _width in DETAIL_HEADERS]
FORMULA_START = frozenset("=+-@\t\r")


def _noop(_fraction: float, _stage: str) -> None:
    return None


def safe_text(text: str) -> str:
    """``text``, with a quote in front when a spreadsheet would take it for a formula."""
    return "'" + text if text[:1] in FORMULA_START else text


def write_file(target: str | Path, *, scope: f.Scope, progress: Progress = _noop) -> int:
    """Write every enrollment of the year in ``scope`` to the file ``target``; the rows written."""
    with Pipeline() as reads:
        (total,) = reads.values("figures", lambda: f.detail_rows(scope).count())
        rows = reads.rows("detail", lambda: f.detail_rows(scope).iterator(chunk_size=2000))
        progress(0.02, "明细")
        with open(target, "w", encoding="utf-8-sig", newline="") as handle:
            written = write_rows(handle, rows, total=total.get(), progress=progress)
    progress(1.0, "完成")
    return written


def write_rows(handle, rows: Iterable[tuple], *, total: int = 0, progress: Progress = _noop) -> int:
    """``figures.detail_rows`` tuples as CSV lines on the text file ``handle`` (opened with
    ``newline=""``), under the header line; the rows written."""
    writer = csv.writer(handle)
    writerow, safe = writer.writerow, safe_text
    writerow(HEADERS)
    written = 0
    step = max(total // 50, 1)
    for year, number, course, organizer, start, end, name, nid, region, sector, status, hours in map(
        detail_values, rows
    ):
        writerow(
            (
                year,
                number,
                safe(course),
                safe(organizer),
                start.isoformat(),
                end.isoformat(),
                safe(name),
                safe(nid),
                safe(region),
                safe(sector),
                safe(status),
                f"{hours:.1f}",
            )
        )
        written += 1
        if written % step == 0 and total:
            progress(0.02 + 0.97 * written / total, "明细")
    return written
