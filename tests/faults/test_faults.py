"""The service survives its dependencies (issue 18): a fault drill on real services.

The app runs as deployed (gunicorn, a Celery worker, beat; debug off) on services of this
test's own: a PostgreSQL cluster made by ``initdb`` that it restarts, and a Redis (broker and
cache) that it freezes and kills. Never the machine's shared PostgreSQL or Redis. A small mixed
load runs throughout (tests/faults/load.py) while, in turn:

1. baseline;
2. Redis is frozen (SIGSTOP: connections hang, nothing answers), then thawed;
3. Redis is killed (SIGKILL: connections refused), then started again, empty;
4. PostgreSQL is stopped and started again (a few seconds without a database);
5. the Celery worker is killed (SIGKILL of its whole group) in the middle of an export, and
   a new one is started.

Then every request is checked against what docs/operations.md ("When a dependency fails")
promises, the export jobs must all end ``done`` with one file each, the batch's seats and
waitlist must be consistent and hold what the answers said, ``/me/`` must have stayed fast
while Redis was frozen, and every ``/healthz`` call must have answered within a second and
named the fault of its moment.

A Celery process that exits on its own is started again, as a supervisor (systemd's
Restart=always) would; the failure message lists any such restart.

Runs where the real services are (``services`` marker: DATABASE_URL and CELERY_BROKER_URL
set, as in ``make test-services``); under REQUIRE_SERVICES=1 (CI) it fails instead of
skipping, also when initdb, pg_ctl or redis-server are missing. About two minutes.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import threading
import time
from pathlib import Path

import pytest

from tests.faults import stack as st
from tests.faults.load import Load, Record

pytestmark = pytest.mark.services("db", "broker")

CAPACITY = 6
WEB_WORKERS = 3  # gunicorn --workers, as docs/operations.md deploys it
VERIFY_LIMIT = 40  # VERIFY_RATE per minute
STALE_SECONDS = 5  # EXPORT_STALE_SECONDS of every app process here
STEP_DELAY = 0.4  # EXPORT_STEP_DELAY_SECONDS: an export takes a few seconds, so a kill lands mid-job
PHASE_SECONDS = {"baseline": 5, "redis_frozen": 10, "redis_killed": 10, "postgres_down": 3}
RECOVERY_SECONDS = 4
# Every /healthz call answers within this (its own "ms"), and names the faults of its moment.
HEALTHZ_ANSWERS_WITHIN = 1.0
# ...and at the client, queueing for a busy gunicorn worker included (a sync worker may be in
# the middle of a 0.5 s password hash; CI's machine is small and shared).
HEALTHZ_CLIENT_LIMIT = 1.5
P95_LIMIT = 1.0  # seconds: /me/ while Redis is frozen; /verify/ and export creation while it is down
# A request in flight while PostgreSQL is down may fail with it; once it is back, the app has
# this long to reconnect (PostgreSQL answers "starting up" for a moment after pg_ctl).
DB_RECONNECT_SECONDS = 2.0
# Every export job made during the drill is done this long after the last fault at most: the
# housekeeping sweep (beat, every minute) sends again what a killed worker or a lost broker
# message left, once EXPORT_STALE_SECONDS have passed.
EXPORTS_DONE_WITHIN = 90


def _require_binaries() -> None:
    missing = st.missing_binaries()
    if missing:
        message = f"the fault test needs {', '.join(missing)} (apt-get install postgresql redis-server)"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


class Drill:
    """The private services, the app on them, and the phases' times (in load seconds)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.media = workdir / "media"
        self.exports_tmp = workdir / "worker-tmp"
        self.media.mkdir()
        self.exports_tmp.mkdir()
        self.pg: st.Postgres | None = None
        self.redis = st.Redis(workdir)
        self.processes: list[st.Process] = []
        self.phases: dict[str, tuple[float, float]] = {}
        self.port = st.free_port()
        # Celery processes that exited on their own, restarted as a supervisor (systemd's
        # Restart=always) would: (when, name, exit code).
        self.restarts: list[tuple[float, str, int | None]] = []
        self._workers = 0
        self.killed_jobs: set[int] = set()  # the exports running when the worker was killed
        self.probes: dict[str, list[Record]] = {}  # one client over the verify limit
        self._supervising = threading.Event()

    def up(self) -> None:
        self.pg = st.Postgres()
        self.pg.start()
        self.redis.start()
        self.env = st.app_env(
            database_url=self.pg.url(),
            broker_url=self.redis.url(0),
            cache_url=self.redis.url(1),
            media_root=self.media,
            EXPORT_STALE_SECONDS=str(STALE_SECONDS),
            # The load's token logins come from one address: a budget they cannot exhaust. The
            # public check comes from many addresses, each far below its limit (load.py).
            VERIFY_RATE=f"{VERIFY_LIMIT}/min",
            LOGIN_RATE="100000/min",
            # Debug off: the pages name their static files by the hashes collectstatic writes.
            DJANGO_STATIC_ROOT=str(self.workdir / "static"),
        )
        st.manage(["migrate", "--noinput"], self.env)
        st.manage(["collectstatic", "--noinput"], self.env)
        st.manage(["seed_demo", "--inspectors", "150"], self.env)
        self.world = json.loads(st.python_module("tests.faults.world", [str(CAPACITY)], self.env))
        self.web = self.start(st.gunicorn(self.env, self.port, self.workdir / "gunicorn.log", workers=WEB_WORKERS))
        self.worker = self.start_worker()
        self.beat = self.start_beat()
        st.wait_until(lambda: self.healthz_ok(), 60, "the app to answer /healthz with 200")
        self._supervising.set()
        threading.Thread(target=self._supervise, name="supervisor", daemon=True).start()

    def _supervise(self) -> None:
        started = time.monotonic()
        while self._supervising.is_set():
            for attr, again in (("worker", self.start_worker), ("beat", self.start_beat)):
                process = getattr(self, attr)
                if process is not None and not process.alive():
                    self.restarts.append((time.monotonic() - started, process.name, process.proc.returncode))
                    setattr(self, attr, again())
            time.sleep(0.5)

    def kill_worker(self) -> None:
        """SIGKILL the worker's whole group; its replacement comes up a few seconds later."""
        worker, self.worker = self.worker, None
        worker.kill()

    def start(self, process: st.Process) -> st.Process:
        self.processes.append(process)
        return process

    def start_beat(self) -> st.Process:
        return self.start(st.celery_beat(self.env, self.workdir, self.workdir / "beat.log"))

    def start_worker(self) -> st.Process:
        self._workers += 1
        name = f"worker{self._workers}"
        env = {**self.env, "EXPORT_STEP_DELAY_SECONDS": str(STEP_DELAY), "TMPDIR": str(self.exports_tmp)}
        return self.start(st.celery_worker(env, name, self.workdir / f"{name}.log", queues="celery,housekeeping"))

    def healthz_ok(self) -> bool:
        import http.client

        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("GET", "/healthz", headers={"Host": "127.0.0.1"})
            return conn.getresponse().status == 200
        return False

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.pg.url(), connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()

    def down(self) -> None:
        self._supervising.clear()
        time.sleep(0.6)
        for process in reversed(self.processes):
            with contextlib.suppress(Exception):
                process.stop()
        self.redis.stop()
        if self.pg is not None:
            self.pg.stop()

    def logs(self) -> str:
        parts = [f"--- {p.name} ---\n{p.tail(2500)}" for p in self.processes]
        if self.pg is not None:
            parts.append(f"--- postgres ---\n{self.pg.tail(1500)}")
        return "\n".join(parts)


