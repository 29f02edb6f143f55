"""Roster import benchmark: the project's importer against django-import-export.

    .venv/bin/python -m bench.roster_import [--rows 10000] [--reader-only] [--profile]
        [--tracemalloc] [--no-import-export] [--output bench/out/roster_import.json]

1. Generates an .xlsx roster with xlsxwriter (the headers users fill in: 姓名, 身份证号, ...).
2. Times the readers alone: python-calamine (what the project uses), openpyxl read-only,
   and tablib (openpyxl read-only underneath: what django-import-export reads with).
3. Imports the same bytes through ``personnel.imports.roster_import`` into an empty table,
   then again (every row unchanged: the update path), then, after deleting every inspector,
   through django-import-export ``ModelResource`` classes with full model validation
   (``clean_model_instances = True``): row by row, and with ``use_bulk = True``.
   Every run must store every row with exactly the expected values, or the benchmark fails.
4. Checks that the peer validates like roster_import: small files with one bad row each.
5. Optionally: per-phase timings and cProfile of roster_import (--profile), peak Python
   heap of every import (--tracemalloc).
6. Prints tables and writes bench/out/roster_import.json.

The database is a throwaway one: a SQLite file in a temporary directory, or, when
DATABASE_URL names a PostgreSQL/MySQL server, a scratch database created on that server
(``bench_roster_<pid>``) and dropped afterwards. A real database is never written to.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import gc
import io
import json
import os
import platform
import pstats
import random
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import (
    OUT_DIR,
    REGIONS,
    BenchError,
    Measure,
    cpu_model,
    load_average,
    make_regions,
    national_ids,
    person_name,
    run_main,
    scratch_database,
    versions,
)

OUT_FILE = OUT_DIR / "roster_import.json"

HEADERS = ("姓名", "身份证号", "所属地区", "行业", "职务", "手机", "状态", "入职日期")


# What people type -> what must be stored. Written out here (not taken from
# personnel.vocab) so the expected values are an independent check of both importers.
SECTOR_TEXT = {
    "危化": "hazardous_chemicals",
    "危险化学品": "hazardous_chemicals",
    "危化品": "hazardous_chemicals",
    "工贸": "industry_trade",
    "工商贸": "industry_trade",
    "煤矿": "coal",
    "煤炭": "coal",
    "非煤矿山": "non_coal_mine",
    "非煤": "non_coal_mine",
}
STATUS_TEXT = {"在岗": "active", "在职": "active", "休假": "on_leave", "调离": "transferred", "退休": "retired"}
STATUS_WEIGHTS = (70, 10, 8, 6, 6)
POSITIONS = ("科员", "副科长", "科长", "执法队员", "副大队长", "大队长", "")
BLANK_SHARE = 0.03  # share of rows with a blank 手机 and, independently, a blank 入职日期

# national_id, name, region code, sector, position, phone, status, hired_on, gender, birth_date
SNAPSHOT_FIELDS = (
    "national_id",
    "name",
    "region__code",
    "sector",
    "position",
    "phone",
    "status",
    "hired_on",
    "gender",
    "birth_date",
)


# --- the roster file -------------------------------------------------------------------


def make_roster(rows: int, seed: int = 20250601) -> tuple[bytes, list[tuple]]:
    """Return the .xlsx bytes and the rows every importer must end up storing."""
    import xlsxwriter

    rng = random.Random(seed)
    region_codes = [code for code, *_ in REGIONS]
    sector_texts = list(SECTOR_TEXT)
    status_texts = list(STATUS_TEXT)
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet("名册")
    text = workbook.add_format({"num_format": "@"})
    date = workbook.add_format({"num_format": "yyyy-mm-dd"})
    for col, header in enumerate(HEADERS):
        sheet.write_string(0, col, header)
    sheet.set_column(1, 1, 21, text)
    sheet.set_column(5, 5, 13, text)
    sheet.set_column(7, 7, 12, date)

    expected: list[tuple] = []
    people = national_ids(rng, region_codes)
    for row in range(1, rows + 1):
        region, birth, national_id = next(people)
        name = person_name(rng)
        sector = rng.choice(sector_texts)
        position = rng.choice(POSITIONS)
        phone = "" if rng.random() < BLANK_SHARE else f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
        status = rng.choices(status_texts, STATUS_WEIGHTS)[0]
        hired = None if rng.random() < BLANK_SHARE else dt.date(1985, 1, 1) + dt.timedelta(days=rng.randrange(39 * 365))

        sheet.write_string(row, 0, name)
        sheet.write_string(row, 1, national_id, text)
        sheet.write_string(row, 2, region)
        sheet.write_string(row, 3, sector)
        if position:
            sheet.write_string(row, 4, position)
        if phone:
            sheet.write_string(row, 5, phone, text)
        sheet.write_string(row, 6, status)
        if hired:
            sheet.write_datetime(row, 7, hired, date)
        gender = "male" if int(national_id[16]) % 2 else "female"
        expected.append(
            (national_id, name, region, SECTOR_TEXT[sector], position, phone, STATUS_TEXT[status], hired, gender, birth)
        )
    workbook.close()
    expected.sort()
    return buffer.getvalue(), expected


# --- measuring ---------------------------------------------------------------------------


@dataclass
class Run:
    tool: str
    seconds: float
    cpu_seconds: float
    rows: int
    peak_rss_delta_mb: float | None
    detail: dict = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def as_dict(self, baseline: Run | None) -> dict:
        return {
            "tool": self.tool,
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "rows": self.rows,
            "rows_per_s": round(self.rows_per_s),
            "speedup_vs_import_export": round(baseline.seconds / self.seconds, 2) if baseline else None,
            "peak_rss_delta_mb": self.peak_rss_delta_mb,
            **self.detail,
        }


# --- readers ---------------------------------------------------------------------------


def read_calamine(data: bytes) -> int:
    import python_calamine

    workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    return len(workbook.get_sheet_by_index(0).to_python(skip_empty_area=False))


def read_openpyxl(data: bytes) -> int:
    import openpyxl

    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        return len(list(workbook.worksheets[0].iter_rows(values_only=True)))
    finally:
        workbook.close()


def read_tablib(data: bytes) -> int:
    from tablib import Dataset

    return len(Dataset().load(data, format="xlsx")) + 1  # + the header row


READERS: tuple[tuple[str, Callable[[bytes], int]], ...] = (
    ("python-calamine to_python", read_calamine),
    ("openpyxl read_only iter_rows", read_openpyxl),
    ("tablib Dataset.load (openpyxl)", read_tablib),
)


def bench_readers(data: bytes, rows: int, repeat: int = 3) -> list[Run]:
    runs = []
    for tool, reader in READERS:
        best: Measure | None = None
        for _ in range(repeat):
            with Measure() as measure:
                count = reader(data)
            if count != rows + 1:
                raise BenchError(f"{tool} read {count} rows, expected {rows + 1}")
            if best is None or measure.seconds < best.seconds:
                best = measure
        runs.append(Run(tool, best.seconds, best.cpu_seconds, rows, best.peak_rss_delta_mb, {"best_of": repeat}))
    return runs


# --- database ----------------------------------------------------------------------------


def make_fixtures():
    """The region tree and a provincial admin (a superuser: scope ALL)."""
    from django.contrib.auth import get_user_model

    make_regions()
    return get_user_model().objects.create_superuser("bench_admin", "bench@example.invalid", None)


def delete_inspectors() -> None:
    from personnel.models import Inspector

    Inspector.objects.all().delete()


def check_stored(tool: str, expected: list[tuple]) -> None:
    """The table must hold exactly the expected rows, field for field."""
    from personnel.models import Inspector

    stored = list(Inspector.objects.order_by("national_id").values_list(*SNAPSHOT_FIELDS))
    if len(stored) != len(expected):
        raise BenchError(f"{tool}: {len(stored)} inspectors stored, expected {len(expected)}")
    diffs = [(want, got) for want, got in zip(expected, stored, strict=True) if want != got]
    if diffs:
        lines = "\n".join(f"  expected {want}\n  stored   {got}" for want, got in diffs[:3])
        raise BenchError(f"{tool}: {len(diffs)} rows stored with other values than the file, e.g.\n{lines}")


# --- the project's importer ----------------------------------------------------------------


def run_roster_import(tool: str, actor, data: bytes, rows: int, expect: dict[str, int]) -> Run:
    from personnel.imports import roster_import

    with Measure() as measure:
        result = roster_import(actor=actor, data=data, filename="roster.xlsx", dry_run=False)
    if not result.ok:
        shown = "\n".join(f"  {error}" for error in result.errors[:5])
        raise BenchError(f"{tool}: {len(result.errors)} errors, nothing imported:\n{shown}")
    counts = {"total": result.total, "created": result.created, "updated": result.updated}
    counts["unchanged"] = result.unchanged
    wanted = {"total": rows, "created": 0, "updated": 0, "unchanged": 0, **expect}
    if counts != wanted:
        raise BenchError(f"{tool}: result counts {counts}, expected {wanted}")
    return Run(tool, measure.seconds, measure.cpu_seconds, rows, measure.peak_rss_delta_mb, {"counts": counts})


TIMED_PHASES = (
    # (module, class or None, names it has had, label): what roster_import calls by global or
    # manager name. A phase whose function is gone is left out (its time lands in "the rest").
    ("personnel.imports", None, ("read_rows", "_read_rows"), "read .xlsx (python-calamine)"),
    ("personnel.imports", None, ("_validate", "validate"), "validate rows"),
    ("personnel.imports", None, ("_existing", "existing"), "load existing inspectors"),
    ("django.db.models.query", "QuerySet", ("bulk_create",), "bulk_create"),
    ("django.db.models.query", "QuerySet", ("bulk_update",), "bulk_update"),
)


def time_phases(actor, data: bytes, rows: int, label: str) -> dict:
    """Wall-clock seconds per phase of one roster_import, without a profiler's overhead."""
    import importlib
    from unittest import mock

    from personnel.imports import roster_import

    spent: dict[str, float] = {}

    def timed(function, phase):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[phase] = spent.get(phase, 0.0) + time.perf_counter() - start

        return wrapper

    patches = []
    missing = []
    for module_name, class_name, names, phase in TIMED_PHASES:
        target = importlib.import_module(module_name)
        if class_name:
            target = getattr(target, class_name)
        attribute = next((name for name in names if hasattr(target, name)), None)
        if attribute is None:
            missing.append(f"{module_name}.{names[0]}")
            continue
        patches.append(mock.patch.object(target, attribute, timed(getattr(target, attribute), phase)))
    for patch in patches:
        patch.start()
    try:
        start = time.perf_counter()
        result = roster_import(actor=actor, data=data, filename="roster.xlsx", dry_run=False)
        total = time.perf_counter() - start
    finally:
        for patch in reversed(patches):
            patch.stop()
    if not result.ok or result.total != rows:
        raise BenchError(f"timed roster_import ({label}) failed: {result.as_dict()['errors'][:3]}")
    phases = {phase: round(spent[phase], 3) for *_, phase in TIMED_PHASES if spent.get(phase)}
    phases["the rest (header, compare, build objects)"] = round(total - sum(spent.values()), 3)
    return {"seconds": round(total, 3), "phases": phases, "not_found": missing}


