"""Demo exams, results and certificates, on top of the personnel and training demos.

- the province's qualification exam (执法资格考试: 通用法律知识 40 + 专门法律知识 60, pass 60)
  in each of the last three years, with a spring sitting and an autumn retake: a few
  hundred candidates, some absent, some failing in spring and passing in autumn; the
  first two years' passes were issued at once (before applications), the report year's
  passes open 申领 applications (CERTIFICATE_ON_PASS's default), most approved through the
  whole chain three weeks after the retake, a few still waiting at the county or the city
  and two returned with a comment;
- course exams at the end of the report year's sector batches, with a retake sitting;
- certificates held from before (issued directly, spread over earlier years), some
  expiring within 7, 30 and 90 days, and some suspended, reinstated, revoked, returned
  (the holder retired or transferred) and expired (the nightly run, here);
- this year's annual exam (年度考核考试), a few renewals, and the report year's annual
  review of a few hundred certificates (a failed one suspends the certificate).

The demo inspector (login ``inspector``) fails the qualification exam once, passes the
retake and holds a valid certificate. Every write goes through exams.services with the
date it would have happened on; each part is found again by title or by the rows it
wrote, so a second run adds nothing.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import zipfile
from collections import Counter
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.test.utils import override_settings
from django.utils import timezone

from personnel import services as personnel_services
from personnel.models import Inspector, InspectorStatus, Region, RegionLevel
from training.models import Batch, BatchStatus
from training.selectors import inspector_hours_list

from . import applications, services
from .models import (
    HELD,
    AnnualReview,
    ApplicationKind,
    ApplicationState,
    Certificate,
    CertificateApplication,
    CertificateStatus,
    Exam,
    ExamKind,
    Result,
    Sitting,
    SittingStatus,
)

QUALIFICATION_PARTS = (("通用法律知识", Decimal("40")), ("专门法律知识", Decimal("60")))
COURSE_PARTS = (("安全生产法律法规", Decimal("40")), ("行业执法实务", Decimal("60")))
ANNUAL_PARTS = (("法律法规", Decimal("50")), ("执法实务与案例", Decimal("50")))
PLACE = "河北省应急管理厅考试中心"

QUALIFICATION_CANDIDATES = 70  # a year, in the spring sitting
LATE_CANDIDATES = 10  # first sitting in the autumn
ABSENT_RATE = 0.07
HELD_BEFORE = 140  # certificates issued before the system, to people who trained last year first
EXPIRING_IN = (2, 5, 6, 11, 18, 24, 29, 36, 44, 52, 61, 70, 78, 86, 89)  # days from today
EXPIRED_AGO = (3, 9, 20, 41, 75, 120, 160, 210, 270, 330)  # days past the date
SUSPEND = ("执法过程中存在违规行为，暂扣待查", "被投诉执法不规范，暂扣调查", "未按规定亮证执法")
REVOKE = ("出借行政执法证件", "因严重违纪被开除公职", "以欺骗手段取得执法证件")
COURSE_EXAMS = 2  # the smallest of the report year's sector batches
REVIEWS_PASSING = 180
REVIEWS_FAILING = 20

S = CertificateStatus


def seed_exams(*, stdout=None, seed: int = 2024, today: dt.date | None = None) -> dict:
    """Exams, results and certificates in every status; returns what it created."""
    today = today or timezone.localdate()
    report_year = today.year - 1
    rng = random.Random(seed)
    actor = get_user_model().objects.get(username="province_admin")
    province = Region.objects.get(code="130000", level=RegionLevel.PROVINCE)
    me = Inspector.objects.filter(user__username="inspector").first()
    made: Counter = Counter()

    for year in (report_year - 2, report_year - 1):
        # Before applications: a pass issued its certificate at once.
        with override_settings(CERTIFICATE_ON_PASS="issue"):  # noqa: S106 (a setting, not a password)
            _qualification_year(actor, province, rng, year=year, me=me if year == report_year - 2 else None, made=made)
    _qualification_year(actor, province, rng, year=report_year, me=None, made=made)
    _issue_applications(rng, year=report_year, made=made)
    _course_exams(actor, rng, year=report_year, made=made)
    _held_before(actor, rng, today=today, report_year=report_year, me=me, made=made)
    _annual_exam(actor, province, rng, today=today, me=me, made=made)
    _annual_reviews(actor, year=report_year, me=me, made=made)
    made["expired"] += services.certificates_expire(today=today)
    _photos(actor, rng, me=me, made=made)

    if stdout is not None:
        by_status = dict(Certificate.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        stdout.write(
            f"考试：新建考试 {made['exams']} 场，成绩 {made['results']} 条；执法证：新发 {made['issued']} 本，"
            f"年审 {made['reviews']} 本，本次过期 {made['expired']} 本，申领申请 {made['applications']} 件，"
            f"证件照 {made['photos']} 张；现有 "
            + "，".join(f"{S(s).label} {by_status.get(s, 0)}" for s in S.values)
            + "\n"
        )
    return dict(made)


# --- qualification exams ---------------------------------------------------------------------


def _this_years_qualification_exam(actor, *, today: dt.date) -> Exam | None:
    """The province's qualification exam titled with today's year; made, when missing, from the
    newest one with paper rules (its parts, pass mark, attempts and rules). None without one."""
    from . import questions
    from .models import PaperRule

    province = Region.objects.filter(code="130000", level=RegionLevel.PROVINCE).first()
    if province is None:
        return None
    title = f"{today.year}年度行政执法资格考试"
    ruled = Exam.objects.filter(
        kind=ExamKind.QUALIFICATION, region=province, pk__in=PaperRule.objects.values("part__exam_id")
    )
    exam = ruled.filter(title=title).first()
    if exam is not None:
        return exam
    source = ruled.exclude(title=title).order_by("-created_at").first()
    if source is None or Exam.objects.filter(title=title, region=province).exists():
        return None
    exam = services.exam_create(
        actor=actor,
        title=title,
        kind=ExamKind.QUALIFICATION,
        region=province,
        parts=[(part.name, part.max_score) for part in source.parts.all()],
        pass_mark=source.pass_mark,
        max_attempts=source.max_attempts,
    )
    parts = {part.name: part for part in exam.parts.all()}
    rules = [
        questions.RuleSpec(
            part=parts[rule.part.name],
            points=rule.points,
            category=rule.category,
            difficulty=rule.difficulty,
            kind=rule.kind,
            count=rule.count,
            question=rule.question,
        )
        for rule in PaperRule.objects.filter(part__exam=source)
        .select_related("part", "question")
        .order_by("order", "pk")
    ]
    questions.paper_rules_set(exam=exam, actor=actor, rules=rules)
    return exam


def _qualification_year(actor, province: Region, rng: random.Random, *, year: int, me, made: Counter) -> None:
    title = f"{year}年度行政执法资格考试"
    if Exam.objects.filter(title=title).exists():
        return
    exam = services.exam_create(
        actor=actor,
        title=title,
        kind=ExamKind.QUALIFICATION,
        region=province,
        parts=list(QUALIFICATION_PARTS),
        pass_mark=Decimal("60"),
        max_attempts=3,
    )
    made["exams"] += 1
    general, special = (str(p.pk) for p in exam.parts.all())
    pool = _uncertified(exclude=[me.pk] if me else [])
    rng.shuffle(pool)
    spring_people = pool[:QUALIFICATION_CANDIDATES]
    late_people = pool[QUALIFICATION_CANDIDATES : QUALIFICATION_CANDIDATES + LATE_CANDIDATES]
    mine = me is not None and _uncertified_one(me)  # the demo inspector sits the first year's exam

    def paper(bonus: float = 0.0) -> dict:
        return {
            general: _score(rng, mean=27 + bonus * 0.4, sd=6, top=40),
            special: _score(rng, mean=39 + bonus * 0.6, sd=9, top=60),
        }

    # Spring: most sit, a few are absent; the demo inspector fails their first attempt.
    spring = services.sitting_create(actor=actor, exam=exam, held_on=dt.date(year, 4, 20), place=PLACE)
    rows = [_row(pk, rng, paper()) for pk in spring_people]
    if mine:
        rows.append({"inspector": me, "scores": {general: "22.0", special: "31.5"}})
    _grade(actor, spring, rows, made)
    # Autumn: those who failed or missed the spring sitting try again (most of them), and
    # a few first-timers; the demo inspector passes.
    failed = Result.objects.filter(sitting=spring).exclude(passed=True).order_by("inspector_id")
    retry = [pk for pk in failed.values_list("inspector_id", flat=True) if not (mine and pk == me.pk)]
    retry = [pk for pk in retry if rng.random() < 0.85]
    autumn = services.sitting_create(actor=actor, exam=exam, held_on=dt.date(year, 10, 19), place=PLACE)
    rows = [_row(pk, rng, paper(bonus=6)) for pk in retry + late_people]
    if mine:
        rows.append({"inspector": me, "scores": {general: "33.5", special: "48.0"}})
    _grade(actor, autumn, rows, made)


RETURNED = ("照片不清晰，请重新上传后再次提交", "所在单位信息有误，请核实")


def _issue_applications(rng: random.Random, *, year: int, made: Counter) -> None:
    """The report year's 申领 applications (opened by its passes): most approved level by level
    by the superuser (who holds every level) three weeks after the autumn retake, a few left
    waiting at the county or the city, two returned with a comment."""
    pending = list(
        CertificateApplication.objects.filter(
            kind=ApplicationKind.ISSUE, state=ApplicationState.PENDING, source_result__exam__title__startswith=str(year)
        )
        .order_by("id")
        .values_list("id", flat=True)
    )
    if not pending:
        return
    superuser = get_user_model().objects.filter(is_superuser=True).order_by("id").first()
    rng.shuffle(pending)
    # pending[2:6] stay at their first level (the county's, or the city's for a city's own staff)
    returned, waiting_city, approve = pending[:2], pending[6:10], pending[10:]
    before = Certificate.objects.count()
    day = dt.date(year, 11, 9)
    for comment, pk in zip(RETURNED, returned, strict=False):
        applications.applications_return(actor=superuser, ids=[pk], comment=comment)
    applications.applications_approve(actor=superuser, ids=waiting_city, comment="材料齐全", today=day)
    made["applications"] += len(pending)
    while approve:  # one level a call, until the chain's last carries the certificate out
        outcome = applications.applications_approve(actor=superuser, ids=approve, comment="同意", today=day)
        approve = [a.pk for a in outcome.done if a.state == ApplicationState.PENDING]
    made["issued"] += Certificate.objects.count() - before


def _uncertified(*, exclude: list[int]) -> list[int]:
    """Active inspectors with no certificate and no qualification result yet, by id."""
    return list(
        Inspector.objects.filter(status=InspectorStatus.ACTIVE)
        .exclude(certificates__isnull=False)
        .exclude(exam_results__exam__kind=ExamKind.QUALIFICATION)
        .exclude(pk__in=exclude)
        .order_by("id")
        .values_list("id", flat=True)
    )


def _uncertified_one(inspector: Inspector) -> bool:
    inspector.refresh_from_db(fields=["status"])
    return (
        inspector.status == InspectorStatus.ACTIVE
        and not Certificate.objects.filter(holder=inspector).exists()
        and not Result.objects.filter(inspector=inspector, exam__kind=ExamKind.QUALIFICATION).exists()
    )


def _score(rng: random.Random, *, mean: float, sd: float, top: int) -> str:
    value = min(max(rng.gauss(mean, sd), 0), top)
    return f"{round(value * 2) / 2:.1f}"


def _row(inspector_id: int, rng: random.Random, scores: dict) -> dict:
    inspector = Inspector(pk=inspector_id)
    if rng.random() < ABSENT_RATE:
        return {"inspector": inspector, "absent": True}
    return {"inspector": inspector, "scores": scores}


def _grade(actor, sitting: Sitting, rows: list[dict], made: Counter) -> None:
    """Enter the sitting's scores through the grid path, then confirm them."""
    before = Certificate.objects.count()
    people = Inspector.objects.in_bulk([row["inspector"].pk for row in rows])
    for row in rows:
        row["inspector"] = people[row["inspector"].pk]
    services.results_record_many(sitting=sitting, actor=actor, rows=rows, source="demo")
    services.sitting_set_status(actor=actor, sitting=sitting, status=SittingStatus.CLOSED)
    made["results"] += len(rows)
    made["issued"] += Certificate.objects.count() - before


