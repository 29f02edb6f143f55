"""Yearly workbook benchmark: the project's whole export against bare xlsxwriter, on PostgreSQL.

    .venv/bin/python -m bench.export [--rows 100000 1000000] [--reuse] [--profile] [--readme]

For each size N:
1. Generates a province (11 cities, 49 counties), about N/4 inspectors, N enrollments in
   the year's batches (mostly completed, hours credited), N/2 the year before, course exams
   with results for about a third of the batches, and a certificate with its events for
   most inspectors. Rows go in with COPY (psycopg), then VACUUM ANALYZE.
2. In a fresh subprocess, times ``reports.xlsx.yearly_workbook`` (every sheet, detail
   included) for the whole province; the time spent in the database (every statement's
   execution and every fetch of its rows, iterator chunks included) is summed separately.
3. In another fresh subprocess, reads the same rows into Python lists first (untimed),
   then times bare xlsxwriter (``constant_memory``, typed writes) writing the same sheets,
   rows and columns from those lists.
4. In a third, times the detail written as CSV (the csv module) from the same query: the
   path to recommend for very large scopes.
Each subprocess reports its own peak RSS (VmHWM and ru_maxrss), so no number is polluted
by another's. Prints a table and writes bench/out/export.json; ``--readme`` also appends
the figures to bench/README.md.

The database is ``bench`` on the local PostgreSQL (DATABASE_URL when it names another
PostgreSQL database, never ``test``); it is created if missing and its tables are emptied
and refilled for every size. Nothing else is touched.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import io
import json
import os
import platform
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

from bench.harness import (
    BASE_DIR,
    OUT_DIR,
    README,
    BenchError,
    django_setup,
    ensure_database,
    national_id,
    person_name,
    proc_status_kb,
    reset_peak_rss,
    run_main,
    versions,
    write_readme_figures,
)
from bench.harness import database_url as checked_database_url

OUT_FILE = OUT_DIR / "export.json"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/bench"

YEAR = 2024
GOALS = {"ratio": 0.8, "db_share": 0.10, "rss_mb": 120}
JIT = {"setting": "server"}  # PostgreSQL JIT for the measured sessions: the server's default, on or off

# code, name, counties (code, name)
CITIES = (
    (
        "130100",
        "石家庄市",
        (
            ("130102", "长安区"),
            ("130104", "桥西区"),
            ("130105", "新华区"),
            ("130108", "裕华区"),
            ("130109", "藁城区"),
            ("130123", "正定县"),
        ),
    ),
    (
        "130200",
        "唐山市",
        (
            ("130202", "路南区"),
            ("130203", "路北区"),
            ("130204", "古冶区"),
            ("130205", "开平区"),
            ("130207", "丰南区"),
            ("130283", "迁安市"),
        ),
    ),
    (
        "130300",
        "秦皇岛市",
        (("130302", "海港区"), ("130303", "山海关区"), ("130304", "北戴河区"), ("130322", "昌黎县")),
    ),
    (
        "130400",
        "邯郸市",
        (
            ("130402", "邯山区"),
            ("130403", "丛台区"),
            ("130404", "复兴区"),
            ("130406", "峰峰矿区"),
            ("130481", "武安市"),
        ),
    ),
    (
        "130500",
        "邢台市",
        (("130502", "襄都区"), ("130503", "信都区"), ("130528", "宁晋县"), ("130582", "沙河市")),
    ),
    (
        "130600",
        "保定市",
        (("130602", "竞秀区"), ("130606", "莲池区"), ("130607", "满城区"), ("130681", "涿州市"), ("130682", "定州市")),
    ),
    (
        "130700",
        "张家口市",
        (("130702", "桥东区"), ("130703", "桥西区"), ("130705", "宣化区"), ("130726", "蔚县")),
    ),
    (
        "130800",
        "承德市",
        (("130802", "双桥区"), ("130803", "双滦区"), ("130822", "兴隆县"), ("130881", "平泉市")),
    ),
    (
        "130900",
        "沧州市",
        (("130902", "新华区"), ("130903", "运河区"), ("130982", "任丘市"), ("130983", "黄骅市")),
    ),
    (
        "131000",
        "廊坊市",
        (("131002", "安次区"), ("131003", "广阳区"), ("131081", "霸州市"), ("131082", "三河市")),
    ),
    ("131100", "衡水市", (("131102", "桃城区"), ("131103", "冀州区"), ("131182", "深州市"))),
)
# code, title, hours, topics
COURSES = (
    ("SZ-01", "行政执法三项制度专题培训", Decimal("16.0"), ("publicity", "process_recording", "legal_review")),
    ("GS-01", "行政执法公示制度实务", Decimal("8.0"), ("publicity",)),
    ("JL-01", "执法全过程记录与执法记录仪使用", Decimal("8.0"), ("process_recording",)),
    ("FZ-01", "重大执法决定法制审核要点", Decimal("12.0"), ("legal_review",)),
    ("AQ-01", "安全生产法律法规解读", Decimal("24.0"), ("other",)),
    ("WH-01", "危险化学品安全监管执法", Decimal("20.0"), ("other",)),
    ("MK-01", "煤矿安全监察执法业务", Decimal("20.0"), ("other",)),
    ("GM-01", "工贸行业重大事故隐患判定标准", Decimal("12.0"), ("other",)),
)
SECTORS = ("coal", "non_coal_mine", "hazardous_chemicals", "industry_trade")
POSITIONS = ("科员", "副科长", "科长", "执法队员", "副大队长", "大队长", "")
# enrollment status and its share of a past year's seats
ENROLLMENT_MIX = (("completed", 88), ("no_show", 5), ("cancelled", 4), ("enrolled", 3))


# --- database -------------------------------------------------------------------------------------


def database_url() -> str:
    """DATABASE_URL when it names a PostgreSQL database, else ``bench`` on the local server."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        url = DEFAULT_DATABASE_URL
    return checked_database_url(url, DEFAULT_DATABASE_URL)


