"""Online exam storm: N candidates start one online sitting within a minute, each saves its
answers one PUT at a time and submits, over HTTP on gunicorn + PostgreSQL; the answer saves
against a bare Django view that saves one answer row, same run, same server, same rows.

    .venv/bin/python -m bench.online_exam [--candidates 2000] [--answers 50] [--in-flight 64]
        [--ramp 60] [--rounds 5] [--workers N] [--profile] [--readme]

1. Database: ``bench_online_exam`` on the local PostgreSQL (DATABASE_URL when it names another
   PostgreSQL database; never ``test`` or ``postgres``), dropped and created anew, migrated.
2. Fixtures, through the project's services where they decide something: the region tree of
   bench.harness, a provincial admin; ``--candidates`` active inspectors with a login each
   (bulk SQL) and an API token each (``core.tokens.api_token_issue``); a completed training
   batch with all of them as its completers (bulk SQL: the sitting's candidates, as for a
   paper sitting); a question bank of four questions for every one a paper asks (200 for 50:
   single, multiple and true/false, difficulties 易/中/难, through
   ``exams.questions.question_create``); a qualification exam of two parts (通用法律知识 40,
   专门法律知识 60; ``exams.services.exam_create``) with paper rules drawing ``--answers``
   questions per paper, one rule per part and kind, one of them 难 only
   (``exams.questions.paper_rules_set``); an online sitting of that exam for the batch, open
   now, 240 minutes per candidate (``exams.services.sitting_create``).
3. gunicorn as docs/operations.md deploys it (sync workers, ``--workers`` default CPUs + 1: 3
   on 2 CPUs, the documented ``--workers 3``), ``DJANGO_DEBUG=0``, ``bench.settings_load``
   (the project's URLs plus the bare views'), persistent database connections. The driver
   (this process) sends every request on its own connection (sync workers close it after
   each answer), at most ``--in-flight`` at once; a phone waits for one answer before the next.
4. The storm, in phases, each request timed:
   - **start**: candidate i sends ``POST /api/v1/sittings/{id}/start/`` at i x ramp / N s (all
     of them within ``--ramp`` = 60 s), shuffled; the paper of each answer is checked against
     the database (positions 1..n, kinds, option counts).
   - **answers**: ``--rounds`` rounds, each over a slice of the positions (10 of 50 by default):
     in each round the API side and the bare side take turns on the same rows, the bare side
     first in even rounds and second in odd ones, so that neither always meets the table as
     the other left it. A request saves one answer (``{"answers": {"7": "B"}}``), the
     candidates interleaved (every candidate's first answer of the slice, then every second:
     2,000 phones each at its own question) and each candidate's in question order.
     API: ``PUT /api/v1/attempts/{id}/answers/`` with the letters as the candidate saw them
     (options are shuffled per candidate); the service stores the original letters. About 70 %
     are right. Bare: ``PUT /bare/attempts/{id}/answers/`` (bench/bare_views.py: the token
     checked by the same function, one UPDATE of the row by (attempt, position) limited to the
     caller's own active attempt before its deadline, no DRF, no service, letters stored as
     sent, no check against the options). When the bare side goes first it writes a decoy (a
     different answer) that the API side must then replace; when second, the original letters
     the API side stored. After every slice the database must hold, row for row, what that
     side sent (the bare side: written during its slice).
   - **submit**: ``POST /api/v1/attempts/{id}/submit/``, every candidate.
5. Checks, from the database: every attempt submitted by the candidate; every one of the
   N x n answers stored as sent (display letters mapped back through the item's option order,
   computed here independently); every item's correct/awarded, every attempt's part scores and
   score, and one Result per candidate (score, parts, pass at 60, attempt 1) recomputed here
   from the stored answers and the question versions' answers (a multiple-choice item scores
   only when exactly right); the submit answers' scores; no 5xx, no unexpected status, no
   socket error, no traceback in the gunicorn log. Any failure stops the run (``BENCHMARK
   FAILED``).
6. Figures: per phase requests/s, p50/p95/p99 latency, the gunicorn workers' CPU per request;
   answer saves API / bare (goal in issue 15: at least 0.5); statements of one save of each
   side (counted in this process through django.test.Client); the storm's total time; the load
   average at start and end. ``--profile``: cProfile of ``--profile-saves`` API saves and as many
   bare saves in this process, the top functions printed and kept in the JSON.
   bench/out/online_exam.json; ``--readme`` puts the figures in bench/README.md.

Traffic goes to 127.0.0.1 only; every request is bounded by ``--timeout`` and every phase by
``--deadline``.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import random
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from bench.enroll_storm import run_threads
from bench.harness import (
    BASE_DIR,
    OUT_DIR,
    README,
    BenchError,
    active_inspectors,
    command_env,
    count_queries,
    database_url,
    django_setup,
    ensure_database,
    gunicorn,
    http_request,
    install_signal_handlers,
    load_average,
    machine,
    make_regions,
    manage,
    run_main,
    server_env,
    write_readme_figures,
)

OUT_FILE = OUT_DIR / "online_exam.json"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/bench_online_exam"
SETTINGS_MODULE = "bench.settings_load"
GOAL = 0.5  # answer saves per second, API / bare view (issue 15)
LETTERS = "ABCDEFGHIJKL"
# The exam's parts: name (also the bank category the part draws from), full marks, share of
# the questions. Each part's questions: half single choice, a quarter multiple, a quarter
# true/false; the specialist part's single-choice questions a third 难 only.
PARTS = (("通用法律知识", Decimal("40"), Decimal("0.4")), ("专门法律知识", Decimal("60"), Decimal("0.6")))
PASS_MARK = Decimal("60")
BANK_FACTOR = 4  # questions in the bank for each one a paper draws
RIGHT_SHARE = 0.7  # of the answers the driver gives
DURATION_MINUTES = 240
LAWS = (
    "安全生产法",
    "行政处罚法",
    "行政强制法",
    "行政许可法",
    "消防法",
    "矿山安全法",
    "危险化学品安全管理条例",
    "生产安全事故应急条例",
)


# --- the paper and the bank -------------------------------------------------------------------


def paper_plan(answers: int) -> tuple[Decimal, list[dict]]:
    """Points per question and the rules of a paper of ``answers`` questions: per part, per
    kind, ``count`` questions (``difficulty`` 3 or None)."""
    points = Decimal(100) / answers
    if points != points.quantize(Decimal("0.1")) or points < Decimal("0.5"):
        raise BenchError(f"--answers {answers}: 100 points do not split into {answers} questions of 0.1 steps")
    points = points.quantize(Decimal("0.1"))
    rules = []
    for name, full, share in PARTS:
        count = full / points
        if count != int(count) or share * answers != count:
            raise BenchError(f"--answers {answers}: part {name} ({full} points) is not a whole number of questions")
        count = int(count)
        multiple = count // 4
        true_false = count // 4
        single = count - multiple - true_false
        hard = single // 3 if name == PARTS[1][0] else 0
        for kind, n, difficulty in (
            ("single", hard, 3),
            ("single", single - hard, None),
            ("multiple", multiple, None),
            ("true_false", true_false, None),
        ):
            if n:
                rules.append({"part": name, "kind": kind, "count": n, "difficulty": difficulty})
    return points, rules


def bank_rows(rules: list[dict], rng: random.Random) -> list[dict]:
    """BANK_FACTOR questions per question drawn, per category and kind, difficulties in turn
    (so a 难 rule has BANK_FACTOR x its count of 难 questions or more)."""
    wanted = Counter()
    for rule in rules:
        wanted[(rule["part"], rule["kind"])] += rule["count"] * BANK_FACTOR
    rows = []
    for (category, kind), n in sorted(wanted.items()):
        for i in range(n):
            law = LAWS[i % len(LAWS)]
            stem = f"【{category}·{kind}·{i + 1}】依据《{law}》第{10 + i}条，下列关于执法程序的说法{'正确的是' if kind != 'true_false' else '是否正确'}："
            if kind == "true_false":
                options, answer = ["正确", "错误"], rng.choice("AB")
            else:
                options = [f"{law}第{10 + i}条第{j + 1}款规定的情形{'甲乙丙丁'[j]}" for j in range(4)]
                size = 1 if kind == "single" else rng.choice((2, 3))
                answer = "".join(sorted(rng.sample("ABCD", size)))
            rows.append(
                {
                    "kind": kind,
                    "stem": stem,
                    "options": options,
                    "answer": answer,
                    "explanation": f"见《{law}》第{10 + i}条。",
                    "category": category,
                    "difficulty": 3 if i % 3 == 0 else (1 if i % 3 == 1 else 2),
                }
            )
    return rows


# --- the world ----------------------------------------------------------------------------------


def make_world(*, candidates: int, answers: int, seed: int) -> dict:
    """Regions, an admin, the candidates with logins and tokens, their batch, the bank, the
    exam with its paper rules and the online sitting, open now."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from core.tokens import api_token_issue
    from exams import questions
    from exams.models import SittingMode
    from exams.services import exam_create, sitting_create
    from personnel.models import Inspector
    from personnel.services import region_admin_assign
    from training.models import Batch, Course, Enrollment

    rng = random.Random(seed)
    by_code = make_regions()
    province = by_code["130000"]
    user_model = get_user_model()
    admin = user_model.objects.create_user("exam_admin")
    region_admin_assign(user=admin, region=province)

    # The candidates: logins, inspectors (bulk), a token each (the project's service).
    counties = {code: r for code, r in by_code.items() if r.level == "county"}
    people = active_inspectors(rng, counties, candidates, born_from=dt.date(1965, 1, 1), years=35)
    unusable = make_password(None)
    users = user_model.objects.bulk_create(
        [user_model(username=f"exam{n:05d}", password=unusable) for n in range(candidates)], batch_size=2000
    )
    for person, user in zip(people, users, strict=True):
        person.user = user
    inspectors = Inspector.objects.bulk_create(people, batch_size=2000)
    tokens = [api_token_issue(user=user, name="bench.online_exam")[1] for user in users]

    # The batch they completed: its completers are the sitting's candidates.
    today = timezone.localdate()
    course = Course.objects.create(
        code="EXAM-1", title="行政执法资格考前培训", covers_legal_review=True, hours=Decimal("16")
    )
    batch = Batch.objects.create(
        course=course,
        year=today.year,
        number=1,
        region=province,
        starts_on=today - dt.timedelta(days=10),
        ends_on=today - dt.timedelta(days=8),
        enrollment_deadline=today - dt.timedelta(days=12),
        capacity=candidates,
        status="completed",
        place="省应急管理厅培训中心",
    )
    Enrollment.objects.bulk_create(
        [
            Enrollment(
                batch=batch, inspector=i, status="completed", hours_credited=Decimal("16"), completed_on=batch.ends_on
            )
            for i in inspectors
        ],
        batch_size=2000,
    )

    # The bank, the exam and its paper rules, the online sitting.
    points, plan = paper_plan(answers)
    bank = bank_rows(plan, rng)
    for row in bank:
        questions.question_create(actor=admin, region=province, **row)
    exam = exam_create(
        actor=admin,
        title="安全生产行政执法资格考试（在线）",
        kind="qualification",
        region=province,
        parts=[(name, full) for name, full, _share in PARTS],
        pass_mark=PASS_MARK,
    )
    parts = {p.name: p for p in exam.parts.all()}
    questions.paper_rules_set(
        exam=exam,
        actor=admin,
        rules=[
            questions.RuleSpec(
                part=parts[r["part"]],
                points=points,
                category=r["part"],
                difficulty=r["difficulty"],
                kind=r["kind"],
                count=r["count"],
            )
            for r in plan
        ],
    )
    now = timezone.now()
    sitting = sitting_create(
        actor=admin,
        exam=exam,
        held_on=today,
        place="在线",
        batch=batch,
        mode=SittingMode.ONLINE,
        opens_at=now - dt.timedelta(minutes=5),
        closes_at=now + dt.timedelta(minutes=DURATION_MINUTES + 120),
        duration_minutes=DURATION_MINUTES,
    )
    return {
        "sitting": sitting.pk,
        "exam": exam.pk,
        "parts": {str(p.pk): name for name, p in parts.items()},
        "inspectors": [i.pk for i in inspectors],
        "tokens": tokens,
        "bank": len(bank),
        "points": str(points),
        "rules": plan,
    }


