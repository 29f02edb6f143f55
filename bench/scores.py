"""Score import benchmark: a qualification-exam score file through the bulk write path
against the row-by-row path it replaced, on PostgreSQL, in the same run.

    .venv/bin/python -m bench.scores [--rows 5000] [--database-url URL] [--keep]
        [--output bench/out/scores.json]

1. Creates the database ``bench_scores`` anew (DATABASE_URL or --database-url may name
   another scratch database; never test/postgres/templates), migrates it, and adds the region
   tree of bench.harness, a province admin, and 3 x ``--rows`` active inspectors.
2. Creates identical qualification exams (通用法律知识 40 + 专门法律知识 60, pass 60),
   one sitting each, and .xlsx score files of ``--rows`` rows with the same scores (about
   7 % absent, most passing), one per set of people.
3. Imports the first file with ``exams.imports.scores_import`` as it is (the bulk path), and
   the second the same way with only the write replaced by the pre-change row-by-row write
   (``bench.scores_peer``: the old ``_write`` -> ``results_record_many`` -> ``_record`` per row).
   A 50-row warm-up of each comes first; the bulk path runs again after the row-by-row one
   (a third exam, a third set of people) and the mean of its two runs is compared. Before
   each timed run the server is settled (VACUUM ANALYZE, CHECKPOINT): the row-by-row run
   leaves dead rows and WAL whose autovacuum or checkpoint would otherwise fall into the next. Reading, identifying and checking the rows are the
   same code in both; the write (inside the sitting lock) is timed on its own too.
4. Checks both end the same: per row the score, absence, pass, attempt and certificate; one
   history row per result, one issue event per certificate; every certificate number valid,
   used once, the serials gapless. Prints statements and seconds of each, and the ratios, and
   writes bench/out/scores.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import random
import time

from bench.harness import (
    OUT_DIR,
    BenchError,
    Measure,
    active_inspectors,
    bench_env,
    count_queries,
    database_url,
    django_setup,
    fresh_database,
    machine,
    make_regions,
    run_main,
    versions,
)

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/bench_scores"
OUT_FILE = OUT_DIR / "scores.json"
HELD_ON = dt.date(2025, 6, 20)
WARM_UP = 50
ABSENT_RATE = 0.07
PARTS = (("通用法律知识", 40), ("专门法律知识", 60))


def make_world(rows: int, seed: int) -> dict:
    """Regions, a province admin, two qualification exams with a sitting each, and the people."""
    from django.contrib.auth import get_user_model

    from exams import services
    from exams.models import ExamKind
    from personnel.models import Inspector, RegionAdmin

    regions = make_regions()
    province = regions["130000"]
    user = get_user_model().objects.create_user(username="bench-prov", password=None, is_staff=True)
    RegionAdmin.objects.create(user=user, region=province)
    rng = random.Random(seed)
    people = active_inspectors(rng, regions, 3 * rows + 2 * WARM_UP)
    Inspector.objects.bulk_create(people, batch_size=2000)
    sittings = {}
    for label in ("warm-bulk", "warm-peer", "bulk", "peer", "bulk-after"):
        exam = services.exam_create(
            actor=user,
            title=f"{HELD_ON.year}年度行政执法资格考试（{label}）",
            kind=ExamKind.QUALIFICATION,
            region=province,
            parts=[(name, top) for name, top in PARTS],
        )
        sittings[label] = services.sitting_create(actor=user, exam=exam, held_on=HELD_ON, place="基准测试考点")
    groups = {
        "warm-bulk": people[:WARM_UP],
        "warm-peer": people[WARM_UP : 2 * WARM_UP],
        "bulk": people[2 * WARM_UP : 2 * WARM_UP + rows],
        "peer": people[2 * WARM_UP + rows : 2 * WARM_UP + 2 * rows],
        "bulk-after": people[2 * WARM_UP + 2 * rows :],
    }
    return {"actor": user, "sittings": sittings, "people": groups}


def score_rows(count: int, seed: int) -> list[tuple]:
    """(general, specialist, absent) for ``count`` candidates: the same for both paths."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        if rng.random() < ABSENT_RATE:
            out.append((None, None, True))
            continue
        general = min(max(round(rng.gauss(29, 6) * 2) / 2, 0), 40)
        special = min(max(round(rng.gauss(42, 9) * 2) / 2, 0), 60)
        out.append((general, special, False))
    return out


