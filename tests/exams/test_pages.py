"""The inspector's own page ``/me/`` and its JSON twin ``/api/v1/me/``: what they show,
the colours of the certificate, that an inspector sees only themself, the login page,
and that the number of queries does not grow with the data."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from exams import services
from exams.models import Certificate, ExamKind
from personnel.models import Inspector
from tests.factories import InspectorFactory, UserFactory
from tests.training.factories import BatchFactory, CourseFactory, EnrollmentFactory
from training.models import EnrollmentStatus

GENERAL, SPECIAL = "通用法律知识", "专门法律知识"


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def today():
    return timezone.localdate()


@pytest.fixture
def me(inspector_user) -> Inspector:
    return inspector_user.inspector


def issue(inspector, regions, *, days_left: int = 1000):
    """A certificate through the service that runs out exactly ``days_left`` days from today."""
    until = timezone.localdate() + dt.timedelta(days=days_left)
    years = settings.CERTIFICATE_VALIDITY_YEARS
    # 29 February has no twin some years earlier: issue from the 28th, then give the exact date
    # (a day off turned a certificate due in 91 days amber, and one due today red, near leap days)
    day = 28 if (until.month, until.day) == (2, 29) else until.day
    certificate = services.certificate_issue(
        holder=inspector, region=regions["sjz"], actor=None, issued_on=until.replace(year=until.year - years, day=day)
    )
    Certificate.objects.filter(pk=certificate.pk).update(valid_until=until)
    certificate.refresh_from_db()
    return certificate


def make_exam(regions, *, title="年度考核考试", kind=ExamKind.ANNUAL, max_attempts=3):
    return services.exam_create(
        actor=None,
        title=title,
        kind=kind,
        region=regions["province"],
        parts=[(GENERAL, Decimal("40")), (SPECIAL, Decimal("60"))],
        max_attempts=max_attempts,
    )


def sit(exam, inspector, held_on, general, special):
    sitting = services.sitting_create(actor=None, exam=exam, held_on=held_on, place="省应急管理厅考点")
    ids = {p.name: str(p.pk) for p in exam.parts.all()}
    return services.result_record(
        sitting=sitting, inspector=inspector, actor=None, scores={ids[GENERAL]: general, ids[SPECIAL]: special}
    )


def completed_hours(inspector, today, hours="16.0"):
    course = CourseFactory(hours=Decimal(hours))
    batch = BatchFactory(course=course, starts_on=dt.date(today.year, 1, 5), ends_on=dt.date(today.year, 1, 6))
    return EnrollmentFactory(batch=batch, inspector=inspector, status=EnrollmentStatus.COMPLETED)


def upcoming(inspector, today, *, days_ahead=10, status=EnrollmentStatus.ENROLLED, position=None, title=None):
    course = CourseFactory(**({"title": title} if title else {}))
    batch = BatchFactory(course=course, starts_on=today + dt.timedelta(days=days_ahead))
    return EnrollmentFactory(batch=batch, inspector=inspector, status=status, waitlist_position=position)


def page(client, user):
    client.force_login(user)
    response = client.get(reverse("me"))
    assert response.status_code == 200
    return response.content.decode()


def certificate_tone(html: str) -> str:
    return re.search(r'id="certificate" data-tone="(\w+)"', html).group(1)


# --- what the page shows ----------------------------------------------------------------------


def test_page_shows_certificate_countdown_hours_batches_and_results(client, inspector_user, me, regions, today):
    # given
    certificate = issue(me, regions, days_left=400)
    completed_hours(me, today, hours="16.0")
    upcoming(me, today, title="执法全过程记录专题培训")
    upcoming(me, today, days_ahead=20, status=EnrollmentStatus.WAITLISTED, position=2, title="法制审核专题培训")
    exam = make_exam(regions)
    sit(exam, me, today - dt.timedelta(days=60), "20", "30")  # 50: failed, attempt 1
    sit(exam, me, today - dt.timedelta(days=30), "35", "40")  # 75: passed, attempt 2

    # when
    html = page(client, inspector_user)

    # then: the certificate, green, with its countdown and QR
    assert '<meta charset="utf-8">' in html
    assert 'name="viewport"' in html
    assert certificate_tone(html) == "green"
    assert 'data-status="valid">有效<' in html
    assert certificate.number in html
    assert "石家庄市" in html
    assert "距有效期届满还有 400 天" in html
    assert 'data-days-left="400"' in html
    assert "<svg" in html
    assert f"/verify/{certificate.number}/" in html
    # hours against the required 60 as a bar
    assert 'role="progressbar"' in html
    assert 'aria-valuenow="16"' in html
    assert 'aria-valuemax="60"' in html
    assert '<rect width="26%"' in html
    assert "还差 44 学时" in html
    # upcoming batches, the waitlist position and the calendar link
    assert "执法全过程记录专题培训" in html
    assert "法制审核专题培训" in html
    assert "候补第 2 位" in html
    token = me.calendar_token.token
    assert f"/calendar/{token}.ics" in html
    assert f"webcal://testserver/calendar/{token}.ics" in html
    # results with attempts
    assert "年度考核考试" in html
    assert "第 1 次 / 共 3 次" in html
    assert "第 2 次 / 共 3 次" in html
    assert 'tone-red">不合格<' in html
    assert 'tone-green">合格<' in html


def test_past_batches_and_cancelled_enrollments_are_not_upcoming(client, inspector_user, me, today):
    # given
    upcoming(me, today, days_ahead=-30, title="去年的培训")
    upcoming(me, today, status=EnrollmentStatus.CANCELLED, title="已取消的培训")
    upcoming(me, today, days_ahead=-1, title="正在进行的培训")  # three days long: runs until tomorrow

    # when
    html = page(client, inspector_user)

    # then
    assert "去年的培训" not in html
    assert "已取消的培训" not in html
    assert "正在进行的培训" in html
    assert "进行中" in html


def test_hours_bar_is_full_and_green_when_the_hours_are_met(client, inspector_user, me, today):
    # given
    for _ in range(4):
        completed_hours(me, today, hours="16.0")

    # when
    html = page(client, inspector_user)

    # then
    assert 'aria-valuenow="64"' in html
    assert '<rect width="100%"' in html
    assert "bar-met" in html
    assert "已达标" in html


def test_absent_is_shown_and_uses_no_attempt(client, inspector_user, me, regions, today):
    # given
    exam = make_exam(regions)
    sitting = services.sitting_create(actor=None, exam=exam, held_on=today - dt.timedelta(days=5))
    services.result_record(sitting=sitting, inspector=me, actor=None, absent=True)

    # when
    html = page(client, inspector_user)

    # then
    assert "缺考" in html
    assert "不计次数" in html


# --- colours --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days_left", "tone"),
    [(400, "green"), (91, "green"), (90, "amber"), (30, "amber"), (0, "amber")],
)
def test_valid_certificate_turns_amber_in_its_last_90_days(client, inspector_user, me, regions, days_left, tone):
    # given
    issue(me, regions, days_left=days_left)

    # when
    html = page(client, inspector_user)

    # then
    assert certificate_tone(html) == tone
    assert f"tone-{tone}" in html


def test_suspended_certificate_is_red(client, inspector_user, me, regions):
    certificate = issue(me, regions, days_left=400)
    services.certificate_suspend(certificate=certificate, reason="案卷评查不合格", actor=None)

    html = page(client, inspector_user)

    assert certificate_tone(html) == "red"
    assert "暂扣" in html


def test_revoked_certificate_is_red(client, inspector_user, me, regions):
    certificate = issue(me, regions, days_left=400)
    services.certificate_revoke(certificate=certificate, reason="出借证件", actor=None)

    html = page(client, inspector_user)

    assert certificate_tone(html) == "red"
    assert "证件已吊销" in html


def test_expired_certificate_is_red_with_days_past(client, inspector_user, me, regions, today):
    # given: run out ten days ago, then the nightly sweep
    issue(me, regions, days_left=-10)
    services.certificates_expire(today=today)

    # when
    html = page(client, inspector_user)

    # then
    assert certificate_tone(html) == "red"
    assert "过期" in html
    assert "已超过有效期 10 天" in html


def test_valid_but_past_its_date_is_red_before_the_sweep(client, inspector_user, me, regions):
    issue(me, regions, days_left=-1)

    html = page(client, inspector_user)

    assert certificate_tone(html) == "red"


def test_no_certificate_is_grey(client, inspector_user, me):
    html = page(client, inspector_user)

    assert certificate_tone(html) == "grey"
    assert "未持证" in html


# --- who sees what ------------------------------------------------------------------------------


def test_an_inspector_sees_only_themself(client, api_client, inspector_user, me, regions, today):
    # given: a colleague in the same county with a certificate, results and batches
    other = InspectorFactory(name="李四光", region=regions["changan"], user=UserFactory(username="inspector2"))
    theirs = issue(other, regions, days_left=50)
    exam = make_exam(regions, title="李四光参加的考试")
    sit(exam, other, today - dt.timedelta(days=3), "30", "40")
    upcoming(other, today, title="李四光报名的培训")
    completed_hours(other, today)
    mine = issue(me, regions, days_left=400)

    # when
    html = page(client, inspector_user)
    api_client.force_authenticate(inspector_user)
    body = api_client.get(reverse("api-me")).content.decode()

    # then
    for text in (html, body):
        assert mine.number in text
        assert theirs.number not in text
        assert "李四光" not in text
        assert other.national_id not in text


def test_anonymous_is_sent_to_the_login_page(client, db):
    response = client.get(reverse("me"))

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/me/"


def test_an_admin_gets_a_polite_page_with_a_link_to_the_admin(client, city_admin):
    html = page(client, city_admin)

    assert "此页面供执法人员使用" in html
    assert 'href="/admin/"' in html


def test_a_user_with_no_role_gets_the_polite_page_without_the_admin_link(client, db):
    html = page(client, UserFactory(username="nobody"))

    assert "此页面供执法人员使用" in html
    assert 'href="/admin/"' not in html


# --- login and logout -----------------------------------------------------------------------


def test_login_page_is_chinese_and_logs_an_inspector_in_to_me(client, inspector_user):
    # given
    form = client.get(reverse("login"))
    assert form.status_code == 200
    assert '<meta charset="utf-8">' in form.content.decode()
    assert "用户名" in form.content.decode()

    # when
    response = client.post(reverse("login"), {"username": "inspector1", "password": "pass-Word-123"})

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("me")


def test_login_follows_next(client, inspector_user):
    response = client.post(
        reverse("login") + "?next=/me/", {"username": "inspector1", "password": "pass-Word-123", "next": "/me/"}
    )

    assert response["Location"] == "/me/"


def test_wrong_password_is_refused_in_chinese(client, inspector_user):
    response = client.post(reverse("login"), {"username": "inspector1", "password": "wrong"})

    assert response.status_code == 200
    assert "请输入一个正确的" in response.content.decode()


def test_logout_is_a_post_and_returns_to_login(client, inspector_user):
    client.force_login(inspector_user)

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert client.get(reverse("me")).status_code == 302


# --- the JSON twin ----------------------------------------------------------------------------


def test_api_me_returns_the_same_dashboard(api_client, inspector_user, me, regions, today):
    # given
    certificate = issue(me, regions, days_left=30)
    completed_hours(me, today, hours="16.0")
    upcoming(me, today, status=EnrollmentStatus.WAITLISTED, position=3)
    exam = make_exam(regions)
    sit(exam, me, today - dt.timedelta(days=30), "35", "40")
    api_client.force_authenticate(inspector_user)

    # when
    response = api_client.get(reverse("api-me"))

    # then
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "today",
        "inspector",
        "certificate",
        "hours",
        "upcoming",
        "calendar_url",
        "results",
        "applications",
        "evaluations",
    }
    assert body["inspector"]["name"] == "张三"
    cert = body["certificate"]
    assert cert["number"] == certificate.number
    assert cert["status"] == "valid"
    assert cert["days_left"] == 30
    assert cert["tone"] == "amber"
    assert cert["verify_url"] == f"http://testserver/verify/{certificate.number}/"
    assert body["hours"] == {
        "year": today.year,
        "hours": "16.0",
        "required": "60.0",
        "remaining": "44.0",
        "met": False,
        "percent": 26,
    }
    assert body["upcoming"][0]["status"] == "waitlisted"
    assert body["upcoming"][0]["waitlist_position"] == 3
    assert body["calendar_url"] == f"http://testserver/calendar/{me.calendar_token.token}.ics"
    result = body["results"][0]
    assert (result["score"], result["passed"], result["attempt"], result["max_attempts"]) == ("75.0", True, 1, 3)
    assert [(p["name"], p["score"]) for p in result["parts"]] == [(GENERAL, "35.0"), (SPECIAL, "40.0")]
    assert me.national_id not in response.content.decode()


def test_api_me_without_a_certificate_has_null(api_client, inspector_user, me):
    api_client.force_authenticate(inspector_user)

    body = api_client.get(reverse("api-me")).json()

    assert body["certificate"] is None
    assert body["results"] == []
    assert body["upcoming"] == []


def test_api_me_is_404_in_the_error_shape_for_non_inspectors(api_client, city_admin):
    api_client.force_authenticate(city_admin)

    response = api_client.get(reverse("api-me"))

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "此页面仅供执法人员使用。", "fields": {}}


def test_api_me_needs_a_login(api_client, db):
    response = api_client.get(reverse("api-me"))

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- queries do not grow with the data --------------------------------------------------------------


def _load(client, user):
    with CaptureQueriesContext(connection) as page_queries:
        assert client.get(reverse("me")).status_code == 200
    with CaptureQueriesContext(connection) as api_queries:
        assert client.get(reverse("api-me")).status_code == 200
    return len(page_queries), len(api_queries)


def test_queries_do_not_grow_with_results_and_enrollments(
    client, inspector_user, me, regions, today, django_assert_max_num_queries
):
    # given: one of each, measured (the calendar token is created on the first visit)
    issue(me, regions, days_left=400)
    completed_hours(me, today)
    upcoming(me, today)
    sit(make_exam(regions, title="考试0"), me, today - dt.timedelta(days=100), "30", "40")
    client.force_login(inspector_user)
    _load(client, inspector_user)
    page_few, api_few = _load(client, inspector_user)

    # when: many more of each
    for i in range(1, 6):
        completed_hours(me, today)
        upcoming(me, today, days_ahead=10 + i)
        sit(make_exam(regions, title=f"考试{i}"), me, today - dt.timedelta(days=100 - i), "30", "40")

    # then
    with django_assert_max_num_queries(page_few):
        html = client.get(reverse("me")).content.decode()
    with django_assert_max_num_queries(api_few):
        body = client.get(reverse("api-me")).json()
    assert html.count("第 1 次 / 共 3 次") == 6
    assert len(body["upcoming"]) == 6
    assert len(body["results"]) == 6
