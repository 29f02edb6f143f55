"""QR sign-in (扫码签到): the tokens and codes (training.checkin), the attendance service's
check-in (training.services.attendance_check_in), and the pages (training.checkin_views).

The service tests run on a controlled clock (``now`` is an argument); the page tests on the
real one, with the day's hours opened to the whole day (settings.CHECKIN_HOURS)."""

import datetime as dt
import re
import threading
import zoneinfo
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
from django.core import signing
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from core.errors import AccessDenied, Conflict, DomainError, ValidationFailed
from tests.factories import InspectorFactory, UserFactory
from tests.training.factories import BatchFactory, EnrollmentFactory
from training import checkin, services
from training.models import Attendance, AttendanceSource, BatchStatus, EnrollmentStatus

LOCAL = zoneinfo.ZoneInfo("Asia/Shanghai")
# 09:00 on the first day of BatchFactory's batch (2025-06-10 to 06-12), at a slot's start.
NOW = dt.datetime(2025, 6, 10, 9, 0, tzinfo=LOCAL)
DAY = NOW.date()
S = dt.timedelta(seconds=1)


@pytest.fixture
def batch(regions):
    return BatchFactory(region=regions["sjz"], status=BatchStatus.CLOSED)


def person(regions, name="张三"):
    return InspectorFactory(region=regions["changan"], name=name, user=UserFactory())


@pytest.fixture
def enrolled(batch, regions):
    return EnrollmentFactory(batch=batch, inspector=person(regions)).inspector


def scan(batch, inspector, *, minted=NOW, at=NOW):
    """The token the trainer's page showed at ``minted``, opened at ``at``."""
    token = checkin.token_for(batch_id=batch.pk, day=timezone.localdate(minted), now=minted)
    ticket = checkin.ticket_from_token(token, now=at)
    return checkin.check_in(ticket=ticket, inspector=inspector, now=at)


def refusal(call) -> DomainError:
    with pytest.raises(DomainError) as refused:
        call()
    return refused.value


# --- tokens --------------------------------------------------------------------------------------


def test_a_scan_records_the_day_present_by_the_inspectors_own_account(batch, enrolled):
    # when
    outcome = scan(batch, enrolled)
    # then
    row = Attendance.objects.get()
    assert (row.enrollment.inspector, row.day, row.present) == (enrolled, DAY, True)
    assert (row.source, row.recorded_by) == (AttendanceSource.CHECKIN, enrolled.user)
    assert outcome.already is False and outcome.attendance == row


@pytest.mark.parametrize("later, accepted", [(0, True), (29, True), (59, True), (60, False), (600, False)])
def test_a_token_lives_its_slot_and_the_next(batch, enrolled, later, accepted):
    # given: shown at the start of a slot, opened ``later`` seconds after
    token = checkin.token_for(batch_id=batch.pk, day=DAY, now=NOW)
    # when / then
    if accepted:
        assert checkin.ticket_from_token(token, now=NOW + later * S).batch_id == batch.pk
    else:
        assert refusal(lambda: checkin.ticket_from_token(token, now=NOW + later * S)).code == "token_expired"


def test_a_token_seen_fresh_before_a_login_is_accepted_within_the_grace(batch, enrolled):
    token = checkin.token_for(batch_id=batch.pk, day=DAY, now=NOW)
    seen = NOW + 10 * S
    assert checkin.ticket_from_token(token, now=NOW + 4 * 60 * S, seen_at=seen).day == DAY
    late = NOW + 10 * S + checkin.LOGIN_GRACE + S
    assert refusal(lambda: checkin.ticket_from_token(token, now=late, seen_at=seen)).code == "token_expired"


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: "",
        lambda t: "not a token",
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # another signature
        lambda t: "9" + t,  # another batch, the same signature
        lambda t: signing.Signer(salt="another.salt").sign(t.rsplit(":", 1)[0]),  # signed for something else
        lambda t: signing.Signer(salt=checkin.SALT).sign("1.2025061.x"),  # well signed, not a ticket
    ],
)
def test_a_forged_or_unreadable_token_is_refused(batch, enrolled, forge):
    token = checkin.token_for(batch_id=batch.pk, day=DAY, now=NOW)
    refused = refusal(lambda: checkin.ticket_from_token(forge(token), now=NOW))
    assert (refused.code, type(refused)) == ("token_invalid", ValidationFailed)
    assert not Attendance.objects.exists()