@pytest.fixture
def drill(tmp_path):
    _require_binaries()
    drill = Drill(tmp_path)
    try:
        drill.up()
        yield drill
    finally:
        drill.down()


def _phase(load: Load, drill: Drill, name: str, seconds: float, before=None, after=None) -> None:
    start = load.now()
    if before:
        before()
    time.sleep(seconds)
    drill.phases[name] = (start, load.now())  # ends when its fault does: before the repair
    if after:
        after()


def run_drill(drill: Drill) -> Load:
    load = Load(drill.port, drill.world)
    load.start()
    try:
        start = load.now()
        drill.probes["with_redis"] = load.probe_verify_limit(VERIFY_LIMIT + 1, source="127.0.0.98", threads=1)
        time.sleep(max(PHASE_SECONDS["baseline"] - (load.now() - start), 0))
        drill.phases["baseline"] = (start, load.now())
        _phase(load, drill, "redis_frozen", PHASE_SECONDS["redis_frozen"], drill.redis.freeze, drill.redis.thaw)
        _phase(load, drill, "after_freeze", RECOVERY_SECONDS)
        # Redis killed; meanwhile one client goes over the verify limit.
        start = load.now()
        drill.redis.kill()
        time.sleep(1)
        drill.probes["without_redis"] = load.probe_verify_limit(
            WEB_WORKERS * VERIFY_LIMIT + 1, source="127.0.0.99", threads=2
        )
        time.sleep(max(PHASE_SECONDS["redis_killed"] - (load.now() - start), 0))
        drill.phases["redis_killed"] = (start, load.now())
        drill.redis.start()
        _phase(load, drill, "after_kill", RECOVERY_SECONDS)
        # PostgreSQL: stopped (fast: connections cut), a few seconds without it, started again.
        start = load.now()
        drill.pg._ctl("stop", "-m", "fast")
        down_from = load.now()
        time.sleep(PHASE_SECONDS["postgres_down"])
        up_from = load.now()
        drill.pg._ctl("start")
        drill.phases["postgres_stop"] = (start, down_from)  # pg_ctl stop: connections being cut
        drill.phases["postgres_down"] = (down_from, up_from)  # no server at all
        drill.phases["postgres_start"] = (up_from, load.now())  # pg_ctl start, until it is ready
        _phase(load, drill, "after_postgres", RECOVERY_SECONDS)
        # The worker, killed in the middle of an export.
        start = load.now()
        record = load.create_export()
        assert record.status == 202, record.describe()
        job = record.json()["id"]
        st.wait_until(
            lambda: drill.sql(
                "SELECT 1 FROM reports_exportjob WHERE id = %s AND status = 'running' AND progress > 0", (job,)
            ),
            60,
            f"export {job} to be running",
        )
        running = drill.sql("SELECT id FROM reports_exportjob WHERE status = 'running'")
        drill.kill_worker()
        drill.killed_jobs = {row[0] for row in running}
        drill.phases["worker_killed_at"] = (load.now(), load.now())
        time.sleep(3)
        drill.worker = drill.start_worker()
        drill.phases["worker_killed"] = (start, load.now())
        _phase(load, drill, "after_worker", RECOVERY_SECONDS)
    finally:
        load.stop()
    return load


