"""Bulk enroll benchmark: services.batch_bulk_enroll against the naive one-by-one loop.

    .venv/bin/python -m bench.bulk_enroll [--inspectors 10000] [--capacity 6000]

1. Creates the region tree of bench.roster_import and N active inspectors (bulk_create,
   gender and birth date derived from the ID number by personnel.idcard).
2. Creates two batches of one course, identical but for their dates (so an inspector may
   be in both), with fewer seats than inspectors, so both seats and the waitlist are used.
3. Times ``services.batch_bulk_enroll`` of everyone into the first batch (one call, one
   transaction), then ``services.enrollment_create`` called once per inspector, in the
   order bulk enroll took them, into the second (one transaction each): what a loop over
   the API would do.
4. Checks that both batches end the same: the same inspectors seated, the same waitlist
   positions, one event row each. Prints seconds, rows/s, queries and the ratio, and
   writes bench/out/bulk_enroll.json.

The database is a throwaway one (bench.harness.scratch_database): a SQLite file in a
temporary directory, or, when DATABASE_URL names a PostgreSQL server, a scratch database
created on that server and dropped afterwards. A real database is never written to.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

from bench.harness import (
    OUT_DIR,
    REGIONS,
    BenchError,
    Measure,
    active_inspectors,
    count_queries,
    run_main,
    scratch_database,
    versions,
)
from bench.roster_import import make_fixtures

OUT_FILE = OUT_DIR / "bulk_enroll.json"
TODAY = dt.date(2025, 6, 1)  # before both batches' enrollment deadlines


def make_inspectors(count: int, seed: int = 20250601) -> int:
    """``count`` active inspectors spread over the region tree, in one bulk_create."""
    from personnel.models import Inspector, Region

    regions = Region.objects.in_bulk([code for code, *_ in REGIONS], field_name="code")
    rows = active_inspectors(random.Random(seed), regions, count)
    Inspector.objects.bulk_create(rows, batch_size=2000)
    return Inspector.objects.filter(status="active").count()


def make_batches(capacity: int):
    """Two open, mixed-sector province batches of the same course, a month apart."""
    from personnel.models import Region
    from training.models import Batch, Course

    course = Course.objects.create(
        code="BENCH-SZ",
        title="行政执法三项制度专题培训",
        covers_publicity=True,
        covers_process_recording=True,
        covers_legal_review=True,
        hours=Decimal("16"),
    )
    province = Region.objects.get(parent__isnull=True)
    batches = []
    for number, month in ((1, 6), (2, 7)):
        starts_on = dt.date(2025, month, 10)
        batches.append(
            Batch.objects.create(
                course=course,
                year=2025,
                number=number,
                sector="",
                region=province,
                starts_on=starts_on,
                ends_on=starts_on + dt.timedelta(days=2),
                enrollment_deadline=starts_on - dt.timedelta(days=5),
                capacity=capacity,
                status="open",
            )
        )
    return batches


def run_bulk(batch, actor, expected: int) -> tuple[dict, list[int]]:
    """Time the bulk call; return its figures and the inspector ids in the order it seated them."""
    from training import services

    counter = {"queries": 0}
    with Measure() as measure, count_queries(counter):
        outcomes = services.batch_bulk_enroll(batch=batch, actor=actor, today=TODAY)
    refused = [o for o in outcomes if o.status == "refused"]
    if refused or len(outcomes) != expected:
        raise BenchError(f"bulk enroll: {len(outcomes)} outcomes, {len(refused)} refused, e.g. {refused[:3]}")
    order = [o.inspector_id for o in outcomes]
    return _run("services.batch_bulk_enroll (one call)", measure, expected, counter), order


def run_naive(batch, actor, order: list[int]) -> dict:
    """Time one enrollment_create per inspector, in the order bulk enroll took them, so
    both batches should end up the same."""
    from personnel.models import Inspector
    from training import services

    by_id = Inspector.objects.in_bulk(order)
    inspectors = [by_id[pk] for pk in order]
    expected = len(inspectors)
    counter = {"queries": 0}
    with Measure() as measure, count_queries(counter):
        for inspector in inspectors:
            services.enrollment_create(batch=batch, inspector=inspector, actor=actor, today=TODAY)
    return _run("services.enrollment_create x N (loop)", measure, expected, counter)


def _run(tool: str, measure: Measure, rows: int, counter: dict) -> dict:
    return {
        "tool": tool,
        "seconds": round(measure.seconds, 3),
        "rows": rows,
        "rows_per_s": round(rows / measure.seconds) if measure.seconds else None,
        "queries": counter["queries"],
        "peak_rss_delta_mb": measure.peak_rss_delta_mb,
    }


def outcome_of(batch) -> dict:
    """What a batch ended with: counts, who is seated, who waits where, events written."""
    from django.db.models import Count

    from training.models import EnrollmentEvent

    enrollments = batch.enrollments.all()
    counts = dict(enrollments.values_list("status").annotate(n=Count("id")).order_by())
    return {
        "counts": counts,
        "seated": set(enrollments.filter(status="enrolled").values_list("inspector_id", flat=True)),
        "waitlist": dict(enrollments.filter(status="waitlisted").values_list("inspector_id", "waitlist_position")),
        "events": EnrollmentEvent.objects.filter(enrollment__batch=batch).count(),
    }


def check_same(bulk: dict, naive: dict, inspectors: int, capacity: int) -> dict:
    seats = min(capacity, inspectors)
    expected = {"enrolled": seats, **({"waitlisted": inspectors - seats} if inspectors > seats else {})}
    for label, result in (("bulk", bulk), ("naive", naive)):
        if result["counts"] != expected:
            raise BenchError(f"{label}: counts {result['counts']}, expected {expected}")
        if sorted(result["waitlist"].values()) != list(range(1, inspectors - seats + 1)):
            raise BenchError(f"{label}: the waitlist positions are not 1..{inspectors - seats}")
        if result["events"] != inspectors:
            raise BenchError(f"{label}: {result['events']} events, expected {inspectors}")
    if bulk["seated"] != naive["seated"]:
        raise BenchError(f"{len(bulk['seated'] ^ naive['seated'])} inspectors seated in one batch only")
    if bulk["waitlist"] != naive["waitlist"]:
        raise BenchError("the two waitlists differ")
    return expected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bulk_enroll", description=__doc__.splitlines()[0])
    parser.add_argument("--inspectors", type=int, default=10_000, help="active inspectors to enroll (default 10000)")
    parser.add_argument("--capacity", type=int, help="seats per batch (default 60%% of the inspectors)")
    parser.add_argument("--output", type=Path, default=OUT_FILE, help=f"JSON results (default {OUT_FILE})")
    args = parser.parse_args(argv)
    if args.inspectors < 1:
        parser.error("--inspectors must be at least 1")
    capacity = args.capacity or max(1, args.inspectors * 6 // 10)

    report: dict = {
        "benchmark": "bulk_enroll",
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.machine()},
        "versions": versions("Django", "psycopg"),
        "inspectors": args.inspectors,
        "capacity": capacity,
    }
    print(f"bulk_enroll benchmark: {args.inspectors:,} inspectors, {capacity:,} seats per batch")

    tmpdir = tempfile.mkdtemp(prefix="bench-enroll-")
    teardown = None
    try:
        database, teardown = scratch_database(tmpdir, name="enroll")
        report["database"] = database
        print(f"database: {database}")
        actor = make_fixtures()
        with Measure() as measure:
            inspectors = make_inspectors(args.inspectors)
        print(f"created {inspectors:,} inspectors in {measure.seconds:.2f} s")
        first, second = make_batches(capacity)

        bulk, order = run_bulk(first, actor, inspectors)
        naive = run_naive(second, actor, order)
        report["counts"] = check_same(outcome_of(first), outcome_of(second), inspectors, capacity)
        report["runs"] = [bulk, naive]
        report["speedup"] = round(naive["seconds"] / bulk["seconds"], 1)
    finally:
        if teardown is not None:
            teardown()
        shutil.rmtree(tmpdir, ignore_errors=True)

    header = f"{'':<40} {'seconds':>8} {'rows/s':>9} {'queries':>8} {'peak RSS +MB':>13}"
    print("\n" + header)
    print("-" * len(header))
    for run in report["runs"]:
        rss = f"{run['peak_rss_delta_mb']:.1f}" if run["peak_rss_delta_mb"] is not None else "n/a"
        print(f"{run['tool']:<40} {run['seconds']:>8.3f} {run['rows_per_s']:>9,} {run['queries']:>8,} {rss:>13}")
    print(f"\nboth batches: {report['counts']}, same inspectors seated, same waitlist")
    print(f"bulk enroll is {report['speedup']}x the one-by-one loop")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    run_main(main)