# --- course exams ----------------------------------------------------------------------------


def _course_exams(actor, rng: random.Random, *, year: int, made: Counter) -> None:
    """A final exam at the end of two of the report year's sector batches, and a retake a month on."""
    batches = (
        Batch.objects.filter(year=year, status=BatchStatus.COMPLETED)
        .exclude(sector="")
        .select_related("course", "region")
        .order_by("capacity", "number")
    )
    for batch in batches[:COURSE_EXAMS]:
        if Sitting.objects.filter(batch=batch).exists():
            continue
        exam = services.exam_create(
            actor=actor,
            title=f"{batch.course.title}结业考试（{batch.label}·{batch.get_sector_display()}）",
            kind=ExamKind.COURSE,
            region=batch.region,
            course=batch.course,
            parts=list(COURSE_PARTS),
            max_attempts=2,
        )
        made["exams"] += 1
        law, practice = (str(p.pk) for p in exam.parts.all())
        final = services.sitting_create(actor=actor, exam=exam, held_on=batch.ends_on, place=batch.place, batch=batch)
        people = list(services.sitting_candidates(sitting=final).values_list("id", flat=True))
        rows = [
            _row(pk, rng, {law: _score(rng, mean=31, sd=5, top=40), practice: _score(rng, mean=45, sd=8, top=60)})
            for pk in people
        ]
        _grade(actor, final, rows, made)
        again = list(
            Result.objects.filter(sitting=final)
            .exclude(passed=True)
            .order_by("inspector_id")
            .values_list("inspector_id", flat=True)
        )
        if again:
            retake = services.sitting_create(
                actor=actor, exam=exam, held_on=batch.ends_on + dt.timedelta(days=30), place=batch.place, batch=batch
            )
            rows = [
                _row(pk, rng, {law: _score(rng, mean=33, sd=4, top=40), practice: _score(rng, mean=48, sd=7, top=60)})
                for pk in again
            ]
            _grade(actor, retake, rows, made)