def score_file(people, scores) -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    sheet = workbook.add_worksheet("成绩")
    sheet.write_row(0, 0, ["序号", "身份证号", "姓名", PARTS[0][0], PARTS[1][0], "缺考"])
    for i, (person, (general, special, absent)) in enumerate(zip(people, scores, strict=True), start=1):
        sheet.write_string(i, 0, str(i))
        sheet.write_string(i, 1, person.national_id)
        sheet.write_string(i, 2, person.name)
        if absent:
            sheet.write_string(i, 5, "是")
        else:
            sheet.write_number(i, 3, general)
            sheet.write_number(i, 4, special)
    workbook.close()
    return buffer.getvalue()


@contextlib.contextmanager
def write_path(peer: bool, timing: dict):
    """The import as it is, or with its write replaced by the row-by-row peer; either way the
    write alone is counted and timed into ``timing``."""
    from bench import scores_peer
    from exams import imports

    real = imports._write
    write = scores_peer.write if peer else real

    def timed(*args, **kwargs):
        with count_queries(timing, "write_statements"):
            start = time.perf_counter()
            try:
                return write(*args, **kwargs)
            finally:
                timing["write_seconds"] = time.perf_counter() - start

    imports._write = timed
    try:
        yield
    finally:
        imports._write = real


def run_import(world: dict, label: str, scores: list[tuple], *, peer: bool) -> dict:
    from exams.imports import scores_import

    sitting = world["sittings"][label]
    data = score_file(world["people"][label], scores)
    timing: dict = {}
    with write_path(peer, timing), count_queries(timing, "statements"), Measure() as measured:
        result = scores_import(sitting=sitting, actor=world["actor"], data=data, filename="成绩.xlsx")
    if not result.ok:
        raise BenchError(f"{label}: the import was refused: {[str(e) for e in result.errors[:5]]}")
    if result.created != len(scores):
        raise BenchError(f"{label}: {result.created} results created of {len(scores)} rows")
    return {
        "rows": len(scores),
        "seconds": round(measured.seconds, 3),
        "cpu_seconds": round(measured.cpu_seconds, 3),
        "statements": timing["statements"],
        "write_seconds": round(timing["write_seconds"], 3),
        "write_statements": timing["write_statements"],
        "created": result.created,
        "absent": result.absent,
        "certificates": result.certificates,
    }