# --- what each request may answer ----------------------------------------------------------------

# Answers that mean "worked" for each kind of request.
NORMAL = {
    "verify_page": {200},
    "verify_api": {200},
    "me_page": {200},
    "me_api": {200},
    "login": {200},
    "enroll": {201, 409},
    "cancel": {200, 409},
    "batch_read": {200},
    "export_create": {202},
    "export_poll": {200},
    "download": {200},
    "verify_probe": {200, 429},
    "healthz": {200},
}
# The refusals a 409 may carry: the load enrolls people at random, some already in the batch.
CONFLICT_CODES = {"enroll": {"already_enrolled", "date_overlap"}, "cancel": {"illegal_transition"}}


def _is_api(record: Record) -> bool:
    return record.path.startswith("/api/")


def _json_503(record: Record) -> bool:
    body = record.json() if record.is_json else None
    return (
        record.status == 503
        and isinstance(body, dict)
        and body.get("code") == "service_unavailable"
        and record.retry_after == "5"
    )


def _worked(record: Record) -> bool:
    if record.status not in NORMAL[record.name]:
        return False
    if record.status == 409:
        body = record.json()
        return isinstance(body, dict) and body.get("code") in CONFLICT_CODES[record.name]
    return True


def _in(record: Record, window: tuple[float, float]) -> bool:
    """The request began inside the window."""
    return window[0] <= record.start < window[1]


def _overlaps(record: Record, window: tuple[float, float], after: float = 0.0) -> bool:
    """The request was in flight at some moment of the window (or up to ``after`` past it)."""
    return record.start < window[1] + after and record.end > window[0]