# --- certificates held from before, in every status ------------------------------------------


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _issue(actor, inspector: Inspector, issued_on: dt.date, made: Counter) -> Certificate:
    region = inspector.region.parent if inspector.region.level == RegionLevel.COUNTY else inspector.region
    made["issued"] += 1
    return services.certificate_issue(holder=inspector, region=region, actor=actor, issued_on=issued_on)


def _held_before(actor, rng: random.Random, *, today: dt.date, report_year: int, me, made: Counter) -> None:
    """Certificates issued before the system, spread over earlier years (valid), and the
    few that show every other status. Found again by: no source result."""
    if Certificate.objects.filter(source_result__isnull=True).exists():
        return
    years = settings.CERTIFICATE_VALIDITY_YEARS
    # People who trained last year come first: they are the ones the annual review passes.
    trained = set(
        inspector_hours_list(actor=actor, year=report_year, filters={"met": True}).values_list("id", flat=True)
    )
    pool = _uncertified(exclude=[me.pk] if me else [])
    rng.shuffle(pool)
    pool.sort(key=lambda pk: pk not in trained)
    people = Inspector.objects.select_related("region", "region__parent").in_bulk(pool)
    queue = iter(pool)

    def take() -> Inspector | None:
        pk = next(queue, None)
        return None if pk is None else people[pk]

    # Valid, expiring in more than 90 days: issued between 5 years less 120 days ago and
    # the end of the year before the first qualification exam.
    earliest = _years_before(today, years) + dt.timedelta(days=120)
    latest = dt.date(report_year - 3, 12, 31)
    span = max((latest - earliest).days, 1)
    valid = []
    for _ in range(HELD_BEFORE):
        person = take()
        if person is None:
            break
        valid.append(_issue(actor, person, earliest + dt.timedelta(days=rng.randrange(span)), made))
    # Expiring within 90, 30 and 7 days.
    for days in EXPIRING_IN:
        person = take()
        if person is not None:
            _issue(actor, person, _years_before(today + dt.timedelta(days=days), years), made)
    # Past their date: the nightly run (at the end of the demo) marks them expired.
    for days in EXPIRED_AGO:
        person = take()
        if person is not None:
            _issue(actor, person, _years_before(today - dt.timedelta(days=days), years), made)

    rng.shuffle(valid)
    chosen = iter(valid[-24:])  # the annual review takes from the front; these stay apart
    for reason in SUSPEND * 2:
        certificate = next(chosen, None)
        if certificate is not None:
            services.certificate_suspend(certificate=certificate, reason=reason, actor=actor)
    for _ in range(2):  # suspended, then reinstated after the inquiry
        certificate = next(chosen, None)
        if certificate is not None:
            services.certificate_suspend(certificate=certificate, reason=SUSPEND[1], actor=actor)
            services.certificate_reinstate(
                certificate=certificate, reason="调查完毕，予以恢复", actor=actor, today=today
            )
    for index, reason in enumerate(REVOKE + REVOKE[:1]):
        certificate = next(chosen, None)
        if certificate is None:
            continue
        if index % 2:
            services.certificate_suspend(certificate=certificate, reason=SUSPEND[0], actor=actor)
        services.certificate_revoke(certificate=certificate, reason=reason, actor=actor)
    for _ in range(6):  # the holder left enforcement work
        certificate = next(chosen, None)
        if certificate is None:
            continue
        holder = certificate.holder
        leaving = InspectorStatus.RETIRED if holder.birth_date.year < 1968 else InspectorStatus.TRANSFERRED
        personnel_services.inspector_update(actor=actor, inspector=holder, data={"status": leaving})
        services.certificate_return(certificate=certificate, reason="", actor=actor)


