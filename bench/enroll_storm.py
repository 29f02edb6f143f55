"""Enroll storm: 1,000 concurrent enroll calls on a batch of 100 seats, three ways in one run.

    .venv/bin/python -m bench.enroll_storm [--calls 1000] [--capacity 100] [--in-flight 64]
        [--threads 8] [--workers 3] [--worker-class sync] [--gunicorn-threads 1] [--readme]

1. Database: ``bench_enroll_storm`` on the local PostgreSQL (DATABASE_URL when it names
   another PostgreSQL database; never ``test`` or ``postgres``), dropped and created anew,
   migrated.
2. Fixtures: the region tree of bench.harness (a province, three cities, six counties), a
   provincial admin with an API token, three groups of ``--calls`` active inspectors of mixed
   sectors in the counties, one course and three open, mixed-sector province batches of
   ``--capacity`` seats on the same dates (one per side below, each with its own people).
3. The three sides, one after the other, each filling its own batch:
   - **HTTP**: gunicorn (``DJANGO_DEBUG=0``) on 127.0.0.1 and a free port, in its own process
     group, as docs/operations.md deploys it (``--workers 3``, sync workers: 2 CPUs here),
     warmed up first (a few reads of the batch per worker: a worker's first request imports
     the views, which a worker in service has done long before);
     ``--in-flight`` client threads send ``POST /api/v1/batches/{id}/enroll/``
     ``{"inspector": id}`` as the admin, one call per inspector, in a shuffled order, every
     call on its own connection, each bounded by a timeout.
   - **service**: ``training.services.enrollment_create`` called from ``--threads`` threads in
     this process (each its own connection), with the batch and inspector objects loaded
     beforehand (the API view hands over the batch it read and only the inspector's id: the
     service reads and locks the inspector's row either way); no HTTP, no view.
   - **bare SQL**: the minimum correct work from ``--threads`` threads on plain psycopg
     connections: lock the batch row, count the seats and the last waitlist position, insert
     the enrollment and its event, commit. No eligibility checks, no Django.
4. For each side, from the database: exactly ``capacity`` enrolled, the rest waitlisted at
   positions 1..N without gaps or repeats, in the order the calls took the lock (row ids
   follow the batch lock, so the seats go to the first ``capacity`` rows and the positions
   rise with the ids), one row and one event per inspector. HTTP also: every call 201, none
   5xx, each answer saying what the database holds, the batch's counts in the API agree;
   the service: each return value says what the database holds.
5. The locked section: the statements one service call sends from the batch lock on (the
   lock included; the commit follows), counted on every call of the service side.
6. Stops gunicorn (its process group, also on failure or Ctrl-C), prints the three rates and
   the ratios to bare SQL, writes bench/out/enroll_storm.json, and with ``--readme`` puts
   them in bench/README.md.
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


SIDES = ("http", "service", "bare")
SIDE_LABELS = {"http": "HTTP (gunicorn)", "service": "service direct", "bare": "bare SQL"}


def make_world(*, calls: int, capacity: int, seed: int) -> dict:
    """Regions, a provincial admin with a token; per side ``calls`` active inspectors and one
    open batch of ``capacity`` seats (the same dates: each side has its own people)."""
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
    rows = active_inspectors(rng, counties, calls * len(SIDES), born_from=dt.date(1965, 1, 1), years=35)
    inspectors = [i.pk for i in Inspector.objects.bulk_create(rows)]

    course = Course.objects.create(
        code="STORM-1", title="行政执法三项制度专题培训", covers_publicity=True, hours=Decimal("16")
    )
    starts_on = dt.date.today() + dt.timedelta(days=30)
    sides = {}
    for n, side in enumerate(SIDES):
        batch = Batch.objects.create(
            course=course,
            year=starts_on.year,
            number=n + 1,
            sector="",
            region=province,
            starts_on=starts_on,
            ends_on=starts_on + dt.timedelta(days=2),
            enrollment_deadline=starts_on - dt.timedelta(days=5),
            capacity=capacity,
            status="open",
            place="省应急管理厅培训中心",
        )
        sides[side] = {"batch": batch.pk, "inspectors": inspectors[n * calls : (n + 1) * calls]}
    return {"token": token, "admin": admin.pk, "sides": sides}


# GETs per gunicorn worker before the storm: a worker's first request imports the URLconf and
# every view (about 0.25 s of CPU here), which a worker in service has long paid. Without them
# a 1,000-call storm on 3 workers spends about 0.7 ms of CPU per call on imports.
WARM_UP_PER_WORKER = 4


def warm_up(base_url: str, world: dict, side: dict, *, workers: int) -> None:
    """Read the storm's batch a few times per worker, several at once (so each worker takes some)."""
    path = f"/api/v1/batches/{side['batch']}/"
    headers = {"Authorization": f"Token {world['token']}"}
    with ThreadPoolExecutor(max_workers=2 * workers, thread_name_prefix="warm") as pool:
        answers = list(
            pool.map(
                lambda _: http_request(base_url, "GET", path, headers=headers), range(workers * WARM_UP_PER_WORKER)
            )
        )
    if {status for status, _body in answers} != {200}:
        raise BenchError(f"warm-up: GET {path} answered {sorted({status for status, _ in answers})}")