def request_problems(records: list[Record], phases: dict) -> list[str]:
    """Every request against what docs/operations.md ("When a dependency fails") promises for
    its moment; the list of those that broke the promise.

    - Redis frozen or killed: pages and the API answer as usual, the rate-limited ones
      (verification, token login) too (their limits count per process meanwhile).
    - PostgreSQL down: a request in flight then (or up to DB_RECONNECT_SECONDS after) may fail,
      but answered: under /api/ ``503 {"code": "service_unavailable"}`` with ``Retry-After: 5``,
      pages the 500 page, /healthz 503 in JSON.
    - A worker killed: nothing changes for requests.
    - Always: every answer under /api/ is JSON.
    """
    db_down = (phases["postgres_stop"][0], phases["postgres_start"][1])
    problems = []
    for r in records:
        if _is_api(r) and r.status is not None and not r.is_json:
            problems.append(f"not JSON under /api/: {r.describe()}")
            continue
        if _worked(r):
            continue
        if _overlaps(r, db_down, DB_RECONNECT_SECONDS):
            if r.name == "healthz":
                if r.status == 503 and r.is_json:
                    continue
            elif _is_api(r):
                if _json_503(r):
                    continue
            elif r.status == 500 and r.content_type.startswith("text/html"):
                continue
            problems.append(f"database down: {r.describe()}")
            continue
        problems.append(f"failed: {r.describe()}")
    return problems


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def _tells(record: Record, components: tuple[str, ...]) -> bool:
    body = record.json() if record.is_json else None
    return isinstance(body, dict) and all(body.get(c, {}).get("ok") is False for c in components)


def healthz_problems(records: list[Record], phases: dict) -> list[str]:
    """/healthz tells each fault within a second: every call is answered in JSON within
    HEALTHZ_ANSWERS_WITHIN by the app's own clock (``ms``), and every call made while a fault
    lasts names it as docs/operations.md says: Redis frozen or killed, 200 ``degraded`` with
    ``cache`` and ``broker`` not ok (and ``worker``/``beat`` unknown: their heartbeats are in
    the cache); PostgreSQL down, 503 ``unavailable`` with ``database`` not ok."""
    problems = []
    calls = [r for r in records if r.name == "healthz"]
    for r in calls:
        body = r.json()
        if r.status is None or not r.is_json or not isinstance(body, dict):
            problems.append(f"no JSON answer: {r.describe()}")
        elif body.get("ms", 0) > HEALTHZ_ANSWERS_WITHIN * 1000 or r.seconds > HEALTHZ_CLIENT_LIMIT:
            problems.append(f"answered in {r.seconds:.2f} s (by its own clock {body.get('ms')} ms): {r.describe()}")
    redis = ((200, "degraded"), ("cache", "broker", "worker", "beat"))
    faults = {"redis_frozen": redis, "redis_killed": redis, "postgres_down": ((503, "unavailable"), ("database",))}
    for fault, ((status, word), components) in faults.items():
        start, end = phases[fault]
        during = [r for r in calls if r.start >= start and r.end <= end]
        if len(during) < 3:
            problems.append(f"{fault}: only {len(during)} /healthz calls while it lasted")
        for r in during:
            body = r.json() if r.is_json else None
            body = body if isinstance(body, dict) else {}
            says = (r.status, body.get("status"))
            if says != (status, word) or any(body.get(c, {}).get("ok") is not False for c in components):
                problems.append(
                    f"{fault}: /healthz does not say {status} {word}, {'+'.join(components)} down: {r.describe()}"
                )
    return problems


