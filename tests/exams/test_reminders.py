"""Expiry reminders 90, 30 and 7 days before a certificate's expiry: the nearest threshold
only, each once, only to holders with an e-mail address; sent after the claims commit, one
recipient's SMTP failure retried without stopping the others; and the Celery tasks and beat
entries of the exams app.

The mails go out after the claim's transaction commits, so these tests run with real commits
(``transaction=True``), as the daily task does."""

import datetime as dt
import smtplib

import pytest
from django.conf import settings
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection, transaction
from django.utils import timezone

from config.celery import app as celery_app
from exams import services
from exams.models import Certificate, CertificateEvent, CertificateStatus, ExpiryReminder
from exams.tasks import REMINDER_MAX_RETRIES, expire_certificates, send_expiry_reminders
from tests.factories import InspectorFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

TODAY = dt.date(2025, 11, 1)
YEARS = settings.CERTIFICATE_VALIDITY_YEARS


def holder(regions, name, email="{name}@example.gov.cn"):
    user = UserFactory(username=f"u-{name}", email=email.format(name=name) if email else "")
    return InspectorFactory(region=regions["changan"], name=name, user=user)


def expiring(person, days_left: int, today: dt.date = TODAY) -> Certificate:
    """A valid certificate of ``person`` that expires ``days_left`` days after ``today``."""
    until = today + dt.timedelta(days=days_left)
    # 29 February has no twin some years earlier: issue from the 28th, then give the exact date
    day = 28 if (until.month, until.day) == (2, 29) else until.day
    certificate = services.certificate_issue(
        holder=person, region=person.region, actor=None, issued_on=until.replace(year=until.year - YEARS, day=day)
    )
    Certificate.objects.filter(pk=certificate.pk).update(valid_until=until)
    certificate.refresh_from_db()
    return certificate


def sent(certificate):
    return list(
        ExpiryReminder.objects.filter(certificate=certificate).order_by("id").values_list("days_before", flat=True)
    )


@pytest.mark.parametrize("days_left", [90, 30, 7])
def test_a_reminder_is_sent_on_each_threshold_day(regions, mailoutbox, days_left):
    # given
    certificate = expiring(holder(regions, "zhang"), days_left)
    # when
    count = services.certificate_reminders_send(today=TODAY).sent
    # then
    assert count == 1
    assert sent(certificate) == [days_left]
    (mail,) = mailoutbox
    assert mail.to == ["zhang@example.gov.cn"]
    assert str(days_left) in mail.subject
    assert certificate.number in mail.body
    assert certificate.valid_until.isoformat() in mail.body
    reminded = CertificateEvent.objects.filter(certificate=certificate, kind=CertificateEvent.Kind.REMINDED)
    assert reminded.count() == 1


def test_each_reminder_is_sent_once(regions, mailoutbox):
    certificate = expiring(holder(regions, "zhang"), 30)
    # when
    first = services.certificate_reminders_send(today=TODAY).sent
    second = services.certificate_reminders_send(today=TODAY).sent
    third = services.certificate_reminders_send(today=TODAY + dt.timedelta(days=1)).sent
    # then
    assert (first, second, third) == (1, 0, 0)
    assert len(mailoutbox) == 1
    assert sent(certificate) == [30]


@pytest.mark.parametrize(("days_left", "threshold"), [(89, 90), (31, 90), (25, 30), (8, 30), (5, 7), (0, 7)])
def test_only_the_nearest_threshold_is_sent(regions, mailoutbox, days_left, threshold):
    # given: first seen between thresholds (e.g. issued late, or the task did not run)
    certificate = expiring(holder(regions, "zhang"), days_left)
    # when
    services.certificate_reminders_send(today=TODAY)
    # then
    assert sent(certificate) == [threshold]
    assert len(mailoutbox) == 1


def test_run_every_day_the_holder_gets_exactly_three_reminders(regions, mailoutbox):
    # given
    certificate = expiring(holder(regions, "zhang"), 100)
    # when: the daily task runs for 110 days, up to and past the expiry date
    total = sum(services.certificate_reminders_send(today=TODAY + dt.timedelta(days=d)).sent for d in range(110))
    # then
    assert total == 3
    assert sent(certificate) == [90, 30, 7]
    assert [m.subject for m in mailoutbox] == [
        "行政执法证到期提醒：还有 90 天",
        "行政执法证到期提醒：还有 30 天",
        "行政执法证到期提醒：还有 7 天",
    ]


@pytest.mark.parametrize("days_left", [91, 365, -1])
def test_no_reminder_outside_the_90_days_or_after_expiry(regions, mailoutbox, days_left):
    expiring(holder(regions, "zhang"), days_left)
    # when
    count = services.certificate_reminders_send(today=TODAY).sent
    # then
    assert count == 0
    assert mailoutbox == []