def profile_roster_import(actor, data: bytes, rows: int, label: str) -> dict:
    """cProfile one roster_import; keep the pstats file and the functions with most own time."""
    from personnel.imports import roster_import

    profiler = cProfile.Profile()
    profiler.enable()
    result = roster_import(actor=actor, data=data, filename="roster.xlsx", dry_run=False)
    profiler.disable()
    if not result.ok or result.total != rows:
        raise BenchError(f"profiled roster_import ({label}) failed: {result.as_dict()['errors'][:3]}")
    OUT_DIR.mkdir(exist_ok=True)
    path = OUT_DIR / f"roster_import_{label}.prof"
    profiler.dump_stats(str(path))
    stats = pstats.Stats(profiler)
    by_own_time = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:15]
    top = [
        {
            "function": f"{Path(filename).name}:{line}({function})",
            "own_seconds": round(own, 3),
            "cumulative_seconds": round(cumulative, 3),
            "calls": calls,
        }
        for (filename, line, function), (_cc, calls, own, cumulative, _callers) in by_own_time
    ]
    return {"profiled_seconds": round(stats.total_tt, 3), "pstats_file": str(path), "top_own_time": top}


# --- django-import-export ------------------------------------------------------------------


def import_export_resources() -> dict[str, type]:
    """ModelResources doing what roster_import does, with the model's full validation."""
    from django.core.exceptions import ValidationError
    from import_export import fields, resources, widgets
    from import_export.instance_loaders import CachedInstanceLoader

    from personnel import idcard
    from personnel.models import Inspector, Region
    from personnel.vocab import sector_from_text, status_from_text

    class NationalIdWidget(widgets.CharWidget):
        """Full-width digits, spaces, lower-case x: the same normalisation as roster_import."""

        def clean(self, value, row=None, **kwargs):
            if isinstance(value, int | float) and not isinstance(value, bool):
                raise ValueError("身份证号被保存为数字，已丢失精度；请将该列设为文本格式后重新录入")
            return idcard.normalize(value) if value not in (None, "") else ""

    class VocabWidget(widgets.Widget):
        def __init__(self, lookup, what):
            super().__init__()
            self.lookup = lookup
            self.what = what

        def clean(self, value, row=None, **kwargs):
            if value in (None, ""):
                return None
            stored = self.lookup(value)
            if stored is None:
                raise ValueError(f"未知{self.what}“{value}”")
            return stored

    class InspectorResource(resources.ModelResource):
        name = fields.Field(attribute="name", column_name="姓名", widget=widgets.CharWidget())
        national_id = fields.Field(attribute="national_id", column_name="身份证号", widget=NationalIdWidget())
        region = fields.Field(
            attribute="region", column_name="所属地区", widget=widgets.ForeignKeyWidget(Region, field="code")
        )
        sector = fields.Field(attribute="sector", column_name="行业", widget=VocabWidget(sector_from_text, "行业"))
        # A blank optional cell leaves the stored value alone, as in roster_import.
        position = fields.Field(
            attribute="position",
            column_name="职务",
            widget=widgets.CharWidget(allow_blank=False),
            saves_null_values=False,
        )
        phone = fields.Field(
            attribute="phone", column_name="手机", widget=widgets.CharWidget(allow_blank=False), saves_null_values=False
        )
        status = fields.Field(
            attribute="status",
            column_name="状态",
            widget=VocabWidget(status_from_text, "状态"),
            saves_null_values=False,
        )
        hired_on = fields.Field(
            attribute="hired_on", column_name="入职日期", widget=widgets.DateWidget(), saves_null_values=False
        )

        class Meta:
            model = Inspector
            fields = ("name", "national_id", "region", "sector", "position", "phone", "status", "hired_on")
            import_id_fields = ("national_id",)
            clean_model_instances = True  # full_clean(): field validators incl. the ID checksum, FK, unique
            skip_diff = True  # no admin preview wanted; diffing every row only costs time

        def import_instance(self, instance, row, **kwargs):
            errors = {}
            try:
                super().import_instance(instance, row, **kwargs)
            except ValidationError as exc:
                errors = exc.update_error_dict(errors)
            # gender and birth_date come from the ID number (Inspector.save() does the
            # same, but full_clean() runs first and use_bulk never calls save()).
            if "national_id" not in errors:
                # An invalid number: full_clean() reports it through the field's validator.
                with contextlib.suppress(idcard.IdNumberError):
                    instance.derive_from_national_id()
            if errors:
                raise ValidationError(errors)

    class InspectorBulkResource(InspectorResource):
        class Meta(InspectorResource.Meta):
            use_bulk = True
            batch_size = 1000
            instance_loader_class = CachedInstanceLoader

    return {
        "django-import-export (row by row)": InspectorResource,
        "django-import-export use_bulk": InspectorBulkResource,
    }