def enrollment_problems(drill: Drill, load: Load) -> list[str]:
    """The batch's seats and waitlist are consistent, and hold what the answers said."""
    problems = []
    capacity = drill.world["capacity"]
    rows = drill.sql(
        "SELECT id, inspector_id, status, waitlist_position FROM training_enrollment WHERE batch_id = %s ORDER BY id",
        (drill.world["batch"],),
    )
    enrolled = [r for r in rows if r[2] == "enrolled"]
    waiting = sorted(r[3] for r in rows if r[2] == "waitlisted")
    if len(enrolled) > capacity:
        problems.append(f"{len(enrolled)} enrolled in a batch of {capacity} seats")
    if waiting and len(enrolled) < capacity:
        problems.append(f"{len(waiting)} on the waitlist while {capacity - len(enrolled)} seats are free")
    if waiting != list(range(1, len(waiting) + 1)):
        problems.append(f"waitlist positions are not 1..{len(waiting)}: {waiting}")
    if any(r[2] != "waitlisted" and r[3] is not None for r in rows):
        problems.append("a row off the waitlist keeps a waitlist position")
    # Each row's last event says what the row is.
    last_events = dict(
        drill.sql(
            "SELECT DISTINCT ON (e.enrollment_id) e.enrollment_id, e.kind FROM training_enrollmentevent e "
            "JOIN training_enrollment r ON r.id = e.enrollment_id WHERE r.batch_id = %s "
            "ORDER BY e.enrollment_id, e.id DESC",
            (drill.world["batch"],),
        )
    )
    expected_kinds = {"enrolled": {"enrolled", "promoted"}, "waitlisted": {"waitlisted"}, "cancelled": {"cancelled"}}
    for row_id, _inspector, status, _position in rows:
        if last_events.get(row_id) not in expected_kinds.get(status, {status}):
            problems.append(f"enrollment {row_id} is {status} but its last event is {last_events.get(row_id)}")
    # What the answers said: 201s not cancelled since are held; nothing else is.
    active = {r[1] for r in rows if r[2] in ("enrolled", "waitlisted")}
    said = set(load.holding.values())
    if (active - said) - load.unsure:
        problems.append(f"held in the database, never answered 201 (or cancelled with 200): {sorted(active - said)}")
    if (said - active) - load.unsure:
        problems.append(f"answered 201 and not cancelled, but not held: {sorted(said - active)}")
    enrolls = [r for r in load.records if r.name == "enroll" and r.status == 201]
    if not enrolls or not any(r.name == "cancel" and r.status == 200 for r in load.records):
        problems.append("the load neither enrolled nor cancelled anybody: nothing was tested")
    return problems


def wait_for_exports(drill: Drill, deadline: float) -> list[tuple]:
    """The export jobs, once none is queued or running any more (or at the deadline)."""
    while True:
        jobs = drill.sql("SELECT id, status, attempts, file, error FROM reports_exportjob ORDER BY id")
        if all(j[1] in ("done", "failed") for j in jobs) or time.monotonic() > deadline:
            return jobs
        time.sleep(1)


def export_problems(drill: Drill, load: Load, jobs: list[tuple]) -> list[str]:
    """Every job made during the drill ended ``done``, each with one file of its own; those
    running when their worker was killed were taken over (a second attempt)."""
    problems = []
    if not drill.killed_jobs:
        problems.append("no export was running when the worker was killed")
    answered = set(load.export_jobs)
    in_db = {j[0] for j in jobs}
    if answered - in_db:
        problems.append(f"answered 202 but not saved: {sorted(answered - in_db)}")
    for job_id, status, attempts, name, error in jobs:
        if status != "done":
            problems.append(f"export {job_id} is {status} after {attempts} attempts {error[:200]!r}")
        elif not name or not (drill.media / name).is_file():
            problems.append(f"export {job_id} is done without its file ({name!r})")
        elif job_id in drill.killed_jobs and attempts < 2:
            problems.append(f"export {job_id} was running in the killed worker, yet done in {attempts} attempt")
    for job_id in sorted(answered & {j[0] for j in jobs if j[1] == "done"}):
        download = load.request("download", "GET", f"/api/v1/exports/{job_id}/download/", headers=load.admin_headers())
        if download.status != 200 or not download.body.startswith(b"PK\x03\x04"):
            problems.append(f"export {job_id} does not download as a workbook: {download.describe()}")
    # The exports' own folder: media also holds the demo's inspector photos (photos/).
    files = sorted(p.relative_to(drill.media).as_posix() for p in (drill.media / "exports").rglob("*") if p.is_file())
    named = sorted(j[3] for j in jobs if j[3])
    if files != named or len(set(named)) != len(named):
        problems.append(f"files in media {files} are not one per job {named}")
    if len(answered) < 10:
        problems.append(f"only {len(answered)} exports were created: the load did not run")
    return problems


def limit_problems(drill: Drill) -> list[str]:
    """The verify limit holds with Redis (VERIFY_LIMIT site-wide) and, counted per process as
    documented, without it (at most WEB_WORKERS x VERIFY_LIMIT): never switched off. A refusal
    is 429 in JSON with Retry-After."""
    problems = []
    for probe, most, window in (
        ("with_redis", VERIFY_LIMIT, drill.phases["baseline"]),
        ("without_redis", WEB_WORKERS * VERIFY_LIMIT, drill.phases["redis_killed"]),
    ):
        calls = drill.probes.get(probe, [])
        admitted = sum(r.status == 200 for r in calls)
        refused = [r for r in calls if r.status == 429]
        if admitted > most or not refused or admitted + len(refused) != len(calls):
            statuses = sorted({str(r.status) for r in calls})
            problems.append(f"{probe}: {admitted} of {len(calls)} verify calls admitted (at most {most}), {statuses}")
        if any(not (r.is_json and r.retry_after) for r in refused):
            problems.append(f"{probe}: a refusal without JSON or Retry-After: {refused[0].describe()}")
        if any(not _in(r, window) or r.end > window[1] for r in calls):
            problems.append(f"{probe}: the probe did not fit in its phase {window}")
    return problems