def test_no_reminder_for_a_holder_without_an_email_address(regions, mailoutbox):
    # given: one holder with a login but no address, one without a login at all
    silent = expiring(holder(regions, "wang", email=""), 30)
    no_login = expiring(InspectorFactory(region=regions["changan"], name="赵六"), 30)
    # when
    count = services.certificate_reminders_send(today=TODAY).sent
    # then
    assert count == 0
    assert mailoutbox == []
    assert sent(silent) == sent(no_login) == []


def test_no_reminder_for_a_certificate_that_is_not_valid(regions, mailoutbox, province_admin):
    certificate = expiring(holder(regions, "zhang"), 30)
    services.certificate_suspend(certificate=certificate, reason="违规执法", actor=province_admin)
    # when
    count = services.certificate_reminders_send(today=TODAY).sent
    # then
    assert count == 0
    assert mailoutbox == []


def test_a_renewed_certificate_is_reminded_again_before_its_new_expiry(regions, mailoutbox):
    # given: reminded 7 days before, then renewed (a plain update stands in for the renewal)
    certificate = expiring(holder(regions, "zhang"), 7)
    services.certificate_reminders_send(today=TODAY)
    new_until = certificate.valid_until.replace(year=certificate.valid_until.year + YEARS)
    Certificate.objects.filter(pk=certificate.pk).update(valid_until=new_until)
    # when
    count = services.certificate_reminders_send(today=new_until - dt.timedelta(days=90)).sent
    # then
    assert count == 1
    assert sent(certificate) == [7, 90]


def test_holders_get_one_mail_each(regions, mailoutbox):
    people = [holder(regions, f"p{i}") for i in range(5)]
    for person, left in zip(people, (90, 30, 7, 50, 120), strict=True):
        expiring(person, left)
    # when
    count = services.certificate_reminders_send(today=TODAY).sent
    # then
    assert count == 4
    assert sorted(m.to[0] for m in mailoutbox) == [f"p{i}@example.gov.cn" for i in range(4)]


# --- after commit, one failure at a time -----------------------------------------------------


class FlakyBackend(EmailBackend):
    """The in-memory outbox, except that it refuses a mail to an address in ``refusals`` (as
    many times as counted there), and notes whether a transaction was open at each send."""

    refusals: dict[str, int] = {}
    in_transaction: list[bool] = []

    def send_messages(self, messages):
        FlakyBackend.in_transaction.append(connection.in_atomic_block)
        for message in messages:
            for to in message.to:
                if FlakyBackend.refusals.get(to, 0) > 0:
                    FlakyBackend.refusals[to] -= 1
                    raise smtplib.SMTPRecipientsRefused({to: (550, b"mailbox unavailable")})
        return super().send_messages(messages)


@pytest.fixture
def flaky(mailoutbox, settings):
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    FlakyBackend.refusals, FlakyBackend.in_transaction = {}, []
    return FlakyBackend


def test_one_recipients_smtp_error_does_not_stop_the_others_and_the_next_run_sends_it_once(regions, flaky, mailoutbox):
    # given: three holders due, the server refuses the second address once
    certificates = [expiring(holder(regions, name), 30) for name in ("a", "b", "c")]
    flaky.refusals["b@example.gov.cn"] = 1
    # when
    first = services.certificate_reminders_send(today=TODAY)
    # then: a and c have theirs; b's claim is released, with no event
    assert (first.sent, first.failed) == (2, 1)
    assert sorted(m.to[0] for m in mailoutbox) == ["a@example.gov.cn", "c@example.gov.cn"]
    assert sent(certificates[1]) == []
    assert not CertificateEvent.objects.filter(certificate=certificates[1], kind=CertificateEvent.Kind.REMINDED)
    # when: the next run (the day after: still the 30-day reminder)
    second = services.certificate_reminders_send(today=TODAY + dt.timedelta(days=1))
    third = services.certificate_reminders_send(today=TODAY + dt.timedelta(days=1))
    # then: b gets theirs, once; nobody else gets a second
    assert (second.sent, second.failed, third.sent) == (1, 0, 0)
    assert sorted(m.to[0] for m in mailoutbox) == ["a@example.gov.cn", "b@example.gov.cn", "c@example.gov.cn"]
    assert [sent(c) for c in certificates] == [[30], [30], [30]]
    assert CertificateEvent.objects.filter(kind=CertificateEvent.Kind.REMINDED).count() == 3