def run_import_export(tool: str, resource_class: type, data: bytes, rows: int) -> Run:
    from tablib import Dataset

    with Measure() as measure:
        start = time.perf_counter()
        dataset = Dataset().load(data, format="xlsx")
        load_seconds = time.perf_counter() - start
        result = resource_class().import_data(
            dataset,
            dry_run=False,
            use_transactions=True,
            raise_errors=False,
            # all or nothing on invalid rows too, like roster_import
            rollback_on_validation_errors=True,
        )
    if result.has_errors() or result.has_validation_errors():
        shown = [f"  row {number}: {errors[0].error!r}" for number, errors in result.row_errors()[:3]]
        shown += [f"  {error.error!r}" for error in result.base_errors[:3]]
        shown += [f"  row {invalid.number}: {invalid.error_dict}" for invalid in result.invalid_rows[:3]]
        raise BenchError(f"{tool}: import reported errors, nothing kept:\n" + "\n".join(shown))
    totals = {kind: count for kind, count in result.totals.items() if count}
    if totals != {"new": rows}:
        raise BenchError(f"{tool}: result totals {totals}, expected {{'new': {rows}}}")
    return Run(
        tool,
        measure.seconds,
        measure.cpu_seconds,
        rows,
        measure.peak_rss_delta_mb,
        {"counts": totals, "dataset_load_seconds": round(load_seconds, 3)},
    )


