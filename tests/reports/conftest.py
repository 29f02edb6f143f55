"""A known report year (2024) and the year before (2023), built through the services, and
an independent count of every yearly figure to check the workbook against.

The region tree is the shared one: 河北省 > 石家庄市 (长安区, 桥西区), 唐山市 (路南区).

2024, by design:
- batch 1 (province, the three-systems course, 16 h, 3 days, every sector): A B C D E F H
  enrolled; B misses a day (no-show), the rest complete. Its exam: A passes, C fails, D absent;
- batch 2 (石家庄, sector course, 24 h, coal, 1 seat): A completes (A's second batch: person-
  times are not persons), B is second and waitlisted;
- batch 3 (唐山, sector course): E cancels, F completes;
- batch 4 (石家庄): C enrolled, then the batch is cancelled (counts nowhere);
- 石家庄 requires 16 hours in 2024, everywhere else the default;
- the qualification exam (10 October): E and F pass and get certificates; F's is suspended
  on 1 November; D's certificate (issued 1 February) is revoked on 1 December; C's, issued
  in 2019, expires on 6 January.
2023: one province batch of the three-systems course, A C E complete; A passes the
qualification exam and gets a certificate. Nobody is a no-show and nobody meets the hours,
so those figures have a zero previous year.

Certificate events carry the time they were recorded (``auto_now_add``): the status changes
are moved to the day they stand for (a plain UPDATE, the "given" of the tests); the issue
events stay at today's date, as for a certificate entered after the fact.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import openpyxl
import pytest
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from exams import services as exams
from exams.models import Certificate, CertificateEvent, ExamKind, Result
from personnel.models import Inspector, InspectorStatus, Region
from tests.factories import InspectorFactory, UserFactory, region_tree
from training import services as training
from training.models import BatchStatus, Enrollment, HoursPolicy, Topic

Y, P = 2024, 2023
FORMULA_NAME = '=HYPERLINK("x")'
SEATED = ("enrolled", "completed", "no_show")
Kind = CertificateEvent.Kind


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    # Export files land in a throwaway folder.
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def eager_celery():
    """Run tasks in-process whatever the environment names as broker (as the embedded default does)."""
    from config.celery import app

    before = {"task_always_eager": app.conf.task_always_eager, "task_eager_propagates": app.conf.task_eager_propagates}
    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(before)


def noon(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


def _move_event(certificate: Certificate, kind: str, day: dt.date) -> None:
    CertificateEvent.objects.filter(certificate=certificate, kind=kind).update(at=noon(day))


def _batch(actor, course, region, start: dt.date, days: int, *, capacity=30, sector=""):
    return training.batch_create(
        actor=actor,
        data={
            "course": course,
            "region": region,
            "sector": sector,
            "starts_on": start,
            "ends_on": start + dt.timedelta(days=days - 1),
            "enrollment_deadline": start - dt.timedelta(days=5),
            "capacity": capacity,
            "status": BatchStatus.OPEN,
        },
    )


def _run(actor, batch, people, *, absent_day2=()):
    """Enroll ``people`` (in order), take attendance (all present, but ``absent_day2`` misses
    the second day) and complete the batch the day it ends."""
    before = batch.starts_on - dt.timedelta(days=10)
    for person in people:
        training.enrollment_create(batch=batch, inspector=person, actor=actor, today=before)
    for n in range(batch.days):
        day = batch.starts_on + dt.timedelta(days=n)
        absent = [p.pk for p in absent_day2] if n == 1 else []
        training.attendance_mark(batch=batch, actor=actor, day=day, all_present=True, absent=absent)
    return training.batch_complete(batch=batch, actor=actor, today=batch.ends_on)


def _score(sitting, inspector, actor, general, special, *, absent=False):
    parts = list(sitting.exam.parts.order_by("order"))
    scores = {} if absent else {str(parts[0].pk): general, str(parts[1].pk): special}
    return exams.result_record(sitting=sitting, inspector=inspector, actor=actor, scores=scores, absent=absent)


@pytest.fixture(scope="class")
def _known_years(django_db_setup, django_db_blocker):
    """The known years, built once for all the tests of a class (a few hundred service calls
    take a couple of seconds): inside a transaction rolled back after the class's last test,
    each test running in its own savepoint within it. Outside a class, once per test."""
    # (built before any test's own settings: a qualification pass issues its certificate at
    # once, as these years were designed, whatever CERTIFICATE_ON_PASS defaults to)
    with django_db_blocker.unblock(), transaction.atomic(), override_settings(CERTIFICATE_ON_PASS="issue"):
        builder = UserFactory(username="report_builder", is_staff=True, is_superuser=True)
        yield build_known(actor=builder, regions=region_tree())
        transaction.set_rollback(True)


@pytest.fixture
def known(_known_years, regions):
    """The two known years (see the module docstring): the people, the batches."""
    return _known_years


def build_known(*, actor, regions) -> dict:
    r = regions
    people = {
        "A": InspectorFactory(name="张一", region=r["changan"], sector="coal"),
        "B": InspectorFactory(name="李二", region=r["changan"], sector="coal"),
        "C": InspectorFactory(name="王三", region=r["qiaoxi"], sector="non_coal_mine"),
        "D": InspectorFactory(name="赵四", region=r["sjz"], sector="hazardous_chemicals"),
        "E": InspectorFactory(name="钱五", region=r["lunan"], sector="coal"),
        "F": InspectorFactory(name="孙六", region=r["ts"], sector="industry_trade"),
        "H": InspectorFactory(name=FORMULA_NAME, region=r["qiaoxi"], sector="industry_trade"),
        "R": InspectorFactory(name="周七", region=r["changan"], sector="coal", status=InspectorStatus.RETIRED),
    }
    A, B, C, D, E, F, H = (people[k] for k in "ABCDEFH")
    special = training.course_save(
        actor=actor,
        data={
            "code": "SZ-01",
            "title": "行政执法“三项制度”专题培训",
            "topics": [Topic.PUBLICITY, Topic.PROCESS_RECORDING, Topic.LEGAL_REVIEW],
            "hours": Decimal("16"),
        },
    )
    sector_course = training.course_save(
        actor=actor,
        data={"code": "HY-01", "title": "安全生产执法业务培训", "topics": [Topic.OTHER], "hours": Decimal("24")},
    )
    qualification = exams.exam_create(
        actor=actor,
        title="行政执法资格考试",
        kind=ExamKind.QUALIFICATION,
        region=r["province"],
        parts=[("通用法律知识", Decimal("40")), ("专门法律知识", Decimal("60"))],
    )

    # --- 2023
    p1 = _batch(actor, special, r["province"], dt.date(P, 4, 3), 2)
    _run(actor, p1, [A, C, E])
    q_2023 = exams.sitting_create(actor=actor, exam=qualification, held_on=dt.date(P, 5, 10))
    _score(q_2023, A, actor, 30, 50)  # passes: certificate issued on the day of the exam

    # C's old certificate: issued 2019, expires 5 January 2024, swept on the 6th.
    c_cert = exams.certificate_issue(holder=C, region=r["qiaoxi"], actor=actor, issued_on=dt.date(2019, 1, 5))
    exams.certificates_expire(today=dt.date(Y, 1, 6))
    _move_event(c_cert, Kind.EXPIRED, dt.date(Y, 1, 6))

    # --- 2024
    training.hours_policy_set(actor=actor, region=r["sjz"], year=Y, required_hours=Decimal("16"))
    b1 = _batch(actor, special, r["province"], dt.date(Y, 3, 4), 3)
    _run(actor, b1, [A, B, C, D, E, F, H], absent_day2=[B])
    course_exam = exams.exam_create(
        actor=actor,
        title="三项制度结业考试",
        kind=ExamKind.COURSE,
        region=r["province"],
        parts=[("通用法律知识", Decimal("40")), ("专门法律知识", Decimal("60"))],
        course=special,
    )
    s1 = exams.sitting_create(actor=actor, exam=course_exam, held_on=dt.date(Y, 3, 7), batch=b1)
    _score(s1, A, actor, 30, 50)
    _score(s1, C, actor, 20, 20)
    _score(s1, D, actor, 0, 0, absent=True)

    b2 = _batch(actor, sector_course, r["sjz"], dt.date(Y, 6, 3), 2, capacity=1, sector="coal")
    _run(actor, b2, [A, B])  # B is second: waitlisted

    b3 = _batch(actor, sector_course, r["ts"], dt.date(Y, 9, 2), 2)
    before = b3.starts_on - dt.timedelta(days=10)
    e_seat = training.enrollment_create(batch=b3, inspector=E, actor=actor, today=before)
    training.enrollment_create(batch=b3, inspector=F, actor=actor, today=before)
    training.enrollment_cancel(enrollment=e_seat, actor=actor, reason="工作冲突")
    for n in range(b3.days):
        training.attendance_mark(batch=b3, actor=actor, day=b3.starts_on + dt.timedelta(days=n), all_present=True)
    training.batch_complete(batch=b3, actor=actor, today=b3.ends_on)

    b4 = _batch(actor, sector_course, r["sjz"], dt.date(Y, 11, 4), 2)
    training.enrollment_create(batch=b4, inspector=C, actor=actor, today=b4.starts_on - dt.timedelta(days=10))
    training.batch_update(actor=actor, batch=b4, data={"status": BatchStatus.CANCELLED})

    d_cert = exams.certificate_issue(holder=D, region=r["sjz"], actor=actor, issued_on=dt.date(Y, 2, 1))
    q_2024 = exams.sitting_create(actor=actor, exam=qualification, held_on=dt.date(Y, 10, 10))
    _score(q_2024, E, actor, 35, 45)
    _score(q_2024, F, actor, 32, 40)
    f_cert = Certificate.objects.get(holder=F)
    exams.certificate_suspend(certificate=f_cert, reason="违规出借执法证", actor=actor)
    _move_event(f_cert, Kind.SUSPENDED, dt.date(Y, 11, 1))
    exams.certificate_revoke(certificate=d_cert, reason="以案谋私", actor=actor)
    _move_event(d_cert, Kind.REVOKED, dt.date(Y, 12, 1))

    for person in people.values():
        person.refresh_from_db()
    return {"people": people, "batches": {"p1": p1, "b1": b1, "b2": b2, "b3": b3, "b4": b4}}


# --- the independent count ---------------------------------------------------------------------


def count_by_hand(*, year: int, path: str, sector: str | None = None) -> dict:
    """Every 汇总 figure, counted in Python over all rows (no aggregate query), for the
    inspectors whose region lies under ``path`` (and of ``sector`` when given)."""
    people = [
        i
        for i in Inspector.objects.select_related("region")
        if i.region.path.startswith(path) and (sector is None or i.sector == sector)
    ]
    ids = {i.pk for i in people}
    every_enrollment = list(Enrollment.objects.select_related("batch", "batch__course"))
    enrollments = [
        e
        for e in every_enrollment
        if e.inspector_id in ids and e.batch.year == year and e.batch.status != BatchStatus.CANCELLED
    ]
    seated = [e for e in enrollments if e.status in SEATED]
    completed = [e for e in seated if e.status == "completed"]
    no_shows = [e for e in seated if e.status == "no_show"]

    def three_systems(course):
        return course.covers_publicity or course.covers_process_recording or course.covers_legal_review

    policies = {p.region.path: p.required_hours for p in HoursPolicy.objects.select_related("region") if p.year == year}

    def required(inspector):
        matches = [p for p in policies if inspector.region.path.startswith(p)]
        return policies[max(matches, key=len)] if matches else Decimal(settings.TRAINING_REQUIRED_HOURS)

    hours = defaultdict(Decimal)  # completed in the year's batches (the batch's own year)
    for e in every_enrollment:
        if e.status == "completed" and e.batch.year == year:
            hours[e.inspector_id] += e.hours_credited

    active = [i for i in people if i.status == InspectorStatus.ACTIVE]
    met = [i for i in active if hours[i.pk] >= required(i)]

    def sitting_year(sitting):  # a batch's sitting counts in the batch's year
        return sitting.batch.year if sitting.batch_id else sitting.held_on.year

    results = [
        r
        for r in Result.objects.select_related("sitting", "sitting__batch")
        if r.inspector_id in ids and sitting_year(r.sitting) == year
    ]
    pairs = defaultdict(list)  # one candidate per inspector and exam: the latest attempt
    for r in results:
        pairs[(r.inspector_id, r.exam_id)].append(r)
    latest = [max((r for r in rs if not r.absent), key=lambda r: r.attempt, default=None) for rs in pairs.values()]
    sat = [r for r in latest if r is not None]
    passes = [r for r in sat if r.passed]
    certificates = [c for c in Certificate.objects.prefetch_related("events") if c.holder_id in ids]
    events = [ev for c in certificates for ev in c.events.all() if timezone.localtime(ev.at).year == year]
    year_end = timezone.make_aware(dt.datetime(year, 12, 31, 23, 59, 59))
    end = dt.date(year, 12, 31)

    def status_at_year_end(certificate):
        before = sorted((ev for ev in certificate.events.all() if ev.at <= year_end), key=lambda ev: (ev.at, ev.pk))
        return before[-1].to_status if before else "valid"  # no change recorded yet: as issued

    def rate(part, whole):
        return round(part / whole, 4) if whole else None

    return {
        "person_times": len(seated),
        "persons": len({e.inspector_id for e in seated}),
        "completions": len(completed),
        "no_shows": len(no_shows),
        "completion_rate": rate(len(completed), len(seated)),
        "batches": len({e.batch_id for e in seated}),
        "hours": float(sum((e.hours_credited for e in completed), Decimal("0"))),
        "three_systems_person_times": len([e for e in seated if three_systems(e.batch.course)]),
        "inspectors": len(active),
        "hours_met": len(met),
        "hours_met_rate": rate(len(met), len(active)),
        "sittings": len({r.sitting_id for r in results}),
        "candidates": len(sat),
        "absences": len(pairs) - len(sat),
        "passes": len(passes),
        "pass_rate": rate(len(passes), len(sat)),
        "certs_issued": len([c for c in certificates if c.issued_on.year == year]),
        "certs_renewed": len([ev for ev in events if ev.kind == Kind.RENEWED]),
        "certs_suspended": len([ev for ev in events if ev.kind == Kind.SUSPENDED]),
        "certs_revoked": len([ev for ev in events if ev.kind == Kind.REVOKED]),
        "certs_expired": len([ev for ev in events if ev.kind == Kind.EXPIRED]),
        "certs_valid_year_end": len(
            [
                c
                for c in certificates
                if c.issued_on <= end and c.valid_until >= end and status_at_year_end(c) == "valid"
            ]
        ),
    }


# --- reading a workbook back --------------------------------------------------------------------


def open_book(path) -> openpyxl.Workbook:
    return openpyxl.load_workbook(path)


def table(ws, first_header: str) -> list[dict]:
    """The rows under the header row whose first cell is ``first_header``, as dicts by header."""
    rows = list(ws.iter_rows())
    start = next(i for i, row in enumerate(rows) if row[0].value == first_header)
    headers = [c.value for c in rows[start]]
    out = []
    for row in rows[start + 1 :]:
        values = [c.value for c in row]
        if all(v is None for v in values[: len(headers)]):
            break
        out.append(dict(zip(headers, values, strict=False)))
    return out


def all_cells(book):
    for ws in book.worksheets:
        for row in ws.iter_rows():
            yield from row


def region_path(code: str) -> str:
    return Region.objects.get(code=code).path