def test_a_token_for_a_time_to_come_is_refused(batch):
    token = checkin.token_for(batch_id=batch.pk, day=DAY, now=NOW + 120 * S)
    assert refusal(lambda: checkin.ticket_from_token(token, now=NOW)).code == "token_invalid"


# --- the day's rules -----------------------------------------------------------------------------


def test_a_token_of_yesterday_still_fresh_after_midnight_is_the_wrong_day(batch, enrolled, settings):
    # given: shown at 23:59:50 on the first day, opened 20 s later, on the second
    settings.CHECKIN_HOURS = (0, 24)
    minted = dt.datetime(2025, 6, 10, 23, 59, 50, tzinfo=LOCAL)
    refused = refusal(lambda: scan(batch, enrolled, minted=minted, at=minted + 20 * S))
    assert refused.code == "wrong_day"
    assert "2025-06-10" in refused.detail and "2025-06-11" in refused.detail


@pytest.mark.parametrize("hour, minute", [(6, 59), (21, 0), (23, 30)])
def test_outside_the_days_hours_is_refused(batch, enrolled, hour, minute):
    at = dt.datetime(2025, 6, 10, hour, minute, tzinfo=LOCAL)
    refused = refusal(lambda: scan(batch, enrolled, minted=at, at=at))
    assert (refused.code, type(refused)) == ("outside_hours", Conflict)
    assert "07:00" in refused.detail and "21:00" in refused.detail


def test_the_first_and_last_minutes_of_the_hours_are_in(batch, enrolled, regions):
    other = EnrollmentFactory(batch=batch, inspector=person(regions, "李四")).inspector
    assert scan(batch, enrolled, minted=NOW.replace(hour=7), at=NOW.replace(hour=7)).already is False
    last = NOW.replace(hour=20, minute=59)
    assert scan(batch, other, minted=last, at=last).already is False


def test_someone_not_enrolled_is_refused(batch, regions):
    refused = refusal(lambda: scan(batch, person(regions, "外人")))
    assert (refused.code, type(refused)) == ("not_enrolled", AccessDenied)
    assert not Attendance.objects.exists()


@pytest.mark.parametrize(
    "status, position, code",
    [(EnrollmentStatus.WAITLISTED, 1, "waitlisted"), (EnrollmentStatus.CANCELLED, None, "enrollment_cancelled")],
)
def test_waitlisted_or_cancelled_is_refused(batch, regions, status, position, code):
    inspector = EnrollmentFactory(
        batch=batch, inspector=person(regions), status=status, waitlist_position=position
    ).inspector
    assert refusal(lambda: scan(batch, inspector)).code == code
    assert not Attendance.objects.exists()


@pytest.mark.parametrize("status", [BatchStatus.DRAFT, BatchStatus.COMPLETED, BatchStatus.CANCELLED])
def test_a_batch_not_running_is_refused(batch, enrolled, status):
    batch.status = status
    batch.save(update_fields=["status"])
    assert refusal(lambda: scan(batch, enrolled)).code == "batch_not_running"


def test_a_day_outside_the_batch_is_refused(batch, enrolled):
    after = dt.datetime(2025, 6, 13, 9, 0, tzinfo=LOCAL)
    refused = refusal(lambda: scan(batch, enrolled, minted=after, at=after))
    assert refused.code == "batch_not_running"
    assert "2025-06-10" in refused.detail