# --- letters (computed here, not with the project's functions: the check is independent) ------


def display_to_original(display: str, option_order: list[int]) -> str:
    return "".join(sorted(LETTERS[option_order[LETTERS.index(c)]] for c in display))


def original_to_display(original: str, option_order: list[int]) -> str:
    return "".join(sorted(LETTERS[option_order.index(LETTERS.index(c))] for c in original))


def other_answer(rng: random.Random, kind: str, options: int, not_this: str) -> str:
    """Any answer of the kind but ``not_this`` (letters of the same alphabet, sorted)."""
    letters = LETTERS[:options]
    while True:
        if kind == "multiple":
            answer = "".join(sorted(rng.sample(letters, rng.choice((1, 2, 3)))))
        else:
            answer = rng.choice(letters)
        if answer != not_this:
            return answer


# --- HTTP ---------------------------------------------------------------------------------------


class Client:
    """Requests to the server under test, each on its own connection, timed; every status seen
    (None for a socket error) counted per phase."""

    def __init__(self, base_url: str, timeout: float):
        self.base_url = base_url
        self.timeout = timeout

    def send(self, method: str, path: str, token: str, payload: dict | None = None) -> dict:
        headers = {"Authorization": f"Token {token}"}
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            status, raw = http_request(self.base_url, method, path, headers=headers, body=body, timeout=self.timeout)
        except OSError as exc:
            return {"status": None, "seconds": time.perf_counter() - started, "error": f"{type(exc).__name__}: {exc}"}
        return {"status": status, "seconds": time.perf_counter() - started, "raw": raw}