# --- the annual exam, renewals and the annual review -----------------------------------------


def _annual_exam(actor, province: Region, rng: random.Random, *, today: dt.date, me, made: Counter) -> None:
    """This year's annual exam (six weeks ago) for holders near expiry and a sample of
    others; three of those near expiry who passed renew their certificate."""
    held_on = today - dt.timedelta(days=42)
    title = f"{held_on.year}年度行政执法人员年度考核考试"
    if Exam.objects.filter(title=title).exists():
        return
    exam = services.exam_create(
        actor=actor, title=title, kind=ExamKind.ANNUAL, region=province, parts=list(ANNUAL_PARTS), max_attempts=2
    )
    made["exams"] += 1
    law, practice = (str(p.pk) for p in exam.parts.all())
    held = Certificate.objects.filter(status=S.VALID).order_by("valid_until", "id")
    near = list(held.filter(valid_until__lte=today + dt.timedelta(days=90)).values_list("holder_id", flat=True))
    others = list(held.filter(valid_until__gt=today + dt.timedelta(days=90)).values_list("holder_id", flat=True))
    others = sorted(rng.sample(others, min(40, len(others))))
    people = list(dict.fromkeys([*near, *others, *([me.pk] if me else [])]))
    if me is not None and not Certificate.objects.filter(holder=me, status=S.VALID).exists():
        people.remove(me.pk)
    sitting = services.sitting_create(actor=actor, exam=exam, held_on=held_on, place=PLACE)
    rows = []
    for pk in people:
        if me is not None and pk == me.pk:
            rows.append({"inspector": Inspector(pk=pk), "scores": {law: "41.5", practice: "44.0"}})
        else:
            scores = {law: _score(rng, mean=37, sd=6, top=50), practice: _score(rng, mean=34, sd=7, top=50)}
            rows.append(_row(pk, rng, scores))
    _grade(actor, sitting, rows, made)
    renewed = 0
    for certificate in Certificate.objects.filter(holder_id__in=near, status=S.VALID).order_by("-valid_until"):
        if renewed == 3:
            break
        far_enough = certificate.valid_until - today > dt.timedelta(days=60)  # the nearest ones stay expiring
        if far_enough and services.renewal_eligible(certificate=certificate, today=today)[0]:
            services.certificate_renew(certificate=certificate, actor=actor, today=today)
            renewed += 1
    made["renewed"] += renewed


