"""Load benchmark: the inspector's /api/v1/me/ and the public verify API against bare
Django views running the same queries, on gunicorn + PostgreSQL, in the same run.

    .venv/bin/python -m bench.load [--duration 24] [--rounds 3] [--connections 16]
        [--workers 3] [--worker-class sync] [--inspectors 4000] [--users 200] [--readme]

1. Database: ``bench_load`` on the local PostgreSQL (DATABASE_URL when it names another
   PostgreSQL database; never ``test`` or ``postgres``), created if missing, migrated and
   filled by ``manage.py seed_demo`` (idempotent: a second run only tops it up).
2. Gives ``--users`` active inspectors a login and an API token (and their calendar
   token, so that the measured requests only read).
3. In-process (django.test.Client + CaptureQueriesContext): the SQL of one request to
   each endpoint and to its bare twin, for the inspector with the smallest history, the
   one with the largest, and the smallest again after adding 30 upcoming batches, 30
   completed ones and 30 exam results (in a transaction rolled back afterwards). The
   number of statements must not change, and each bare view must send exactly the SQL of
   its twin, or the benchmark fails.
4. Starts gunicorn (``DJANGO_DEBUG=0``, ``bench.settings_load``: the project's settings
   plus ``bench.bare_urls``) on 127.0.0.1 and a free port, in its own process group.
5. wrk (Debian's package) drives each pair with the same load: ``--connections`` clients
   in a closed loop, tokens or certificate numbers taken in turn. Each pair runs in
   ``--rounds`` alternating slices (project, bare, bare, project, ...) so that a change in
   the machine's load hits both alike. Per view: requests/s, p50/p95/p99 latency, status
   codes, socket errors, and the CPU the gunicorn workers spent per request.
6. Stops gunicorn (its whole process group, also on failure or Ctrl-C), prints a table,
   writes bench/out/load.json, and with ``--readme`` puts the figures in bench/README.md.

Traffic goes to 127.0.0.1 only; every wrk run is bounded by ``-d`` and a timeout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.harness import (
    BASE_DIR,
    OUT_DIR,
    README,
    BenchError,
    Server,
    command_env,
    database_url,
    django_setup,
    ensure_database,
    gunicorn,
    http_get,
    install_signal_handlers,
    machine,
    manage,
    run_main,
    server_env,
    write_readme_figures,
)

OUT_FILE = OUT_DIR / "load.json"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/bench_load"
DEFAULT_CACHE_URL = "redis://127.0.0.1:6379/13"
SETTINGS_MODULE = "bench.settings_load"
# Issue 13's goals: /api/v1/me/ in at most ME_MAX_STATEMENTS statements and at most
# ME_MAX_CPU_VS_BEFORE of the CPU per request of the version it replaced (bench.me_before,
# same run); verify at least VERIFY_MIN_RATIO of its bare view's throughput.
ME_MAX_STATEMENTS = 6
ME_MAX_CPU_VS_BEFORE = 0.5
VERIFY_MIN_RATIO = 0.9


# --- wrk ------------------------------------------------------------------------------------------

# Requests go through the paths (and tokens) of BENCH_TARGETS in turn, each thread from its
# own offset; done() writes the summary, every status code seen, and the latency at a grid of
# percentiles (to pool several slices) as JSON to BENCH_RESULT.
WRK_SCRIPT = r"""
local targets = {}
local idx = 0
local threads = {}
local nthreads = 0
statuses = {}