def storm(
    base_url: str, world: dict, side: dict, *, in_flight: int, timeout: float, deadline: float, seed: int
) -> dict:
    """One POST per inspector, ``in_flight`` at a time, in a shuffled order."""
    order = list(side["inspectors"])
    random.Random(seed).shuffle(order)
    path = f"/api/v1/batches/{side['batch']}/enroll/"
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


def run_threads(calls: list, threads: int, deadline: float) -> tuple[list, float, bool]:
    """Run the calls on ``threads`` threads, released together; (results, seconds, timed out).
    A call's exception is its result."""
    start = threading.Event()

    def run(call):
        start.wait()
        try:
            return call()
        except Exception as exc:  # counted as a problem by the caller
            return exc

    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="direct")
    try:
        futures = [pool.submit(run, call) for call in calls]
        started = time.perf_counter()
        start.set()
        _done, pending = wait(futures, timeout=deadline)
        seconds = time.perf_counter() - started
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return [f.result() for f in futures if f.done() and not f.cancelled()], seconds, bool(pending)


def is_batch_lock(sql: str) -> bool:
    """The statement that takes the batch row lock (``SELECT ... FROM training_batch ... FOR
    [NO KEY] UPDATE``)."""
    return 'FROM "training_batch"' in sql and " FOR " in sql and "UPDATE" in sql.rsplit(" FOR ", 1)[1]


def service_side(world: dict, side: dict, *, threads: int, deadline: float, seed: int) -> dict:
    """``enrollment_create`` from ``threads`` threads, each on its own connection; counts the
    statements of each call from the batch lock on (the locked section)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from personnel.models import Inspector
    from training import services
    from training.models import Batch

    order = list(side["inspectors"])
    random.Random(seed + 1).shuffle(order)
    people = Inspector.objects.select_related("region").in_bulk(order)
    local = threading.local()
    locked_sections: list[int] = []
    statements: list[int] = []

    def setup() -> None:
        # What the API view hands over: the actor, the batch with its course and region.
        local.actor = get_user_model().objects.get(pk=world["admin"])
        local.batch = Batch.objects.select_related("course", "region").get(pk=side["batch"])

    def call(inspector_id: int):
        if not hasattr(local, "actor"):
            setup()
        sent: list[str] = []

        def wrapper(execute, sql, params, many, context):
            sent.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(wrapper):
            enrollment = services.enrollment_create(
                batch=local.batch, inspector=people[inspector_id], actor=local.actor
            )
        lock_at = next((n for n, sql in enumerate(sent) if is_batch_lock(sql)), None)
        locked_sections.append(len(sent) - lock_at if lock_at is not None else -1)
        statements.append(len(sent))
        return inspector_id, enrollment.status, enrollment.waitlist_position

    def close_connection():
        connection.close()

    results, seconds, timed_out = run_threads([lambda i=i: call(i) for i in order], threads, deadline)
    run_threads([close_connection] * threads, threads, 60)
    return {
        "results": results,
        "seconds": seconds,
        "timed_out": timed_out,
        "locked_section": dict(sorted(Counter(locked_sections).items())),
        "statements_per_call": dict(sorted(Counter(statements).items())),
    }


BARE_LOCK = "SELECT capacity FROM training_batch WHERE id = %s FOR UPDATE"
BARE_COUNT = (
    "SELECT COUNT(*) FILTER (WHERE status = 'enrolled'), COALESCE(MAX(waitlist_position), 0) "
    "FROM training_enrollment WHERE batch_id = %s"
)
BARE_INSERT = (
    "INSERT INTO training_enrollment (created_at, updated_at, batch_id, inspector_id, status, "
    "waitlist_position, hours_credited, completed_on, override_reason, reminder_sent_at) "
    "VALUES (clock_timestamp(), clock_timestamp(), %s, %s, %s, %s, 0, NULL, '', NULL) RETURNING id"
)
BARE_EVENT = (
    "INSERT INTO training_enrollmentevent (enrollment_id, kind, reason, actor_id, at) "
    "VALUES (%s, %s, '', %s, clock_timestamp())"
)


def bare_side(url: str, world: dict, side: dict, *, threads: int, deadline: float, seed: int) -> dict:
    """The minimum correct work on plain psycopg connections: lock the batch row, count the
    seats and the last waitlist position, insert the enrollment and its event, commit."""
    import psycopg

    order = list(side["inspectors"])
    random.Random(seed + 2).shuffle(order)
    local = threading.local()
    opened = []

    def call(inspector_id: int):
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = psycopg.connect(url)
            opened.append(conn)
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(BARE_LOCK, [side["batch"]])
            (capacity,) = cur.fetchone()
            cur.execute(BARE_COUNT, [side["batch"]])
            taken, last = cur.fetchone()
            status, position = ("enrolled", None) if taken < capacity else ("waitlisted", last + 1)
            cur.execute(BARE_INSERT, [side["batch"], inspector_id, status, position])
            (enrollment_id,) = cur.fetchone()
            cur.execute(BARE_EVENT, [enrollment_id, status, world["admin"]])
        return inspector_id, status, position

    try:
        results, seconds, timed_out = run_threads([lambda i=i: call(i) for i in order], threads, deadline)
    finally:
        for conn in opened:
            conn.close()
    return {"results": results, "seconds": seconds, "timed_out": timed_out}


def check_results(results: list, db: dict, calls: int) -> list[str]:
    """A direct side's return values against the database."""
    problems = []
    errors = [r for r in results if isinstance(r, Exception)]
    if errors:
        problems.append(f"{len(errors)} calls failed, e.g. {type(errors[0]).__name__}: {errors[0]}")
    if len(results) != calls:
        problems.append(f"{len(results)} results for {calls} calls")
    mismatched = [r for r in results if not isinstance(r, Exception) and db["by_inspector"].get(r[0]) != r[1:]]
    if mismatched:
        problems.append(f"{len(mismatched)} return values disagree with the database, e.g. {mismatched[:3]}")
    return problems


