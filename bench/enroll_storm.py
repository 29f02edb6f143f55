"""Enroll storm: 1,000 concurrent enroll calls over HTTP on a batch of 100 seats.

    .venv/bin/python -m bench.enroll_storm [--calls 1000] [--capacity 100] [--in-flight 64]
        [--workers 4] [--worker-class gthread] [--gunicorn-threads 8] [--readme]

1. Database: ``bench_enroll_storm`` on the local PostgreSQL (DATABASE_URL when it names
   another PostgreSQL database; never ``test`` or ``postgres``), dropped and created anew,
   migrated.
2. Fixtures: the region tree of bench.harness (a province, three cities, six counties), a
   provincial admin with an API token, ``--calls`` active inspectors of mixed sectors in
   the counties, one course and one open, mixed-sector province batch of ``--capacity`` seats.
3. gunicorn (``DJANGO_DEBUG=0``) on 127.0.0.1 and a free port, in its own process group;
   by default 4 gthread workers of 8 threads each, so that up to 32 enrollments are
   inside Django (and PostgreSQL transactions) at once.
4. ``--in-flight`` client threads send ``POST /api/v1/batches/{id}/enroll/``
   ``{"inspector": id}`` as the admin, one call per inspector, in a shuffled order, every
   call on its own connection, each bounded by a timeout.
5. From the database: exactly ``capacity`` enrolled, the rest waitlisted at positions
   1..N without gaps or repeats, in the order the calls were served (row ids follow the
   batch lock, so the seats go to the first ``capacity`` rows and the positions rise with
   the ids), one row and one event per inspector; from the answers: every call 201, none
   5xx, each answer saying what the database holds; the batch's counts in the API agree.
6. Stops gunicorn (its process group, also on failure or Ctrl-C), prints the figures,
   writes bench/out/enroll_storm.json, and with ``--readme`` puts them in bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from urllib.parse import urlsplit

from bench.harness import (
    BASE_DIR,
    OUT_DIR,
    README,
    BenchError,
    active_inspectors,
    command_env,
    database_url,
    django_setup,
    ensure_database,
    gunicorn,
    http_request,
    install_signal_handlers,
    machine,
    make_regions,
    manage,
    run_main,
    server_env,
    write_readme_figures,
)

OUT_FILE = OUT_DIR / "enroll_storm.json"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/bench_enroll_storm"


def make_world(*, calls: int, capacity: int, seed: int) -> dict:
    """Regions, a provincial admin with a token, ``calls`` active inspectors, one open batch."""
    from decimal import Decimal

    from django.contrib.auth import get_user_model

    from core.tokens import api_token_issue
    from personnel.models import Inspector
    from personnel.services import region_admin_assign
    from training.models import Batch, Course

    by_code = make_regions()
    province = by_code["130000"]

    admin = get_user_model().objects.create_user("storm_admin")
    region_admin_assign(user=admin, region=province)
    token = api_token_issue(user=admin, name="bench.enroll_storm")[1]

    rng = random.Random(seed)
    counties = {code: r for code, r in by_code.items() if r.level == "county"}
    rows = active_inspectors(rng, counties, calls, born_from=dt.date(1965, 1, 1), years=35)
    inspectors = [i.pk for i in Inspector.objects.bulk_create(rows)]

    course = Course.objects.create(
        code="STORM-1", title="行政执法三项制度专题培训", covers_publicity=True, hours=Decimal("16")
    )
    starts_on = dt.date.today() + dt.timedelta(days=30)
    batch = Batch.objects.create(
        course=course,
        year=starts_on.year,
        number=1,
        sector="",
        region=province,
        starts_on=starts_on,
        ends_on=starts_on + dt.timedelta(days=2),
        enrollment_deadline=starts_on - dt.timedelta(days=5),
        capacity=capacity,
        status="open",
        place="省应急管理厅培训中心",
    )
    return {"token": token, "batch": batch.pk, "inspectors": inspectors}


def storm(base_url: str, world: dict, *, in_flight: int, timeout: float, deadline: float, seed: int) -> dict:
    """One POST per inspector, ``in_flight`` at a time, in a shuffled order."""
    order = list(world["inspectors"])
    random.Random(seed).shuffle(order)
    path = f"/api/v1/batches/{world['batch']}/enroll/"
    headers = {"Authorization": f"Token {world['token']}", "Content-Type": "application/json"}
    stop = threading.Event()

    def call(inspector_id: int) -> dict:
        if stop.is_set():
            return {"inspector": inspector_id, "status": None, "error": "not sent (deadline)"}
        body = json.dumps({"inspector": inspector_id}).encode()
        started = time.perf_counter()
        try:
            status, raw = http_request(base_url, "POST", path, headers=headers, body=body, timeout=timeout)
        except OSError as exc:
            return {"inspector": inspector_id, "status": None, "error": f"{type(exc).__name__}: {exc}"}
        out = {"inspector": inspector_id, "status": status, "seconds": time.perf_counter() - started}
        try:
            out["body"] = json.loads(raw)
        except ValueError:
            out["body"] = raw[:500].decode("utf-8", "replace")
        return out

    started = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="storm")
    try:
        futures = [pool.submit(call, i) for i in order]
        _done, pending = wait(futures, timeout=deadline)
        if pending:
            stop.set()
    except BaseException:  # Ctrl-C or SIGTERM: send nothing more, let the calls in flight end
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    wall = time.perf_counter() - started
    answers = [f.result() for f in futures if f.done() and not f.cancelled()]
    return {"answers": answers, "seconds": wall, "timed_out": bool(pending)}


def check_database(world: dict, capacity: int, calls: int) -> dict:
    """What the database holds for the batch, and every way it could be wrong."""
    from django.db import connections

    from training.models import Enrollment, EnrollmentEvent

    connections.close_all()
    rows = list(
        Enrollment.objects.filter(batch_id=world["batch"])
        .order_by("id")
        .values("id", "inspector_id", "status", "waitlist_position", "created_at")
    )
    problems = []
    statuses = Counter(r["status"] for r in rows)
    inspectors = Counter(r["inspector_id"] for r in rows)
    duplicates = [i for i, n in inspectors.items() if n > 1]
    missing = sorted(set(world["inspectors"]) - set(inspectors))
    enrolled = [r for r in rows if r["status"] == "enrolled"]
    waitlisted = [r for r in rows if r["status"] == "waitlisted"]
    positions = [r["waitlist_position"] for r in waitlisted]
    expected_waitlist = calls - capacity
    if len(rows) != calls:
        problems.append(f"{len(rows)} enrollment rows, expected {calls}")
    if duplicates:
        problems.append(f"{len(duplicates)} inspectors enrolled twice, e.g. {duplicates[:5]}")
    if missing:
        problems.append(f"{len(missing)} inspectors without a row, e.g. {missing[:5]}")
    if len(enrolled) != capacity:
        problems.append(f"{len(enrolled)} enrolled, capacity {capacity}")
    if len(waitlisted) != expected_waitlist:
        problems.append(f"{len(waitlisted)} waitlisted, expected {expected_waitlist}")
    if set(statuses) - {"enrolled", "waitlisted"}:
        problems.append(f"unexpected statuses {dict(statuses)}")
    if any(r["waitlist_position"] is not None for r in enrolled):
        problems.append("an enrolled row has a waitlist position")
    if sorted(p for p in positions if p is not None) != list(range(1, len(waitlisted) + 1)):
        gaps = sorted(set(range(1, len(waitlisted) + 1)) - set(positions))
        repeats = [p for p, n in Counter(positions).items() if n > 1]
        problems.append(f"waitlist positions not 1..{len(waitlisted)}: gaps {gaps[:10]}, repeats {repeats[:10]}")
    # Rows are inserted under the batch lock, so their ids give the order calls were served:
    # the seats go to the first rows, and the waitlist positions rise with the ids.
    if rows and [r["status"] for r in rows] != ["enrolled"] * len(enrolled) + ["waitlisted"] * len(waitlisted):
        problems.append("a waitlisted row was inserted before an enrolled one")
    if positions != sorted(positions):
        problems.append("waitlist positions do not follow the order the calls were served")
    created = [r["created_at"] for r in rows]
    if created != sorted(created):
        problems.append("created_at does not follow the row ids")
    events = Counter(EnrollmentEvent.objects.filter(enrollment__batch_id=world["batch"]).values_list("kind", flat=True))
    if sum(events.values()) != calls or events.get("enrolled", 0) != capacity:
        problems.append(f"events {dict(events)}, expected {capacity} enrolled + {expected_waitlist} waitlisted")
    return {
        "rows": len(rows),
        "enrolled": len(enrolled),
        "waitlisted": len(waitlisted),
        "positions": [min(positions), max(positions)] if positions else None,
        "duplicates": len(duplicates),
        "missing": len(missing),
        "events": dict(events),
        "by_inspector": {r["inspector_id"]: (r["status"], r["waitlist_position"]) for r in rows},
        "problems": problems,
    }


def check_answers(answers: list[dict], db: dict, calls: int) -> dict:
    codes = Counter(a["status"] for a in answers)
    problems = []
    if len(answers) != calls:
        problems.append(f"{len(answers)} answers for {calls} calls")
    errors = [a for a in answers if a["status"] is None]
    if errors:
        problems.append(f"{len(errors)} calls without an answer, e.g. {errors[0]['error']}")
    server_errors = [a for a in answers if a["status"] and a["status"] >= 500]
    if server_errors:
        problems.append(f"{len(server_errors)} answers 5xx, e.g. {str(server_errors[0].get('body'))[:300]}")
    others = [a for a in answers if a["status"] and a["status"] != 201 and a["status"] < 500]
    if others:
        sample = others[0]
        problems.append(f"{len(others)} answers neither 201 nor 5xx, e.g. {sample['status']} {sample.get('body')}")
    mismatched = []
    for a in answers:
        if a["status"] == 201 and isinstance(a.get("body"), dict):
            said = (a["body"].get("status"), a["body"].get("waitlist_position"))
            if db["by_inspector"].get(a["inspector"]) != said:
                mismatched.append((a["inspector"], said, db["by_inspector"].get(a["inspector"])))
    if mismatched:
        problems.append(f"{len(mismatched)} answers disagree with the database, e.g. {mismatched[:3]}")
    latencies = sorted(a["seconds"] for a in answers if a.get("seconds") is not None)

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1000, 1) if latencies else None

    return {
        "statuses": {str(k): v for k, v in sorted(codes.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))},
        "http_5xx": len(server_errors),
        "no_answer": len(errors),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
        "problems": problems,
    }


def check_api_counts(base_url: str, world: dict, capacity: int, calls: int) -> dict:
    status, raw = http_request(
        base_url, "GET", f"/api/v1/batches/{world['batch']}/", headers={"Authorization": f"Token {world['token']}"}
    )
    if status != 200:
        return {"problems": [f"GET batch: {status} {raw[:300]!r}"]}
    counts = json.loads(raw)["counts"]
    problems = []
    if counts.get("enrolled") != capacity or counts.get("waitlisted") != calls - capacity:
        problems.append(f"the API's batch counts say {counts}")
    return {"counts": counts, "problems": problems}


def readme_block(report: dict) -> str:
    m, cfg, db, http = report["machine"], report["config"], report["database"], report["http"]
    verdict = "**passed**" if not report["problems"] else "**FAILED**: " + "; ".join(report["problems"])
    return (
        f"### {report['date']}: {m['cpus']} CPUs, load average {m['loadavg_at_start'][0]} at start\n\n"
        f"{m['platform']}, Python {m['python']}, Django {m.get('django')}, {m.get('gunicorn')}, "
        f"PostgreSQL {m.get('postgresql')}. gunicorn {cfg['workers']} x {cfg['worker_class']}"
        f"{' x ' + str(cfg['gunicorn_threads']) + ' threads' if cfg['worker_class'] == 'gthread' else ''}, "
        f"{cfg['in_flight']} calls in flight.\n\n"
        f"| calls | capacity | seconds | calls/s | p50 ms | p95 ms | max ms | status codes | enrolled | "
        f"waitlisted | positions | duplicates | 5xx |\n"
        f"|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|---|--:|--:|\n"
        f"| {cfg['calls']:,} | {cfg['capacity']} | {report['seconds']:.1f} | {report['calls_per_second']:.1f} | "
        f"{http['p50_ms']} | {http['p95_ms']} | {http['max_ms']} | "
        f"{', '.join(f'{k}: {v}' for k, v in http['statuses'].items())} | {db['enrolled']} | {db['waitlisted']} | "
        f"{db['positions'][0] if db['positions'] else '-'}..{db['positions'][1] if db['positions'] else '-'} "
        f"| {db['duplicates']} | {http['http_5xx']} |\n\n"
        f"Result: {verdict}.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help=f"default: {DEFAULT_DATABASE_URL} (dropped and created anew)")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--capacity", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=64, help="client threads (default 64)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", default="gthread", choices=("sync", "gthread"))
    parser.add_argument("--gunicorn-threads", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=120, help="seconds per call (default 120)")
    parser.add_argument("--deadline", type=float, default=600, help="seconds for the whole storm (default 600)")
    parser.add_argument("--seed", type=int, default=20250601)
    parser.add_argument(
        "--readme", action="store_true", help="put the figures in bench/README.md (in place of the previous ones)"
    )
    parser.add_argument("--output", type=Path, default=OUT_FILE)
    args = parser.parse_args(argv)
    if not 1 <= args.capacity < args.calls <= 5000 or not 1 <= args.in_flight <= 128:
        parser.error("need 1 <= capacity < calls <= 5000 and 1 <= in-flight <= 128")
    install_signal_handlers()
    started = time.monotonic()
    # The storm's own database; the URL given explicitly wins over DATABASE_URL here,
    # since this one is dropped first.
    url = database_url(args.database_url or DEFAULT_DATABASE_URL, DEFAULT_DATABASE_URL)
    ensure_database(url, fresh=True)
    manage(["migrate", "--noinput"], env=command_env(url))
    env = server_env(url, cache_url=None)
    django_setup(env=dict(env, DJANGO_ALLOWED_HOSTS="127.0.0.1,testserver"))
    world = make_world(calls=args.calls, capacity=args.capacity, seed=args.seed)
    info = machine()
    from django.db import connections

    connections.close_all()
    log_path = OUT_DIR / "enroll_storm_gunicorn.log"
    with gunicorn(
        env,
        workers=args.workers,
        worker_class=args.worker_class,
        threads=args.gunicorn_threads,
        log_path=log_path,
    ) as server:
        print(
            f"gunicorn {server.base_url} ({args.workers} x {args.worker_class}); "
            f"{args.calls} calls, {args.in_flight} in flight, batch {world['batch']} of {args.capacity} seats",
            flush=True,
        )
        result = storm(
            server.base_url,
            world,
            in_flight=args.in_flight,
            timeout=args.timeout,
            deadline=args.deadline,
            seed=args.seed,
        )
        api = check_api_counts(server.base_url, world, args.capacity, args.calls)
    tracebacks = sum(1 for line in log_path.read_text().splitlines() if "Traceback" in line)
    db = check_database(world, args.capacity, args.calls)
    http = check_answers(result["answers"], db, args.calls)
    problems = db["problems"] + http["problems"] + api["problems"]
    if result["timed_out"]:
        problems.append(f"the storm did not finish within {args.deadline:.0f} s")
    if tracebacks:
        problems.append(f"{tracebacks} tracebacks in {log_path.relative_to(BASE_DIR)}")
    db.pop("by_inspector")
    report = {
        "benchmark": "bench.enroll_storm",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": info,
        "config": {
            "database": urlsplit(url).path.lstrip("/"),
            "calls": args.calls,
            "capacity": args.capacity,
            "in_flight": args.in_flight,
            "workers": args.workers,
            "worker_class": args.worker_class,
            "gunicorn_threads": args.gunicorn_threads,
        },
        "seconds": round(result["seconds"], 2),
        "calls_per_second": round(len(result["answers"]) / result["seconds"], 1),
        "http": http,
        "database": db,
        "api_counts": api.get("counts"),
        "tracebacks_in_gunicorn_log": tracebacks,
        "problems": problems,
        "total_seconds": round(time.monotonic() - started, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    print(
        f"{args.calls} calls in {result['seconds']:.1f} s ({report['calls_per_second']:.1f}/s), "
        f"p50 {http['p50_ms']} ms, p95 {http['p95_ms']} ms, max {http['max_ms']} ms"
    )
    print(f"status codes: {http['statuses']}")
    print(
        f"database: {db['enrolled']} enrolled, {db['waitlisted']} waitlisted, positions {db['positions']}, "
        f"{db['duplicates']} duplicates, {db['missing']} missing, events {db['events']}"
    )
    print(f"API batch counts: {api.get('counts')}")
    print(f"written: {args.output}")
    if args.readme:
        write_readme_figures("bench.enroll_storm", readme_block(report))
        print(f"figures written to {README.relative_to(BASE_DIR)}")
    if problems:
        raise BenchError("\n  " + "\n  ".join(problems))
    print("OK: exactly the capacity enrolled, the rest waitlisted in order, no 5xx")
    return 0


if __name__ == "__main__":
    run_main(main)