function setup(thread)
  nthreads = nthreads + 1
  thread:set("offset", nthreads * 7919)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(os.getenv("BENCH_TARGETS"), "r"))
  for line in f:lines() do
    local path, token, client = line:match("^([^\t]+)\t?([^\t]*)\t?([^\t]*)$")
    if path then
      local headers = {}
      if token ~= "" then headers["Authorization"] = "Token " .. token end
      if client ~= "" then headers["X-Forwarded-For"] = client end
      targets[#targets + 1] = wrk.format("GET", path, headers)
    end
  end
  f:close()
  idx = (offset or 0) % #targets
end

function request()
  idx = idx % #targets + 1
  return targets[idx]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local codes = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s then
      for k, v in pairs(s) do codes[k] = (codes[k] or 0) + v end
    end
  end
  local out = assert(io.open(os.getenv("BENCH_RESULT"), "w"))
  out:write(string.format('{"requests": %d, "duration_us": %d, "bytes": %d', summary.requests, summary.duration,
    summary.bytes))
  local e = summary.errors
  out:write(string.format(', "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}',
    e.connect, e.read, e.write, e.status, e.timeout))
  out:write(', "statuses": {')
  local first = true
  for k, v in pairs(codes) do
    if not first then out:write(", ") end
    out:write(string.format('"%d": %d', k, v))
    first = false
  end
  out:write(string.format('}, "latency_us": {"min": %d, "max": %d, "mean": %.1f, "grid": [', latency.min,
    latency.max, latency.mean))
  local step = 0.25
  local p = step / 2
  first = true
  while p < 100 do
    if not first then out:write(", ") end
    out:write(string.format("[%.3f, %d]", p, latency:percentile(p)))
    first = false
    p = p + step
  end
  out:write("]}}\n")
  out:close()
end
"""


@dataclass
class Slice:
    requests: int
    seconds: float
    statuses: dict
    errors: dict
    grid: list  # [[percentile, latency_us], ...]
    max_us: int
    cpu_seconds: float


def run_wrk(
    server: Server, targets: list[str], *, connections: int, threads: int, seconds: int, workdir: Path
) -> Slice:
    targets_file = workdir / "targets.txt"
    targets_file.write_text("\n".join(targets) + "\n")
    script = workdir / "load.lua"
    script.write_text(WRK_SCRIPT)
    result = workdir / "result.json"
    result.unlink(missing_ok=True)
    env = dict(os.environ, BENCH_TARGETS=str(targets_file), BENCH_RESULT=str(result))
    cmd = [
        "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        "--timeout=10s",
        f"--script={script}",
        server.base_url + "/",
    ]
    cpu_before = server.cpu_seconds()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False)
    cpu = server.cpu_seconds() - cpu_before
    if done.returncode != 0 or not result.exists():
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(result.read_text())
    return Slice(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        statuses={int(k): v for k, v in data["statuses"].items()},
        errors=data["errors"],
        grid=data["latency_us"]["grid"],
        max_us=data["latency_us"]["max"],
        cpu_seconds=cpu,
    )


def pooled_percentile(slices: list[Slice], p: float) -> float:
    """The p-th percentile (ms) of all slices together: each slice's percentile grid stands
    for its requests in equal shares."""
    points = []
    for s in slices:
        weight = s.requests / len(s.grid)
        points += [(value, weight) for _pct, value in s.grid]
    points.sort()
    total = sum(w for _, w in points)
    acc = 0.0
    for value, weight in points:
        acc += weight
        if acc >= total * p / 100:
            return value / 1000
    return points[-1][0] / 1000


def summarize(slices: list[Slice]) -> dict:
    requests = sum(s.requests for s in slices)
    seconds = sum(s.seconds for s in slices)
    statuses: dict[int, int] = {}
    for s in slices:
        for code, n in s.statuses.items():
            statuses[code] = statuses.get(code, 0) + n
    socket_errors = {k: sum(s.errors[k] for s in slices) for k in ("connect", "read", "write", "timeout")}
    cpu = sum(s.cpu_seconds for s in slices)
    return {
        "requests": requests,
        "seconds": round(seconds, 2),
        "rps": round(requests / seconds, 1) if seconds else 0.0,
        "p50_ms": round(pooled_percentile(slices, 50), 2),
        "p95_ms": round(pooled_percentile(slices, 95), 2),
        "p99_ms": round(pooled_percentile(slices, 99), 2),
        "max_ms": round(max(s.max_us for s in slices) / 1000, 2),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "non_2xx": sum(n for code, n in statuses.items() if not 200 <= code < 300),
        "http_5xx": sum(n for code, n in statuses.items() if code >= 500),
        "socket_errors": socket_errors,
        "app_cpu_ms_per_request": round(cpu * 1000 / requests, 3) if requests else None,
        "slices_rps": [round(s.requests / s.seconds, 1) for s in slices],
    }


def run_views(server, views: dict[str, list[str]], *, args, workdir: Path) -> dict:
    """Alternate slices of the views (P B O, O B P, P B O, ...), the same load for each."""
    per_slice = max(1, round(args.duration / args.rounds))
    for targets in views.values():  # warm-up, not counted
        run_wrk(server, targets, connections=args.connections, threads=args.threads, seconds=3, workdir=workdir)
    slices: dict[str, list[Slice]] = {name: [] for name in views}
    names = list(views)
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            s = run_wrk(
                server,
                views[name],
                connections=args.connections,
                threads=args.threads,
                seconds=per_slice,
                workdir=workdir,
            )
            slices[name].append(s)
            print(f"    round {r + 1} {name:<7} {s.requests / s.seconds:8.1f} req/s", flush=True)
    result = {name: summarize(s) for name, s in slices.items()}
    bare_rps = result["bare"]["rps"]
    result["ratio"] = round(result["project"]["rps"] / bare_rps, 3) if bare_rps else None
    p_cpu, b_cpu = result["project"]["app_cpu_ms_per_request"], result["bare"]["app_cpu_ms_per_request"]
    result["cpu_ratio"] = round(b_cpu / p_cpu, 3) if p_cpu and b_cpu else None
    if "before" in result:
        o_cpu = result["before"]["app_cpu_ms_per_request"]
        result["cpu_vs_before"] = round(p_cpu / o_cpu, 3) if p_cpu and o_cpu else None
    return result


# --- preparing the data, and the in-process query check -----------------------------------------


def prepare(*, users: int, seed: int) -> dict:
    """Logins (created once, reused after) and a new API token for ``users`` active inspectors;
    their calendar tokens too, so that /me/ only reads (but for the token's last use, noted at
    most once a minute, by the project's view and the bare one alike). Returns tokens and
    certificate numbers."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.db.models import Count, Q

    from core.tokens import api_token_issue
    from exams.models import Certificate
    from personnel.models import Inspector
    from training.models import ACTIVE_ENROLLMENT
    from training.services import calendar_token_for

    user_model = get_user_model()
    active = list(Inspector.objects.filter(status="active").order_by("id").values_list("id", flat=True))
    if len(active) < users:
        raise BenchError(f"only {len(active)} active inspectors for {users} users")
    chosen = sorted(random.Random(seed).sample(active, users))
    tokens: dict[int, str] = {}
    with transaction.atomic():
        for inspector in Inspector.objects.filter(pk__in=chosen).select_related("user"):
            user = inspector.user
            if user is None:
                user, created = user_model.objects.get_or_create(username=f"bench_load_{inspector.pk}")
                if created:
                    user.set_unusable_password()
                    user.save(update_fields=["password"])
                Inspector.objects.filter(pk=inspector.pk).update(user=user)
            tokens[inspector.pk] = api_token_issue(user=user, name="bench.load")[1]
            calendar_token_for(inspector=inspector)
    today = dt.date.today()
    history = Inspector.objects.filter(pk__in=chosen).annotate(
        n_results=Count("exam_results", distinct=True),
        n_upcoming=Count(
            "enrollments",
            filter=Q(enrollments__status__in=ACTIVE_ENROLLMENT, enrollments__batch__ends_on__gte=today),
            distinct=True,
        ),
        n_enrollments=Count("enrollments", distinct=True),
        n_certificates=Count("certificates", distinct=True),
    )
    rows = {i.pk: (i.n_results, i.n_upcoming, i.n_enrollments, i.n_certificates) for i in history}
    numbers = list(Certificate.objects.order_by("id").values_list("number", flat=True))
    if not numbers:
        raise BenchError("no certificates in the database: did seed_demo run?")
    return {
        "tokens": tokens,
        "history": rows,
        "numbers": numbers,
        "world": {
            "inspectors": Inspector.objects.count(),
            "certificates": len(numbers),
            "enrollments": _count("training", "Enrollment"),
            "results": _count("exams", "Result"),
            "token_users": users,
            "token_users_with_certificate": sum(1 for r in rows.values() if r[3]),
            "token_users_mean_results": round(sum(r[0] for r in rows.values()) / users, 2),
            "token_users_mean_upcoming": round(sum(r[1] for r in rows.values()) / users, 2),
            "token_users_mean_enrollments": round(sum(r[2] for r in rows.values()) / users, 2),
        },
    }


def _count(app: str, model: str) -> int:
    from django.apps import apps

    return apps.get_model(app, model).objects.count()


def _add_history(inspector, *, start: int, count: int) -> None:
    """``count`` more upcoming enrollments, ``count`` more completed this year (2 hours each)
    and ``count`` more exam results, each of its own exam with two parts (rows ``start`` to
    ``start + count - 1``). Written directly: only their number matters here."""
    from decimal import Decimal

    from exams.models import Exam, ExamPart, Result, Sitting
    from personnel.models import Region
    from training.models import Batch, Course, Enrollment

    today = dt.date.today()
    jan1 = dt.date(today.year, 1, 1)
    course = Course.objects.order_by("id").first()
    province = Region.objects.filter(parent__isnull=True).order_by("id").first()
    batches = []
    for i in range(start, start + count):
        ahead = today + dt.timedelta(days=10 + 3 * i)
        past = jan1 + dt.timedelta(days=i % max(1, (today - jan1).days))
        for day, status, year in ((ahead, "open", 2090), (past, "completed", 2091)):
            batches.append(
                Batch(
                    course=course,
                    year=year,  # a year of its own: (region, year, number) stays unique
                    number=900 + i,
                    region=province,
                    starts_on=day,
                    ends_on=day,
                    capacity=50,
                    enrollment_deadline=day,
                    status=status,
                )
            )
    Enrollment.objects.bulk_create(
        [
            Enrollment(batch=b, inspector=inspector, status="enrolled")
            if b.status == "open"
            else Enrollment(
                batch=b, inspector=inspector, status="completed", hours_credited=Decimal("2"), completed_on=b.ends_on
            )
            for b in Batch.objects.bulk_create(batches)
        ]
    )
    results = []
    for i in range(start, start + count):
        exam = Exam.objects.create(title=f"负载测试考试{i}", kind="qualification", region=province)
        parts = ExamPart.objects.bulk_create(
            [
                ExamPart(exam=exam, name="通用法律知识", max_score=Decimal("40"), order=0),
                ExamPart(exam=exam, name="专门法律知识", max_score=Decimal("60"), order=1),
            ]
        )
        sitting = Sitting.objects.create(exam=exam, held_on=today - dt.timedelta(days=7 * (i + 1)))
        results.append(
            Result(
                sitting=sitting,
                inspector=inspector,
                exam=exam,
                score=Decimal("70"),
                absent=False,
                passed=True,
                attempt=1,
                pass_mark=Decimal("60"),
                part_scores={str(parts[0].pk): "30", str(parts[1].pk): "40"},
            )
        )
    Result.objects.bulk_create(results)


class _Rollback(Exception):
    pass


def query_check(prepared: dict) -> dict:
    """Statements per request, project and bare, for small and large histories."""
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from personnel.models import Inspector

    client = Client()

    def sql_of(path: str, token: str | None = None) -> tuple[list[str], dict]:
        headers = {"HTTP_AUTHORIZATION": f"Token {token}"} if token else {}
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path, **headers)
        if response.status_code != 200:
            raise BenchError(f"GET {path}: {response.status_code} {response.content[:300]!r}")
        return [q["sql"] for q in ctx.captured_queries], response.json()

    def me_pair(token: str, label: str) -> dict:
        # A token's use is noted at most once a minute (one UPDATE): note it first, so that
        # neither measured request writes and both send the same statements.
        sql_of("/api/v1/me/", token)
        project_sql, project_body = sql_of("/api/v1/me/", token)
        bare_sql, bare_body = sql_of("/bare/me/", token)
        before_sql, before_body = sql_of("/before/me/", token)
        if before_body != project_body:
            raise BenchError(f"/api/v1/me/ answers otherwise than the version it replaced ({label})")
        if project_sql != bare_sql:
            raise BenchError(f"/bare/me/ does not send the SQL of /api/v1/me/ ({label}):\n{project_sql}\n{bare_sql}")
        if _shape(project_body) != _shape(bare_body):
            raise BenchError(f"/bare/me/ and /api/v1/me/ answer different shapes ({label})")
        return {
            "label": label,
            "upcoming": len(project_body["upcoming"]),
            "results": len(project_body["results"]),
            "hours": project_body["hours"]["hours"],
            "queries_project": len(project_sql),
            "queries_bare": len(bare_sql),
            "queries_before": len(before_sql),
        }

    history = prepared["history"]
    tokens = prepared["tokens"]

    def size(pk):  # results + all enrollments
        return history[pk][0] + history[pk][2]

    smallest = min(history, key=lambda pk: (size(pk), pk))
    largest = max(history, key=lambda pk: (size(pk), -pk))
    seeded = [
        me_pair(tokens[smallest], f"seeded, smallest history (inspector {smallest})"),
        me_pair(tokens[largest], f"seeded, largest history (inspector {largest})"),
    ]
    # The same inspector with one of each, then with 31 of each (rolled back afterwards).
    grown = []
    try:
        with transaction.atomic():
            inspector = Inspector.objects.get(pk=smallest)
            _add_history(inspector, start=0, count=1)
            grown.append(me_pair(tokens[smallest], f"inspector {smallest} + 1 upcoming, 1 completed, 1 result"))
            _add_history(inspector, start=1, count=30)
            grown.append(me_pair(tokens[smallest], f"inspector {smallest} + 31 upcoming, 31 completed, 31 results"))
            raise _Rollback
    except _Rollback:
        pass
    rows = seeded + grown

    verify = []
    for number in (prepared["numbers"][0], prepared["numbers"][-1]):
        project_sql, project_body = sql_of(f"/api/v1/certificates/verify/{number}/")
        bare_sql, bare_body = sql_of(f"/bare/verify/{number}/")
        if project_sql != bare_sql or project_body != bare_body:
            raise BenchError(f"/bare/verify/ differs from the verify API for {number}")
        verify.append({"number": number, "queries_project": len(project_sql), "queries_bare": len(bare_sql)})

    # What may differ between people is the shape (no result at all: no parts to fetch; no
    # held certificate: one more look for the last one), never the size.
    if grown[0]["queries_project"] != grown[1]["queries_project"]:
        raise BenchError(f"/api/v1/me/ queries grow with the data: {grown}")
    if grown[1]["upcoming"] < 31 or grown[1]["results"] < 31:
        raise BenchError(f"the added history did not show up: {grown[1]}")
    ceiling = max(r["queries_project"] for r in rows)
    return {
        "me": rows,
        "verify": verify,
        "constant": True,
        "max_queries_me": ceiling,
        "max_queries_me_before": max(r["queries_before"] for r in rows),
    }


def _shape(value):
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]] + ([len(value)] if value else [])
    return type(value).__name__ if value is None or isinstance(value, bool) else "value"