def _annual_reviews(actor, *, year: int, me, made: Counter) -> None:
    """The report year's 年审 of certificates held that year: those whose holders met the
    hours pass; a smaller number who did not fail, and their certificates are suspended."""
    if AnnualReview.objects.filter(year=year).exists():
        return
    held = Certificate.objects.filter(status__in=HELD, issued_on__year__lte=year).exclude(status=S.SUSPENDED)
    holders = dict(held.values_list("holder_id", "pk"))
    met = dict(inspector_hours_list(actor=actor, year=year).filter(pk__in=list(holders)).values_list("pk", "met"))
    passing = sorted(pk for pk, ok in met.items() if ok)[:REVIEWS_PASSING]
    failing = sorted(pk for pk, ok in met.items() if not ok and (me is None or pk != me.pk))[:REVIEWS_FAILING]
    certificates = Certificate.objects.in_bulk([holders[pk] for pk in passing + failing])
    for certificate in sorted(certificates.values(), key=lambda c: c.pk):
        services.certificate_review(certificate=certificate, year=year, actor=actor)
        made["reviews"] += 1


# --- card photos -------------------------------------------------------------------------------

BACKDROPS = ((67, 142, 219), (255, 255, 255), (214, 40, 40))  # the 证件照 blue, white, red
SUITS = ((34, 40, 49), (44, 62, 80), (25, 25, 35))
SKIN = ((241, 204, 170), (232, 190, 150), (224, 176, 138))