def parse(raw: bytes):
    try:
        return json.loads(raw)
    except ValueError:
        return raw[:300].decode("utf-8", "replace")


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000, 1)


def phase_figures(records: list[dict], seconds: float, cpu: tuple[float, float], expected: int) -> dict:
    cpu_seconds, driver_seconds = cpu
    statuses = Counter(r["status"] for r in records)
    latencies = [r["seconds"] for r in records if r["status"] is not None]
    return {
        "requests": len(records),
        "seconds": round(seconds, 2),
        "rps": round(len(records) / seconds, 1) if seconds else None,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))},
        "http_5xx": sum(n for code, n in statuses.items() if code and code >= 500),
        "unexpected": sum(n for code, n in statuses.items() if code != expected),
        "socket_errors": statuses.get(None, 0),
        "app_cpu_ms_per_request": round(cpu_seconds * 1000 / len(records), 3) if records else None,
        "driver_cpu_ms_per_request": round(driver_seconds * 1000 / len(records), 3) if records else None,
    }


def run_phase(server, calls: list, *, in_flight: int, deadline: float, label: str) -> tuple[list, float, tuple]:
    """``calls`` from ``in_flight`` threads; (records, seconds, (gunicorn CPU seconds, this
    driver's CPU seconds))."""
    cpu_before, driver_before = server.cpu_seconds(), time.process_time()
    records, seconds, timed_out = run_threads(calls, in_flight, deadline)
    cpu = server.cpu_seconds() - cpu_before
    driver_cpu = time.process_time() - driver_before
    failed = [r for r in records if isinstance(r, Exception)]
    if failed:
        raise BenchError(f"{label}: {len(failed)} calls raised, e.g. {type(failed[0]).__name__}: {failed[0]}")
    if timed_out or len(records) != len(calls):
        raise BenchError(f"{label}: {len(records)} of {len(calls)} calls done within {deadline:.0f} s")
    return records, seconds, (cpu, driver_cpu)


def require_statuses(records: list[dict], expected: int, label: str) -> None:
    wrong = [r for r in records if r["status"] != expected]
    if wrong:
        sample = wrong[0]
        what = sample.get("error") or f"{sample['status']} {str(parse(sample.get('raw', b'')))[:300]}"
        codes = Counter(r["status"] for r in wrong)
        raise BenchError(f"{label}: {len(wrong)} answers not {expected} ({dict(codes)}), e.g. {what}")


# --- phases -------------------------------------------------------------------------------------


def start_phase(client: Client, server, world: dict, *, in_flight: int, ramp: float, deadline: float, seed: int):
    """Every candidate starts, candidate i at i x ramp / N seconds, in a shuffled order."""
    n = len(world["inspectors"])
    order = list(range(n))
    random.Random(seed).shuffle(order)
    path = f"/api/v1/sittings/{world['sitting']}/start/"
    origin = time.perf_counter() + 0.5

    def start(slot: int, candidate: int) -> dict:
        delay = origin + slot * ramp / n - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        late = max(0.0, -delay)
        out = client.send("POST", path, world["tokens"][candidate], {})
        out.update(candidate=candidate, late=late, done_at=time.perf_counter() - origin)
        return out

    calls = [lambda s=s, c=c: start(s, c) for s, c in enumerate(order)]
    records, seconds, cpu = run_phase(server, calls, in_flight=in_flight, deadline=deadline, label="start")
    return records, seconds, cpu


