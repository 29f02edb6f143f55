"""Certificate applications (申请): every kind through its chain, the refusals, the levels."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from core.errors import AccessDenied, Conflict, NotFound, ValidationFailed
from exams import applications as apps
from exams import rules, selectors
from exams.models import (
    AnnualReview,
    AnnualReviewWindow,
    ApplicationEvent,
    ApplicationKind,
    ApplicationState,
    ApprovalChain,
    CertificateApplication,
    CertificateEvent,
    CertificateStatus,
)
from personnel.models import Inspector, InspectorStatus, Sector
from tests.exams.factories import CertificateFactory, ResultFactory, SittingFactory, record
from tests.factories import InspectorFactory, RegionAdminFactory
from training.models import HoursPolicy

K = ApplicationKind
TODAY = dt.date(2026, 6, 1)


@pytest.fixture
def chains(db):
    """The seeded chains (county -> city -> province for most kinds)."""
    return dict(ApprovalChain.objects.values_list("kind", "levels"))


@pytest.fixture
def holder(regions):
    person = InspectorFactory(region=regions["changan"], name="李四")
    Inspector.objects.filter(pk=person.pk).update(photo="photos/lisi.jpg")
    person.refresh_from_db()
    return person


@pytest.fixture
def certificate(holder):
    return CertificateFactory(holder=holder, issued_on=dt.date(2022, 7, 1), valid_until=dt.date(2026, 7, 1))


def approve_through(application, *admins, today=TODAY):
    for admin in admins:
        application = apps.application_approve(actor=admin, application=application, today=today)
    return application


def test_seeded_chains_cover_every_kind(chains):
    assert set(chains) == set(K.values)
    assert chains["issue"] == "county,city,province"


def test_levels_skip_those_below_the_inspector():
    assert rules.application_levels(chain="county,city,province", region_level="city") == ["city", "province"]
    assert rules.application_levels(chain="county,city", region_level="province") == ["province"]
    assert rules.next_level(levels=["county", "city"], level="county") == "city"
    assert rules.next_level(levels=["county", "city"], level="city") is None


def test_issue_on_pass_opens_an_application_when_so_set(settings, regions, province_admin, holder):
    # given
    settings.CERTIFICATE_ON_PASS = "application"
    sitting = SittingFactory(exam__region=regions["province"])
    # when
    result = record(sitting, holder, province_admin, 35, 50)
    # then
    application = CertificateApplication.objects.get(inspector=holder)
    assert application.kind == K.ISSUE and application.source_result == result
    assert application.level == "county" and application.levels == "county,city,province"
    assert not holder.certificates.exists()
    assert application.events.get().kind == ApplicationEvent.Kind.SUBMITTED


def test_issue_at_once_when_so_set(settings, regions, province_admin, holder):
    settings.CERTIFICATE_ON_PASS = "issue"
    sitting = SittingFactory(exam__region=regions["province"])
    record(sitting, holder, province_admin, 35, 50)
    assert holder.certificates.count() == 1
    assert not CertificateApplication.objects.exists()


def test_issue_through_county_city_province(
    regions, county_admin, city_admin, province_admin, holder, django_capture_on_commit_callbacks
):
    # given a pass of the qualification exam
    result = ResultFactory(inspector=holder, sitting__exam__region=regions["province"], sitting__held_on=TODAY)
    # when the county applies and every level approves
    application = apps.application_create(actor=county_admin, kind=K.ISSUE, inspector=holder, today=TODAY)
    assert application.source_result == result
    application = approve_through(application, county_admin, city_admin)
    assert application.state == ApplicationState.PENDING and application.level == "province"
    assert not holder.certificates.exists()
    application = approve_through(application, province_admin)
    # then the certificate is issued, its event naming the application
    application.refresh_from_db()
    assert application.state == ApplicationState.APPROVED and application.level == ""
    certificate = holder.certificates.get()
    assert application.certificate == certificate and certificate.source_result == result
    assert certificate.events.get(kind=CertificateEvent.Kind.ISSUED).application == application
    kinds = list(application.events.values_list("kind", "level"))
    assert kinds == [
        ("submitted", "county"),
        ("approved", "county"),
        ("approved", "city"),
        ("approved", "province"),
        ("carried_out", "province"),
    ]


def test_a_level_not_held_cannot_approve(regions, county_admin, city_admin, other_city_admin, holder, certificate):
    # given an application waiting at county level
    application = apps.application_create(
        actor=county_admin, kind=K.REPLACE, inspector=holder, reason="lost", today=TODAY
    )
    assert application.level == "city"  # 补办 is city -> province
    # a county admin cannot approve at city level, even its own application
    with pytest.raises(AccessDenied) as exc:
        apps.application_approve(actor=county_admin, application=application)
    assert exc.value.code == "level_not_held"
    # another city does not even see it
    with pytest.raises(NotFound):
        apps.application_approve(actor=other_city_admin, application=application)
    apps.application_approve(actor=city_admin, application=application)


def test_apply_outside_scope_is_refused(regions, county_admin, certificate):
    stranger = InspectorFactory(region=regions["lunan"])
    with pytest.raises(NotFound):
        apps.application_create(actor=county_admin, kind=K.REVIEW, inspector=stranger, year=2025)


def test_inspector_cannot_apply(inspector_user, holder):
    with pytest.raises(AccessDenied):
        apps.application_create(actor=inspector_user, kind=K.REVIEW, inspector=holder, year=2025)


def test_review_refused_without_the_hours_then_applied_and_approved(
    regions, county_admin, city_admin, holder, certificate
):
    # given no hours in 2025 (60 required by default)
    with pytest.raises(Conflict) as exc:
        apps.application_create(actor=county_admin, kind=K.REVIEW, inspector=holder, year=2025, today=TODAY)
    assert exc.value.code == "hours_not_met"
    # when the policy asks none
    HoursPolicy.objects.create(region=regions["province"], year=2025, required_hours=Decimal("0"))
    application = apps.application_create(actor=county_admin, kind=K.REVIEW, inspector=holder, year=2025)
    approve_through(application, county_admin, city_admin)
    # then the review is recorded, its event naming the application
    review = AnnualReview.objects.get(certificate=certificate, year=2025)
    assert review.passed
    assert certificate.events.get(kind="reviewed").application_id == application.pk


def test_every_refusal_is_given_at_once(regions, county_admin, holder, certificate):
    # given an inactive holder whose certificate is suspended and who has no photo
    Inspector.objects.filter(pk=holder.pk).update(status=InspectorStatus.ON_LEAVE, photo="")
    holder.refresh_from_db()
    certificate.status = CertificateStatus.SUSPENDED
    certificate.save()
    # when
    with pytest.raises(Conflict) as exc:
        apps.application_create(actor=county_admin, kind=K.REPLACE, inspector=holder, reason="lost")
    # then
    assert exc.value.fields["reasons"] == [
        "李四 不在岗。",
        "李四 没有照片。",
        "证件状态为“暂扣”，不能申请。",
    ]


def test_one_open_application_per_inspector(regions, county_admin, holder, certificate):
    apps.application_create(actor=county_admin, kind=K.REPLACE, inspector=holder, reason="damaged")
    with pytest.raises(Conflict) as exc:
        apps.application_create(actor=county_admin, kind=K.CANCEL, inspector=holder, reason="retired")
    assert exc.value.code == "open_application"


def test_revoked_card_refuses(regions, county_admin, holder, certificate):
    certificate.status = CertificateStatus.REVOKED
    certificate.save()
    with pytest.raises(Conflict) as exc:
        apps.application_create(actor=county_admin, kind=K.ISSUE, inspector=holder)
    assert exc.value.code == "certificate_revoked"


def test_renew_through_its_chain(regions, county_admin, city_admin, province_admin, holder, certificate):
    # given a pass within the year and the certificate within 90 days of expiry
    ResultFactory(inspector=holder, sitting__exam__region=regions["province"], sitting__held_on=dt.date(2026, 3, 1))
    # when
    application = apps.application_create(actor=county_admin, kind=K.RENEW, inspector=holder, today=TODAY)
    approve_through(application, county_admin, city_admin, province_admin)
    # then
    certificate.refresh_from_db()
    assert certificate.valid_until == dt.date(2031, 7, 1)
    assert certificate.events.get(kind="renewed").application_id == application.pk


def test_renew_refused_too_early(regions, county_admin, holder):
    CertificateFactory(holder=holder, issued_on=dt.date(2025, 1, 1), valid_until=dt.date(2030, 1, 1))
    with pytest.raises(Conflict) as exc:
        apps.application_create(actor=county_admin, kind=K.RENEW, inspector=holder, today=TODAY)
    assert "尚不能换发" in exc.value.detail


def test_replace_keeps_the_number_and_voids_the_old_card(regions, city_admin, province_admin, holder, certificate):
    application = apps.application_create(actor=city_admin, kind=K.REPLACE, inspector=holder, reason="lost")
    approve_through(application, city_admin, province_admin)
    certificate.refresh_from_db()
    assert certificate.card_edition == 2 and certificate.status == CertificateStatus.VALID
    assert "遗失" in certificate.events.get(kind="replaced").reason


def test_replace_needs_a_reason(regions, city_admin, holder, certificate):
    with pytest.raises(ValidationFailed) as exc:
        apps.application_create(actor=city_admin, kind=K.REPLACE, inspector=holder)
    assert exc.value.code == "reason_required"


def test_change_moves_the_holder(regions, county_admin, city_admin, province_admin, holder, certificate):
    application = apps.application_create(
        actor=city_admin,
        kind=K.CHANGE,
        inspector=holder,
        new_region=regions["qiaoxi"],
        new_sector=Sector.NON_COAL_MINE,
        new_unit="桥西区应急管理局执法大队",
    )
    approve_through(application, county_admin, city_admin, province_admin)
    holder.refresh_from_db()
    assert holder.region == regions["qiaoxi"] and holder.sector == Sector.NON_COAL_MINE
    assert holder.unit == "桥西区应急管理局执法大队"
    assert certificate.events.get(kind="changed").application_id == application.pk


def test_change_with_nothing_to_change_is_refused(regions, county_admin, holder, certificate):
    with pytest.raises(Conflict) as exc:
        apps.application_create(actor=county_admin, kind=K.CHANGE, inspector=holder, new_sector=holder.sector)
    assert exc.value.code == "no_change"


def test_change_to_a_region_outside_scope_is_refused(regions, county_admin, holder, certificate):
    with pytest.raises(AccessDenied):
        apps.application_create(actor=county_admin, kind=K.CHANGE, inspector=holder, new_region=regions["lunan"])


def test_cancel_on_retirement(regions, county_admin, city_admin, holder, certificate):
    Inspector.objects.filter(pk=holder.pk).update(status=InspectorStatus.RETIRED)
    holder.refresh_from_db()
    application = apps.application_create(actor=county_admin, kind=K.CANCEL, inspector=holder, reason="retired")
    approve_through(application, county_admin, city_admin)
    certificate.refresh_from_db()
    assert certificate.status == CertificateStatus.CANCELLED
    event = certificate.events.get(kind="cancelled")
    assert event.reason == "退休" and event.application_id == application.pk


def test_return_needs_a_comment_and_closes(regions, county_admin, city_admin, holder, certificate):
    application = apps.application_create(actor=county_admin, kind=K.CANCEL, inspector=holder, reason="retired")
    with pytest.raises(ValidationFailed):
        apps.application_return(actor=county_admin, application=application, comment=" ")
    application = apps.application_return(actor=county_admin, application=application, comment="材料不全")
    assert application.state == ApplicationState.RETURNED
    assert application.events.last().comment == "材料不全"
    with pytest.raises(Conflict):
        apps.application_approve(actor=city_admin, application=application)
    # the unit may apply again
    apps.application_create(actor=county_admin, kind=K.CANCEL, inspector=holder, reason="retired")


def test_withdraw(regions, county_admin, holder, certificate):
    application = apps.application_create(actor=county_admin, kind=K.CANCEL, inspector=holder, reason="retired")
    application = apps.application_withdraw(actor=county_admin, application=application)
    assert application.state == ApplicationState.WITHDRAWN
    assert application.events.last().kind == "withdrawn"


def test_chain_configured_in_the_admin_is_followed(regions, city_admin, holder, certificate):
    ApprovalChain.objects.filter(kind=K.REPLACE).update(levels="city")
    application = apps.application_create(actor=city_admin, kind=K.REPLACE, inspector=holder, reason="damaged")
    application = apps.application_approve(actor=city_admin, application=application)
    assert application.state == ApplicationState.APPROVED


def test_batch_answers_each(regions, county_admin, holder, certificate):
    # given one eligible and one without a certificate, one outside scope
    bare = InspectorFactory(region=regions["changan"])
    stranger = InspectorFactory(region=regions["lunan"])
    # when
    outcome = apps.applications_create(
        actor=county_admin, kind=K.CANCEL, inspectors=[holder, bare, stranger], reason="transferred"
    )
    # then
    assert [a.inspector_id for a in outcome.done] == [holder.pk]
    assert {r.key: r.code for r in outcome.refused} == {bare.pk: "no_certificate", stranger.pk: "not_found"}
    assert CertificateApplication.objects.count() == 1


def _no_hours_required(regions):
    HoursPolicy.objects.get_or_create(region=regions["province"], year=2025, defaults={"required_hours": Decimal("0")})


def _reviews(regions, n, admin):
    _no_hours_required(regions)
    people = [InspectorFactory(region=regions["changan"]) for _ in range(n)]
    for person in people:
        CertificateFactory(holder=person)
    return apps.applications_create(actor=admin, kind=K.REVIEW, inspectors=people, year=2025).done


def test_bulk_approval_statements_do_not_grow(regions, county_admin, city_admin):
    # given 3 and 12 reviews approved at county level
    few = [a.pk for a in _reviews(regions, 3, county_admin)]
    many = [a.pk for a in _reviews(regions, 12, county_admin)]
    apps.applications_approve(actor=county_admin, ids=few + many)
    apps.actor_level(city_admin)  # the actor's scope is read once and kept on the user
    # when the city approves (the last level: the reviews are carried out)
    with CaptureQueriesContext(connection) as small:
        apps.applications_approve(actor=city_admin, ids=few)
    with CaptureQueriesContext(connection) as large:
        outcome = apps.applications_approve(actor=city_admin, ids=many)
    # then
    assert not outcome.refused and len(outcome.done) == 12
    assert AnnualReview.objects.filter(year=2025).count() == 15
    assert len(large) == len(small)


def test_bulk_approval_refuses_only_the_bad_ones(regions, county_admin, city_admin):
    done = _reviews(regions, 3, county_admin)
    ids = [a.pk for a in done]
    apps.applications_approve(actor=county_admin, ids=ids)
    # one of them was reviewed meanwhile
    AnnualReview.objects.create(
        certificate_id=done[0].certificate_id, year=2025, passed=True, hours=0, required_hours=0
    )
    outcome = apps.applications_approve(actor=city_admin, ids=[*ids, 999999])
    assert sorted(a.pk for a in outcome.done) == sorted(ids[1:])
    assert {r.key: r.code for r in outcome.refused} == {ids[0]: "already_reviewed", 999999: "not_found"}
    assert CertificateApplication.objects.get(pk=ids[0]).state == ApplicationState.PENDING


def test_annual_review_progress_colours(regions, county_admin, city_admin, province_admin):
    done = _reviews(regions, 2, county_admin)
    CertificateFactory(holder=InspectorFactory(region=regions["lunan"]))
    apps.applications_approve(actor=county_admin, ids=[done[0].pk])
    apps.applications_approve(actor=city_admin, ids=[done[0].pk])
    AnnualReviewWindow.objects.create(year=2025, opens_on=dt.date(2025, 1, 1), deadline=dt.date(2025, 12, 31))
    rows = {r["region"]: r for r in selectors.annual_review_progress(actor=province_admin, year=2025, today=TODAY)}
    assert rows["130100"]["due"] == 2 and rows["130100"]["applied"] == 2 and rows["130100"]["approved"] == 1
    assert rows["130100"]["colour"] == "red" and rows["130100"]["overdue"] == 1
    assert rows["130200"]["applied"] == 0 and rows["130200"]["due"] == 1
    early = selectors.annual_review_progress(actor=province_admin, year=2025, today=dt.date(2025, 5, 1))
    assert {r["colour"] for r in early} == {"green"}
    amber = selectors.annual_review_progress(actor=province_admin, year=2025, today=dt.date(2025, 11, 1))
    assert {r["colour"] for r in amber} == {"amber"}
    # a city admin sees its own city only
    assert [r["region"] for r in selectors.annual_review_progress(actor=city_admin, year=2025)] == ["130100"]


def test_application_list_is_scoped(regions, county_admin, other_city_admin, inspector_user, holder, certificate):
    apps.application_create(actor=county_admin, kind=K.REPLACE, inspector=holder, reason="lost")
    assert selectors.application_list(actor=county_admin).count() == 1
    assert selectors.application_list(actor=other_city_admin).count() == 0
    assert selectors.application_list(actor=inspector_user).count() == 0
    city = RegionAdminFactory(region=regions["sjz"]).user
    assert selectors.application_list(actor=city, filters={"awaiting": True}).count() == 1
    assert selectors.application_list(actor=county_admin, filters={"awaiting": True}).count() == 0


def test_reminders_go_to_the_admins_who_must_act(regions, county_admin, city_admin, holder, certificate, mailoutbox):
    # given an application waiting at county level and a red annual review in 石家庄
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    users.filter(pk=county_admin.pk).update(email="county@example.org")
    users.filter(pk=city_admin.pk).update(email="city@example.org")
    apps.application_create(actor=county_admin, kind=K.CANCEL, inspector=holder, reason="retired")
    AnnualReviewWindow.objects.create(year=TODAY.year, opens_on=dt.date(2026, 1, 1), deadline=dt.date(2026, 5, 1))
    # when
    run = apps.application_reminders_send(today=TODAY)
    # then
    assert run.sent == 2
    by_to = {m.to[0]: m.body for m in mailoutbox}
    assert "有 1 件证件申请待您审批。" in by_to["county@example.org"]
    assert "石家庄市 2026 年度年审已逾期" in by_to["city@example.org"]


def test_the_beat_schedules_the_reminders(settings):
    from exams import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["exams-application-reminders"]
    assert entry["task"] == tasks.send_application_reminders.name


def test_the_inspector_sees_their_applications_on_me(
    client, api_client, regions, county_admin, inspector_user, django_assert_max_num_queries
):
    # given two applications of the signed-in inspector, one returned
    me = Inspector.objects.get(user=inspector_user)
    CertificateFactory(holder=me)
    first = apps.application_create(actor=county_admin, kind=K.CANCEL, inspector=me, reason="retired")
    apps.application_return(actor=county_admin, application=first, comment="材料不全")
    apps.application_create(actor=county_admin, kind=K.CANCEL, inspector=me, reason="transferred")
    # when
    api_client.force_authenticate(inspector_user)
    body = api_client.get("/api/v1/me/").json()
    client.force_login(inspector_user)
    page = client.get("/me/").content.decode()
    # then: the latest first, with state and level
    assert [(a["kind"], a["state"], a["level"]) for a in body["applications"]] == [
        ("cancel", "pending", "county"),
        ("cancel", "returned", ""),
    ]
    assert body["applications"][0]["level_display"] == "县级" == apps.level_label("county")
    assert 'id="applications"' in page and "已退回" in page and "审批中" in page and "<td>县级</td>" in page


def test_the_approval_level_has_one_name_in_the_active_language():
    # /me/, the API, the admin and the refusal all name a level through apps.level_label
    assert [apps.level_label(lv) for lv in ("county", "city", "province", "")] == ["县级", "市级", "省级", ""]
    with translation.override("en"):
        assert apps.level_label("city") == "City level"


def test_a_missing_chain_comes_back_after_migrate_or_flush_and_an_edited_one_stays(db):
    # given: the table emptied of one kind (a flush empties it all), another edited
    ApprovalChain.objects.filter(kind=K.REPLACE).delete()
    ApprovalChain.objects.filter(kind=K.ISSUE).update(levels="city")
    # then: until restored, the kind's default is used
    assert apps.chain_for(K.REPLACE) == "city,province"
    # when: post_migrate (sent after every migrate and flush)
    from django.apps import apps as django_apps
    from django.db.models.signals import post_migrate

    config = django_apps.get_app_config("exams")
    post_migrate.send(sender=config, app_config=config, verbosity=0, interactive=False, using="default")
    # then
    chains = dict(ApprovalChain.objects.values_list("kind", "levels"))
    assert chains[K.REPLACE] == "city,province"
    assert chains[K.ISSUE] == "city"
    assert set(chains) == set(K.values)
