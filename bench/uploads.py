"""Upload reader benchmark: core.uploads.read_rows against python-calamine's whole-sheet
``to_python()`` (the reader before it), on the same generated roster, in the same run.

    .venv/bin/python -m bench.uploads [--rows 10000] [--repeat 9]

read_rows is timed as it runs (the zip checked, then the dense path: python-calamine on a
checked copy) and with the dense path switched off (the expat stream every file too large
or too odd for the dense path takes). Prints the best of ``--repeat`` runs of each and the
ratios to python-calamine; fails (BENCHMARK FAILED) if any reader gives other rows.
"""

from __future__ import annotations

import argparse
import io
import time

from bench.harness import BenchError, django_setup, run_main


def _calamine_rows(data: bytes) -> list[list]:
    import python_calamine

    sheet = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
    rows = []
    for row in sheet.to_python(skip_empty_area=False):
        row = list(row)
        while row and row[-1] == "":
            row.pop()
        rows.append(row)
    return rows


def _best_of(readers: dict, data: bytes, repeat: int) -> dict[str, tuple[float, list]]:
    """Best time and rows of each reader, the readers taking turns in every round (a busy
    machine slows them alike instead of whichever ran during the busy spell)."""
    best = {name: (float("inf"), []) for name in readers}
    for _ in range(repeat):
        for name, read in readers.items():
            started = time.perf_counter()
            rows = read(data)
            elapsed = time.perf_counter() - started
            best[name] = (min(best[name][0], elapsed), rows)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()

    django_setup()
    import core.uploads.xlsx as xlsx_reader
    from bench.roster_import import make_roster
    from core.uploads import read_rows

    data, _expected = make_roster(args.rows)

    def read_streamed(d: bytes) -> list:
        dense_cells, xlsx_reader.DENSE_CELLS = xlsx_reader.DENSE_CELLS, -1
        try:
            return list(read_rows(d, "roster.xlsx"))
        finally:
            xlsx_reader.DENSE_CELLS = dense_cells

    best = _best_of(
        {"calamine": _calamine_rows, "checked": lambda d: list(read_rows(d, "roster.xlsx")), "streamed": read_streamed},
        data,
        args.repeat,
    )
    (whole, theirs), (checked, mine), (streamed, streamed_rows) = best["calamine"], best["checked"], best["streamed"]
    if not mine == streamed_rows == theirs:
        raise BenchError("core.uploads.read_rows and calamine's to_python() read different rows")
    print(f"roster .xlsx: {args.rows:,} rows, {len(data):,} bytes, best of {args.repeat}")
    print(f"  python-calamine to_python() (whole sheet):     {whole * 1000:8.1f} ms")
    print(f"  read_rows (checks + dense path, as it runs):   {checked * 1000:8.1f} ms  {checked / whole:.2f}x")
    print(f"  read_rows (checks + expat stream, forced):     {streamed * 1000:8.1f} ms  {streamed / whole:.2f}x")
    return 0


if __name__ == "__main__":
    run_main(main)