def _portrait(rng: random.Random) -> bytes:
    """A drawn head and shoulders on an ID-photo backdrop (300 x 400 JPEG): the demo has no
    real photos, and a card or an application needs one."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (300, 400), rng.choice(BACKDROPS))
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 270, 280, 520), fill=rng.choice(SUITS))  # shoulders
    draw.polygon([(130, 275), (170, 275), (150, 330)], fill=(250, 250, 250))  # collar
    draw.rectangle((130, 215, 170, 280), fill=rng.choice(SKIN))  # neck
    skin = rng.choice(SKIN)
    draw.ellipse((90, 90, 210, 240), fill=skin)  # face
    draw.chord((85, 70, 215, 190), 180, 360, fill=(30, 30, 30))  # hair
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _photos(actor, rng: random.Random, *, me, made: Counter) -> None:
    """Card photos for the demo inspector's county and the certificate holders of its city,
    through the bulk upload (a zip of <ID number>.jpg): enough to print their cards and apply
    for them; everyone else still has none (an application for them is refused for it)."""
    if me is None:
        return
    county = me.region
    city = county.parent or county
    people = list(
        Inspector.objects.filter(status=InspectorStatus.ACTIVE, photo="")
        .filter(
            Q(region__path__startswith=county.path)
            | Q(certificates__status__in=HELD, region__path__startswith=city.path)
        )
        .distinct()
        .order_by("id")
        .values_list("national_id", flat=True)
    )
    if not people:
        return
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for national_id in people:
            archive.writestr(f"{national_id}.jpg", _portrait(rng))
    result = personnel_services.inspector_photos_import(actor=actor, data=buffer.getvalue())
    if not result.ok:  # the demo's own files: a refusal here is a bug
        raise RuntimeError(f"demo photos refused: {result.errors[:3]}")
    made["photos"] += result.written


# --- an online sitting open now (在线考试) ------------------------------------------------------

ONLINE_PLACE = "在线考试（手机答题）"


def seed_online_sitting(*, stdout=None, today: dt.date | None = None) -> dict:
    """An online sitting of this year's qualification exam, open from yesterday to a week from
    today (60 minutes a paper), so the demo inspector (login ``inspector``), who has not sat
    that exam, can start it on the phone pages. The exams step makes the report year's exams
    (last year's), so this year's is made here, titled with the sitting's own year, with the
    parts, pass mark and paper rules of the newest qualification exam that has rules. After the
    question bank step, which writes the paper rules. A second run adds nothing while such a
    sitting is still open."""
    from .models import SittingMode

    today = today or timezone.localdate()
    actor = get_user_model().objects.get(username="province_admin")
    made = {"online_sittings": 0}
    exam = _this_years_qualification_exam(actor, today=today)
    me = Inspector.objects.filter(user__username="inspector").first()
    if (
        exam is None
        or (me is not None and exam.results.filter(inspector=me).exists())
        or Sitting.objects.filter(exam=exam, mode=SittingMode.ONLINE, closes_at__gt=timezone.now()).exists()
    ):
        return made
    zone = timezone.get_current_timezone()
    opens = dt.datetime.combine(today - dt.timedelta(days=1), dt.time(8, 0), tzinfo=zone)
    closes = dt.datetime.combine(today + dt.timedelta(days=7), dt.time(20, 0), tzinfo=zone)
    services.sitting_create(
        actor=actor,
        exam=exam,
        held_on=today,
        place=ONLINE_PLACE,
        mode=SittingMode.ONLINE,
        opens_at=opens,
        closes_at=closes,
        duration_minutes=60,
    )
    made["online_sittings"] = 1
    if stdout is not None:
        stdout.write(f"在线考试：{exam.title}，{opens:%m-%d %H:%M} 至 {closes:%m-%d %H:%M}，每卷 60 分钟\n")
    return made