def settle(connection) -> None:
    """VACUUM ANALYZE and CHECKPOINT: the server's deferred work done before a timed run."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


def mean_run(first: dict, second: dict) -> dict:
    """The mean of two runs of the bulk path (counts must agree), with both kept."""
    timed = ("seconds", "cpu_seconds", "write_seconds")
    for key in first:
        if key not in timed and first[key] != second[key]:
            raise BenchError(f"the two bulk runs differ in {key}: {first[key]} and {second[key]}")
    mean = {key: round((first[key] + second[key]) / 2, 3) if key in timed else first[key] for key in first}
    return {**mean, "runs": [first, second]}


def outcome_of(world: dict, label: str) -> list[tuple]:
    """Per row of the file: score, absent, passed, attempt, certificate issued."""
    from exams.models import Result

    by_person = {
        r.inspector_id: (r.score, r.absent, r.passed, r.attempt, getattr(r, "cert", None) is not None)
        for r in Result.objects.filter(sitting=world["sittings"][label]).extra(
            select={"cert": "SELECT id FROM exams_certificate c WHERE c.source_result_id = exams_result.id"}
        )
    }
    return [by_person.get(p.pk) for p in world["people"][label]]


def check(world: dict) -> dict:
    from exams import numbers
    from exams.models import Certificate, CertificateEvent, Result, ResultChange

    bulk, peer, after = outcome_of(world, "bulk"), outcome_of(world, "peer"), outcome_of(world, "bulk-after")
    if after != bulk:
        raise BenchError("the two bulk runs differ")
    if bulk != peer:
        first = next(i for i, (a, b) in enumerate(zip(bulk, peer, strict=True)) if a != b)
        raise BenchError(f"the two paths differ first at row {first + 1}: bulk {bulk[first]}, peer {peer[first]}")
    results = Result.objects.count()
    changes = ResultChange.objects.count()
    if changes != results:
        raise BenchError(f"{changes} history rows for {results} results")
    found = list(Certificate.objects.values_list("number", flat=True))
    if len(set(found)) != len(found) or not all(numbers.is_valid(n) for n in found):
        raise BenchError("certificate numbers are not all valid and distinct")
    serials = sorted(numbers.serial_of(n) for n in found)
    if serials != list(range(1, len(found) + 1)):
        raise BenchError("certificate serials have a gap")
    events = CertificateEvent.objects.filter(kind=CertificateEvent.Kind.ISSUED).count()
    if events != len(found):
        raise BenchError(f"{events} issue events for {len(found)} certificates")
    return {"results": results, "history_rows": changes, "certificates": len(found)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scores", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--database-url", default=None, help=f"default: DATABASE_URL, else {DEFAULT_DATABASE_URL}")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--seed", type=int, default=20250620)
    parser.add_argument("--output", default=str(OUT_FILE))
    args = parser.parse_args(argv)
    if args.rows < 1:
        raise BenchError("--rows must be at least 1")
    url = database_url(args.database_url, DEFAULT_DATABASE_URL)

    with fresh_database(url, keep=args.keep):
        # Both sides issue the certificate on a pass, as the row-by-row write it replaced did
        # (the deployment default now opens a 申领 application instead).
        django_setup(database_url=url, env=bench_env(CERTIFICATE_ON_PASS="issue"))  # noqa: S106 (a setting)
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        if connection.vendor != "postgresql":
            raise BenchError(f"needs PostgreSQL, got {connection.vendor}")
        world = make_world(args.rows, args.seed)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        warm = score_rows(WARM_UP, args.seed)
        run_import(world, "warm-bulk", warm, peer=False)
        run_import(world, "warm-peer", warm, peer=True)
        scores = score_rows(args.rows, args.seed + 1)
        # The bulk path runs before and after the long row-by-row run, and their mean is
        # compared: a burst of load on a shared machine during one short run skews it less.
        # Each run starts from a settled server: the row-by-row run leaves dead rows and WAL
        # behind, and an autovacuum or checkpoint falling into the next run would be timed.
        settle(connection)
        first = run_import(world, "bulk", scores, peer=False)
        settle(connection)
        peer = run_import(world, "peer", scores, peer=True)
        settle(connection)
        second = run_import(world, "bulk-after", scores, peer=False)
        bulk = mean_run(first, second)
        totals = check(world)
        server = connection.cursor().connection.info.server_version

    ratio = {
        "seconds": round(peer["seconds"] / bulk["seconds"], 1),
        "statements": round(peer["statements"] / bulk["statements"], 1),
        "write_seconds": round(peer["write_seconds"] / bulk["write_seconds"], 1),
        "write_statements": round(peer["write_statements"] / bulk["write_statements"], 1),
    }
    report = {
        "benchmark": "bench.scores",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": f"PostgreSQL {server // 10000}.{server % 10000}",
        "machine": machine(),
        "versions": versions("django", "psycopg", "python-calamine", "xlsxwriter"),
        "rows": args.rows,
        "bulk": bulk,
        "row_by_row": peer,
        "ratio": ratio,
        "checked": totals,
    }
    print(f"\nScore import, {args.rows:,} rows of a qualification exam ({report['database']})")
    print(f"{'':14}{'seconds':>10}{'statements':>12}{'write s':>10}{'write stmts':>13}{'certificates':>14}")
    for name, run in (("row by row", peer), ("bulk (before)", first), ("bulk (after)", second), ("bulk (mean)", bulk)):
        print(
            f"{name:14}{run['seconds']:>10.2f}{run['statements']:>12,}{run['write_seconds']:>10.2f}"
            f"{run['write_statements']:>13,}{run['certificates']:>14,}"
        )
    print(
        f"{'ratio':14}{ratio['seconds']:>9.1f}x{ratio['statements']:>11.1f}x"
        f"{ratio['write_seconds']:>9.1f}x{ratio['write_statements']:>12.1f}x"
    )
    print(
        f"checked: every path wrote the same {args.rows:,} results, row for row; {totals['history_rows']:,} history rows, "
        f"{totals['certificates']:,} certificates numbered without gaps"
    )
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as out:
        json.dump(report, out, ensure_ascii=False, indent=2)
    print(f"wrote {args.output}")
    if ratio["seconds"] < 10:
        raise BenchError(f"the bulk path is only {ratio['seconds']}x faster than row by row (goal: 10x)")
    return 0


if __name__ == "__main__":
    run_main(main)