def check_database(side: dict, capacity: int, calls: int) -> dict:
    """What the database holds for the batch, and every way it could be wrong."""
    from django.db import connections

    from training.models import Enrollment, EnrollmentEvent

    connections.close_all()
    rows = list(
        Enrollment.objects.filter(batch_id=side["batch"])
        .order_by("id")
        .values("id", "inspector_id", "status", "waitlist_position", "created_at")
    )
    problems = []
    statuses = Counter(r["status"] for r in rows)
    inspectors = Counter(r["inspector_id"] for r in rows)
    duplicates = [i for i, n in inspectors.items() if n > 1]
    missing = sorted(set(side["inspectors"]) - set(inspectors))
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
    events = Counter(EnrollmentEvent.objects.filter(enrollment__batch_id=side["batch"]).values_list("kind", flat=True))
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


def check_api_counts(base_url: str, world: dict, side: dict, capacity: int, calls: int) -> dict:
    status, raw = http_request(
        base_url, "GET", f"/api/v1/batches/{side['batch']}/", headers={"Authorization": f"Token {world['token']}"}
    )
    if status != 200:
        return {"problems": [f"GET batch: {status} {raw[:300]!r}"]}
    counts = json.loads(raw)["counts"]
    problems = []
    if counts.get("enrolled") != capacity or counts.get("waitlisted") != calls - capacity:
        problems.append(f"the API's batch counts say {counts}")
    return {"counts": counts, "problems": problems}


GOALS = {"service": 0.5, "http": 0.3}  # of bare SQL's rate (issue 13)


def cpu_line(sides: dict) -> str:
    http = sides["http"]
    return (
        f"CPU per call: HTTP {http['app_cpu_ms_per_call']} ms in the gunicorn workers (the client threads "
        f"{http['client_cpu_ms_per_call']} ms), the service {sides['service']['cpu_ms_per_call']} ms and bare SQL "
        f"{sides['bare']['cpu_ms_per_call']} ms in this process (PostgreSQL's own work in none of them)"
    )