def start_attempts(records: list[dict]) -> dict[int, dict]:
    """candidate -> the attempt and paper of its start answer."""
    out = {}
    for r in records:
        body = parse(r.get("raw", b""))
        attempt = body.get("attempt", body) if isinstance(body, dict) else None
        if not isinstance(attempt, dict) or "id" not in attempt:
            raise BenchError(f"start: no attempt id in the answer: {str(body)[:300]}")
        out[r["candidate"]] = {"attempt": attempt["id"], "paper": attempt.get("items") or body.get("items") or []}
    return out


def read_items(attempt_ids: list[int]) -> dict[int, dict[int, dict]]:
    """attempt -> position -> the item as drawn (option order, kind, right answer, points, part)."""
    from exams.models import AttemptItem

    out: dict[int, dict[int, dict]] = {}
    rows = AttemptItem.objects.filter(attempt_id__in=attempt_ids).values_list(
        "attempt_id", "position", "option_order", "version__kind", "version__answer", "points", "part_id"
    )
    for attempt, position, order, kind, right, points, part in rows.iterator(chunk_size=5000):
        out.setdefault(attempt, {})[position] = {
            "order": order,
            "kind": kind,
            "right": right,
            "points": points,
            "part": part,
        }
    return out


def check_papers(started: dict[int, dict], items: dict[int, dict], answers: int) -> list[str]:
    """Each start answer's paper against the database: positions, kinds, option counts."""
    problems = []
    for candidate, s in started.items():
        drawn = items.get(s["attempt"], {})
        if sorted(drawn) != list(range(1, answers + 1)):
            problems.append(f"candidate {candidate}: attempt {s['attempt']} has positions {sorted(drawn)[:5]}...")
            continue
        shown = {q.get("position"): q for q in s["paper"] if isinstance(q, dict)}
        if sorted(shown) != list(range(1, answers + 1)):
            problems.append(f"candidate {candidate}: the start answer shows positions {sorted(shown)[:5]}...")
            continue
        for position, item in drawn.items():
            q = shown[position]
            if q.get("kind") != item["kind"] or len(q.get("options", [])) != len(item["order"]):
                problems.append(f"candidate {candidate}: question {position} shown otherwise than drawn")
                break
            if any(key in q for key in ("right_answer", "correct", "awarded")):
                problems.append(f"candidate {candidate}: question {position} shows its answer before submitting")
                break
        if len(problems) > 10:
            break
    return problems


def plan_answers(started: dict, items: dict, rng: random.Random) -> dict:
    """(candidate, position) -> (display letters sent, original letters stored, decoy)."""
    plan = {}
    for candidate in sorted(started):
        attempt = started[candidate]["attempt"]
        for position, item in sorted(items[attempt].items()):
            order, kind = item["order"], item["kind"]
            right_display = original_to_display(item["right"], order)
            if rng.random() < RIGHT_SHARE:
                display = right_display
            else:
                display = other_answer(rng, kind, len(order), right_display)
            original = display_to_original(display, order)
            decoy = other_answer(rng, kind, len(order), original)
            plan[(candidate, position)] = (display, original, decoy)
    return plan


def answer_slice(
    client: Client,
    server,
    world: dict,
    started: dict,
    plan: dict,
    *,
    side: str,
    positions: list[int],
    decoy: bool,
    in_flight: int,
    deadline: float,
    seed: int,
):
    """One side's saves of ``positions`` for every candidate, one answer per request."""
    candidates = sorted(started)
    random.Random(seed).shuffle(candidates)
    prefix = "/api/v1/attempts" if side == "api" else "/bare/attempts"

    def save(candidate: int, position: int) -> dict:
        display, original, wrong = plan[(candidate, position)]
        letters = display if side == "api" else (wrong if decoy else original)
        out = client.send(
            "PUT",
            f"{prefix}/{started[candidate]['attempt']}/answers/",
            world["tokens"][candidate],
            {"answers": {str(position): letters}},
        )
        out.update(candidate=candidate, position=position)
        return out

    calls = [lambda c=c, p=p: save(c, p) for p in positions for c in candidates]
    return run_phase(server, calls, in_flight=in_flight, deadline=deadline, label=f"answers ({side})")


def check_slice(started: dict, plan: dict, *, side: str, positions: list[int], decoy: bool, since) -> list[str]:
    """The rows of the slice hold what the side sent (the bare side: written in its slice)."""
    from exams.models import AttemptItem

    by_attempt = {s["attempt"]: c for c, s in started.items()}
    rows = AttemptItem.objects.filter(attempt_id__in=list(by_attempt), position__in=positions).values_list(
        "attempt_id", "position", "answer", "answered_at"
    )
    problems = []
    seen = 0
    for attempt, position, answer, answered_at in rows.iterator(chunk_size=5000):
        seen += 1
        _display, original, wrong = plan[(by_attempt[attempt], position)]
        wanted = wrong if side == "bare" and decoy else original
        if answer != wanted:
            problems.append(f"attempt {attempt} question {position}: holds {answer!r}, {side} sent {wanted!r}")
        elif side == "bare" and (answered_at is None or answered_at < since):
            problems.append(f"attempt {attempt} question {position}: not written by the bare side")
        if len(problems) > 5:
            break
    if not problems and seen != len(started) * len(positions):
        problems.append(f"{seen} rows for {len(started) * len(positions)} answers")
    return problems


def submit_phase(client: Client, server, world: dict, started: dict, *, in_flight: int, deadline: float, seed: int):
    candidates = sorted(started)
    random.Random(seed).shuffle(candidates)

    def submit(candidate: int) -> dict:
        out = client.send(
            "POST", f"/api/v1/attempts/{started[candidate]['attempt']}/submit/", world["tokens"][candidate], {}
        )
        out["candidate"] = candidate
        return out

    return run_phase(
        server, [lambda c=c: submit(c) for c in candidates], in_flight=in_flight, deadline=deadline, label="submit"
    )