# --- against the office's records -----------------------------------------------------------------


def test_an_office_absent_is_not_overwritten_by_a_scan(batch, enrolled, province_admin):
    # given
    services.attendance_mark(batch=batch, actor=province_admin, day=DAY, absent=[enrolled.pk])
    # when
    refused = refusal(lambda: scan(batch, enrolled))
    # then
    assert (refused.code, type(refused)) == ("marked_absent", Conflict)
    row = Attendance.objects.get()
    assert (row.present, row.source, row.recorded_by) == (False, AttendanceSource.OFFICE, province_admin)


def test_a_scan_on_a_day_the_office_marked_present_says_already(batch, enrolled, province_admin):
    services.attendance_mark(batch=batch, actor=province_admin, day=DAY, present=[enrolled.pk])
    outcome = scan(batch, enrolled)
    assert outcome.already is True
    row = Attendance.objects.get()
    assert (row.present, row.source, row.recorded_by) == (True, AttendanceSource.OFFICE, province_admin)


def test_a_repeat_scan_is_idempotent(batch, enrolled):
    first = scan(batch, enrolled)
    again = scan(batch, enrolled, minted=NOW + 90 * S, at=NOW + 95 * S)
    assert (first.already, again.already) == (False, True)
    assert Attendance.objects.count() == 1
    assert again.attendance.pk == first.attendance.pk


def test_the_office_marking_present_again_keeps_the_scan_and_absent_makes_it_the_offices(
    batch, enrolled, regions, province_admin
):
    # given: 张三 scanned, 李四 did not
    other = EnrollmentFactory(batch=batch, inspector=person(regions, "李四")).inspector
    scan(batch, enrolled)
    # when: the office saves the day, everyone present
    assert services.attendance_mark(batch=batch, actor=province_admin, day=DAY, all_present=True) == 2
    # then: the scan stays the scan's; 李四's is the office's
    by_person = {a.enrollment.inspector_id: a for a in Attendance.objects.select_related("enrollment")}
    assert (by_person[enrolled.pk].source, by_person[enrolled.pk].recorded_by) == ("checkin", enrolled.user)
    assert (by_person[other.pk].source, by_person[other.pk].recorded_by) == ("office", province_admin)
    # when: the office marks 张三 absent after all
    services.attendance_mark(batch=batch, actor=province_admin, day=DAY, absent=[enrolled.pk])
    row = Attendance.objects.get(enrollment__inspector=enrolled)
    assert (row.present, row.source, row.recorded_by) == (False, "office", province_admin)


# --- the 6-digit code ------------------------------------------------------------------------------


def test_the_code_finds_its_batch_among_the_inspectors_and_lives_two_slots(batch, enrolled, regions):
    # given: 张三 is in two batches today
    second = BatchFactory(region=regions["sjz"], status=BatchStatus.OPEN)
    EnrollmentFactory(batch=second, inspector=enrolled)
    slot = checkin.slot_at(NOW)
    code = checkin.code_for(batch_id=second.pk, day=DAY, slot=slot)
    # when / then
    assert re.fullmatch(r"\d{6}", code)
    found = checkin.ticket_from_code(code, inspector_id=enrolled.pk, now=NOW + 45 * S)
    assert (found.batch_id, found.day) == (second.pk, DAY)
    assert refusal(lambda: checkin.ticket_from_code(code, inspector_id=enrolled.pk, now=NOW + 60 * S)).code == (
        "code_invalid"
    )


def test_a_code_of_a_batch_the_inspector_is_not_in_or_a_wrong_one_is_refused(batch, enrolled, regions):
    other = BatchFactory(region=regions["sjz"])
    slot = checkin.slot_at(NOW)
    theirs = checkin.code_for(batch_id=other.pk, day=DAY, slot=slot)
    ours = checkin.code_for(batch_id=batch.pk, day=DAY, slot=slot)
    for code in {theirs, f"{(int(ours) + 1) % 1_000_000:06d}", "12345", "abcdef"} - {ours}:
        assert refusal(lambda c=code: checkin.ticket_from_code(c, inspector_id=enrolled.pk, now=NOW)).code == (
            "code_invalid"
        )