def setup_django(url: str, *, migrate: bool = False) -> None:
    django_setup(database_url=url)
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


# --- generating the data --------------------------------------------------------------------------


class Ids:
    def __init__(self):
        self.next: dict[str, int] = {}

    def __call__(self, table: str) -> int:
        value = self.next.get(table, 1)
        self.next[table] = value + 1
        return value


def _copy(cursor, table: str, columns: tuple[str, ...], rows) -> int:
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def generate(rows: int, *, seed: int = 20240101) -> dict:
    """Empty the tables and fill them for ``rows`` enrollments in YEAR (and rows/2 in the year
    before). Returns what was made."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from exams import numbers
    from personnel.models import Region
    from training.models import Course, HoursPolicy

    rng = random.Random(seed + rows)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE personnel_region, training_course RESTART IDENTITY CASCADE")

    # regions and courses through the ORM (a few dozen rows; Region.save computes the path)
    province = Region(code="130000", name="河北省", level="province")
    province.save()
    cities, counties, parent_of = [], [], {}
    for code, name, children in CITIES:
        city = Region(code=code, name=name, level="city", parent=province)
        city.save()
        cities.append(city)
        for ccode, cname in children:
            county = Region(code=ccode, name=cname, level="county", parent=city)
            county.save()
            counties.append(county)
            parent_of[county.pk] = city.pk
    courses = []
    for code, title, hours, topics in COURSES:
        course = Course(code=code, title=title, hours=hours)
        course.set_topics(topics)
        course.save()
        courses.append(course)
    HoursPolicy.objects.create(region=cities[1], year=YEAR, required_hours=Decimal("40"))
    admin, _ = get_user_model().objects.get_or_create(
        username="bench_admin", defaults={"is_staff": True, "is_superuser": True}
    )

    now = timezone.now()
    ids = Ids()
    pg = connection.connection  # the psycopg connection: COPY

    # inspectors: nine in ten in a county, the rest in a city's own office
    n_inspectors = max(rows // 4, 200)
    by_region: dict[int, list[int]] = {}
    per_region_count: dict[int, int] = {}
    inspector_rows = []
    for _ in range(n_inspectors):
        region = rng.choice(counties) if rng.random() < 0.9 else rng.choice(cities)
        k = per_region_count.get(region.pk, 0)
        per_region_count[region.pk] = k + 1
        birth = dt.date(1962, 1, 1) + dt.timedelta(days=(k * 37) % 13000)
        nid = national_id(region.code, birth, rng.randrange(1000))
        pk = ids("inspector")
        name = person_name(rng)
        status = "active" if rng.random() < 0.92 else rng.choice(("on_leave", "transferred", "retired"))
        gender = "male" if int(nid[16]) % 2 else "female"
        hired = dt.date(1990, 1, 1) + dt.timedelta(days=rng.randrange(30 * 365))
        inspector_rows.append(
            (
                pk,
                now,
                now,
                name,
                nid,
                gender,
                birth,
                region.pk,
                rng.choice(SECTORS),
                rng.choice(POSITIONS),
                "",
                status,
                hired,
                "",  # photo: none
                "",  # unit
            )
        )
        by_region.setdefault(region.pk, []).append(pk)
    pool: dict[int, list[int]] = {r.pk: list(by_region.get(r.pk, [])) for r in counties}
    for city in cities:
        pool[city.pk] = list(by_region.get(city.pk, []))
        for county in counties:
            if parent_of[county.pk] == city.pk:
                pool[city.pk] += by_region.get(county.pk, [])
    pool[province.pk] = [row[0] for row in inspector_rows]

    with pg.cursor() as cursor:
        _copy(
            cursor,
            "personnel_inspector",
            (
                "id",
                "created_at",
                "updated_at",
                "name",
                "national_id",
                "gender",
                "birth_date",
                "region_id",
                "sector",
                "position",
                "phone",
                "status",
                "hired_on",
                "photo",
                "unit",
            ),
            inspector_rows,
        )
        made = {"inspectors": n_inspectors, "courses": len(courses)}
        for year, seats in ((YEAR, rows), (YEAR - 1, rows // 2)):
            made[f"enrollments_{year}"] = _year(cursor, rng, ids, now, year, seats, pool, province, cities, counties)
        made["certificates"] = _certificates(cursor, rng, ids, now, inspector_rows, numbers)

    with connection.cursor() as cursor:
        for table in (
            "personnel_inspector",
            "training_batch",
            "training_enrollment",
            "exams_exam",
            "exams_sitting",
            "exams_result",
            "exams_certificate",
            "exams_certificateevent",
        ):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 1)) FROM {table}")  # noqa: S608
    connection.close()
    # outside a transaction block: VACUUM refuses to run inside one
    import psycopg

    with psycopg.connect(database_url(), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    made["admin"] = admin.username
    made["seconds"] = round(time.perf_counter() - started, 1)
    return made


def _year(cursor, rng, ids, now, year, seats, pool, province, cities, counties) -> dict:
    """The year's batches (organised by the province, a city or a county), their enrollments,
    and a course exam with results for about a third of them."""
    from training.models import Course

    course_rows = list(Course.objects.order_by("id").values_list("id", "hours"))
    batch_rows, enrollment_rows, exam_rows, sitting_rows, result_rows = [], [], [], [], []
    numbers_used: dict[int, int] = {}
    statuses = [s for s, _w in ENROLLMENT_MIX]
    weights = [w for _s, w in ENROLLMENT_MIX]
    left = seats
    while left > 0:
        roll = rng.random()
        organiser = province if roll < 0.1 else (rng.choice(cities) if roll < 0.4 else rng.choice(counties))
        candidates = pool[organiser.pk]
        size = min(rng.randint(60, 140), left, len(candidates))
        if size <= 0:
            continue
        left -= size
        course_id, hours = rng.choice(course_rows)
        starts = dt.date(year, 1, 6) + dt.timedelta(days=rng.randrange(330))
        ends = starts + dt.timedelta(days=2)
        number = numbers_used.get(organiser.pk, 0) + 1
        numbers_used[organiser.pk] = number
        batch_id = ids("batch")
        batch_rows.append(
            (
                batch_id,
                now,
                now,
                course_id,
                year,
                number,
                rng.choice(("", *SECTORS)),
                organiser.pk,
                starts,
                ends,
                "培训中心",
                max(size + 10, 120),
                starts - dt.timedelta(days=5),
                "completed",
            )
        )
        with_exam = rng.random() < 0.33
        if with_exam:
            exam_id, sitting_id = ids("exam"), ids("sitting")
            exam_rows.append((exam_id, now, now, f"{year}年第{number}批结业考试", "course", course_id, organiser.pk))
            exam_rows[-1] += (Decimal("60"), 3)
            sitting_rows.append(
                (sitting_id, now, now, exam_id, ends, "培训中心", batch_id, "closed", "paper", "on_submit")
            )
        for inspector_id in rng.sample(candidates, size):
            status = rng.choices(statuses, weights)[0]
            completed = status == "completed"
            enrollment_rows.append(
                (
                    ids("enrollment"),
                    now,
                    now,
                    batch_id,
                    inspector_id,
                    status,
                    None,
                    hours if completed else Decimal("0"),
                    ends if completed else None,
                    "",
                    None,
                )
            )
            if with_exam and completed and rng.random() < 0.9:
                absent = rng.random() < 0.03
                score = None if absent else Decimal(rng.randint(40, 100))
                result_rows.append(
                    (
                        ids("result"),
                        now,
                        now,
                        sitting_id,
                        inspector_id,
                        exam_id,
                        "{}",
                        score,
                        absent,
                        None if absent else score >= 60,
                        None if absent else 1,
                        None if absent else Decimal("60"),
                    )
                )
    _copy(
        cursor,
        "training_batch",
        (
            "id",
            "created_at",
            "updated_at",
            "course_id",
            "year",
            "number",
            "sector",
            "region_id",
            "starts_on",
            "ends_on",
            "place",
            "capacity",
            "enrollment_deadline",
            "status",
        ),
        batch_rows,
    )
    _copy(
        cursor,
        "training_enrollment",
        (
            "id",
            "created_at",
            "updated_at",
            "batch_id",
            "inspector_id",
            "status",
            "waitlist_position",
            "hours_credited",
            "completed_on",
            "override_reason",
            "reminder_sent_at",
        ),
        enrollment_rows,
    )
    _copy(
        cursor,
        "exams_exam",
        (
            "id",
            "created_at",
            "updated_at",
            "title",
            "kind",
            "course_id",
            "region_id",
            "pass_mark",
            "max_attempts",
        ),
        exam_rows,
    )
    _copy(
        cursor,
        "exams_sitting",
        (
            "id",
            "created_at",
            "updated_at",
            "exam_id",
            "held_on",
            "place",
            "batch_id",
            "status",
            "mode",
            "score_shown",
        ),
        sitting_rows,
    )
    _copy(
        cursor,
        "exams_result",
        (
            "id",
            "created_at",
            "updated_at",
            "sitting_id",
            "inspector_id",
            "exam_id",
            "part_scores",
            "score",
            "absent",
            "passed",
            "attempt",
            "pass_mark",
        ),
        result_rows,
    )
    return {"batches": len(batch_rows), "enrollments": len(enrollment_rows), "results": len(result_rows)}


def _certificates(cursor, rng, ids, now, inspector_rows, numbers) -> dict:
    """A certificate for four in five inspectors, issued 2019-2024, with its event log."""
    from django.utils import timezone

    today = dt.date(YEAR + 1, 11, 1)
    serials: dict[int, int] = {}
    cert_rows, event_rows = [], []

    def at(day: dt.date):
        return timezone.make_aware(dt.datetime.combine(day, dt.time(10)))

    for row in inspector_rows:
        if rng.random() >= 0.8:
            continue
        inspector_id, region_id = row[0], row[7]
        issued = dt.date(2019, 1, 2) + dt.timedelta(days=rng.randrange(6 * 365 - 10))
        until = issued + dt.timedelta(days=5 * 365)
        serial = serials.get(issued.year, 0) + 1
        serials[issued.year] = serial
        cert_id = ids("certificate")
        status = "expired" if until < today else "valid"
        event_rows.append((ids("event"), cert_id, "issued", "", "", "valid", None, at(issued)))
        if status == "valid" and rng.random() < 0.04:
            status = "suspended" if rng.random() < 0.75 else "revoked"
            day = issued + dt.timedelta(days=rng.randrange((today - issued).days))
            event_rows.append((ids("event"), cert_id, status, "违规执法", "valid", status, None, at(day)))
        elif status == "expired":
            event_rows.append((ids("event"), cert_id, "expired", "", "valid", "expired", None, at(until)))
        number = numbers.make(province_prefix="13", year=issued.year, serial=serial)
        cert_rows.append((cert_id, now, now, number, inspector_id, region_id, issued, until, status, None, 0, 1))
    _copy(
        cursor,
        "exams_certificate",
        (
            "id",
            "created_at",
            "updated_at",
            "number",
            "holder_id",
            "region_id",
            "issued_on",
            "valid_until",
            "status",
            "source_result_id",
            "renewal_count",
            "card_edition",
        ),
        cert_rows,
    )
    _copy(
        cursor,
        "exams_certificateevent",
        (
            "id",
            "certificate_id",
            "kind",
            "reason",
            "from_status",
            "to_status",
            "actor_id",
            "at",
        ),
        event_rows,
    )
    return {"certificates": len(cert_rows), "events": len(event_rows)}


# --- measuring inside a child process ----------------------------------------------------------------


class DbTimer:
    """Seconds spent in the database, in every thread: every statement and every
    ``fetchmany`` of its rows (server-side cursor chunks), through Django's ``CursorWrapper``. The export's readers run in threads of their
    own, beside the writing, so this is the database work done, not time the export waited:
    that is the pipeline's ``waited`` (recorded by ``installed`` as well)."""

    def __init__(self):
        self.execute = 0.0
        self.fetch = 0.0
        self.queries = 0
        self.waited = 0.0
        self.parallel = None
        self.slowest: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    @property
    def seconds(self) -> float:
        return self.execute + self.fetch

    def _record(self, took: float, sql: str) -> None:
        with self._lock:
            self.execute += took
            self.queries += 1
            self.slowest = sorted([*self.slowest, (round(took, 3), sql[:160])], reverse=True)[:12]

    @contextlib.contextmanager
    def installed(self):
        from django.db.backends import utils

        from reports import pipeline, xlsx

        timer = self
        original_execute = utils.CursorWrapper._execute
        original_pipeline = xlsx.Pipeline

        def timed_execute(wrapper, sql, params, *ignored_wrappers):
            start = time.perf_counter()
            try:
                return original_execute(wrapper, sql, params, *ignored_wrappers)
            finally:
                timer._record(time.perf_counter() - start, str(sql))

        def timed_fetchmany(wrapper, *args, **kwargs):
            # every chunk of a server-side cursor: Django's iterators and the raw hours rows
            start = time.perf_counter()
            try:
                return wrapper.cursor.fetchmany(*args, **kwargs)
            finally:
                took = time.perf_counter() - start
                with timer._lock:
                    timer.fetch += took

        class RecordedPipeline(pipeline.Pipeline):
            def __exit__(self, *exc_info):
                try:
                    return super().__exit__(*exc_info)
                finally:
                    timer.waited += self.waited
                    timer.parallel = self.parallel

        utils.CursorWrapper.fetchmany = timed_fetchmany
        utils.CursorWrapper._execute = timed_execute
        xlsx.Pipeline = RecordedPipeline
        try:
            yield self
        finally:
            del utils.CursorWrapper.fetchmany  # back to __getattr__, to the driver's cursor
            utils.CursorWrapper._execute = original_execute
            xlsx.Pipeline = original_pipeline


