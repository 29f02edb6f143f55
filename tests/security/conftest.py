"""One world with something of every kind in two cities, for the permission matrix.

河北省 > 石家庄市 (长安区, 桥西区), 唐山市 (路南区): the shared region tree. In it, built
through the services by the admins who would do it (so every event names a real actor):

- inspectors: 张晓明 and 李建国 (长安区), 王秀英 (桥西区), 周海燕 (石家庄市 itself),
  赵德胜 (路南区, 唐山). 张晓明 is the inspector who logs in;
- courses: the three-systems course and a sector course (province-wide reference data);
- batches, open and ahead: the province's (张 and 赵 seated, 李 waitlisted), 石家庄's
  (张, 王, 周 who cancelled), 长安区's (张, 李) and 唐山's (赵); finished this year with
  attendance: 石家庄's (张 completes, 王 misses a day) and 唐山's (赵 completes);
- hours policies for this year: the province, 石家庄, 长安区, 唐山;
- exams, one sitting each, results with history: 石家庄's annual exam (张 passes, 王
  fails then is corrected, 周 absent), 唐山's (赵 passes), the province's qualification
  exam (李 passes and is issued a certificate automatically, 赵 fails);
- certificates: 张 (expires within 90 days), 王 (suspended then reinstated), 周, 李
  (from the exam), 赵 (expires within 90 days, suspended);
- questions (题库): one in the banks of the province, 石家庄, 长安区 and 唐山;
- calendar tokens for 张 and 赵;
- export jobs, run to the end: the province's, 石家庄's own and one for 长安区, 长安区's
  own, 唐山's, and 石家庄's yearly totals;
- an API token for every user who logs in.

The world is built once per module inside a transaction that is rolled back at the end;
each test runs in a savepoint within it (pytest-django's ``db``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from core.tokens import api_token_issue
from exams import services as exams
from exams.models import Certificate, ExamKind, Result
from personnel import idcard
from reports import services as reports
from tests.factories import (
    InspectorFactory,
    RegionAdminFactory,
    UserFactory,
    national_id_for,
    region_tree,
)
from training import services as training
from training.models import Enrollment, Topic

ROLES = ("anonymous", "inspector", "county_admin", "other_city_admin", "city_admin", "province_admin")
ADMIN_ROLES = ("county_admin", "other_city_admin", "city_admin", "province_admin")

# Object keys by kind. Every kind maps its keys to the database rows in World.objects.
PEOPLE = ("zhang", "li", "wang", "zhou", "zhao")
NAMES = {"zhang": "张晓明", "li": "李建国", "wang": "王秀英", "zhou": "周海燕", "zhao": "赵德胜"}


@dataclass
class World:
    today: dt.date
    users: dict[str, object]  # role -> user (anonymous: None)
    objects: dict[str, dict[str, object]] = field(default_factory=dict)  # kind -> key -> row
    markers: dict[str, list[str]] = field(default_factory=dict)  # "kind:key" -> strings that identify it

    def pk(self, kind: str, key: str):
        return self.objects[kind][key].pk


def _users(r) -> dict:
    # The same usernames and bindings as the shared fixtures (province_admin, city_admin, ...).
    return {
        "anonymous": None,
        "inspector": UserFactory(username="inspector1"),
        "county_admin": RegionAdminFactory(user__username="changan_admin", region=r["changan"]).user,
        "other_city_admin": RegionAdminFactory(user__username="ts_admin", region=r["ts"]).user,
        "city_admin": RegionAdminFactory(user__username="sjz_admin", region=r["sjz"]).user,
        "province_admin": RegionAdminFactory(user__username="prov", region=r["province"]).user,
    }


def _batch(actor, course, region, *, number, start, days=2, capacity=30, place=""):
    return training.batch_create(
        actor=actor,
        data={
            "course": course,
            "region": region,
            "number": number,
            "starts_on": start,
            "ends_on": start + dt.timedelta(days=days - 1),
            "enrollment_deadline": start - dt.timedelta(days=5),
            "capacity": capacity,
            "place": place,
            "status": "open",
        },
    )


def _enroll(batch, inspector, actor):
    return training.enrollment_create(
        batch=batch, inspector=inspector, actor=actor, today=batch.starts_on - dt.timedelta(days=10)
    )


def _run_batch(batch, people, actor, *, absent_day2=()):
    for person in people:
        _enroll(batch, person, actor)
    for n in range(batch.days):
        absent = [p.pk for p in absent_day2] if n == 1 else []
        training.attendance_mark(
            batch=batch, actor=actor, day=batch.starts_on + dt.timedelta(days=n), all_present=True, absent=absent
        )
    training.batch_complete(batch=batch, actor=actor, today=batch.ends_on)


def _score(sitting, inspector, actor, *scores, absent=False):
    parts = list(sitting.exam.parts.order_by("order"))
    by_id = {} if absent else {str(p.pk): Decimal(str(s)) for p, s in zip(parts, scores, strict=True)}
    return exams.result_record(sitting=sitting, inspector=inspector, actor=actor, scores=by_id, absent=absent)


def build_world(*, today: dt.date | None = None) -> World:
    """Build the world described in the module docstring and return it with its markers."""
    today = today or timezone.localdate()
    year = today.year
    r = region_tree()
    users = _users(r)
    prov, sjz, ts, county = (users[k] for k in ("province_admin", "city_admin", "other_city_admin", "county_admin"))

    # --- people: distinct tails, so no two masked numbers look alike
    seq = {"zhang": 111, "li": 222, "wang": 333, "zhou": 444, "zhao": 555}
    home = {"zhang": "changan", "li": "changan", "wang": "qiaoxi", "zhou": "sjz", "zhao": "lunan"}
    people = {
        key: InspectorFactory(
            name=NAMES[key],
            region=r[home[key]],
            national_id=national_id_for(r[home[key]].code, seq=seq[key], birth="19800101"),
            phone=f"1390000{seq[key]:04d}",
        )
        for key in PEOPLE
    }
    people["zhang"].user = users["inspector"]
    people["zhang"].save(update_fields=["user"])

    # --- courses and batches
    three = training.course_save(
        actor=prov,
        data={
            "code": "SEC-3S",
            "title": "三项制度专题培训",
            "topics": [Topic.PUBLICITY, Topic.PROCESS_RECORDING, Topic.LEGAL_REVIEW],
            "hours": Decimal("16"),
        },
    )
    sector = training.course_save(
        actor=prov,
        data={"code": "SEC-HY", "title": "安全生产执法业务", "topics": [Topic.OTHER], "hours": Decimal("8")},
    )
    ahead = today + dt.timedelta(days=40)
    batches = {
        "b_prov": _batch(prov, three, r["province"], number=41, start=ahead, capacity=2, place="省培训中心甲楼"),
        "b_sjz": _batch(sjz, sector, r["sjz"], number=42, start=ahead + dt.timedelta(days=10), place="石家庄乙培训点"),
        "b_changan": _batch(
            county, sector, r["changan"], number=43, start=ahead + dt.timedelta(days=20), place="长安丙培训点"
        ),
        "b_ts": _batch(ts, sector, r["ts"], number=44, start=ahead + dt.timedelta(days=30), place="唐山丁培训点"),
    }
    # Finished this year (hours and coverage count them); early in January there is no
    # "earlier this year", so they go back a year then.
    done_start = dt.date(year if today.month > 2 else year - 1, 1, 12)
    batches["b_sjz_done"] = _batch(sjz, three, r["sjz"], number=45, start=done_start, place="石家庄戊培训点")
    batches["b_ts_done"] = _batch(ts, three, r["ts"], number=46, start=done_start, place="唐山己培训点")
    _run_batch(batches["b_sjz_done"], [people["zhang"], people["wang"]], sjz, absent_day2=[people["wang"]])
    _run_batch(batches["b_ts_done"], [people["zhao"]], ts)

    for key in ("zhang", "zhao", "li"):  # capacity 2: 李 is waitlisted
        _enroll(batches["b_prov"], people[key], prov)
    for key in ("zhang", "wang", "zhou"):
        _enroll(batches["b_sjz"], people[key], sjz)
    zhou_seat = Enrollment.objects.get(batch=batches["b_sjz"], inspector=people["zhou"])
    training.enrollment_cancel(enrollment=zhou_seat, actor=sjz, reason="工作冲突")
    _enroll(batches["b_changan"], people["zhang"], users["inspector"])  # the inspector enrolls themself
    _enroll(batches["b_changan"], people["li"], county)
    _enroll(batches["b_ts"], people["zhao"], ts)

    enrollments = {}
    for enrollment in Enrollment.objects.all():
        batch_key, person_key = _ek(enrollment, batches, people)
        enrollments[f"{batch_key}:{person_key}"] = enrollment

    # --- hours policies
    policies = {
        key: training.hours_policy_set(actor=actor, region=r[region], year=year, required_hours=Decimal(h))
        for key, actor, region, h in (
            ("province", prov, "province", "60"),
            ("sjz", sjz, "sjz", "30"),
            ("changan", county, "changan", "20"),
            ("ts", ts, "ts", "40"),
        )
    }

    # --- certificates issued by hand (before the exams, so the qualification pass issues only 李's)
    certificates = {
        "zhang": exams.certificate_issue(
            holder=people["zhang"], region=r["changan"], actor=county, issued_on=_years_before(today, 5, 43)
        ),
        "wang": exams.certificate_issue(
            holder=people["wang"], region=r["qiaoxi"], actor=sjz, issued_on=_years_before(today, 5, 700)
        ),
        "zhou": exams.certificate_issue(
            holder=people["zhou"], region=r["sjz"], actor=sjz, issued_on=_years_before(today, 5, 1000)
        ),
        "zhao": exams.certificate_issue(
            holder=people["zhao"], region=r["lunan"], actor=ts, issued_on=_years_before(today, 5, 65)
        ),
    }
    exams.certificate_suspend(certificate=certificates["wang"], reason="违规出借执法证", actor=sjz)
    exams.certificate_reinstate(certificate=certificates["wang"], reason="整改完毕", actor=sjz)
    exams.certificate_suspend(certificate=certificates["zhao"], reason="执法过错待查", actor=ts)

    # --- exams, sittings, results (the history comes with them)
    two_parts = [("通用法律知识", Decimal("40")), ("专门法律知识", Decimal("60"))]
    exam_rows = {
        "ex_sjz": exams.exam_create(
            actor=sjz, title="石家庄市年度考核考试（2026甲）", kind=ExamKind.ANNUAL, region=r["sjz"], parts=two_parts
        ),
        "ex_ts": exams.exam_create(
            actor=ts, title="唐山市年度考核考试（2026乙）", kind=ExamKind.ANNUAL, region=r["ts"], parts=two_parts
        ),
        "ex_prov": exams.exam_create(
            actor=prov,
            title="河北省行政执法资格考试（2026丙）",
            kind=ExamKind.QUALIFICATION,
            region=r["province"],
            parts=two_parts,
        ),
    }
    held = today - dt.timedelta(days=30)
    sittings = {
        "s_sjz": exams.sitting_create(actor=sjz, exam=exam_rows["ex_sjz"], held_on=held, place="石家庄庚考点"),
        "s_ts": exams.sitting_create(actor=ts, exam=exam_rows["ex_ts"], held_on=held, place="唐山辛考点"),
        "s_prov": exams.sitting_create(actor=prov, exam=exam_rows["ex_prov"], held_on=held, place="省壬考点"),
    }
    _score(sittings["s_sjz"], people["zhang"], sjz, 35, 45)
    _score(sittings["s_sjz"], people["wang"], sjz, 10, 30)
    _score(sittings["s_sjz"], people["wang"], sjz, 20, 35)  # a correction: two history rows
    _score(sittings["s_sjz"], people["zhou"], sjz, absent=True)
    _score(sittings["s_ts"], people["zhao"], ts, 30, 40)
    _score(sittings["s_prov"], people["li"], prov, 36, 50)  # passes: certificate issued
    _score(sittings["s_prov"], people["zhao"], prov, 10, 10)
    certificates["li"] = Certificate.objects.get(holder=people["li"])

    # --- applications (申请): 注销 of 张 (长安区: waits at county level), 周 (石家庄市 itself: at
    # city level, its last) and 赵 (路南区: at county level, which no role of the world holds)
    from exams import applications as apps
    from exams.models import AnnualReviewWindow, ApprovalChain

    applications = {
        "cancel:zhang": apps.application_create(
            actor=county, kind="cancel", inspector=people["zhang"], reason="transferred"
        ),
        "cancel:zhou": apps.application_create(actor=sjz, kind="cancel", inspector=people["zhou"], reason="retired"),
        "cancel:zhao": apps.application_create(actor=ts, kind="cancel", inspector=people["zhao"], reason="dismissed"),
    }
    chains = {row.kind: row for row in ApprovalChain.objects.all()}
    windows = {
        "this_year": AnnualReviewWindow.objects.create(
            year=today.year, opens_on=today.replace(month=1, day=1), deadline=today.replace(month=12, day=31)
        )
    }
    results = {f"{s}:{p}": Result.objects.get(sitting=sittings[s], inspector=people[p]) for s, p in _RESULTS}

    # --- the question bank (题库): one question in the banks of the province, 石家庄, 长安区, 唐山
    from exams import questions as bank

    question_rows = {
        key: bank.question_create(
            actor=actor,
            region=r[region],
            kind="single",
            stem=stem,
            options=["五个工作日", "七个工作日", "十个工作日"],
            answer="B",
            category="行政执法三项制度",
            difficulty=2,
        )
        for key, actor, region, stem in (
            ("q_prov", prov, "province", "省题库：行政处罚决定信息应在多少日内公示？"),
            ("q_sjz", sjz, "sjz", "石家庄题库：行政许可决定信息应在多少日内公示？"),
            ("q_changan", county, "changan", "长安题库：行政检查结果应在多少日内公示？"),
            ("q_ts", ts, "ts", "唐山题库：行政强制决定信息应在多少日内公示？"),
        )
    }

    # --- 评教: 张 rated 石家庄's completed batch the day after it ended (its window has closed since)
    from training.evaluations import evaluation_submit

    done_sjz = batches["b_sjz_done"]
    evaluations = {
        "b_sjz_done:zhang": evaluation_submit(
            enrollment=enrollments["b_sjz_done:zhang"],
            actor=users["inspector"],
            content=5,
            trainer=4,
            organisation=4,
            comment="案例贴近一线执法",
            today=done_sjz.ends_on + dt.timedelta(days=1),
        )
    }

    tokens = {key: training.calendar_token_for(inspector=people[key]) for key in ("zhang", "zhao")}

    # --- export jobs, run in-process to the end (the world's transaction never commits)
    jobs = {}
    for key, actor, kind, region in (
        ("j_prov", prov, "roster", None),
        ("j_sjz", sjz, "roster", None),
        ("j_sjz_changan", sjz, "roster", "130102"),
        ("j_changan", county, "roster", None),
        ("j_ts", ts, "roster", None),
        ("j_sjz_totals", sjz, "yearly_totals", None),
        ("j_sjz_detail", sjz, "enrollment_detail", None),
    ):
        job = reports.export_job_create(actor=actor, kind=kind, year=year, region_code=region)
        reports.export_job_run(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == "done", (key, job.error)
        jobs[key] = job

    # --- 在线考试: 张's practice paper (练习) begun and not handed in; an empty one, so its body
    # shows no question of any bank (exams.online; the paper's own rules are tested there)
    from exams.models import Attempt

    started = timezone.now()
    attempts = {
        "p_zhang": Attempt.objects.create(
            inspector=people["zhang"],
            practice=True,
            seed=1,
            started_at=started,
            deadline=started + dt.timedelta(hours=1),
        )
    }

    world = World(today=today, users=users)
    world.objects = {
        "region": r,
        "inspector": people,
        "course": {"three": three, "sector": sector},
        "batch": batches,
        "enrollment": enrollments,
        "policy": policies,
        "exam": exam_rows,
        "sitting": sittings,
        "result": results,
        "attempt": attempts,
        "certificate": certificates,
        "application": applications,
        "approval_chain": chains,
        "review_window": windows,
        "calendar_token": tokens,
        "export_job": jobs,
        "evaluation": evaluations,
        "question": question_rows,
        "region_admin": {role: users[role].region_admin for role in ADMIN_ROLES},
        # one API token of every user who logs in, keyed by role
        "api_token": {
            role: api_token_issue(user=user, name=f"{role} laptop")[0] for role, user in users.items() if user
        },
    }
    for key, person in people.items():
        person.refresh_from_db()
        world.markers[f"inspector:{key}"] = [
            person.name,
            person.national_id,
            idcard.mask(person.national_id),
            person.phone,
        ]
    for key, cert in certificates.items():
        cert.refresh_from_db()
        world.markers[f"certificate:{key}"] = [cert.number]
    for key, batch in batches.items():
        world.markers[f"batch:{key}"] = [str(batch.label), batch.place]
    for key, exam in exam_rows.items():
        world.markers[f"exam:{key}"] = [exam.title]
    for key, question in question_rows.items():
        world.markers[f"question:{key}"] = [question.stem]
    return world


_RESULTS = (
    ("s_sjz", "zhang"),
    ("s_sjz", "wang"),
    ("s_sjz", "zhou"),
    ("s_ts", "zhao"),
    ("s_prov", "li"),
    ("s_prov", "zhao"),
)


def _ek(enrollment, batches, people) -> tuple[str, str]:
    batch = next(k for k, b in batches.items() if b.pk == enrollment.batch_id)
    person = next(k for k, p in people.items() if p.pk == enrollment.inspector_id)
    return batch, person


def _years_before(today: dt.date, years: int, days_left: int) -> dt.date:
    """The issue date of a certificate (valid ``years``) that has ``days_left`` days to run."""
    until = today + dt.timedelta(days=days_left)
    try:
        return until.replace(year=until.year - years)
    except ValueError:  # 29 February
        return until.replace(year=until.year - years, day=28)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The world, built once for the module inside a transaction rolled back after its last
    test; each test runs in its own savepoint within it."""
    media = tmp_path_factory.mktemp("security-media")
    fast = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with (
        # The world's qualification pass issues 李's certificate at once (the setting's other
        # value opens an application instead, which the world makes by hand).
        override_settings(MEDIA_ROOT=media, PASSWORD_HASHERS=fast, CERTIFICATE_ON_PASS="issue"),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        yield build_world()
        transaction.set_rollback(True)