def traced_peaks(actor, data: bytes, rows: int, expected: list[tuple], import_export: bool) -> dict[str, float]:
    """Peak Python heap (tracemalloc) of each import, in untimed extra runs: unlike the RSS
    figure it does not depend on what earlier runs left allocated in the process."""
    peaks = {}

    def traced(tool, function):
        gc.collect()
        tracemalloc.start()
        try:
            function()
            peaks[tool] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        finally:
            tracemalloc.stop()
        check_stored(f"{tool} (tracemalloc)", expected)

    delete_inspectors()
    traced(
        "roster_import (new rows)",
        lambda: run_roster_import("roster_import (new rows)", actor, data, rows, {"created": rows}),
    )
    traced(
        "roster_import (again, unchanged)",
        lambda: run_roster_import("roster_import (again, unchanged)", actor, data, rows, {"unchanged": rows}),
    )
    if import_export:
        for tool, resource_class in import_export_resources().items():
            delete_inspectors()
            traced(tool, lambda tool=tool, cls=resource_class: run_import_export(tool, cls, data, rows))
    return peaks


# --- validation parity ----------------------------------------------------------------------


def write_xlsx(rows: list[tuple]) -> bytes:
    """A small sheet: str -> text cell, int/float -> number cell, date -> date cell, None -> blank."""
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet()
    date = workbook.add_format({"num_format": "yyyy-mm-dd"})
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, str):
                sheet.write_string(r, c, value)
            elif isinstance(value, int | float):
                sheet.write_number(r, c, value)
            elif isinstance(value, dt.date):
                sheet.write_datetime(r, c, value, date)
    workbook.close()
    return buffer.getvalue()