def readme_block(report: dict) -> str:
    m, cfg = report["machine"], report["config"]
    verdict = "**passed**" if not report["problems"] else "**FAILED**: " + "; ".join(report["problems"])
    rows = []
    for side in SIDES:
        r = report["sides"][side]
        db = r["database"]
        ratio = report["ratios"].get(side)
        goal = GOALS.get(side)
        ratio_text = "1" if side == "bare" else f"{ratio:.2f} (goal {goal})"
        latency = f"{r['http']['p50_ms']} / {r['http']['p95_ms']}" if side == "http" else "-"
        positions = f"{db['positions'][0]}..{db['positions'][1]}" if db["positions"] else "-"
        events = sum(db["events"].values())
        rows.append(
            f"| {SIDE_LABELS[side]} | {cfg['calls']:,} | {r['seconds']:.2f} | {r['calls_per_second']:.1f} | "
            f"{ratio_text} | {latency} | {db['enrolled']} | {db['waitlisted']} | {positions} | {events} | "
            f"{r.get('http', {}).get('http_5xx', '-')} |"
        )
    locked = report["sides"]["service"]["locked_section"]
    per_call = report["sides"]["service"]["statements_per_call"]
    return (
        f"### {report['date']}: {m['cpus']} CPUs, load average {m['loadavg_at_start'][0]} at start\n\n"
        f"{m['platform']}, Python {m['python']}, Django {m.get('django')}, {m.get('gunicorn')}, "
        f"PostgreSQL {m.get('postgresql')}. HTTP: gunicorn {cfg['workers']} x {cfg['worker_class']}"
        f"{' x ' + str(cfg['gunicorn_threads']) + ' threads' if cfg['worker_class'] == 'gthread' else ''}, "
        f"{cfg['in_flight']} calls in flight; service and bare SQL: {cfg['threads']} threads. "
        f"{cfg['calls']:,} calls on {cfg['capacity']} seats per side.\n\n"
        f"| side | calls | seconds | calls/s | of bare SQL | p50 / p95 ms | enrolled | waitlisted | positions "
        f"| events | 5xx |\n"
        f"|---|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|\n" + "\n".join(rows) + "\n\n"
        f"Locked section of a service call (statements from the batch lock on, the lock included, then the "
        f"commit): {', '.join(f'{k}: {v} calls' for k, v in locked.items())}. Statements per service call: "
        f"{', '.join(f'{k}: {v} calls' for k, v in per_call.items())}.\n\n"
        f"{cpu_line(report['sides'])}.\n\n"
        f"Result: {verdict}.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help=f"default: {DEFAULT_DATABASE_URL} (dropped and created anew)")
    parser.add_argument("--calls", type=int, default=1000, help="calls per side (default 1000)")
    parser.add_argument("--capacity", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=64, help="HTTP client threads (default 64)")
    parser.add_argument("--threads", type=int, default=8, help="threads of the service and bare SQL sides (default 8)")
    # docs/operations.md deploys gunicorn with --workers 3 (sync workers) on this kind of machine.
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--worker-class", default="sync", choices=("sync", "gthread"))
    parser.add_argument("--gunicorn-threads", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120, help="seconds per call (default 120)")
    parser.add_argument("--deadline", type=float, default=600, help="seconds for each side (default 600)")
    parser.add_argument("--seed", type=int, default=20250601)
    parser.add_argument(
        "--readme", action="store_true", help="put the figures in bench/README.md (in place of the previous ones)"
    )
    parser.add_argument("--output", type=Path, default=OUT_FILE)
    args = parser.parse_args(argv)
    if not 1 <= args.capacity < args.calls <= 5000 or not 1 <= args.in_flight <= 128 or not 1 <= args.threads <= 64:
        parser.error("need 1 <= capacity < calls <= 5000, 1 <= in-flight <= 128 and 1 <= threads <= 64")
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
    from django.db import connection, connections

    # Statistics, as autovacuum keeps them in a database in service: the tables were filled a
    # moment ago, and without them the planner prices every read on guesses.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    connections.close_all()
    sides: dict[str, dict] = {}
    problems: list[str] = []

    # HTTP
    side = world["sides"]["http"]
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
            f"{args.calls} calls, {args.in_flight} in flight, batch {side['batch']} of {args.capacity} seats",
            flush=True,
        )
        warm_up(server.base_url, world, side, workers=args.workers)
        # CPU, not only wall clock: on a machine other work keeps busy the rates fall, the CPU
        # each call costs the app much less.
        app_cpu, driver_cpu = server.cpu_seconds(), time.process_time()
        result = storm(
            server.base_url,
            world,
            side,
            in_flight=args.in_flight,
            timeout=args.timeout,
            deadline=args.deadline,
            seed=args.seed,
        )
        app_cpu, driver_cpu = server.cpu_seconds() - app_cpu, time.process_time() - driver_cpu
        api = check_api_counts(server.base_url, world, side, args.capacity, args.calls)
    tracebacks = sum(1 for line in log_path.read_text().splitlines() if "Traceback" in line)
    db = check_database(side, args.capacity, args.calls)
    http = check_answers(result["answers"], db, args.calls)
    problems += [f"HTTP: {p}" for p in db["problems"] + http["problems"] + api["problems"]]
    if result["timed_out"]:
        problems.append(f"HTTP: the storm did not finish within {args.deadline:.0f} s")
    if tracebacks:
        problems.append(f"HTTP: {tracebacks} tracebacks in {log_path.relative_to(BASE_DIR)}")
    db.pop("by_inspector")
    sides["http"] = {
        "seconds": round(result["seconds"], 2),
        "calls_per_second": round(len(result["answers"]) / result["seconds"], 1),
        "app_cpu_ms_per_call": round(app_cpu * 1000 / max(1, len(result["answers"])), 2),
        "client_cpu_ms_per_call": round(driver_cpu * 1000 / max(1, len(result["answers"])), 2),
        "http": http,
        "database": db,
        "api_counts": api.get("counts"),
        "tracebacks_in_gunicorn_log": tracebacks,
    }

    # The service, called directly, and bare SQL
    for name in ("service", "bare"):
        side = world["sides"][name]
        print(f"{SIDE_LABELS[name]}: {args.calls} calls from {args.threads} threads, batch {side['batch']}", flush=True)
        cpu = time.process_time()
        if name == "service":
            result = service_side(world, side, threads=args.threads, deadline=args.deadline, seed=args.seed)
        else:
            result = bare_side(url, world, side, threads=args.threads, deadline=args.deadline, seed=args.seed)
        cpu = time.process_time() - cpu
        connections.close_all()
        db = check_database(side, args.capacity, args.calls)
        side_problems = db["problems"] + check_results(result["results"], db, args.calls)
        if result["timed_out"]:
            side_problems.append(f"did not finish within {args.deadline:.0f} s")
        problems += [f"{SIDE_LABELS[name]}: {p}" for p in side_problems]
        db.pop("by_inspector")
        sides[name] = {
            "seconds": round(result["seconds"], 3),
            "calls_per_second": round(len(result["results"]) / result["seconds"], 1),
            "cpu_ms_per_call": round(cpu * 1000 / max(1, len(result["results"])), 2),
            "database": db,
            **{k: result[k] for k in ("locked_section", "statements_per_call") if k in result},
        }

    bare_rate = sides["bare"]["calls_per_second"]
    ratios = {name: round(sides[name]["calls_per_second"] / bare_rate, 3) for name in ("service", "http")}
    report = {
        "benchmark": "bench.enroll_storm",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": info,
        "config": {
            "database": urlsplit(url).path.lstrip("/"),
            "calls": args.calls,
            "capacity": args.capacity,
            "in_flight": args.in_flight,
            "threads": args.threads,
            "workers": args.workers,
            "worker_class": args.worker_class,
            "gunicorn_threads": args.gunicorn_threads,
        },
        "sides": sides,
        "ratios": ratios,
        "goals": GOALS,
        "problems": problems,
        "total_seconds": round(time.monotonic() - started, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    http = sides["http"]["http"]
    for name in SIDES:
        r = sides[name]
        db = r["database"]
        ratio = "" if name == "bare" else f", {ratios[name]:.2f} of bare SQL (goal {GOALS[name]})"
        print(
            f"{SIDE_LABELS[name]:>16}: {args.calls} calls in {r['seconds']:.2f} s = {r['calls_per_second']:.1f}/s"
            f"{ratio}; {db['enrolled']} enrolled, {db['waitlisted']} waitlisted, positions {db['positions']}, "
            f"events {db['events']}"
        )
    print(f"HTTP: p50 {http['p50_ms']} ms, p95 {http['p95_ms']} ms, max {http['max_ms']} ms, codes {http['statuses']}")
    print(cpu_line(sides))
    print(f"API batch counts: {sides['http']['api_counts']}")
    print(
        f"locked section of a service call (statements from the batch lock on): {sides['service']['locked_section']}; "
        f"statements per call: {sides['service']['statements_per_call']}"
    )
    print(f"written: {args.output}")
    if args.readme:
        write_readme_figures("bench.enroll_storm", readme_block(report))
        print(f"figures written to {README.relative_to(BASE_DIR)}")
    if problems:
        raise BenchError("\n  " + "\n  ".join(problems))
    print("OK: on every side exactly the capacity enrolled, the rest waitlisted in order, one event each, no 5xx")
    return 0


if __name__ == "__main__":
    run_main(main)