def test_no_mail_is_sent_while_a_transaction_is_open(regions, flaky):
    # given
    for name in ("a", "b"):
        expiring(holder(regions, name), 7)
    # when
    services.certificate_reminders_send(today=TODAY)
    # then: every send happened after the claims committed
    assert flaky.in_transaction == [False, False]
    assert ExpiryReminder.objects.count() == 2


def test_a_rolled_back_run_sends_nothing_and_claims_nothing(regions, mailoutbox):
    # given
    certificate = expiring(holder(regions, "a"), 7)
    # when: the caller's transaction fails after the sweep
    with pytest.raises(RuntimeError), transaction.atomic():
        services.certificate_reminders_send(today=TODAY)
        raise RuntimeError("the caller's commit fails")
    # then
    assert mailoutbox == []
    assert sent(certificate) == []
    assert not CertificateEvent.objects.filter(kind=CertificateEvent.Kind.REMINDED).exists()
    # and the next run sends it, once
    assert services.certificate_reminders_send(today=TODAY).sent == 1
    assert len(mailoutbox) == 1


@pytest.fixture
def eager_retries(monkeypatch):
    """Eager tasks that retry in-process instead of raising Retry to the caller (as a worker
    would, only without waiting)."""
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", False)


def test_the_task_retries_a_failed_recipient_and_sends_each_mail_once(regions, flaky, mailoutbox, eager_retries):
    # given: the task uses the real date; the server refuses one address once
    today = timezone.localdate()
    for name in ("a", "b", "c"):
        expiring(holder(regions, name), 30, today=today)
    flaky.refusals["a@example.gov.cn"] = 1
    # when: eager, the retry runs at once (under a worker it waits REMINDER_RETRY_SECONDS)
    result = send_expiry_reminders.apply()
    # then: the retry sent the one that failed; every address has exactly one mail
    assert result.successful()
    assert result.get() == 1
    assert sorted(m.to[0] for m in mailoutbox) == ["a@example.gov.cn", "b@example.gov.cn", "c@example.gov.cn"]
    assert ExpiryReminder.objects.count() == 3


def test_the_task_gives_up_after_its_retries_and_leaves_the_mail_to_the_next_day(
    regions, flaky, mailoutbox, eager_retries
):
    # given: one address refused every time
    today = timezone.localdate()
    refused = expiring(holder(regions, "a"), 30, today=today)
    expiring(holder(regions, "b"), 30, today=today)
    flaky.refusals["a@example.gov.cn"] = 100
    # when
    result = send_expiry_reminders.apply()
    # then: b got theirs once; a is unclaimed, tried 1 + REMINDER_MAX_RETRIES times
    assert result.successful()
    assert [m.to[0] for m in mailoutbox] == ["b@example.gov.cn"]
    assert flaky.refusals["a@example.gov.cn"] == 100 - 1 - REMINDER_MAX_RETRIES
    assert sent(refused) == []


# --- Celery ----------------------------------------------------------------------------------


def test_the_reminder_task_runs_eagerly_and_returns_the_count(regions, mailoutbox):
    # given: the task uses the real date
    expiring(holder(regions, "zhang"), 30, today=timezone.localdate())
    # when: apply() runs the task in-process, as CELERY_TASK_ALWAYS_EAGER does in development
    first = send_expiry_reminders.apply()
    second = send_expiry_reminders.apply()
    # then
    assert first.successful()
    assert (first.get(), second.get()) == (1, 0)
    assert len(mailoutbox) == 1


def test_the_expiry_task_runs_eagerly_and_is_idempotent(regions):
    # given: one certificate past its date by the real calendar, one not
    today = timezone.localdate()
    past = expiring(holder(regions, "zhang"), -3, today=today)
    current = expiring(holder(regions, "wang"), 3, today=today)
    # when
    first = expire_certificates.apply()
    second = expire_certificates.apply()
    # then
    assert first.successful()
    assert (first.get(), second.get()) == (1, 0)
    past.refresh_from_db()
    current.refresh_from_db()
    assert (past.status, current.status) == (CertificateStatus.EXPIRED, CertificateStatus.VALID)


def test_the_beat_schedule_names_both_exams_tasks():
    # given
    entries = [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()]
    # when
    celery_app.loader.import_default_modules()
    # then
    for name in ("exams.tasks.expire_certificates", "exams.tasks.send_expiry_reminders"):
        assert name in entries
        assert name in celery_app.tasks
    assert expire_certificates.name == "exams.tasks.expire_certificates"
    assert send_expiry_reminders.name == "exams.tasks.send_expiry_reminders"
    assert celery_app.conf.beat_schedule == settings.CELERY_BEAT_SCHEDULE