def validation_cases() -> dict[str, bytes]:
    """One file per kind of bad row: two good rows, then the bad one."""
    from personnel import idcard

    good = [
        (
            "张伟",
            idcard.make("13010219800101001"),
            "130102",
            "危化",
            "科员",
            "13800000001",
            "在岗",
            dt.date(2005, 3, 1),
        ),
        (
            "李娜",
            idcard.make("13020219850202002"),
            "130202",
            "工贸",
            "科长",
            "13800000002",
            "休假",
            dt.date(2010, 7, 1),
        ),
    ]
    new_id = idcard.make("13010519900303003")
    bad_check = new_id[:17] + ("0" if new_id[17] != "0" else "1")
    base = ("王芳", new_id, "130105", "煤矿", "科员", "13800000003", "在岗", dt.date(2012, 1, 1))

    def bad(**changes):
        row = list(base)
        for column, value in changes.items():
            row[int(column[1:])] = value
        return [HEADERS, *good, tuple(row)]

    cases = {
        "ID checksum wrong": bad(c1=bad_check),
        "ID stored as a number": bad(c1=float(new_id[:17] + "0")),
        "ID birth date impossible": bad(c1=idcard.make("13010519901332003")),
        "ID repeated in the file": bad(c1=good[0][1]),
        "region code unknown": bad(c2="139999"),
        "sector unknown": bad(c3="建筑"),
        "sector blank": bad(c3=None),
        "name blank": bad(c0=None),
        "name over 64 characters": bad(c0="王" * 65),
        "phone not a phone number": bad(c5="12ab"),
        "status unknown": bad(c6="出差"),
        "date text impossible": bad(c7="2019-13-45"),
    }
    return {case: write_xlsx(rows) for case, rows in cases.items()}