def test_codes_differ_by_batch_day_and_slot(batch):
    codes = {
        checkin.code_for(batch_id=b, day=DAY + d * dt.timedelta(days=1), slot=s)
        for b in range(1, 6)
        for d in range(3)
        for s in range(20)
    }
    assert len(codes) == 300


def test_the_live_count(batch, enrolled, regions, province_admin):
    other = EnrollmentFactory(batch=batch, inspector=person(regions, "李四")).inspector
    EnrollmentFactory(batch=batch, inspector=person(regions, "候补"), status="waitlisted", waitlist_position=1)
    scan(batch, enrolled)
    assert services.check_in_count(batch=batch, day=DAY) == {"enrolled": 2, "signed_in": 1, "latest": ["张三"]}
    services.attendance_mark(batch=batch, actor=province_admin, day=DAY, present=[other.pk])
    assert services.check_in_count(batch=batch, day=DAY) == {"enrolled": 2, "signed_in": 2, "latest": ["张三"]}


# --- two scans at once (PostgreSQL) -----------------------------------------------------------


@pytest.mark.services("db")
@pytest.mark.django_db(transaction=True)
def test_two_scans_at_once_make_one_row(regions):
    # given
    batch = BatchFactory(region=regions["sjz"], status=BatchStatus.CLOSED)
    inspector = EnrollmentFactory(batch=batch, inspector=person(regions)).inspector
    start = threading.Event()

    def one():
        start.wait()
        try:
            return scan(batch, inspector)
        finally:
            connection.close()

    # when: eight scans released together
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(one) for _ in range(8)]
        start.set()
        outcomes = [f.result(timeout=60) for f in futures]
    # then: one row, one "recorded", the others "already"
    assert Attendance.objects.count() == 1
    assert sorted(o.already for o in outcomes) == [False] + [True] * 7


# --- the pages ------------------------------------------------------------------------------------


@pytest.fixture
def today_batch(regions, settings):
    """石家庄's batch running today (yesterday to tomorrow), the day's hours open all day."""
    settings.CHECKIN_HOURS = (0, 24)
    today = timezone.localdate()
    return BatchFactory(
        region=regions["sjz"],
        status=BatchStatus.CLOSED,
        starts_on=today - dt.timedelta(days=1),
        enrollment_deadline=today - dt.timedelta(days=2),
    )


@pytest.fixture
def inspector(today_batch, regions):
    return EnrollmentFactory(batch=today_batch, inspector=person(regions)).inspector


def fresh_token(batch):
    return checkin.token_for(batch_id=batch.pk, day=timezone.localdate(), now=timezone.now())


def test_opening_the_link_signed_out_goes_to_the_login_and_back(client, today_batch, inspector):
    # given
    url = f"{reverse('checkin')}?t={fresh_token(today_batch)}"
    # when
    response = client.get(url)
    # then
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")
    assert not Attendance.objects.exists()
    # when: logged in (the login page keeps the session), three minutes later
    client.force_login(inspector.user)
    later = timezone.now() + dt.timedelta(minutes=3)
    with mock.patch("django.utils.timezone.now", return_value=later):
        response = client.get(url)
    # then: what was scanned before the login still counts
    assert response.status_code == 200, response.content.decode()
    assert 'data-result="recorded"' in response.content.decode()
    assert Attendance.objects.get().source == AttendanceSource.CHECKIN


def test_the_phone_page_says_success_then_already(client, today_batch, inspector):
    client.force_login(inspector.user)
    url = f"{reverse('checkin')}?t={fresh_token(today_batch)}"
    first = client.get(url)
    body = first.content.decode()
    assert first.status_code == 200
    assert 'data-result="recorded"' in body and "签到成功" in body and today_batch.course.title in body
    again = client.get(url)
    assert again.status_code == 200 and 'data-result="already"' in again.content.decode()
    assert Attendance.objects.count() == 1


