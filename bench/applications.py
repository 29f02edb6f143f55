"""Applications benchmark: bulk approval of annual reviews against approving them one by one.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/<any> .venv/bin/python -m bench.applications [--rows 5000]

1. On a scratch PostgreSQL database (``bench.harness.scratch_database``: ``bench_applications_<pid>``
   on DATABASE_URL's server, dropped afterwards; the named database is never written to): the
   region tree, 2 x N active inspectors with a valid certificate each, no hours required for
   the year (every review passes), and the 年审 chain set to one level (city), so one approval
   carries each application out.
2. 年审 applications for all of them, through ``exams.applications.applications_create``.
3. Times ``applications_approve`` of the first N in one call (one transaction: the reviews,
   events and application rows in bulk, ``services.certificates_review_many``), then
   ``application_approve`` once per application for the other N (the same service, one
   transaction each, ``services.certificate_review`` per certificate): what a loop over
   ``POST /api/v1/applications/{id}/approve/`` does.
4. Checks both halves end the same (N approved applications, N passed reviews, one 年审 event
   per certificate naming its application), prints seconds, statements and the ratio, and
   writes bench/out/applications.json (with --readme, the figures into bench/README.md).
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
    SERVER_DB_SCHEMES,
    BenchError,
    Measure,
    active_inspectors,
    count_queries,
    make_regions,
    run_main,
    scratch_database,
    versions,
    write_readme_figures,
)

OUT_FILE = OUT_DIR / "applications.json"
YEAR = 2025


def make_world(rows: int):
    """Regions, 2 x ``rows`` inspectors with a certificate each, the policy and the chain;
    returns the approving superuser and the inspectors."""
    from django.contrib.auth import get_user_model

    from exams import numbers
    from exams.models import ApprovalChain, Certificate
    from personnel.models import Inspector
    from training.models import HoursPolicy

    regions = make_regions()
    counties = {code: r for code, r in regions.items() if r.level == "county"}
    Inspector.objects.bulk_create(active_inspectors(random.Random(YEAR), counties, 2 * rows), batch_size=2000)
    people = list(Inspector.objects.order_by("pk"))
    Certificate.objects.bulk_create(
        [
            Certificate(
                number=numbers.make(province_prefix="13", year=2024, serial=i + 1),
                holder=person,
                region=person.region,
                issued_on=dt.date(2024, 1, 10),
                valid_until=dt.date(2029, 1, 10),
            )
            for i, person in enumerate(people)
        ],
        batch_size=2000,
    )
    HoursPolicy.objects.create(region=regions["130000"], year=YEAR, required_hours=Decimal("0"))
    ApprovalChain.objects.filter(kind="review").update(levels="city")
    actor = get_user_model().objects.create_user("bench_office", is_staff=True, is_superuser=True)
    return actor, people


def apply_all(actor, people) -> tuple[list[int], dict]:
    from exams import applications

    counter = {"queries": 0}
    with Measure() as measure, count_queries(counter):
        outcome = applications.applications_create(
            actor=actor, kind="review", inspectors=people, year=YEAR, today=dt.date(YEAR + 1, 3, 1)
        )
    if outcome.refused:
        raise BenchError(f"{len(outcome.refused)} refused at apply, e.g. {outcome.refused[0].detail}")
    return [a.pk for a in outcome.done], _run("applications_create (one call)", measure, len(people), counter)


def run_bulk(actor, ids: list[int]) -> dict:
    from exams import applications

    counter = {"queries": 0}
    with Measure() as measure, count_queries(counter):
        outcome = applications.applications_approve(actor=actor, ids=ids)
    if outcome.refused or len(outcome.done) != len(ids):
        raise BenchError(f"bulk: {len(outcome.done)} approved, {len(outcome.refused)} refused")
    return _run("applications_approve (one call)", measure, len(ids), counter)


def run_one_by_one(actor, ids: list[int]) -> dict:
    from exams import applications
    from exams.models import CertificateApplication

    rows = list(CertificateApplication.objects.filter(pk__in=ids).order_by("pk"))
    counter = {"queries": 0}
    with Measure() as measure, count_queries(counter):
        for application in rows:
            applications.application_approve(actor=actor, application=application)
    return _run("application_approve x N (loop)", measure, len(ids), counter)


def _run(tool: str, measure: Measure, rows: int, counter: dict) -> dict:
    return {
        "tool": tool,
        "seconds": round(measure.seconds, 3),
        "cpu_seconds": round(measure.cpu_seconds, 3),
        "rows": rows,
        "rows_per_s": round(rows / measure.seconds) if measure.seconds else None,
        "queries": counter["queries"],
    }


def outcome_of(ids: list[int]) -> dict:
    from exams.models import AnnualReview, CertificateApplication, CertificateEvent

    apps = CertificateApplication.objects.filter(pk__in=ids)
    certificates = list(apps.values_list("certificate_id", flat=True))
    return {
        "approved": apps.filter(state="approved").count(),
        "reviews_passed": AnnualReview.objects.filter(certificate_id__in=certificates, year=YEAR, passed=True).count(),
        "events_naming_it": CertificateEvent.objects.filter(
            certificate_id__in=certificates, kind="reviewed", application_id__in=ids
        ).count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.applications", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000, help="annual reviews approved each way (default 5000)")
    parser.add_argument("--output", type=Path, default=OUT_FILE, help=f"JSON results (default {OUT_FILE})")
    parser.add_argument("--readme", action="store_true", help="write the figures into bench/README.md")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    if not os.environ.get("DATABASE_URL", "").startswith(SERVER_DB_SCHEMES):
        raise BenchError("set DATABASE_URL to a PostgreSQL server (a scratch database is created on it)")

    report: dict = {
        "benchmark": "applications",
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load": os.getloadavg()},
        "versions": versions("Django", "psycopg"),
        "rows": args.rows,
    }
    print(f"applications benchmark: {args.rows:,} annual reviews approved in bulk, {args.rows:,} one by one")
    tmpdir = tempfile.mkdtemp(prefix="bench-applications-")
    teardown = None
    try:
        database, teardown = scratch_database(tmpdir, name="applications")
        report["database"] = database
        print(f"database: {database}")
        actor, people = make_world(args.rows)
        ids, applied = apply_all(actor, people)
        bulk_ids, loop_ids = ids[: args.rows], ids[args.rows :]
        bulk = run_bulk(actor, bulk_ids)
        loop = run_one_by_one(actor, loop_ids)
        expected = {"approved": args.rows, "reviews_passed": args.rows, "events_naming_it": args.rows}
        for label, got in (("bulk", outcome_of(bulk_ids)), ("loop", outcome_of(loop_ids))):
            if got != expected:
                raise BenchError(f"{label}: {got}, expected {expected}")
        report["runs"] = [applied, bulk, loop]
        report["speedup"] = round(loop["seconds"] / bulk["seconds"], 1)
    finally:
        if teardown is not None:
            teardown()
        shutil.rmtree(tmpdir, ignore_errors=True)

    header = f"{'':<36} {'seconds':>8} {'cpu s':>7} {'rows/s':>8} {'statements':>11}"
    lines = [header, "-" * len(header)]
    for run in report["runs"]:
        lines.append(
            f"{run['tool']:<36} {run['seconds']:>8.3f} {run['cpu_seconds']:>7.2f} "
            f"{run['rows_per_s']:>8,} {run['queries']:>11,}"
        )
    lines.append(f"\nboth ways: {args.rows:,} approved, {args.rows:,} passed reviews, one event each naming it")
    lines.append(f"bulk approval is {report['speedup']}x approving one by one")
    print("\n" + "\n".join(lines))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"results written to {args.output}")
    if args.readme:
        block = (
            f"Run {report['date']} on {report['database']} ({report['machine']['cpus']} CPUs, "
            f"load {', '.join(f'{x:.1f}' for x in report['machine']['load'])}):\n\n```\n" + "\n".join(lines) + "\n```"
        )
        write_readme_figures("applications", block)
    return 0


if __name__ == "__main__":
    run_main(main)