def http_check(server: Server, prepared: dict) -> None:
    """Through gunicorn: both twins answer 200 with the same shape (a 301 would mean an
    HTTPS redirect, a 400 a host not allowed)."""
    token = next(iter(prepared["tokens"].values()))
    number = prepared["numbers"][0]
    pairs = (
        ("/api/v1/me/", "/bare/me/", token),
        ("/api/v1/me/", "/before/me/", token),
        (f"/api/v1/certificates/verify/{number}/", f"/bare/verify/{number}/", None),
    )
    for project, bare, tok in pairs:
        bodies = []
        for path in (project, bare):
            status, body = http_get(server.base_url, path, headers={"Authorization": f"Token {tok}"} if tok else {})
            if status != 200:
                raise BenchError(f"GET {path} through gunicorn: {status} {body[:300]!r}")
            bodies.append(json.loads(body))
        if _shape(bodies[0]) != _shape(bodies[1]):
            raise BenchError(f"{project} and {bare} answer different shapes through gunicorn")


# --- report ------------------------------------------------------------------------------------


def goals(report: dict) -> dict[str, tuple[str, bool]]:
    """Issue 13's goals, each as (what was measured, met)."""
    results, q = report["results"], report["queries"]
    out = {}
    if "me" in results:
        me = results["me"]
        out["me statements"] = (
            f"{q['max_queries_me']} at most (was {q['max_queries_me_before']}; goal <= {ME_MAX_STATEMENTS})",
            q["max_queries_me"] <= ME_MAX_STATEMENTS,
        )
        ratio = me.get("cpu_vs_before")
        out["me CPU"] = (
            f"{ratio:.2f} of the version it replaced per request (goal <= {ME_MAX_CPU_VS_BEFORE})",
            ratio is not None and ratio <= ME_MAX_CPU_VS_BEFORE,
        )
    if "verify" in results:
        v = results["verify"]
        out["verify"] = (
            f"{v['ratio']:.2f} of the bare view's throughput, {v['cpu_ratio']:.2f} by CPU per request "
            f"(goal >= {VERIFY_MIN_RATIO})",
            v["ratio"] is not None and v["ratio"] >= VERIFY_MIN_RATIO,
        )
    return out