def validation_parity(actor) -> list[dict]:
    """Does each importer reject each bad row (and write nothing)? The speed comparison is
    only fair if the peer validates about as much as roster_import does."""
    from tablib import Dataset

    from personnel.imports import roster_import
    from personnel.models import Inspector

    resources_by_tool = import_export_resources()
    outcomes = []
    for case, data in validation_cases().items():
        outcome = {"case": case}
        delete_inspectors()
        result = roster_import(actor=actor, data=data, filename="case.xlsx", dry_run=False)
        outcome["roster_import"] = _verdict(not result.ok, Inspector.objects.count())
        for tool, resource_class in resources_by_tool.items():
            delete_inspectors()
            try:
                result = resource_class().import_data(
                    Dataset().load(data, format="xlsx"),
                    dry_run=False,
                    use_transactions=True,
                    raise_errors=False,
                    rollback_on_validation_errors=True,
                )
                rejected = result.has_errors() or result.has_validation_errors()
            except Exception:  # a crash is a rejection too, just an ugly one
                rejected = True
            outcome[tool] = _verdict(rejected, Inspector.objects.count())
        outcomes.append(outcome)
    delete_inspectors()
    return outcomes


def _verdict(rejected: bool, stored: int) -> str:
    if rejected:
        return "rejected" if stored == 0 else f"rejected, but {stored} rows kept"
    return f"ACCEPTED ({stored} rows stored)"


# --- report ------------------------------------------------------------------------------