@pytest.mark.parametrize(
    "token, status, code",
    [("forged:token", 400, "token_invalid"), (None, 403, "not_enrolled")],
)
def test_the_phone_page_refuses_with_a_4xx_and_the_reason(client, today_batch, regions, token, status, code):
    outsider = person(regions, "外人")
    client.force_login(outsider.user)
    response = client.get(reverse("checkin"), {"t": token or fresh_token(today_batch)})
    assert response.status_code == status
    assert f'data-code="{code}"' in response.content.decode()
    assert not Attendance.objects.exists()


def test_an_expired_token_is_a_400_with_the_reason(client, today_batch, inspector):
    client.force_login(inspector.user)
    old = checkin.token_for(
        batch_id=today_batch.pk, day=timezone.localdate(), now=timezone.now() - dt.timedelta(seconds=90)
    )
    response = client.get(reverse("checkin"), {"t": old})
    assert response.status_code == 400
    assert 'data-code="token_expired"' in response.content.decode()


def test_someone_who_is_no_inspector_is_refused(client, today_batch, city_admin):
    client.force_login(city_admin)
    assert client.get(reverse("checkin")).status_code == 403
    assert client.get(reverse("checkin"), {"t": fresh_token(today_batch)}).status_code == 403


def test_the_code_form(client, today_batch, inspector):
    client.force_login(inspector.user)
    page = client.get(reverse("checkin"))
    assert page.status_code == 200
    assert today_batch.course.title in page.content.decode()
    assert '<label for="id_code">' in page.content.decode()
    code = checkin.code_for(batch_id=today_batch.pk, day=timezone.localdate(), slot=checkin.slot_at(timezone.now()))
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    refused = client.post(reverse("checkin"), {"code": wrong})
    assert refused.status_code == 400 and "签到码不正确" in refused.content.decode()
    assert client.post(reverse("checkin"), {"code": ""}).status_code == 400
    done = client.post(reverse("checkin"), {"code": code})
    assert done.status_code == 200 and 'data-result="recorded"' in done.content.decode()


def test_typed_codes_are_throttled_per_user(client, today_batch, inspector, settings):
    # given: three tries a minute
    settings.CHECKIN_CODE_RATE = "3/min"
    client.force_login(inspector.user)
    # when: four wrong codes
    statuses = [client.post(reverse("checkin"), {"code": "000000"}).status_code for _ in range(4)]
    # then: the fourth is not even tried, even when it would be right
    assert statuses[:3] == [400, 400, 400] or 200 in statuses[:3]  # 000000 may (1 in 10^6) be right
    code = checkin.code_for(batch_id=today_batch.pk, day=timezone.localdate(), slot=checkin.slot_at(timezone.now()))
    throttled = client.post(reverse("checkin"), {"code": code})
    assert throttled.status_code == 429
    assert "Retry-After" in throttled
    assert "输入次数过多" in throttled.content.decode()
    assert statuses[3] == 429


def test_the_trainers_page_and_its_live_figures(client, today_batch, inspector, city_admin):
    # given
    client.force_login(city_admin)
    # when
    page = client.get(reverse("checkin-trainer", args=[today_batch.pk]))
    # then: the QR code's link, the code, the count
    body = page.content.decode()
    assert page.status_code == 200
    url = re.search(r'data-url="([^"]+)"', body)[1]
    assert "/checkin/?t=" in url and 'src="data:image/svg+xml' in body
    assert re.search(r'id="checkin-code"[^>]*>\d{6}<', body)
    assert re.search(r'id="checkin-signed"[^>]*>0<', body)
    # when: the inspector opens the link; the page asks for the figures
    other = client.__class__()
    other.force_login(inspector.user)
    assert other.get(url.split("testserver", 1)[-1]).status_code == 200
    live = client.get(reverse("api-checkin-live", args=[today_batch.pk])).json()
    # then
    assert (live["open"], live["signed_in"], live["enrolled"], live["latest"]) == (True, 1, 1, ["张三"])
    assert re.fullmatch(r"\d{6}", live["code"]) and live["qr"].startswith("data:image/svg+xml")