def table(results: dict) -> str:
    lines = [
        "| scenario | view | req/s | p50 ms | p95 ms | p99 ms | non-2xx | 5xx | socket errors | app CPU ms/req |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for scenario, pair in results.items():
        for view in ("project", "bare", "before"):
            if view not in pair:
                continue
            r = pair[view]
            lines.append(
                f"| {scenario} | {pair['paths'][view]} | {r['rps']:,.1f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
                f"{r['p99_ms']:.1f} | {r['non_2xx']} | {r['http_5xx']} | {sum(r['socket_errors'].values())} | "
                f"{r['app_cpu_ms_per_request']:.2f} |"
            )
        lines.append(
            f"| {scenario} | **project / bare** | **{pair['ratio']:.2f}** | | | | | | | "
            f"{pair['cpu_ratio']:.2f} (bare/project) |"
        )
        if pair.get("cpu_vs_before") is not None:
            before = pair["before"]["rps"]
            lines.append(
                f"| {scenario} | **project / before** | {pair['project']['rps'] / before:.2f} | | | | | | | "
                f"**{pair['cpu_vs_before']:.2f}** (project/before) |"
            )
    return "\n".join(lines)


def readme_block(report: dict) -> str:
    m = report["machine"]
    cfg = report["config"]
    q = report["queries"]
    me_counts = ", ".join(
        f"{r['queries_project']} ({r['upcoming']} upcoming / {r['results']} results)" for r in q["me"]
    )
    before_counts = ", ".join(str(r["queries_before"]) for r in q["me"])
    goal = "; ".join(f"{name}: {text}, {'met' if met else 'NOT met'}" for name, (text, met) in goals(report).items())
    return (
        f"### {report['date']}: {m['cpus']} CPUs, load average {m['loadavg_at_start'][0]} at start\n\n"
        f"{m['platform']}, Python {m['python']}, Django {m.get('django')}, DRF {m.get('djangorestframework')}, "
        f"{m.get('gunicorn')}, PostgreSQL {m.get('postgresql')}. gunicorn {cfg['workers']} x {cfg['worker_class']}"
        f" workers, wrk {cfg['connections']} connections / {cfg['threads']} threads, {cfg['rounds']} alternating "
        f"slices of {cfg['slice_seconds']} s per view, throttle cache {cfg['cache']}, VERIFY_RATE {cfg['verify_rate']} "
        f"over {cfg['verify_clients']:,} client addresses. "
        f"Data: {report['world']['inspectors']:,} inspectors, {report['world']['certificates']:,} certificates, "
        f"{report['world']['enrollments']:,} enrollments, {report['world']['results']:,} results; "
        f"{report['world']['token_users']} token users.\n\n"
        f"{table(report['results'])}\n\n"
        f"Goals: **{goal}**. "
        f"Statements per request, /api/v1/me/ = /bare/me/: {me_counts}; /before/me/: {before_counts}; "
        f"verify: {q['verify'][0]['queries_project']}.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help=f"default: $DATABASE_URL or {DEFAULT_DATABASE_URL}")
    parser.add_argument("--duration", type=int, default=24, help="seconds per view per scenario (default 24)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating slices per view (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3)")
    parser.add_argument("--worker-class", default="sync", choices=("sync", "gthread"))
    parser.add_argument("--gunicorn-threads", type=int, default=1, help="threads per gthread worker")
    parser.add_argument("--inspectors", type=int, default=4000, help="seed_demo --inspectors (default 4000)")
    parser.add_argument("--users", type=int, default=200, help="inspectors given an API token (default 200)")
    parser.add_argument("--seed", type=int, default=20250601)
    parser.add_argument("--cache", default="redis", choices=("redis", "locmem"), help="throttle cache (default redis)")
    parser.add_argument(
        "--verify-clients",
        type=int,
        default=20000,
        help="distinct client addresses for verify, sent as X-Forwarded-For behind DJANGO_NUM_PROXIES=1 "
        "(default 20000); 1: every request from 127.0.0.1, which needs a raised --verify-rate",
    )
    parser.add_argument(
        "--verify-rate",
        help="VERIFY_RATE for the server (default: 30/min, the production one; 1000000/s with one client; "
        "off: no limit)",
    )
    parser.add_argument("--no-seed", action="store_true", help="skip migrate + seed_demo")
    parser.add_argument("--only", choices=("me", "verify"), help="run one scenario only")
    parser.add_argument(
        "--readme", action="store_true", help="put the figures in bench/README.md (in place of the previous ones)"
    )
    parser.add_argument("--output", type=Path, default=OUT_FILE)
    args = parser.parse_args(argv)
    if args.duration < 3 or args.duration > 120 or args.connections < 1 or args.connections > 256:
        parser.error("--duration must be 3..120 s and --connections 1..256")
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install -y wrk (Debian's package)", file=sys.stderr)
        return 2
    install_signal_handlers()
    started = time.monotonic()
    url = database_url(args.database_url, DEFAULT_DATABASE_URL)
    created = ensure_database(url)
    print(f"database {urlsplit(url).path.lstrip('/')}{' (created)' if created else ''}", flush=True)
    if not args.no_seed:
        manage(["migrate", "--noinput"], env=command_env(url))
        t0 = time.monotonic()
        manage(["seed_demo", f"--inspectors={args.inspectors}"], env=command_env(url), timeout=1800)
        print(f"seed_demo --inspectors={args.inspectors}: {time.monotonic() - t0:.1f} s", flush=True)

    cache_url = DEFAULT_CACHE_URL if args.cache == "redis" else None
    verify_rate = args.verify_rate or ("30/min" if args.verify_clients > 1 else "1000000/s")
    # "off": no limit at all (VERIFY_RATE empty), to tell the throttle's share from DRF's.
    extra = {"VERIFY_RATE": "" if verify_rate == "off" else verify_rate}
    if args.verify_clients > 1:
        extra["DJANGO_NUM_PROXIES"] = "1"
    env = server_env(url, settings_module=SETTINGS_MODULE, cache_url=cache_url, **extra)
    django_setup(env=dict(env, DJANGO_ALLOWED_HOSTS="127.0.0.1,testserver"))
    prepared = prepare(users=args.users, seed=args.seed)
    queries = query_check(prepared)
    for row in queries["me"]:
        print(f"  queries /api/v1/me/ = /bare/me/: {row['queries_project']:>3}  {row['label']}", flush=True)
    info = machine()
    from django.db import connections

    connections.close_all()
    if args.cache == "redis":
        from django.core.cache import cache

        cache.clear()  # the benchmark's own Redis database: no throttle history left over

    me_targets = [f"/api/v1/me/\t{t}" for t in prepared["tokens"].values()]
    bare_me_targets = [f"/bare/me/\t{t}" for t in prepared["tokens"].values()]
    before_me_targets = [f"/before/me/\t{t}" for t in prepared["tokens"].values()]
    numbers = list(prepared["numbers"])
    random.Random(args.seed).shuffle(numbers)
    # Each line its own client address (IPv6 documentation prefix, never a real host; only
    # a header on loopback), behind one trusted proxy: every client stays far below the
    # limit, and the throttle does the work it does in production.
    lines = max(len(numbers), args.verify_clients) if args.verify_clients > 1 else len(numbers)
    clients = [f"2001:db8::{i + 1:x}" if args.verify_clients > 1 else "" for i in range(lines)]
    verify_targets = [f"/api/v1/certificates/verify/{numbers[i % len(numbers)]}/\t\t{clients[i]}" for i in range(lines)]
    bare_verify_targets = [f"/bare/verify/{numbers[i % len(numbers)]}/\t\t{clients[i]}" for i in range(lines)]

    results = {}
    log_path = OUT_DIR / "load_gunicorn.log"
    with (
        tempfile.TemporaryDirectory(prefix="bench_load_") as tmp,
        gunicorn(
            env,
            workers=args.workers,
            worker_class=args.worker_class,
            threads=args.gunicorn_threads,
            log_path=log_path,
        ) as server,
    ):
        print(f"gunicorn {server.base_url} ({args.workers} x {args.worker_class})", flush=True)
        http_check(server, prepared)
        for scenario, views, paths in (
            (
                "me",
                {"project": me_targets, "bare": bare_me_targets, "before": before_me_targets},
                {"project": "/api/v1/me/", "bare": "/bare/me/", "before": "/before/me/ (the old view)"},
            ),
            (
                "verify",
                {"project": verify_targets, "bare": bare_verify_targets},
                {"project": "/api/v1/certificates/verify/{n}/", "bare": "/bare/verify/{n}/"},
            ),
        ):
            if args.only and scenario != args.only:
                continue
            print(f"  {scenario}:", flush=True)
            results[scenario] = run_views(server, views, args=args, workdir=Path(tmp))
            results[scenario]["paths"] = paths
    errors_in_log = sum(1 for line in log_path.read_text().splitlines() if "Traceback" in line)

    report = {
        "benchmark": "bench.load",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": info,
        "config": {
            "database": urlsplit(url).path.lstrip("/"),
            "workers": args.workers,
            "worker_class": args.worker_class,
            "connections": args.connections,
            "threads": args.threads,
            "rounds": args.rounds,
            "slice_seconds": max(1, round(args.duration / args.rounds)),
            "cache": args.cache,
            "verify_rate": verify_rate,
            "verify_clients": args.verify_clients,
            "conn_max_age": 600,
        },
        "world": prepared["world"],
        "queries": queries,
        "results": results,
        "tracebacks_in_gunicorn_log": errors_in_log,
        "goals": {},
        "seconds": round(time.monotonic() - started, 1),
    }
    report["goals"] = {name: {"measured": text, "met": met} for name, (text, met) in goals(report).items()}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    print()
    print(table(results))
    print()
    for name, (text, met) in goals(report).items():
        print(f"{name}: {text}: {'met' if met else 'NOT met'}")
    print(f"tracebacks in {log_path.relative_to(BASE_DIR)}: {errors_in_log}")
    print(f"written: {args.output}")
    if args.readme:
        write_readme_figures("bench.load", readme_block(report))
        print(f"figures written to {README.relative_to(BASE_DIR)}")
    failures = [s for s, p in results.items() if p["project"]["http_5xx"] or p["bare"]["http_5xx"]]
    if failures or errors_in_log:
        raise BenchError(f"5xx answers in {failures or 'the log'}")
    return 0


if __name__ == "__main__":
    run_main(main)