def test_the_service_survives_its_dependencies(drill):
    try:
        load = run_drill(drill)
    except st.StackError as exc:
        jobs = drill.sql(
            "SELECT id, status, attempts, progress, sent_at, heartbeat_at FROM reports_exportjob ORDER BY id"
        )
        pytest.fail(f"{exc}\njobs: {jobs}\n{drill.logs()}", pytrace=False)
    faults_ended = time.monotonic()
    jobs = wait_for_exports(drill, faults_ended + EXPORTS_DONE_WITHIN)
    waited = time.monotonic() - faults_ended

    report = summarize(load.records, drill.phases)
    problems = request_problems(load.records, drill.phases)
    problems += healthz_problems(load.records, drill.phases)
    # /me/ stays fast while Redis is frozen (the bound), and so do the requests that
    # touch Redis: the public check (its limiter waits on Redis once per worker every 5 s at
    # most) and export creation (its publish gives up within the broker's short timeouts).
    redis_down = (drill.phases["redis_frozen"], drill.phases["redis_killed"])
    for what, kinds, windows in (
        ("/me/", ("me_page", "me_api"), redis_down[:1]),
        ("/verify/", ("verify_page", "verify_api"), redis_down),
        ("export creation", ("export_create",), redis_down),
    ):
        times = [r.seconds for r in load.records if r.name in kinds and any(_in(r, w) for w in windows)]
        if not times:
            problems.append(f"no {what} request while Redis was down")
        elif p95(times) >= P95_LIMIT:
            problems.append(f"{what} p95 {p95(times):.2f} s while Redis was down ({len(times)} requests)")
    problems += limit_problems(drill)
    problems += enrollment_problems(drill, load)
    problems += export_problems(drill, load, jobs)
    # Every run removes its temporary file (export-<job id>-…), but those killed with their
    # worker: those are kept until the sweep finds them EXPORT_TMP_MAX_AGE_HOURS old.
    killed = tuple(f"export-{job}-" for job in drill.killed_jobs)
    leftovers = sorted(p.name for p in drill.exports_tmp.rglob("export-*") if not p.name.startswith(killed))
    if leftovers:
        problems.append(f"temporary export files left behind (killed runs: {sorted(drill.killed_jobs)}): {leftovers}")

    report += f"\nCelery processes that exited on their own (restarted): {drill.restarts}"
    for probe, calls in drill.probes.items():
        report += f"\nverify limit {probe}: {sum(r.status == 200 for r in calls)} of {len(calls)} admitted"
    print(f"exports done {waited:.0f} s after the last fault\n{report}")  # shown with -s, or on failure
    with (drill.workdir / "records.jsonl").open("w") as out:
        for r in load.records:
            out.write(json.dumps({**r.__dict__, "body": r.body[:300].decode("utf-8", "replace")}) + "\n")
    assert not problems, (
        f"{len(problems)} problems:\n"
        + "\n".join(problems[:60])
        + f"\n\nexports waited {waited:.0f} s: {jobs}\n\n{report}\n\n{drill.logs()}"
    )


def summarize(records: list[Record], phases: dict) -> str:
    """Per phase and kind of request: count, statuses, p95 (for a failure's message)."""
    lines = []
    for phase, window in phases.items():
        inside = [r for r in records if _in(r, window)]
        kinds = sorted({r.name for r in inside})
        parts = []
        for kind in kinds:
            mine = [r for r in inside if r.name == kind]
            statuses = ",".join(sorted({str(r.status) for r in mine}))
            parts.append(f"{kind} {len(mine)}x [{statuses}] p95 {p95([r.seconds for r in mine]):.2f}s")
        lines.append(f"{phase} {window[0]:.1f}-{window[1]:.1f}s: " + "; ".join(parts))
    return "\n".join(lines)