def test_the_trainers_page_outside_the_hours_shows_why(client, today_batch, city_admin, settings):
    settings.CHECKIN_HOURS = (0, 0)
    client.force_login(city_admin)
    body = client.get(reverse("checkin-trainer", args=[today_batch.pk])).content.decode()
    assert "签到时间为每天" in body and 'id="checkin-open" class="checkin-open" hidden' in body
    live = client.get(reverse("api-checkin-live", args=[today_batch.pk])).json()
    assert (live["open"], live["code"], live["url"]) == (False, "", "")


def test_the_trainers_page_is_for_the_batchs_managers(client, today_batch, inspector, other_city_admin):
    page = reverse("checkin-trainer", args=[today_batch.pk])
    live = reverse("api-checkin-live", args=[today_batch.pk])
    assert client.get(page).status_code == 302
    client.force_login(inspector.user)
    assert (client.get(page).status_code, client.get(live).status_code) == (403, 403)
    client.force_login(other_city_admin)  # cannot see a 石家庄 batch: as one that does not exist
    assert (client.get(page).status_code, client.get(live).status_code) == (404, 404)


def test_the_attendance_grid_shows_the_scans_and_links_today(client, today_batch, inspector, city_admin):
    city_admin.is_staff = True
    city_admin.save(update_fields=["is_staff"])
    client.force_login(inspector.user)
    client.get(reverse("checkin"), {"t": fresh_token(today_batch)})
    client.force_login(city_admin)
    body = client.get(reverse("admin:training_batch_attendance", args=[today_batch.pk])).content.decode()
    assert 'class="scanned"' in body and "扫码" in body
    assert reverse("checkin-trainer", args=[today_batch.pk]) in body
    change = client.get(reverse("admin:training_batch_change", args=[today_batch.pk])).content.decode()
    assert 'id="link-checkin"' in change


def test_the_attendance_api_says_which_days_were_scanned(client, today_batch, inspector, regions, city_admin):
    # given: 张三 scanned today; 李四 was marked present by the office
    other = EnrollmentFactory(batch=today_batch, inspector=person(regions, "李四")).inspector
    client.force_login(inspector.user)
    client.get(reverse("checkin"), {"t": fresh_token(today_batch)})
    services.attendance_mark(batch=today_batch, actor=city_admin, day=timezone.localdate(), present=[other.pk])
    # when
    client.force_login(city_admin)
    rows = {r["name"]: r for r in client.get(f"/api/v1/batches/{today_batch.pk}/attendance/").json()["rows"]}
    # then
    today = timezone.localdate().isoformat()
    assert (rows["张三"]["days_present"], rows["张三"]["days_checked_in"]) == ([today], [today])
    assert (rows["李四"]["days_present"], rows["李四"]["days_checked_in"]) == ([today], [])


def test_a_head_request_records_nobody(client, today_batch, inspector):
    client.force_login(inspector.user)
    assert client.head(reverse("checkin"), {"t": fresh_token(today_batch)}).status_code == 200
    assert not Attendance.objects.exists()


def test_the_qr_code_and_the_code_page_use_site_url(client, today_batch, city_admin, settings):
    settings.SITE_URL = "https://zhifa.example.gov.cn/"
    client.force_login(city_admin)
    body = client.get(reverse("checkin-trainer", args=[today_batch.pk])).content.decode()
    assert 'data-url="https://zhifa.example.gov.cn/checkin/?t=' in body
    assert "zhifa.example.gov.cn/checkin/</span>" in body
