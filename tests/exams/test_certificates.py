"""The certificate state machine through the services: automatic issue on a qualification
pass (once), one held certificate per holder (service and database), every transition and
every refused one with its single event, renewal, annual review against the hours policy,
who may act on whose certificate, and the nightly expiry.

Every service that looks at the calendar gets ``today=``.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction

from core.errors import AccessDenied, Conflict, ValidationFailed
from exams import numbers, services
from exams.models import (
    AnnualReview,
    Certificate,
    CertificateEvent,
    CertificateStatus,
    ExamKind,
    Result,
)
from personnel import services as personnel_services
from personnel.models import InspectorStatus
from tests.factories import InspectorFactory
from tests.training.factories import BatchFactory, CourseFactory, EnrollmentFactory
from training import services as training_services
from training.models import EnrollmentStatus

S = CertificateStatus
Kind = CertificateEvent.Kind
GENERAL, SPECIAL = "通用法律知识", "专门法律知识"
ISSUED_ON = dt.date(2021, 6, 15)
EXPIRES = dt.date(2026, 6, 15)  # ISSUED_ON + 5 years
TODAY = dt.date(2025, 11, 1)


def make_exam(actor, region, *, kind=ExamKind.QUALIFICATION, title="执法资格考试", **extra):
    return services.exam_create(
        actor=actor,
        title=title,
        kind=kind,
        region=region,
        parts=[(GENERAL, Decimal("40")), (SPECIAL, Decimal("60"))],
        **extra,
    )


def take(exam, held_on, inspector, actor, general, special):
    """A sitting of ``exam`` on ``held_on`` and one result in it."""
    sitting = services.sitting_create(actor=actor, exam=exam, held_on=held_on)
    ids = {p.name: str(p.pk) for p in exam.parts.all()}
    return services.result_record(
        sitting=sitting, inspector=inspector, actor=actor, scores={ids[GENERAL]: general, ids[SPECIAL]: special}
    )


def issue(holder, actor=None, issued_on=ISSUED_ON):
    return services.certificate_issue(holder=holder, region=holder.region, actor=actor, issued_on=issued_on)


def events(certificate):
    return list(
        CertificateEvent.objects.filter(certificate=certificate)
        .order_by("id")
        .values_list("kind", "from_status", "to_status", "actor__username", "reason")
    )


def retire(holder, actor):
    return personnel_services.inspector_update(actor=actor, inspector=holder, data={"status": InspectorStatus.RETIRED})


@pytest.fixture
def holder(regions):
    return InspectorFactory(region=regions["changan"], name="王五")


@pytest.fixture
def certificate(holder):
    """A valid certificate of a 长安 inspector, 2021-06-15 to 2026-06-15 (issued by the system)."""
    return issue(holder)


@pytest.fixture
def in_status(certificate, holder, province_admin):
    """Bring ``certificate`` into a status through the services."""

    def _bring(status):
        if status == S.SUSPENDED:
            services.certificate_suspend(certificate=certificate, reason="违规执法", actor=province_admin)
        elif status == S.REVOKED:
            services.certificate_revoke(certificate=certificate, reason="出借证件", actor=province_admin)
        elif status == S.EXPIRED:
            assert services.certificates_expire(today=EXPIRES + dt.timedelta(days=1)) == 1
        elif status == S.RETURNED:
            retire(holder, province_admin)
            services.certificate_return(certificate=certificate, reason="", actor=province_admin)
        certificate.refresh_from_db()
        assert certificate.status == status
        return certificate

    return _bring


# --- issue -----------------------------------------------------------------------------------


def test_passing_the_qualification_exam_issues_a_certificate(regions, holder, province_admin):
    # given
    exam = make_exam(province_admin, regions["province"])
    # when
    result = take(exam, dt.date(2025, 6, 15), holder, province_admin, "30", "40")
    # then
    certificate = Certificate.objects.get(holder=holder)
    assert certificate.source_result == result
    assert certificate.status == S.VALID
    assert certificate.region == regions["province"]
    assert certificate.issued_on == dt.date(2025, 6, 15)
    assert certificate.valid_until == dt.date(2025 + settings.CERTIFICATE_VALIDITY_YEARS, 6, 15)
    assert numbers.is_valid(certificate.number)
    assert certificate.number.startswith("132025")
    # the event names the admin who recorded the passing score
    assert events(certificate) == [(Kind.ISSUED, "", S.VALID, province_admin.username, "通过执法资格考试")]


def test_failing_the_qualification_exam_issues_nothing(regions, holder, province_admin):
    exam = make_exam(province_admin, regions["province"])
    # when
    take(exam, dt.date(2025, 6, 15), holder, province_admin, "20", "39.5")
    # then
    assert not Certificate.objects.exists()


@pytest.mark.parametrize("kind", [ExamKind.COURSE, ExamKind.ANNUAL])
def test_passing_another_kind_of_exam_issues_nothing(regions, holder, province_admin, kind):
    exam = make_exam(province_admin, regions["province"], kind=kind, title="其他考试")
    # when
    take(exam, dt.date(2025, 6, 15), holder, province_admin, "40", "60")
    # then
    assert not Certificate.objects.exists()


def test_a_pass_is_never_issued_twice(regions, holder, province_admin):
    # given: a pass issued a certificate, which was later revoked
    exam = make_exam(province_admin, regions["province"])
    result = take(exam, dt.date(2025, 6, 15), holder, province_admin, "30", "40")
    first = Certificate.objects.get(source_result=result)
    services.certificate_revoke(certificate=first, reason="出借证件", actor=province_admin)
    # when
    again = services.certificate_issue_for_result(result=result, actor=province_admin)
    with pytest.raises(Conflict) as caught:
        services.certificate_issue(
            holder=holder, region=exam.region, actor=province_admin, issued_on=TODAY, source_result=result
        )
    # then
    assert again is None
    assert caught.value.code == "already_issued"
    assert Certificate.objects.filter(holder=holder).count() == 1


def test_re_recording_the_same_passing_score_issues_nothing_more(regions, holder, province_admin):
    # given
    exam = make_exam(province_admin, regions["province"])
    result = take(exam, dt.date(2025, 6, 15), holder, province_admin, "30", "40")
    # when: the same score is saved again (the grid re-saves every row)
    again = services.result_record(
        sitting=result.sitting, inspector=holder, actor=province_admin, scores=result.part_scores
    )
    services.results_record_many(
        sitting=result.sitting, actor=province_admin, rows=[{"inspector": holder, "scores": result.part_scores}]
    )
    # then
    assert again.pk == result.pk
    assert Certificate.objects.filter(holder=holder).count() == 1
    assert CertificateEvent.objects.filter(kind=Kind.ISSUED).count() == 1
    assert result.changes.count() == 1


def test_a_pass_while_holding_a_certificate_issues_no_second_one(regions, holder, certificate, province_admin):
    exam = make_exam(province_admin, regions["province"])
    # when
    result = take(exam, dt.date(2025, 6, 15), holder, province_admin, "30", "40")
    # then
    assert result.passed is True
    assert list(Certificate.objects.filter(holder=holder)) == [certificate]


@pytest.mark.parametrize("held", [S.VALID, S.SUSPENDED])
def test_a_holder_holds_at_most_one_certificate(holder, in_status, province_admin, held):
    # given
    in_status(held)
    # when
    with pytest.raises(Conflict) as caught:
        issue(holder, province_admin, issued_on=TODAY)
    # then
    assert caught.value.code == "already_certified"
    assert Certificate.objects.filter(holder=holder).count() == 1


@pytest.mark.parametrize("held", [S.VALID, S.SUSPENDED])
def test_the_database_refuses_a_second_held_certificate(holder, in_status, held):
    # given
    existing = in_status(held)
    # when: written around the services
    with pytest.raises(IntegrityError), transaction.atomic():
        Certificate.objects.create(
            number=numbers.make(province_prefix="13", year=2025, serial=999),
            holder=holder,
            region=existing.region,
            issued_on=TODAY,
            valid_until=TODAY + dt.timedelta(days=365),
            status=S.VALID,
        )
    # then
    assert Certificate.objects.filter(holder=holder).count() == 1


@pytest.mark.parametrize("ended", [S.REVOKED, S.EXPIRED, S.RETURNED])
def test_a_new_certificate_may_follow_one_that_ended(holder, in_status, province_admin, ended):
    # given
    in_status(ended)
    if ended == S.RETURNED:  # back in enforcement work
        personnel_services.inspector_update(
            actor=province_admin, inspector=holder, data={"status": InspectorStatus.ACTIVE}
        )
    # when
    new = issue(holder, province_admin, issued_on=TODAY)
    # then
    assert new.status == S.VALID
    assert Certificate.objects.filter(holder=holder).count() == 2


def test_an_inspector_not_in_post_gets_no_certificate(regions, province_admin):
    retired = InspectorFactory(region=regions["changan"], status=InspectorStatus.RETIRED)
    # when
    with pytest.raises(Conflict) as caught:
        issue(retired, province_admin)
    # then
    assert caught.value.code == "inspector_inactive"
    assert not Certificate.objects.exists()


def test_numbers_run_on_per_year_of_issue(regions):
    people = [InspectorFactory(region=regions["changan"]) for _ in range(3)]
    # when
    made = [
        issue(people[0], issued_on=dt.date(2025, 1, 2)),
        issue(people[1], issued_on=dt.date(2025, 3, 4)),
        issue(people[2], issued_on=dt.date(2024, 5, 6)),
    ]
    # then
    assert [(c.number[:6], numbers.serial_of(c.number)) for c in made] == [("132025", 1), ("132025", 2), ("132024", 1)]
    assert all(numbers.is_valid(c.number) for c in made)


def test_a_leap_day_issue_is_valid_until_the_28th(regions):
    holder = InspectorFactory(region=regions["changan"])
    # when
    certificate = issue(holder, issued_on=dt.date(2024, 2, 29))
    # then
    assert certificate.valid_until == dt.date(2024 + settings.CERTIFICATE_VALIDITY_YEARS, 2, 28)


# --- transitions -----------------------------------------------------------------------------


def test_suspend_then_reinstate(certificate, province_admin, city_admin):
    # when
    services.certificate_suspend(certificate=certificate, reason="违规执法", actor=province_admin)
    services.certificate_reinstate(certificate=certificate, reason="整改完毕", actor=city_admin, today=TODAY)
    # then
    certificate.refresh_from_db()
    assert certificate.status == S.VALID
    assert events(certificate)[1:] == [
        (Kind.SUSPENDED, S.VALID, S.SUSPENDED, "prov", "违规执法"),
        (Kind.REINSTATED, S.SUSPENDED, S.VALID, "sjz_admin", "整改完毕"),
    ]


@pytest.mark.parametrize("start", [S.VALID, S.SUSPENDED])
def test_revoke_is_final(in_status, province_admin, start):
    certificate = in_status(start)
    before = len(events(certificate))
    # when
    services.certificate_revoke(certificate=certificate, reason="出借证件", actor=province_admin)
    # then
    certificate.refresh_from_db()
    assert certificate.status == S.REVOKED
    assert events(certificate)[before:] == [(Kind.REVOKED, start, S.REVOKED, "prov", "出借证件")]


def test_return_when_the_holder_leaves_enforcement_work(certificate, holder, county_admin):
    # given
    retire(holder, county_admin)
    # when
    services.certificate_return(certificate=certificate, reason="", actor=county_admin)
    # then
    certificate.refresh_from_db()
    assert certificate.status == S.RETURNED
    assert events(certificate)[1:] == [(Kind.RETURNED, S.VALID, S.RETURNED, "changan_admin", "退休")]


def test_return_of_a_transferred_holder_keeps_the_reason_given(certificate, holder, province_admin):
    personnel_services.inspector_update(
        actor=province_admin, inspector=holder, data={"status": InspectorStatus.TRANSFERRED}
    )
    # when
    services.certificate_return(certificate=certificate, reason="调离执法岗位", actor=province_admin)
    # then
    assert events(certificate)[-1] == (Kind.RETURNED, S.VALID, S.RETURNED, "prov", "调离执法岗位")


@pytest.mark.parametrize(
    ("status", "action", "code"),
    [
        (S.REVOKED, "reinstate", "illegal_transition"),
        (S.VALID, "reinstate", "illegal_transition"),
        (S.EXPIRED, "reinstate", "illegal_transition"),
        (S.REVOKED, "renew", "illegal_transition"),
        (S.SUSPENDED, "renew", "illegal_transition"),
        (S.EXPIRED, "renew", "illegal_transition"),
        (S.RETURNED, "renew", "illegal_transition"),
        (S.EXPIRED, "suspend", "illegal_transition"),
        (S.SUSPENDED, "suspend", "illegal_transition"),
        (S.REVOKED, "suspend", "illegal_transition"),
        (S.RETURNED, "suspend", "illegal_transition"),
        (S.REVOKED, "revoke", "illegal_transition"),
        (S.RETURNED, "revoke", "illegal_transition"),
        (S.EXPIRED, "revoke", "illegal_transition"),
        (S.RETURNED, "return", "illegal_transition"),
        (S.REVOKED, "return", "illegal_transition"),
        (S.EXPIRED, "return", "illegal_transition"),
        (S.VALID, "return", "holder_still_active"),
        (S.SUSPENDED, "return", "holder_still_active"),
        (S.REVOKED, "review", "illegal_transition"),
        (S.EXPIRED, "review", "illegal_transition"),
        (S.RETURNED, "review", "illegal_transition"),
    ],
)
def test_a_refused_transition_changes_nothing_and_writes_no_event(in_status, province_admin, status, action, code):
    # given
    certificate = in_status(status)
    before = events(certificate)
    calls = {
        "reinstate": lambda: services.certificate_reinstate(
            certificate=certificate, reason="恢复", actor=province_admin, today=TODAY
        ),
        "renew": lambda: services.certificate_renew(
            certificate=certificate, actor=province_admin, today=EXPIRES - dt.timedelta(days=30)
        ),
        "suspend": lambda: services.certificate_suspend(certificate=certificate, reason="暂扣", actor=province_admin),
        "revoke": lambda: services.certificate_revoke(certificate=certificate, reason="吊销", actor=province_admin),
        "return": lambda: services.certificate_return(certificate=certificate, reason="收回", actor=province_admin),
        "review": lambda: services.certificate_review(certificate=certificate, year=2025, actor=province_admin),
    }
    # when
    with pytest.raises(Conflict) as caught:
        calls[action]()
    # then
    assert caught.value.code == code
    assert str(caught.value.detail)
    certificate.refresh_from_db()
    assert certificate.status == status
    assert events(certificate) == before
    assert not AnnualReview.objects.exists()


def test_reinstate_past_the_validity_is_refused(in_status, province_admin):
    certificate = in_status(S.SUSPENDED)
    # when
    with pytest.raises(Conflict) as caught:
        services.certificate_reinstate(
            certificate=certificate, reason="整改完毕", actor=province_admin, today=EXPIRES + dt.timedelta(days=1)
        )
    # then
    assert caught.value.code == "past_validity"
    certificate.refresh_from_db()
    assert certificate.status == S.SUSPENDED


@pytest.mark.parametrize("reason", ["", "   "])
@pytest.mark.parametrize("action", ["suspend", "revoke"])
def test_suspend_and_revoke_need_a_reason(certificate, province_admin, action, reason):
    act = services.certificate_suspend if action == "suspend" else services.certificate_revoke
    # when
    with pytest.raises(ValidationFailed) as caught:
        act(certificate=certificate, reason=reason, actor=province_admin)
    # then
    assert "reason" in caught.value.fields
    certificate.refresh_from_db()
    assert certificate.status == S.VALID
    assert len(events(certificate)) == 1


def test_reinstate_needs_a_reason(in_status, province_admin):
    certificate = in_status(S.SUSPENDED)
    # when
    with pytest.raises(ValidationFailed):
        services.certificate_reinstate(certificate=certificate, reason="", actor=province_admin, today=TODAY)
    # then
    certificate.refresh_from_db()
    assert certificate.status == S.SUSPENDED


# --- renewal ---------------------------------------------------------------------------------


@pytest.fixture
def annual_exam(regions, province_admin):
    return make_exam(province_admin, regions["province"], kind=ExamKind.ANNUAL, title="2026年度考核考试")


def test_renew_near_expiry_after_a_passed_annual_exam_extends_from_the_old_expiry(
    certificate, holder, annual_exam, province_admin
):
    # given: 40 days before expiry, the annual exam passed two months ago
    today = EXPIRES - dt.timedelta(days=40)
    take(annual_exam, today - dt.timedelta(days=60), holder, province_admin, "30", "40")
    assert services.renewal_eligible(certificate=certificate, today=today) == (True, "")
    # when
    renewed = services.certificate_renew(certificate=certificate, actor=province_admin, today=today)
    # then
    assert renewed.valid_until == dt.date(EXPIRES.year + settings.CERTIFICATE_VALIDITY_YEARS, 6, 15)
    assert renewed.renewal_count == 1
    assert renewed.status == S.VALID
    assert renewed.number == certificate.number
    (kind, from_status, to_status, actor, reason) = events(renewed)[-1]
    assert (kind, from_status, to_status, actor) == (Kind.RENEWED, S.VALID, S.VALID, "prov")
    assert "2026-06-15" in reason and "2031-06-15" in reason
    assert len(events(renewed)) == 2


def test_renew_after_passing_the_qualification_exam_again(regions, certificate, holder, province_admin):
    today = EXPIRES - dt.timedelta(days=10)
    exam = make_exam(province_admin, regions["province"])
    take(exam, today - dt.timedelta(days=100), holder, province_admin, "40", "40")
    # when
    renewed = services.certificate_renew(certificate=certificate, actor=province_admin, today=today)
    # then
    assert renewed.valid_until > EXPIRES


def test_renew_is_refused_before_the_window(certificate, holder, annual_exam, province_admin):
    today = EXPIRES - dt.timedelta(days=settings.CERTIFICATE_RENEWAL_WINDOW_DAYS + 1)
    take(annual_exam, today - dt.timedelta(days=10), holder, province_admin, "30", "40")
    # when
    with pytest.raises(Conflict) as caught:
        services.certificate_renew(certificate=certificate, actor=province_admin, today=today)
    # then
    assert caught.value.code == "not_eligible"
    certificate.refresh_from_db()
    assert (certificate.valid_until, certificate.renewal_count) == (EXPIRES, 0)


def test_renew_is_allowed_on_the_first_day_of_the_window(certificate, holder, annual_exam, province_admin):
    today = EXPIRES - dt.timedelta(days=settings.CERTIFICATE_RENEWAL_WINDOW_DAYS)
    take(annual_exam, today - dt.timedelta(days=10), holder, province_admin, "30", "40")
    # then
    assert services.renewal_eligible(certificate=certificate, today=today)[0] is True


def test_renew_is_refused_without_an_exam_in_the_last_year(certificate, holder, annual_exam, province_admin):
    # given: the only pass is 400 days old
    today = EXPIRES - dt.timedelta(days=30)
    take(annual_exam, today - dt.timedelta(days=400), holder, province_admin, "30", "40")
    # when
    with pytest.raises(Conflict) as caught:
        services.certificate_renew(certificate=certificate, actor=province_admin, today=today)
    # then
    assert caught.value.code == "not_eligible"
    assert len(events(certificate)) == 1


def test_renew_is_refused_when_the_latest_exam_was_failed(regions, certificate, holder, annual_exam, province_admin):
    # given: last year's annual exam passed, this year's failed
    today = EXPIRES - dt.timedelta(days=30)
    take(annual_exam, today - dt.timedelta(days=300), holder, province_admin, "30", "40")
    later = make_exam(province_admin, regions["province"], kind=ExamKind.ANNUAL, title="2027年度考核考试")
    take(later, today - dt.timedelta(days=20), holder, province_admin, "10", "10")
    # when
    ok, why = services.renewal_eligible(certificate=certificate, today=today)
    with pytest.raises(Conflict) as caught:
        services.certificate_renew(certificate=certificate, actor=province_admin, today=today)
    # then
    assert ok is False and why
    assert caught.value.code == "not_eligible"


def test_a_course_exam_does_not_make_a_holder_eligible(regions, certificate, holder, province_admin):
    today = EXPIRES - dt.timedelta(days=30)
    course_exam = make_exam(province_admin, regions["province"], kind=ExamKind.COURSE, title="结业考试")
    take(course_exam, today - dt.timedelta(days=5), holder, province_admin, "40", "60")
    # then
    assert services.renewal_eligible(certificate=certificate, today=today)[0] is False


# --- annual review ---------------------------------------------------------------------------


YEAR = 2025


@pytest.fixture
def policy(regions, province_admin):
    """30 hours a year across the province in 2025."""
    return training_services.hours_policy_set(
        actor=province_admin, region=regions["province"], year=YEAR, required_hours=Decimal("30")
    )


def completed(holder, regions, *, hours, ends_on):
    """A completed enrollment of ``holder`` in a batch of ``hours`` ending on ``ends_on``."""
    course = CourseFactory(hours=Decimal(hours))
    batch = BatchFactory(
        course=course, region=regions["province"], starts_on=ends_on - dt.timedelta(days=2), ends_on=ends_on
    )
    return EnrollmentFactory(batch=batch, inspector=holder, status=EnrollmentStatus.COMPLETED)


def test_annual_review_passes_with_enough_hours(certificate, holder, regions, policy, province_admin):
    # given: 16 + 16 hours completed in batches ending in 2025
    completed(holder, regions, hours="16", ends_on=dt.date(YEAR, 4, 3))
    completed(holder, regions, hours="16", ends_on=dt.date(YEAR, 10, 3))
    # when
    review = services.certificate_review(certificate=certificate, year=YEAR, actor=province_admin)
    # then
    assert (review.passed, review.hours, review.required_hours, review.note) == (True, Decimal("32"), Decimal("30"), "")
    assert review.reviewed_by == province_admin
    certificate.refresh_from_db()
    assert certificate.status == S.VALID
    assert events(certificate)[1:] == [(Kind.REVIEWED, S.VALID, S.VALID, "prov", "2025 年度年审通过")]


def test_annual_review_fails_without_enough_hours_and_suspends(certificate, holder, regions, policy, county_admin):
    # given: 16 hours in 2025, 16 more in a batch that ended in 2024 (which do not count)
    completed(holder, regions, hours="16", ends_on=dt.date(YEAR, 4, 3))
    completed(holder, regions, hours="16", ends_on=dt.date(YEAR - 1, 12, 20))
    # when
    review = services.certificate_review(certificate=certificate, year=YEAR, actor=county_admin)
    # then
    assert (review.passed, review.hours, review.required_hours) == (False, Decimal("16"), Decimal("30"))
    assert "16" in review.note and "30" in review.note
    certificate.refresh_from_db()
    assert certificate.status == S.SUSPENDED
    kinds = [(kind, from_status, to_status, actor) for kind, from_status, to_status, actor, _r in events(certificate)]
    assert kinds[1:] == [
        (Kind.REVIEWED, S.VALID, S.VALID, "changan_admin"),
        (Kind.SUSPENDED, S.VALID, S.SUSPENDED, "changan_admin"),
    ]


def test_annual_review_follows_the_regions_own_policy(certificate, holder, regions, policy, province_admin):
    # given: 石家庄 asks for 40 hours; the holder (长安, under 石家庄) has 32
    training_services.hours_policy_set(
        actor=province_admin, region=regions["sjz"], year=YEAR, required_hours=Decimal("40")
    )
    completed(holder, regions, hours="16", ends_on=dt.date(YEAR, 4, 3))
    completed(holder, regions, hours="16", ends_on=dt.date(YEAR, 10, 3))
    # when
    review = services.certificate_review(certificate=certificate, year=YEAR, actor=province_admin)
    # then
    assert (review.passed, review.required_hours) == (False, Decimal("40"))


def test_annual_review_by_the_system_sees_every_holder(certificate, holder, regions, policy):
    completed(holder, regions, hours="32", ends_on=dt.date(YEAR, 4, 3))
    # when
    review = services.certificate_review(certificate=certificate, year=YEAR, actor=None)
    # then
    assert (review.passed, review.hours) == (True, Decimal("32"))
    assert events(certificate)[-1][3] is None


def test_annual_review_of_a_holder_not_in_post_fails(certificate, holder, regions, policy, province_admin):
    completed(holder, regions, hours="32", ends_on=dt.date(YEAR, 4, 3))
    retire(holder, province_admin)
    # when
    review = services.certificate_review(certificate=certificate, year=YEAR, actor=province_admin)
    # then
    assert review.passed is False
    assert "退休" in review.note
    certificate.refresh_from_db()
    assert certificate.status == S.SUSPENDED


def test_annual_review_is_recorded_once_per_year(certificate, holder, regions, policy, province_admin):
    # given
    services.certificate_review(certificate=certificate, year=YEAR, actor=province_admin)
    count = len(events(certificate))
    # when
    with pytest.raises(Conflict) as caught:
        services.certificate_review(certificate=certificate, year=YEAR, actor=province_admin)
    # then
    assert caught.value.code == "already_reviewed"
    assert AnnualReview.objects.filter(certificate=certificate).count() == 1
    assert len(events(certificate)) == count


def test_a_failed_review_of_a_suspended_certificate_writes_no_second_suspension(
    in_status, holder, policy, province_admin
):
    certificate = in_status(S.SUSPENDED)
    # when
    review = services.certificate_review(certificate=certificate, year=YEAR, actor=province_admin)
    # then
    assert review.passed is False
    assert [e[0] for e in events(certificate)] == [Kind.ISSUED, Kind.SUSPENDED, Kind.REVIEWED]


# --- who may act -----------------------------------------------------------------------------


def test_a_city_admin_cannot_suspend_another_citys_holders_certificate(regions, other_city_admin):
    # given: a 石家庄 holder; the admin is 唐山's
    certificate = issue(InspectorFactory(region=regions["qiaoxi"]))
    # when
    with pytest.raises(AccessDenied):
        services.certificate_suspend(certificate=certificate, reason="违规执法", actor=other_city_admin)
    # then
    certificate.refresh_from_db()
    assert certificate.status == S.VALID
    assert len(events(certificate)) == 1


def test_a_county_admin_cannot_act_on_a_neighbouring_countys_holder(regions, county_admin):
    certificate = issue(InspectorFactory(region=regions["qiaoxi"]))
    # when / then
    with pytest.raises(AccessDenied):
        services.certificate_revoke(certificate=certificate, reason="出借证件", actor=county_admin)
    with pytest.raises(AccessDenied):
        services.certificate_review(certificate=certificate, year=YEAR, actor=county_admin)


def test_an_inspector_cannot_act_on_any_certificate(regions, inspector_user):
    own = issue(inspector_user.inspector)
    # when / then
    with pytest.raises(AccessDenied):
        services.certificate_suspend(certificate=own, reason="自行暂扣", actor=inspector_user)
    with pytest.raises(AccessDenied):
        services.certificate_issue(
            holder=InspectorFactory(region=regions["changan"]),
            region=regions["changan"],
            actor=inspector_user,
            issued_on=TODAY,
        )


def test_the_city_admin_of_the_holder_may_suspend(certificate, city_admin):
    # when
    services.certificate_suspend(certificate=certificate, reason="违规执法", actor=city_admin)
    # then
    certificate.refresh_from_db()
    assert certificate.status == S.SUSPENDED


# --- nightly expiry --------------------------------------------------------------------------


def test_expiry_marks_past_date_valid_and_suspended_certificates_once(regions, province_admin):
    # given: two past their date (one valid, one suspended), one expiring today, one revoked past its date
    people = [InspectorFactory(region=regions["changan"]) for _ in range(4)]
    past_valid = issue(people[0], issued_on=dt.date(2020, 10, 1))
    past_suspended = issue(people[1], issued_on=dt.date(2020, 10, 2))
    services.certificate_suspend(certificate=past_suspended, reason="违规执法", actor=province_admin)
    today_last = issue(people[2], issued_on=dt.date(2020, 11, 1))
    revoked = issue(people[3], issued_on=dt.date(2020, 9, 1))
    services.certificate_revoke(certificate=revoked, reason="出借证件", actor=province_admin)
    # when
    first = services.certificates_expire(today=TODAY)
    second = services.certificates_expire(today=TODAY)
    # then
    assert (first, second) == (2, 0)
    status = dict(Certificate.objects.values_list("pk", "status"))
    assert status == {
        past_valid.pk: S.EXPIRED,
        past_suspended.pk: S.EXPIRED,
        today_last.pk: S.VALID,
        revoked.pk: S.REVOKED,
    }
    expired_events = CertificateEvent.objects.filter(kind=Kind.EXPIRED).values_list(
        "certificate_id", "from_status", "to_status", "actor"
    )
    assert sorted(expired_events) == sorted(
        [(past_valid.pk, S.VALID, S.EXPIRED, None), (past_suspended.pk, S.SUSPENDED, S.EXPIRED, None)]
    )


def test_expiry_with_nothing_due_returns_zero(certificate):
    assert services.certificates_expire(today=TODAY) == 0
    assert list(CertificateEvent.objects.values_list("kind", flat=True)) == [Kind.ISSUED]


def test_results_are_not_touched_by_the_certificate_lifecycle(regions, holder, province_admin):
    # given: a certificate issued from a pass, then revoked and expired
    exam = make_exam(province_admin, regions["province"])
    result = take(exam, dt.date(2020, 6, 15), holder, province_admin, "30", "40")
    certificate = Certificate.objects.get(source_result=result)
    # when
    services.certificates_expire(today=TODAY)
    # then
    certificate.refresh_from_db()
    assert certificate.status == S.EXPIRED
    assert Result.objects.get(pk=result.pk).passed is True


def test_an_admin_cannot_record_a_score_for_someone_outside_their_region(regions, city_admin):
    # given: a sitting of 石家庄 without a batch (open to anyone in scope), and a 唐山 inspector
    from core.errors import NotFound
    from tests.exams.factories import ExamFactory, SittingFactory

    sitting = SittingFactory(exam=ExamFactory(region=regions["sjz"]))
    outsider = InspectorFactory(region=regions["lunan"])
    part_ids = [str(p.pk) for p in sitting.exam.parts.all()]
    # when / then
    with pytest.raises(NotFound):
        services.result_record(
            sitting=sitting, inspector=outsider, actor=city_admin, scores=dict.fromkeys(part_ids, "10")
        )
