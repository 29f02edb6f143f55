"""Demo training years, shaped like the department's report.

The report year is last year (a closed year is what the yearly workbook reports):
- the special course on the three systems delivered in every city and at the province,
  plus short courses on each system: 4,500+ person-times in all;
- 4 sector batches organised by the province (coal, non-coal mines, hazardous
  chemicals, industry and trade) of about 550 inspectors together;
- the year before has fewer of both, so year-on-year change shows;
- this year has batches open for enrollment (one starting within the reminder window,
  with the demo inspector enrolled) so the inspector's page, reminders and calendar show.

Every write goes through the training services, with ``today=`` set to the day the
step would have happened. Batches are found again by (region, year, number), so a
second run adds nothing.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from personnel import access
from personnel.models import Inspector, InspectorStatus, Region, RegionLevel, Sector

from . import services
from .evaluations import evaluation_submit
from .models import Batch, BatchStatus, Course, Enrollment, EnrollmentStatus, Evaluation, Topic

COURSES = (
    # code, title, topics, hours, delivery
    (
        "SZ-01",
        "行政执法“三项制度”专题培训",
        (Topic.PUBLICITY, Topic.PROCESS_RECORDING, Topic.LEGAL_REVIEW),
        "16",
        "in_person",
    ),
    ("SZ-02", "行政执法公示制度实务", (Topic.PUBLICITY,), "8", "online"),
    ("SZ-03", "执法全过程记录制度实务（执法记录仪使用与音像记录管理）", (Topic.PROCESS_RECORDING,), "8", "in_person"),
    ("SZ-04", "重大执法决定法制审核制度实务", (Topic.LEGAL_REVIEW,), "8", "online"),
    ("HY-01", "安全生产执法业务培训（分行业）", (Topic.OTHER,), "24", "in_person"),
)
SECTOR_COURSE = "HY-01"
# The recent batch the demo inspector has still to rate: a number no city's special course reaches.
RECENT_NUMBER = 90
SPECIAL_COURSE = "SZ-01"
TOPIC_COURSES = ("SZ-02", "SZ-03", "SZ-04")

# Seats in the province's sector batches of the report year (580 seats, so 550+ complete).
SECTOR_SEATS = {
    Sector.COAL: 155,
    Sector.NON_COAL_MINE: 125,
    Sector.HAZARDOUS_CHEMICALS: 155,
    Sector.INDUSTRY_TRADE: 145,
}
NO_SHOW_RATE = 0.03
# 评教: the share of a batch's completers who rate it (drawn per batch), the scores' weights
# (5 down to 1: most are content, a few are not), and the comments some leave.
RATED_SHARE = (0.55, 0.9)
SCORE_WEIGHTS = {
    "content": (46, 34, 14, 4, 2),
    "trainer": (52, 31, 12, 3, 2),
    "organisation": (38, 36, 18, 6, 2),
}
COMMENT_SHARE = 0.12
COMMENTS = (
    "案例贴近一线执法，很实用。",
    "希望增加执法记录仪实操环节。",
    "课程安排偏紧，建议延长一天。",
    "授课老师讲解清楚，互动较好。",
    "培训地点交通不便，建议就近安排。",
    "法制审核部分讲得透彻，受益匪浅。",
    "建议提前发放讲义。",
    "希望多讲讲行政处罚裁量基准。",
)


def seed_training(*, stdout=None, seed: int = 2024, today: dt.date | None = None) -> dict:
    """Courses, hours policies and three years of batches; returns what it created."""
    today = today or timezone.localdate()
    report_year = today.year - 1
    rng = random.Random(seed)
    actor = _actor()
    courses = _seed_courses(actor)
    province = Region.objects.get(code="130000", level=RegionLevel.PROVINCE)
    for year in (report_year - 1, report_year, today.year):
        services.hours_policy_set(actor=actor, region=province, year=year, required_hours=Decimal("30"))
    sjz = Region.objects.filter(code="130100").first()
    if sjz is not None:
        services.hours_policy_set(actor=actor, region=sjz, year=report_year, required_hours=Decimal("40"))

    made = 0
    made += _seed_year(actor, courses, rng, year=report_year - 1, city_share=0.62, sector_scale=0.75, topic_share=0.1)
    made += _seed_year(
        actor, courses, rng, year=report_year, city_share=1.0, sector_scale=1.0, topic_share=0.3, rate=True
    )
    made += _seed_current_year(actor, courses, today)
    if stdout is not None:
        counts = Enrollment.objects.filter(batch__year=report_year).values("status")
        stdout.write(
            f"培训：课程 {len(courses)} 门；新建批次 {made} 个；{report_year} 年报名 {counts.count()} 人次，"
            f"结业 {counts.filter(status=EnrollmentStatus.COMPLETED).count()} 人次，"
            f"评教 {Evaluation.objects.filter(batch__year=report_year).count()} 份\n"
        )
    return {"batches_created": made, "report_year": report_year}


def _actor():
    User = get_user_model()
    return User.objects.get(username="province_admin")


def _seed_courses(actor) -> dict[str, Course]:
    courses = {}
    for code, title, topics, hours, delivery in COURSES:
        course = Course.objects.filter(code=code).first()
        if course is None:
            course = services.course_save(
                actor=actor,
                data={"code": code, "title": title, "topics": topics, "hours": Decimal(hours), "delivery": delivery},
            )
        courses[code] = course
    return courses


def _batch(actor, *, course, region, year, number, starts_on, days, capacity, sector="", place="") -> Batch | None:
    """Create the batch (open for enrollment) unless it exists; None when it already did."""
    if Batch.objects.filter(region=region, year=year, number=number).exists():
        return None
    return services.batch_create(
        actor=actor,
        data={
            "course": course,
            "region": region,
            "year": year,
            "number": number,
            "sector": sector,
            "starts_on": starts_on,
            "ends_on": starts_on + dt.timedelta(days=days - 1),
            "enrollment_deadline": starts_on - dt.timedelta(days=5),
            "capacity": capacity,
            "place": place or f"{region.name}应急管理局培训中心",
            "status": BatchStatus.OPEN,
        },
    )


def _run(
    actor, batch: Batch, rng: random.Random, inspector_ids: list[int], *, complete: bool, rate: bool = False
) -> None:
    """Enroll, take attendance and (for past batches) complete, each on its own day; with
    ``rate``, a share of the completers rate the batch (评教)."""
    deadline = batch.enrollment_deadline
    if inspector_ids:
        services.batch_bulk_enroll(batch=batch, actor=actor, inspector_ids=inspector_ids, today=deadline)
    if not complete:
        return
    enrolled = list(batch.enrollments.filter(status=EnrollmentStatus.ENROLLED).values_list("inspector_id", flat=True))
    absent = {i for i in enrolled if rng.random() < NO_SHOW_RATE}
    for offset in range(batch.days):
        day = batch.starts_on + dt.timedelta(days=offset)
        services.attendance_mark(batch=batch, actor=actor, day=day, all_present=True, absent=absent)
    services.batch_complete(batch=batch, actor=actor, today=batch.ends_on)
    if rate:
        # Its own stream: the rest of the demo draws the same with or without the ratings.
        _rate(batch, random.Random(f"{batch.region.code}-{batch.year}-{batch.number}"))


class _Participant:
    """The participant, as the evaluation service sees them: the demo's inspectors mostly have
    no login, and a rating is only ever their own act (``training.evaluations``)."""

    is_authenticated = True
    is_active = True
    is_superuser = False
    is_staff = False
    pk = None

    def __init__(self, inspector_id: int):
        self._personnel_scope = access.Scope(access.SELF, inspector_id=inspector_id)


def _rate(batch: Batch, rng: random.Random, *, leave_out: set[int] = frozenset()) -> int:
    """A share of the batch's completers rate it in the days after it ended; ``leave_out``:
    inspectors who have not rated yet (the demo inspector, so /me/ shows the form)."""
    completed = list(
        batch.enrollments.filter(status=EnrollmentStatus.COMPLETED, evaluation__isnull=True)
        .exclude(inspector_id__in=leave_out)
        .order_by("id")
    )
    share = rng.uniform(*RATED_SHARE)
    rated = 0
    for enrollment in completed:
        if rng.random() >= share:
            continue
        scores = {name: rng.choices((5, 4, 3, 2, 1), weights)[0] for name, weights in SCORE_WEIGHTS.items()}
        comment = rng.choice(COMMENTS) if rng.random() < COMMENT_SHARE else ""
        evaluation_submit(
            enrollment=enrollment,
            actor=_Participant(enrollment.inspector_id),
            comment=comment,
            today=batch.ends_on + dt.timedelta(days=rng.randint(0, 14)),
            **scores,
        )
        rated += 1
    return rated


def _active(**filters) -> list[int]:
    return list(
        Inspector.objects.filter(status=InspectorStatus.ACTIVE, **filters).order_by("id").values_list("id", flat=True)
    )


def _seed_year(
    actor, courses, rng, *, year: int, city_share: float, sector_scale: float, topic_share: float, rate: bool = False
) -> int:
    """A year of batches; with ``rate``, its completers rate them (评教 came in the report year)."""
    made = 0
    province = Region.objects.get(code="130000")
    cities = list(Region.objects.filter(parent=province).order_by("code"))
    # 1. The special course on the three systems: every city trains (a share of) its own
    #    inspectors in batches of up to 120, spread over the spring.
    for index, city in enumerate(cities):
        people = _active(region__path__startswith=city.path)
        rng.shuffle(people)
        people = people[: int(len(people) * city_share)]
        for number, start in enumerate(range(0, len(people), 120), start=1):
            chunk = people[start : start + 120]
            starts_on = dt.date(year, 3, 1) + dt.timedelta(days=7 * ((index + number) % 12))
            batch = _batch(
                actor,
                course=courses[SPECIAL_COURSE],
                region=city,
                year=year,
                number=number,
                starts_on=starts_on,
                days=2,
                capacity=120,
            )
            if batch is not None:
                _run(actor, batch, rng, chunk, complete=True, rate=rate)
                made += 1
    # 2. The province trains its own staff on the special course, and a share of everyone
    #    once more on one of the three systems (so person-times exceed persons).
    own = _active(region=province)
    batch = _batch(
        actor,
        course=courses[SPECIAL_COURSE],
        region=province,
        year=year,
        number=1,
        starts_on=dt.date(year, 2, 20),
        days=2,
        capacity=200,
    )
    if batch is not None:
        _run(actor, batch, rng, own, complete=True, rate=rate)
        made += 1
    everyone = _active()
    rng.shuffle(everyone)
    extra = everyone[: int(len(everyone) * topic_share)]
    per_course = -(-len(extra) // len(TOPIC_COURSES)) if extra else 0
    for offset, code in enumerate(TOPIC_COURSES):
        chunk = extra[offset * per_course : (offset + 1) * per_course]
        batch = _batch(
            actor,
            course=courses[code],
            region=province,
            year=year,
            number=2 + offset,
            starts_on=dt.date(year, 9, 1) + dt.timedelta(days=14 * offset),
            days=1,
            capacity=max(len(chunk), 1),
        )
        if batch is not None:
            _run(actor, batch, rng, chunk, complete=True, rate=rate)
            made += 1
    # 3. Four sector batches organised by the province (期/批次 by sector).
    for offset, (sector, seats) in enumerate(SECTOR_SEATS.items()):
        seats = int(seats * sector_scale)
        people = _active(sector=sector)
        rng.shuffle(people)
        batch = _batch(
            actor,
            course=courses[SECTOR_COURSE],
            region=province,
            year=year,
            number=10 + offset,
            sector=sector,
            starts_on=dt.date(year, 5, 10) + dt.timedelta(days=21 * offset),
            days=3,
            capacity=seats,
            place="河北省应急管理厅培训基地",
        )
        if batch is not None:
            _run(actor, batch, rng, people[:seats], complete=True, rate=rate)
            made += 1
    return made


def _seed_current_year(actor, courses, today: dt.date) -> int:
    """Upcoming batches this year: one starting inside the reminder window with the demo
    inspector enrolled, one later; both open."""
    made = 0
    province = Region.objects.get(code="130000")
    me = Inspector.objects.filter(user__username="inspector").select_related("region").first()
    city = me.region.parent if me is not None and me.region.parent_id else province
    soon = _batch(
        actor,
        course=courses[SPECIAL_COURSE],
        region=city,
        year=(today + dt.timedelta(days=2)).year,
        number=1,
        starts_on=today + dt.timedelta(days=2),
        days=2,
        capacity=60,
    )
    if soon is not None:
        soon.enrollment_deadline = today
        soon.save(update_fields=["enrollment_deadline"])
        people = _active(region__path__startswith=city.path)[:40]
        if me is not None and me.pk not in people:
            people = [me.pk, *people[:39]]
        _run(actor, soon, random.Random(0), people, complete=False)
        made += 1
    # 评教 on /me/: a batch that ended ten days ago, which the demo inspector completed and has
    # not rated yet (most of the others have).
    ended = today - dt.timedelta(days=10)
    recent = _batch(
        actor,
        course=courses["SZ-03"],
        region=city,
        year=(ended - dt.timedelta(days=1)).year,
        number=RECENT_NUMBER,
        starts_on=ended - dt.timedelta(days=1),
        days=2,
        capacity=40,
    )
    if recent is not None:
        people = _active(region__path__startswith=city.path)[40:75]
        if me is not None and me.pk not in people:
            people = [me.pk, *people[:34]]
        _run(actor, recent, random.Random(0), people, complete=True)
        _rate(recent, random.Random(1), leave_out={me.pk} if me is not None else set())
        made += 1
    later = _batch(
        actor,
        course=courses["SZ-04"],
        region=province,
        year=(today + dt.timedelta(days=30)).year,
        number=2,
        starts_on=today + dt.timedelta(days=30),
        days=1,
        capacity=80,
    )
    if later is not None:
        made += 1
    return made