def _memory() -> dict:
    return {
        "peak_rss_mb": round((proc_status_kb("VmHWM") or 0) / 1024, 1),
        "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _scope_and_actor():
    from django.contrib.auth import get_user_model

    from personnel.models import Region
    from reports.figures import Scope

    region = Region.objects.get(parent__isnull=True)
    return Scope(region=region, year=YEAR), get_user_model().objects.get(username="bench_admin")


def child_project(output: Path, profile: Path | None) -> dict:
    """The project's whole export, as the export job runs it."""
    from reports import xlsx

    scope, actor = _scope_and_actor()
    progress_calls = [0]
    stages: dict[str, float] = {}
    current = ["", 0.0]

    def progress(_fraction, stage):
        # seconds per sheet, from the stage names the export reports as it goes
        progress_calls[0] += 1
        now = time.perf_counter()
        if stage != current[0]:
            if current[0]:
                stages[current[0]] = round(stages.get(current[0], 0) + now - current[1], 2)
            current[0], current[1] = stage, now

    before = proc_status_kb("VmRSS") or 0
    timer = DbTimer()
    profiler = cProfile.Profile() if profile else None
    with timer.installed():
        start = time.perf_counter()
        if profiler:
            profiler.enable()
        counts = xlsx.yearly_workbook(output, scope=scope, actor=actor, include_detail=True, progress=progress)
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - start
    if profiler:
        profiler.dump_stats(profile)
    return {
        "seconds": seconds,
        "db_seconds": timer.seconds,
        "db_execute_seconds": timer.execute,
        "db_fetch_seconds": timer.fetch,
        "waited_seconds": timer.waited,
        "parallel_reads": timer.parallel,
        "queries": timer.queries,
        "counts": counts,
        "rows": _sheet_rows(scope, actor, counts),
        "progress_calls": progress_calls[0],
        "stage_seconds": stages,
        "slowest_statements": timer.slowest,
        "bytes": output.stat().st_size,
        "rss_before_mb": round(before / 1024, 1),
        **_memory(),
    }


def _sheet_rows(scope, actor, counts: dict) -> dict:
    """Data rows per sheet of the project's workbook (the small sheets counted after the fact)."""
    from reports import figures as f

    return {
        "汇总": len(f.SUMMARY_FIGURES),
        "分行业": 4,
        "分地区": len(f.by_region(scope)),
        "分批次": counts["batches"],
        "学时达标": counts["inspectors"],
        "明细": counts["enrollments"],
    }


def build_cells(scope, actor) -> dict:
    """Every sheet's cells as Python values, in the order and types the project writes them.
    Strings repeated across rows are shared, as a hand-written exporter would keep them."""
    from personnel import idcard
    from reports import figures as f
    from reports import xlsx
    from reports.xlsx import ENROLLMENT_LABELS, SECTOR_LABELS, STATUS_LABELS

    shared: dict = {}

    def s(value):
        return shared.setdefault(value, value)

    summary = [
        (
            row["label"],
            row["current"],
            row["previous"],
            row["points"] if row["kind"] == "pct" else row["change"],
            "" if row["kind"] != "pct" else "百分点差",
        )
        for row in f.summary(scope)
    ]
    sectors = [
        (
            row["label"],
            *(row[k] for k in f.GROUP_FIGURES),
            *tuple(
                v
                for t in ("publicity", "process_recording", "legal_review", "all_three")
                for v in (row[f"cov_{t}"], row[f"cov_{t}_rate"])
            ),
        )
        for row in f.by_sector(scope, actor)
    ]
    regions = [
        (row["rank"], row["region"].name, f.region_level_label(row["region"]), *(row[k] for k in f.GROUP_FIGURES))
        for row in f.by_region(scope)
    ]
    exams = f.batch_exams(scope)
    topics = f.topic_labels()
    batches = [
        tuple(s(v) if isinstance(v, str) else v for v in xlsx.batch_values(row, exams, topics))
        for row in f.batch_rows(scope).iterator(chunk_size=2000)
    ]
    hours = [
        (
            s(name),
            idcard.mask(nid),
            s(region),
            s(SECTOR_LABELS.get(sector, sector)),
            s(STATUS_LABELS.get(status, status)),
            float(h),
            float(req),
            "达标" if h >= req else "未达标",
        )
        for name, nid, region, sector, status, h, req in f.hours_rows(scope)
    ]
    detail = [
        (
            year,
            number,
            s(course),
            s(organizer),
            s(start),
            s(end),
            s(name),
            s(idcard.mask(nid)),
            s(region),
            s(SECTOR_LABELS.get(sector, sector)),
            s(ENROLLMENT_LABELS.get(status, status)),
            s(float(h)),
        )
        for year, number, course, organizer, start, end, name, nid, region, sector, status, h in f.detail_rows(
            scope
        ).iterator(chunk_size=5000)
    ]
    return {"汇总": summary, "分行业": sectors, "分地区": regions, "分批次": batches, "学时达标": hours, "明细": detail}


def write_bare(path: Path, cells: dict) -> None:
    """Bare xlsxwriter, constant_memory, typed writes, same sheets, rows, columns and number
    formats as the project's workbook (a title row and a header row on top of each)."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(
        str(path), {"constant_memory": True, "strings_to_formulas": False, "default_date_format": "yyyy-mm-dd"}
    )
    header = wb.add_format({"bold": True})
    date = wb.add_format({"num_format": "yyyy-mm-dd"})
    dec = wb.add_format({"num_format": "#,##0.0"})
    integer = wb.add_format({"num_format": "#,##0"})
    pct = wb.add_format({"num_format": "0.0%"})

    def start(name: str, columns: int):
        ws = wb.add_worksheet(name)
        ws.write_string(0, 0, name)
        for col in range(columns):
            ws.write_string(1, col, f"列{col + 1}", header)
        ws.freeze_panes(2, 0)
        return ws

    def table(ws, name: str, rows: int, columns: int) -> None:
        # Each sheet's table an Excel table, as the project's workbook has (``xlsx.Book.table``:
        # added after the rows with constant_memory off for the call, which xlsxwriter refuses).
        last = 1 + max(rows, 1)
        if not rows:
            ws.write_blank(last, 0, None, integer)
        ws.constant_memory = False
        ws.add_table(
            1, 0, last, columns - 1, {"name": name, "columns": [{"header": f"列{c + 1}"} for c in range(columns)]}
        )
        ws.constant_memory = True

    # the small sheets: generic typed writes
    for name, table_name in (("汇总", "Summary"), ("分行业", "BySector"), ("分地区", "ByRegion")):
        rows = cells[name]
        ws = start(name, len(rows[0]) if rows else 1)
        for r, row in enumerate(rows, start=2):
            for c, value in enumerate(row):
                if value is None:
                    ws.write_blank(r, c, None, integer)
                elif isinstance(value, str):
                    ws.write_string(r, c, value)
                elif isinstance(value, float):
                    ws.write_number(r, c, value, pct)
                else:
                    ws.write_number(r, c, float(value), integer)
        table(ws, table_name, len(rows), len(rows[0]) if rows else 1)

    ws = start("分批次", 14)
    ws_string, ws_number, ws_date = ws.write_string, ws.write_number, ws.write_datetime
    for r, (label, course, topic, sector, organizer, st, en, cap, enr, comp, ns, wl, sat, rate) in enumerate(
        cells["分批次"], start=2
    ):
        ws_string(r, 0, label)
        ws_string(r, 1, course)
        ws_string(r, 2, topic)
        ws_string(r, 3, sector)
        ws_string(r, 4, organizer)
        ws_date(r, 5, st, date)
        ws_date(r, 6, en, date)
        ws_number(r, 7, cap, integer)
        ws_number(r, 8, enr, integer)
        ws_number(r, 9, comp, integer)
        ws_number(r, 10, ns, integer)
        ws_number(r, 11, wl, integer)
        ws_number(r, 12, sat, integer)
        if rate is None:
            ws.write_blank(r, 13, None, integer)
        else:
            ws_number(r, 13, rate, pct)
    table(ws, "ByBatch", len(cells["分批次"]), 14)

    ws = start("学时达标", 8)
    ws_string, ws_number = ws.write_string, ws.write_number
    for r, (name, nid, region, sector, status, h, req, met) in enumerate(cells["学时达标"], start=2):
        ws_string(r, 0, name)
        ws_string(r, 1, nid)
        ws_string(r, 2, region)
        ws_string(r, 3, sector)
        ws_string(r, 4, status)
        ws_number(r, 5, h, dec)
        ws_number(r, 6, req, dec)
        ws_string(r, 7, met)
    table(ws, "Hours", len(cells["学时达标"]), 8)

    ws = start("明细", 12)
    ws_string, ws_number, ws_date = ws.write_string, ws.write_number, ws.write_datetime
    for r, (year, number, course, organizer, st, en, name, nid, region, sector, status, h) in enumerate(
        cells["明细"], start=2
    ):
        ws_number(r, 0, year)
        ws_number(r, 1, number)
        ws_string(r, 2, course)
        ws_string(r, 3, organizer)
        ws_date(r, 4, st, date)
        ws_date(r, 5, en, date)
        ws_string(r, 6, name)
        ws_string(r, 7, nid)
        ws_string(r, 8, region)
        ws_string(r, 9, sector)
        ws_string(r, 10, status)
        ws_number(r, 11, h, dec)
    table(ws, "Detail", len(cells["明细"]), 12)
    wb.close()


def child_bare(output: Path) -> dict:
    scope, actor = _scope_and_actor()
    start = time.perf_counter()
    cells = build_cells(scope, actor)
    build_seconds = time.perf_counter() - start
    from django.db import connection

    connection.close()
    lists_rss = proc_status_kb("VmRSS") or 0
    peak_with_lists = proc_status_kb("VmHWM") or 0
    reset = reset_peak_rss()
    start = time.perf_counter()
    write_bare(output, cells)
    seconds = time.perf_counter() - start
    memory = _memory()
    writer_peak = (proc_status_kb("VmHWM") or 0) if reset else None
    return {
        "seconds": seconds,
        "build_lists_seconds": build_seconds,
        "rows": {name: len(rows) for name, rows in cells.items()},
        "bytes": output.stat().st_size,
        "lists_rss_mb": round(lists_rss / 1024, 1),
        "writer_rss_growth_mb": round((writer_peak - lists_rss) / 1024, 1) if writer_peak else None,
        **memory,
        "peak_rss_mb": round(max(peak_with_lists, writer_peak or 0, memory["peak_rss_mb"] * 1024) / 1024, 1),
    }


def child_csv(output: Path) -> dict:
    """The detail as CSV, as the export job ``enrollment_detail`` (and ``export_yearly_totals
    --detail-csv``) writes it: ``reports.detail_csv`` (utf-8 with a BOM, the 明细 sheet's cells)."""
    from reports import detail_csv

    scope, _actor = _scope_and_actor()
    timer = DbTimer()
    with timer.installed():
        start = time.perf_counter()
        written = detail_csv.write_file(output, scope=scope)
        seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "db_seconds": timer.seconds,
        "rows": {"明细": written},
        "bytes": output.stat().st_size,
        **_memory(),
    }


def run_child(kind: str, workdir: Path, rows: int, profile: bool) -> dict:
    suffix = ".csv" if kind == "csv" else ".xlsx"
    output = workdir / f"{kind}-{rows}{suffix}"
    command = [sys.executable, "-m", "bench.export", "--child", kind, "--output", str(output)]
    if profile and kind == "project":
        command += ["--profile-to", str(OUT_DIR / f"export_project_{rows}.prof")]
    env = dict(os.environ)
    if JIT["setting"] != "server":
        # libpq passes PGOPTIONS to the server at connect: this session only, no settings change
        env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} -c jit={JIT['setting']}".strip()
    load = os.getloadavg()[0]
    completed = subprocess.run(command, cwd=BASE_DIR, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise BenchError(f"{kind} child failed:\n{completed.stderr[-4000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["load_before"] = round(load, 2)
    result["load_after"] = round(os.getloadavg()[0], 2)
    result["total_rows"] = sum(result["rows"].values())
    result["rows_per_s"] = result["total_rows"] / result["seconds"]
    output.unlink(missing_ok=True)
    return result


# --- the report -----------------------------------------------------------------------------------------


def run_size(rows: int, *, reuse: bool, profile: bool, repeat: int, workdir: Path) -> dict:
    from django.db import connection

    from training.models import Enrollment

    if reuse and Enrollment.objects.filter(batch__year=YEAR).count() == rows:
        made = {"reused": True}
        print(f"\n== {rows:,} enrollments (reusing the data already in the database)")
    else:
        print(f"\n== {rows:,} enrollments: generating ...", flush=True)
        made = generate(rows)
        print(f"   generated in {made['seconds']} s: {json.dumps(made, ensure_ascii=False)}")
    connection.close()

    # The sides alternate, and each keeps its fastest run: on a shared machine, load from
    # elsewhere then slows both alike instead of whichever happened to run at a busy moment.
    projects, bares = [], []
    for attempt in range(repeat):
        projects.append(run_child("project", workdir, rows, profile and attempt == 0))
        print(_line("project export (every sheet)", projects[-1]), flush=True)
        bares.append(run_child("bare", workdir, rows, False))
        print(_line("bare xlsxwriter, same cells", bares[-1]), flush=True)
    project = min(projects, key=lambda run: run["seconds"])
    bare = min(bares, key=lambda run: run["seconds"])
    project["all_seconds"] = [round(run["seconds"], 1) for run in projects]
    bare["all_seconds"] = [round(run["seconds"], 1) for run in bares]
    if bare["rows"] != project["rows"]:
        raise BenchError(f"the two sides wrote different rows: {project['rows']} vs {bare['rows']}")
    if project["rows"]["明细"] != rows:
        raise BenchError(f"the detail has {project['rows']['明细']} rows, expected {rows}")
    csv_run = run_child("csv", workdir, rows, False)
    print(_line("CSV of the detail", csv_run), flush=True)
    ratio = project["rows_per_s"] / bare["rows_per_s"]
    # The database's share of the export's time: what the writer waited for it. The readers'
    # own time (db_seconds, summed over threads) runs beside the writing and is reported too.
    db_share = project["waited_seconds"] / project["seconds"]
    db_work_share = project["db_seconds"] / project["seconds"]
    print(
        f"   ratio (project rate / bare rate) {ratio:.2f} (goal >= {GOALS['ratio']}); DB share {db_share:.1%} "
        f"waited ({db_work_share:.1%} of the time as work beside the writing)"
    )
    return {
        "rows": rows,
        "data": made,
        "project": project,
        "bare": bare,
        "csv": csv_run,
        "ratio": round(ratio, 3),
        "db_share": round(db_share, 4),
        "db_work_share": round(db_work_share, 4),
        "csv_speedup_over_project_detail": round(csv_run["rows_per_s"] / project["rows_per_s"], 1),
    }


def _line(label: str, run: dict) -> str:
    db = f", DB {run['db_seconds']:.2f} s" if "db_seconds" in run else ""
    if run.get("waited_seconds") is not None:
        db += f" (waited for {run['waited_seconds']:.2f} s)"
    return (
        f"   {label:<30} {run['seconds']:8.1f} s {run['rows_per_s']:9,.0f} rows/s "
        f"peak RSS {run['peak_rss_mb']:7.1f} MB{db} (load {run['load_before']})"
    )


def verdict(report: dict) -> dict:
    sizes = report["sizes"]
    rss = [s["project"]["peak_rss_mb"] for s in sizes]
    out = {
        "ratio_ok": all(s["ratio"] >= GOALS["ratio"] for s in sizes),
        "db_share_ok": all(s["db_share"] <= GOALS["db_share"] for s in sizes),
        "rss_ok": max(rss) <= GOALS["rss_mb"],
        "rss_growth_mb": round(max(rss) - min(rss), 1),
    }
    return out


def readme_block(report: dict) -> str:
    lines = [
        f"### Export, {report['date'][:16].replace('T', ' ')} UTC ({report['machine']['cpus']} cores, "
        f"{report['machine']['platform']}, "
        f"PostgreSQL {report.get('postgresql', '?')}, JIT {report['jit']} (the project's readers "
        f"turn it off), xlsxwriter "
        f"{report['versions'].get('xlsxwriter')}; best of {report['repeat']} alternating runs per side)",
        "",
        "| enrollments | side | seconds | rows/s | peak RSS MB | DB waited s (share) | DB work s | ratio | load |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in report["sizes"]:
        p, b, c = s["project"], s["bare"], s["csv"]
        lines.append(
            f"| {s['rows']:,} | project (all sheets, {p['total_rows']:,} rows) | {p['seconds']:.1f} | "
            f"{p['rows_per_s']:,.0f} | {p['peak_rss_mb']:.0f} | {p['waited_seconds']:.1f} ({s['db_share']:.1%}) | "
            f"{p['db_seconds']:.1f} | {s['ratio']:.2f} | {p['load_before']} |"
        )
        lines.append(
            f"| {s['rows']:,} | bare xlsxwriter, same cells | {b['seconds']:.1f} | {b['rows_per_s']:,.0f} | "
            f"{b['peak_rss_mb']:.0f} (lists {b['lists_rss_mb']:.0f}) | | | | {b['load_before']} |"
        )
        lines.append(
            f"| {s['rows']:,} | CSV of the detail | {c['seconds']:.1f} | {c['rows_per_s']:,.0f} | "
            f"{c['peak_rss_mb']:.0f} | | {c['db_seconds']:.1f} | | {c['load_before']} |"
        )
    v = report["verdict"]
    lines += [
        "",
        f"Goals: ratio >= {GOALS['ratio']}: {'met' if v['ratio_ok'] else 'missed'}; DB share <= "
        f"{GOALS['db_share']:.0%}: {'met' if v['db_share_ok'] else 'missed'}; peak RSS <= {GOALS['rss_mb']} MB: "
        f"{'met' if v['rss_ok'] else 'missed'} (growth across sizes {v['rss_growth_mb']} MB).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000], help="enrollments in the year")
    parser.add_argument("--reuse", action="store_true", help="keep the data when the year already has --rows")
    parser.add_argument("--profile", action="store_true", help="cProfile the project side (bench/out/*.prof)")
    parser.add_argument("--readme", action="store_true", help="append the figures to bench/README.md")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side, alternating; the fastest counts")
    parser.add_argument(
        "--jit",
        choices=("server", "on", "off"),
        default="server",
        help="PostgreSQL JIT in the measured sessions (default: as the server is configured)",
    )
    parser.add_argument("--output", type=Path, default=OUT_FILE)
    parser.add_argument("--child", choices=("project", "bare", "csv"), help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    url = database_url()
    JIT["setting"] = args.jit
    if args.child:
        setup_django(url)
        if args.child == "project":
            result = child_project(args.output, args.profile_to)
        elif args.child == "bare":
            result = child_bare(args.output)
        else:
            result = child_csv(args.output)
        print(json.dumps(result, ensure_ascii=False, default=str))
        return 0

    if ensure_database(url):
        print(f"created database {url.rsplit('/', 1)[-1]}")
    setup_django(url, migrate=True)
    from django.db import connection

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
        cursor.execute("SHOW jit")
        server_jit = cursor.fetchone()[0]
    report = {
        "benchmark": "export",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.machine()},
        "versions": versions("Django", "psycopg", "xlsxwriter"),
        "postgresql": server,
        "database": url.rsplit("/", 1)[-1],
        "year": YEAR,
        "jit": args.jit if args.jit != "server" else f"{server_jit} (server setting)",
        "repeat": args.repeat,
        "goals": GOALS,
        "sizes": [],
    }
    print(f"export benchmark: {args.rows} enrollments, {os.cpu_count()} CPUs, PostgreSQL {server}")
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        for rows in args.rows:
            report["sizes"].append(
                run_size(rows, reuse=args.reuse, profile=args.profile, repeat=args.repeat, workdir=Path(tmp))
            )
    report["verdict"] = verdict(report)
    args.output.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    print(f"\n{json.dumps(report['verdict'])}\nwrote {args.output}")
    if args.profile:
        for rows in args.rows:
            prof = OUT_DIR / f"export_project_{rows}.prof"
            if prof.exists():
                print(f"\n--- profile of the project side, {rows:,} rows (tottime) ---")
                stream = io.StringIO()
                pstats.Stats(str(prof), stream=stream).sort_stats("tottime").print_stats(25)
                print(stream.getvalue())
    if args.readme:
        write_readme_figures("bench.export", readme_block(report))
        print(f"wrote the figures to {README}")
    return 0


if __name__ == "__main__":
    run_main(main)