def print_table(title: str, runs: list[Run], baseline: Run | None) -> None:
    """Seconds, CPU seconds, rows/s, speed-up against ``baseline`` (if any), peak RSS growth."""
    print(f"\n{title}")
    ratio_header = f" {'vs i-e':>7}" if baseline else ""
    header = f"{'tool':<40} {'seconds':>8} {'cpu s':>8} {'rows/s':>9}{ratio_header} {'peak RSS +MB':>13}"
    print(header)
    print("-" * len(header))
    for run in runs:
        ratio = f" {f'{baseline.seconds / run.seconds:.2f}x':>7}" if baseline else ""
        rss = f"{run.peak_rss_delta_mb:.1f}" if run.peak_rss_delta_mb is not None else "n/a"
        print(f"{run.tool:<40} {run.seconds:>8.3f} {run.cpu_seconds:>8.3f} {run.rows_per_s:>9,.0f}{ratio} {rss:>13}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.roster_import", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="data rows in the generated roster (default 10000)")
    parser.add_argument("--reader-only", action="store_true", help="only time the .xlsx readers (no database)")
    parser.add_argument("--profile", action="store_true", help="also cProfile roster_import (fresh and unchanged)")
    parser.add_argument(
        "--no-import-export",
        action="store_true",
        help="time roster_import only (to try large --rows; no ratio then)",
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also measure each import's peak Python heap (untimed extra runs)"
    )
    parser.add_argument("--output", type=Path, default=OUT_FILE, help=f"JSON results (default {OUT_FILE})")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")

    report: dict = {
        "benchmark": "roster_import",
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "cpu_model": cpu_model(),
            "platform": platform.platform(),
            "load_average_at_start": load_average(),
        },
        "versions": versions("Django", "django-import-export", "tablib", "python-calamine", "openpyxl", "xlsxwriter"),
        "rows": args.rows,
    }
    print(
        f"roster_import benchmark: {args.rows:,} rows, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {report['machine']['load_average_at_start']}"
    )

    with Measure() as measure:
        data, expected = make_roster(args.rows)
    report["file"] = {"bytes": len(data), "generate_seconds": round(measure.seconds, 3)}
    print(f"generated roster .xlsx: {len(data):,} bytes in {measure.seconds:.2f} s")

    readers = bench_readers(data, args.rows)
    print_table("readers alone (best of 3)", readers, None)
    report["readers"] = [run.as_dict(None) for run in readers]

    if not args.reader_only:
        tmpdir = tempfile.mkdtemp(prefix="bench-roster-")
        teardown = None
        try:
            database, teardown = scratch_database(tmpdir, name="roster")
            report["database"] = database
            print(f"\ndatabase: {database}")
            actor = make_fixtures()
            runs = []

            runs.append(run_roster_import("roster_import (new rows)", actor, data, args.rows, {"created": args.rows}))
            check_stored(runs[-1].tool, expected)
            runs.append(
                run_roster_import("roster_import (again, unchanged)", actor, data, args.rows, {"unchanged": args.rows})
            )
            check_stored(runs[-1].tool, expected)

            if args.no_import_export:
                print_table("imports, from .xlsx bytes to committed rows (one run each)", runs, None)
                report["imports"] = [run.as_dict(None) for run in runs]
            else:
                ie_runs = []
                for tool, resource_class in import_export_resources().items():
                    delete_inspectors()
                    ie_runs.append(run_import_export(tool, resource_class, data, args.rows))
                    check_stored(tool, expected)
                runs.extend(ie_runs)
                baseline = ie_runs[0]
                fastest_ie = min(ie_runs, key=lambda run: run.seconds)

                print_table("imports, from .xlsx bytes to committed rows (one run each)", runs, baseline)
                report["imports"] = [run.as_dict(baseline) for run in runs]
                ours = runs[0]
                speedup = {
                    "vs_row_by_row": round(baseline.seconds / ours.seconds, 2),
                    "vs_fastest_import_export": round(fastest_ie.seconds / ours.seconds, 2),
                    # CPU time of this process: steadier than wall clock on a busy machine, but
                    # it leaves out a database server's work (PostgreSQL), so wall clock decides.
                    "cpu_vs_row_by_row": round(baseline.cpu_seconds / ours.cpu_seconds, 2),
                    "cpu_vs_fastest_import_export": round(
                        min(run.cpu_seconds for run in ie_runs) / ours.cpu_seconds, 2
                    ),
                    "goal": 5.0,
                }
                speedup["goal_met"] = speedup["vs_fastest_import_export"] >= speedup["goal"]
                report["roster_import_speedup"] = speedup
                print(
                    f"\nroster_import (new rows) is {speedup['vs_row_by_row']}x django-import-export row by row, "
                    f"{speedup['vs_fastest_import_export']}x its fastest variant (CPU time: "
                    f"{speedup['cpu_vs_row_by_row']}x, {speedup['cpu_vs_fastest_import_export']}x); goal 5x: "
                    + ("met" if speedup["goal_met"] else "NOT met")
                )

                parity = report["validation_parity"] = validation_parity(actor)
                tools = [key for key in parity[0] if key != "case"]
                print("\nvalidation parity: 2 good rows + 1 bad row, all or nothing expected")
                print(f"{'bad row':<26} " + " ".join(f"{tool[:34]:<34}" for tool in tools))
                for outcome in parity:
                    print(f"{outcome['case']:<26} " + " ".join(f"{outcome[tool][:34]:<34}" for tool in tools))

            if args.tracemalloc:
                peaks = report["tracemalloc_peak_mb"] = traced_peaks(
                    actor, data, args.rows, expected, import_export=not args.no_import_export
                )
                print("\npeak Python heap (tracemalloc, untimed extra runs):")
                for tool, megabytes in peaks.items():
                    print(f"  {tool:<40} {megabytes:>7.1f} MB")

            if args.profile:
                report["phases"] = {}
                report["profile"] = {}
                for label in ("new", "unchanged"):
                    if label == "new":
                        delete_inspectors()
                    report["phases"][label] = time_phases(actor, data, args.rows, label)
                    if label == "new":
                        delete_inspectors()
                    report["profile"][label] = profile_roster_import(actor, data, args.rows, label)
                    phases = report["phases"][label]
                    print(f"\nroster_import ({label} rows) by phase, {phases['seconds']:.3f} s without a profiler:")
                    for phase, seconds in phases["phases"].items():
                        print(f"  {phase:<50} {seconds:>7.3f} s")
                    profile = report["profile"][label]
                    print(f"  most own time under cProfile ({profile['profiled_seconds']} s profiled):")
                    for entry in profile["top_own_time"][:8]:
                        print(f"    {entry['own_seconds']:>6.3f} s {entry['calls']:>8,}x  {entry['function']}")
                    check_stored(f"roster_import ({label}, profiled)", expected)
                print(f"  (pstats files in {OUT_DIR})")
        finally:
            if teardown is not None:
                teardown()
            shutil.rmtree(tmpdir, ignore_errors=True)

    report["machine"]["load_average_at_end"] = load_average()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nresults written to {args.output}")
    return 0


if __name__ == "__main__":
    run_main(main)