# --- the final checks ---------------------------------------------------------------------------


def check_outcome(world: dict, started: dict, items: dict, plan: dict, submits: list[dict]) -> dict:
    """Attempts, answers, item scores, attempt scores and results, recomputed here."""
    from exams.models import Attempt, AttemptEvent, AttemptItem, Result

    problems: list[str] = []
    attempts = {
        a["id"]: a
        for a in Attempt.objects.filter(sitting_id=world["sitting"]).values(
            "id", "inspector_id", "state", "submitted_by", "score", "part_scores", "result_id"
        )
    }
    by_attempt = {s["attempt"]: c for c, s in started.items()}
    if set(attempts) != set(by_attempt):
        problems.append(f"{len(attempts)} attempts in the sitting, {len(by_attempt)} started")
    states = Counter((a["state"], a["submitted_by"]) for a in attempts.values())
    if states != Counter({("submitted", "candidate"): len(by_attempt)}):
        problems.append(f"attempt states {dict(states)}")

    expected: dict[int, dict] = {}
    stored = 0
    wrong_answers = wrong_items = 0
    rows = AttemptItem.objects.filter(attempt_id__in=list(by_attempt)).values_list(
        "attempt_id", "position", "answer", "correct", "awarded"
    )
    for attempt, position, answer, correct, awarded in rows.iterator(chunk_size=5000):
        item = items[attempt][position]
        _display, original, _decoy = plan[(by_attempt[attempt], position)]
        if answer != original:
            wrong_answers += 1
            if wrong_answers <= 3:
                problems.append(f"attempt {attempt} question {position}: stored {answer!r}, sent {original!r}")
            continue
        stored += 1
        right = set(answer) == set(item["right"])
        points = item["points"] if right else Decimal("0")
        if correct is not right or awarded != points:
            wrong_items += 1
            if wrong_items <= 3:
                problems.append(
                    f"attempt {attempt} question {position}: scored {correct}/{awarded}, expected {right}/{points}"
                )
        e = expected.setdefault(attempt, {"score": Decimal("0"), "parts": Counter(), "right": 0})
        e["score"] += points
        e["parts"][str(item["part"])] += points
        e["right"] += right
    total = len(by_attempt) * len(next(iter(items.values())))
    if stored + wrong_answers != total:
        problems.append(f"{stored + wrong_answers} answer rows for {total} answers sent")
    if wrong_answers:
        problems.append(f"{wrong_answers} answers not stored as sent")

    results = {
        r["id"]: r
        for r in Result.objects.filter(sitting_id=world["sitting"]).values(
            "id", "inspector_id", "score", "part_scores", "passed", "absent", "attempt", "pass_mark"
        )
    }
    if len(results) != len(by_attempt):
        problems.append(f"{len(results)} results for {len(by_attempt)} candidates")
    bad_scores = bad_results = 0
    passed = 0
    for attempt_id, a in attempts.items():
        e = expected.get(attempt_id)
        if e is None:
            continue
        parts = {k: str(v) for k, v in a["part_scores"].items()}
        want_parts = {k: e["parts"].get(k, Decimal("0")) for k in world["parts"]}
        if a["score"] != e["score"] or {k: Decimal(v) for k, v in parts.items()} != want_parts:
            bad_scores += 1
            if bad_scores <= 3:
                problems.append(
                    f"attempt {attempt_id}: score {a['score']} {parts}, recomputed {e['score']} {want_parts}"
                )
        r = results.get(a["result_id"])
        want_pass = e["score"] >= PASS_MARK
        passed += want_pass
        if (
            r is None
            or r["inspector_id"] != a["inspector_id"]
            or r["score"] != e["score"]
            or {k: Decimal(str(v)) for k, v in r["part_scores"].items()} != want_parts
            or r["passed"] is not want_pass
            or r["absent"]
            or r["attempt"] != 1
        ):
            bad_results += 1
            if bad_results <= 3:
                problems.append(f"attempt {attempt_id}: result {r}, recomputed {e['score']} passed {want_pass}")
    if bad_scores:
        problems.append(f"{bad_scores} attempts scored otherwise than recomputed")
    if bad_results:
        problems.append(f"{bad_results} results otherwise than recomputed")

    said = 0
    for s in submits:
        body = parse(s.get("raw", b""))
        score = body.get("score") if isinstance(body, dict) else None
        if score is None:
            continue
        said += 1
        e = expected.get(started[s["candidate"]]["attempt"])
        if e is None or Decimal(str(score)) != e["score"]:
            problems.append(f"candidate {s['candidate']}: submit answered score {score}, recomputed {e and e['score']}")
            break
    events = Counter(AttemptEvent.objects.filter(attempt__sitting_id=world["sitting"]).values_list("kind", flat=True))
    for kind in ("started", "submitted", "scored"):
        if events.get(kind) != len(by_attempt):
            problems.append(f"{events.get(kind, 0)} {kind} events for {len(by_attempt)} attempts")
    scores = sorted(e["score"] for e in expected.values())
    return {
        "attempts": len(attempts),
        "submitted": states.get(("submitted", "candidate"), 0),
        "answers_stored_as_sent": stored,
        "results": len(results),
        "passed": passed,
        "score_min_median_max": [str(scores[0]), str(scores[len(scores) // 2]), str(scores[-1])] if scores else None,
        "submit_answers_with_score": said,
        "events": dict(events),
        "problems": problems,
    }


# --- in-process: statements per save, and the profile -------------------------------------------


def code_owner(filename: str) -> str:
    """Whose code a profiled function is: the installed package, the project's app, or Python."""
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    if path.is_relative_to(BASE_DIR):
        return path.relative_to(BASE_DIR).parts[0]
    if filename == "~":
        return "builtins"  # C functions (json, hashing, sockets...)
    return "python" if filename.startswith(("/", "<frozen")) else filename


def in_process(world: dict, started: dict, plan: dict, *, profile_saves: int) -> dict:
    """Statements of one save of each side (and, with ``profile_saves``, a cProfile of that many
    saves of each), through django.test.Client in this process, on the first candidate's paper
    with its final answers (so the rows end as they would anyway)."""
    from django.db import connection
    from django.test import Client as TestClient

    client = TestClient()
    candidate = min(started)
    attempt = started[candidate]["attempt"]
    token = world["tokens"][candidate]
    positions = sorted(p for c, p in plan if c == candidate)

    def put(side: str, position: int):
        display, original, _decoy = plan[(candidate, position)]
        letters = display if side == "api" else original
        prefix = "/api/v1/attempts" if side == "api" else "/bare/attempts"
        response = client.put(
            f"{prefix}/{attempt}/answers/",
            data=json.dumps({"answers": {str(position): letters}}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {token}",
        )
        if response.status_code != 200:
            raise BenchError(f"in-process {side} save: {response.status_code} {response.content[:300]!r}")

    out: dict = {"statements": {}}
    for side in ("api", "bare"):
        put(side, positions[0])  # the token's use noted, the connection open
        counter: dict = {}
        with count_queries(counter):
            put(side, positions[1])
        out["statements"][side] = counter["queries"]
        sqls: list[str] = []

        def wrapper(execute, sql, params, many, context, sqls=sqls):
            sqls.append(sql.split(" WHERE ")[0][:160])
            return execute(sql, params, many, context)

        with connection.execute_wrapper(wrapper):
            put(side, positions[2])
        out.setdefault("sql", {})[side] = sqls
    if profile_saves:
        for side in ("api", "bare"):
            # CPU time, not wall clock: the server is CPU-bound, and waits for PostgreSQL on a
            # busy machine would drown the Python costs.
            profiler = cProfile.Profile(time.process_time)
            cpu_before = time.process_time()
            profiler.enable()
            for i in range(profile_saves):
                put(side, positions[i % len(positions)])
            profiler.disable()
            cpu = time.process_time() - cpu_before
            stats = pstats.Stats(profiler)
            by_package: Counter = Counter()
            for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
                by_package[code_owner(filename)] += tottime
            cumulative = io.StringIO()
            pstats.Stats(profiler, stream=cumulative).sort_stats("cumulative").print_stats(40)
            tottime = io.StringIO()
            pstats.Stats(profiler, stream=tottime).sort_stats("tottime").print_stats(25)
            out.setdefault("profile", {})[side] = {
                "saves": profile_saves,
                "cpu_ms_per_save": round(cpu * 1000 / profile_saves, 3),
                "cpu_ms_per_save_by_code": {
                    k: round(v * 1000 / profile_saves, 3) for k, v in by_package.most_common() if v * 1000 >= 1
                },
                "cumulative": cumulative.getvalue().replace(str(BASE_DIR) + "/", ""),
                "tottime": tottime.getvalue().replace(str(BASE_DIR) + "/", ""),
            }
    return out


# --- report -------------------------------------------------------------------------------------


def readme_block(report: dict) -> str:
    m, cfg, ph = report["machine"], report["config"], report["phases"]
    outcome = report["outcome"]
    verdict = "**passed**" if not report["problems"] else "**FAILED**: " + "; ".join(report["problems"][:5])
    rows = []
    labels = (
        ("start", "start `POST /api/v1/sittings/{id}/start/`"),
        ("api", "answer save `PUT /api/v1/attempts/{id}/answers/`"),
        ("bare", "answer save, bare view `PUT /bare/attempts/{id}/answers/`"),
        ("submit", "submit `POST /api/v1/attempts/{id}/submit/`"),
    )
    for key, label in labels:
        r = ph[key]
        rows.append(
            f"| {label} | {r['requests']:,} | {r['seconds']:.1f} | {r['rps']:.1f} | "
            f"{r['p50_ms']} / {r['p95_ms']} / {r['p99_ms']} | {r['http_5xx']} | {r['unexpected']} | "
            f"{r['app_cpu_ms_per_request']:.2f} |"
        )
    ratio = report["ratio"]
    met = "met" if ratio >= GOAL else "NOT met"
    load_end = report["load_average_at_end"]
    st = report["in_process"]["statements"]
    return (
        f"### {report['date']}: {m['cpus']} CPUs, load average {m['loadavg_at_start'][0]} at start, "
        f"{load_end[0] if load_end else '?'} at end\n\n"
        f"{m['platform']}, Python {m['python']}, Django {m.get('django')}, DRF {m.get('djangorestframework')}, "
        f"{m.get('gunicorn')}, PostgreSQL {m.get('postgresql')}. gunicorn {cfg['workers']} x sync workers; "
        f"{cfg['candidates']:,} candidates x {cfg['answers']} questions, starts spread over {cfg['ramp']:.0f} s, "
        f"{cfg['in_flight']} requests in flight, the saves in {cfg['rounds']} rounds alternating the sides; "
        f"bank {report['world']['bank']} questions.\n\n"
        f"| phase | requests | seconds | req/s | p50 / p95 / p99 ms | 5xx | other than expected | app CPU ms/req |\n"
        f"|---|--:|--:|--:|--:|--:|--:|--:|\n" + "\n".join(rows) + "\n\n"
        f"**Answer saves, API / bare view: {ratio:.2f}** (goal {GOAL}: {met}); per round, saves/s API "
        f"{', '.join(str(x) for x in ph['api']['rounds_rps'])}, bare {', '.join(str(x) for x in ph['bare']['rounds_rps'])}"
        f"; by the workers' CPU per save, bare / API {report['cpu_ratio']:.2f}; the driver (this process, on the "
        f"same CPUs) spent {ph['api']['driver_cpu_ms_per_request']:.2f} / {ph['bare']['driver_cpu_ms_per_request']:.2f}"
        f" ms of CPU per save. Statements per save: API "
        f"{st['api']} and a commit, bare {st['bare']}. The last start was answered {ph['start']['last_answer_s']:.1f} s after "
        f"the first was sent; the storm (first start to last submit) took {report['storm_seconds']:.0f} s. "
        f"Checked in the database: {outcome['submitted']:,} attempts submitted, "
        f"{outcome['answers_stored_as_sent']:,} answers stored as sent, {outcome['results']:,} results equal to "
        f"the scores recomputed from the stored answers ({outcome['passed']:,} passed; scores min / median / max "
        f"{' / '.join(outcome['score_min_median_max'] or [])}).\n\n"
        f"Result: {verdict}.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help=f"default: {DEFAULT_DATABASE_URL} (dropped and created anew)")
    parser.add_argument("--candidates", type=int, default=2000)
    parser.add_argument("--answers", type=int, default=50, help="questions per paper = saves per candidate")
    parser.add_argument("--in-flight", type=int, default=64, help="requests in flight at once (default 64)")
    parser.add_argument("--ramp", type=float, default=60, help="seconds over which the starts are sent (default 60)")
    parser.add_argument("--rounds", type=int, default=5, help="answer rounds alternating the sides (default 5)")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) + 1, help="gunicorn workers (CPUs + 1)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per request (default 120)")
    parser.add_argument("--deadline", type=float, default=3600, help="seconds per phase (default 3600)")
    parser.add_argument("--seed", type=int, default=20251207)
    parser.add_argument("--profile", action="store_true", help="cProfile saves of each side in this process")
    parser.add_argument("--profile-saves", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards (it is dropped otherwise)")
    parser.add_argument(
        "--readme", action="store_true", help="put the figures in bench/README.md (in place of the previous ones)"
    )
    parser.add_argument("--output", type=Path, default=OUT_FILE)
    args = parser.parse_args(argv)
    if not 2 <= args.candidates <= 20000 or not 1 <= args.in_flight <= 256 or not 1 <= args.rounds <= args.answers:
        parser.error("need 2 <= candidates <= 20000, 1 <= in-flight <= 256 and 1 <= rounds <= answers")
    if not 0 <= args.ramp <= 600:
        parser.error("--ramp must be 0..600 s")
    paper_plan(args.answers)  # refuses a paper that 100 points do not split into
    install_signal_handlers()
    started_at = time.monotonic()
    url = database_url(args.database_url or DEFAULT_DATABASE_URL, DEFAULT_DATABASE_URL)
    ensure_database(url, fresh=True)
    try:
        return run(args, url, started_at)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            from bench.harness import drop_database

            drop_database(url)


def run(args, url: str, started_at: float) -> int:
    manage(["migrate", "--noinput"], env=command_env(url))
    env = server_env(url, settings_module=SETTINGS_MODULE, cache_url=None)
    django_setup(env=dict(env, DJANGO_ALLOWED_HOSTS="127.0.0.1,testserver"))
    from django.utils import timezone

    t0 = time.monotonic()
    world = make_world(candidates=args.candidates, answers=args.answers, seed=args.seed)
    print(
        f"world: {args.candidates} candidates with tokens, bank {world['bank']} questions, sitting {world['sitting']}"
        f" ({time.monotonic() - t0:.1f} s)",
        flush=True,
    )
    info = machine()
    from django.db import connections

    connections.close_all()
    rng = random.Random(args.seed)
    log_path = OUT_DIR / "online_exam_gunicorn.log"
    phases: dict[str, dict] = {}
    problems: list[str] = []
    rounds = [list(range(1, args.answers + 1))[r :: args.rounds] for r in range(args.rounds)]
    rounds = [sorted(r) for r in rounds]
    api_records, bare_records = [], []
    api_seconds = bare_seconds = 0.0
    api_cpu, bare_cpu = [0.0, 0.0], [0.0, 0.0]
    slice_rates: dict[str, list[float]] = {}
    with gunicorn(env, workers=args.workers, worker_class="sync", threads=1, log_path=log_path) as server:
        client = Client(server.base_url, args.timeout)
        print(f"gunicorn {server.base_url} ({args.workers} x sync), {args.in_flight} in flight", flush=True)
        # Warm-up, not counted: every worker loads the URLs and the views (404: no attempt 0).
        for _ in range(4 * args.workers):
            for prefix in ("/api/v1/attempts", "/bare/attempts"):
                r = client.send("PUT", f"{prefix}/0/answers/", world["tokens"][0], {"answers": {"1": "A"}})
                if r["status"] != 404:
                    raise BenchError(f"warm-up {prefix}: {r['status']} {r.get('error') or parse(r.get('raw', b''))}")

        storm_started = time.perf_counter()
        records, seconds, cpu = start_phase(
            client, server, world, in_flight=args.in_flight, ramp=args.ramp, deadline=args.deadline, seed=args.seed
        )
        require_statuses(records, 201 if records and records[0]["status"] == 201 else 200, "start")
        phases["start"] = phase_figures(records, seconds, cpu, records[0]["status"])
        phases["start"]["last_answer_s"] = round(max(r["done_at"] for r in records), 2)
        phases["start"]["latest_send_s"] = round(max(r["late"] for r in records), 2)
        print(
            f"  start: {len(records)} in {seconds:.1f} s = {phases['start']['rps']}/s, p95 {phases['start']['p95_ms']} ms,"
            f" last answered at {phases['start']['last_answer_s']} s",
            flush=True,
        )
        started = start_attempts(records)
        items = read_items([s["attempt"] for s in started.values()])
        paper_problems = check_papers(started, items, args.answers)
        if paper_problems:
            raise BenchError("start: " + "; ".join(paper_problems[:5]))
        plan = plan_answers(started, items, rng)
        check = in_process(world, started, plan, profile_saves=args.profile_saves if args.profile else 0)
        print(f"  statements per save: {check['statements']}", flush=True)

        for r, positions in enumerate(rounds):
            sides = ("bare", "api") if r % 2 == 0 else ("api", "bare")
            for side in sides:
                decoy = side == "bare" and r % 2 == 0
                since = timezone.now()
                records, seconds, cpu = answer_slice(
                    client,
                    server,
                    world,
                    started,
                    plan,
                    side=side,
                    positions=positions,
                    decoy=decoy,
                    in_flight=args.in_flight,
                    deadline=args.deadline,
                    seed=args.seed + r,
                )
                require_statuses(records, 200, f"answers ({side}, round {r + 1})")
                slice_problems = check_slice(started, plan, side=side, positions=positions, decoy=decoy, since=since)
                connections.close_all()
                if slice_problems:
                    raise BenchError(f"answers ({side}, round {r + 1}): " + "; ".join(slice_problems))
                slice_rates.setdefault(side, []).append(round(len(records) / seconds, 1))
                if side == "api":
                    api_records += records
                    api_seconds += seconds
                    api_cpu = [a + b for a, b in zip(api_cpu, cpu, strict=True)]
                else:
                    bare_records += records
                    bare_seconds += seconds
                    bare_cpu = [a + b for a, b in zip(bare_cpu, cpu, strict=True)]
                print(
                    f"  round {r + 1} {side:<4} {len(records)} saves in {seconds:.1f} s = {len(records) / seconds:.1f}/s",
                    flush=True,
                )

        records, seconds, cpu = submit_phase(
            client, server, world, started, in_flight=args.in_flight, deadline=args.deadline, seed=args.seed
        )
        storm_seconds = time.perf_counter() - storm_started
        submit_status = records[0]["status"] if records else 200
        require_statuses(records, submit_status if submit_status in (200, 201) else 200, "submit")
        phases["submit"] = phase_figures(records, seconds, cpu, submit_status)
        submits = records
        print(f"  submit: {len(records)} in {seconds:.1f} s = {phases['submit']['rps']}/s", flush=True)
    phases["api"] = phase_figures(api_records, api_seconds, tuple(api_cpu), 200)
    phases["bare"] = phase_figures(bare_records, bare_seconds, tuple(bare_cpu), 200)
    for side in ("api", "bare"):
        phases[side]["rounds_rps"] = slice_rates.get(side, [])
    tracebacks = sum(1 for line in log_path.read_text().splitlines() if "Traceback" in line)
    if tracebacks:
        problems.append(f"{tracebacks} tracebacks in {log_path.relative_to(BASE_DIR)}")
    for name, figures in phases.items():
        if figures["http_5xx"] or figures["unexpected"] or figures["socket_errors"]:
            problems.append(f"{name}: statuses {figures['statuses']}")
    connections.close_all()
    outcome = check_outcome(world, started, items, plan, submits)
    problems += outcome["problems"]
    ratio = round(phases["api"]["rps"] / phases["bare"]["rps"], 3)
    cpu_ratio = round(phases["bare"]["app_cpu_ms_per_request"] / phases["api"]["app_cpu_ms_per_request"], 3)
    report = {
        "benchmark": "bench.online_exam",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": info,
        "load_average_at_end": load_average(),
        "config": {
            "database": urlsplit(url).path.lstrip("/"),
            "candidates": args.candidates,
            "answers": args.answers,
            "in_flight": args.in_flight,
            "ramp": args.ramp,
            "rounds": args.rounds,
            "workers": args.workers,
            "conn_max_age": 600,
        },
        "world": {k: world[k] for k in ("bank", "points", "rules")},
        "phases": phases,
        "ratio": ratio,
        "cpu_ratio": cpu_ratio,
        "goal": GOAL,
        "in_process": check,
        "outcome": {k: v for k, v in outcome.items() if k != "problems"},
        "storm_seconds": round(storm_seconds, 1),
        "problems": problems,
        "total_seconds": round(time.monotonic() - started_at, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n")
    print()
    for name in ("start", "api", "bare", "submit"):
        r = phases[name]
        print(
            f"{name:>7}: {r['requests']:>7,} requests in {r['seconds']:8.1f} s = {r['rps']:8.1f}/s, "
            f"p50/p95/p99 {r['p50_ms']}/{r['p95_ms']}/{r['p99_ms']} ms, app CPU {r['app_cpu_ms_per_request']} ms/req, "
            f"driver CPU {r['driver_cpu_ms_per_request']} ms/req, "
            f"statuses {r['statuses']}"
        )
    print(
        f"answer saves API / bare: {ratio:.2f} (goal {GOAL}: {'met' if ratio >= GOAL else 'NOT met'}); "
        f"rounds API {phases['api']['rounds_rps']}, bare {phases['bare']['rounds_rps']}; CPU per save bare / API {cpu_ratio:.2f}"
    )
    print(f"statements per save: {check['statements']}; storm {storm_seconds:.0f} s; load {load_average()}")
    print(
        f"outcome: {outcome['submitted']} submitted, {outcome['answers_stored_as_sent']} answers as sent, "
        f"{outcome['results']} results, {outcome['passed']} passed, scores {outcome['score_min_median_max']}"
    )
    if check.get("profile"):
        for side, p in check["profile"].items():
            print(f"\n--- cProfile (CPU), {p['saves']} {side} saves in process: {p['cpu_ms_per_save']} ms each ---")
            print("by code (ms per save):", p["cpu_ms_per_save_by_code"])
            print(p["tottime"][:5000])
    print(f"written: {args.output}")
    if args.readme:
        write_readme_figures("bench.online_exam", readme_block(report))
        print(f"figures written to {README.relative_to(BASE_DIR)}")
    if problems:
        raise BenchError("\n  " + "\n  ".join(problems))
    print("OK: every attempt submitted, every answer stored as sent, every result as recomputed, no 5xx")
    return 0


if __name__ == "__main__":
    run_main(main)
