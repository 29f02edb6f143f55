"""E-mail reminders before a batch starts: who gets one, exactly once, and the Celery
task and beat entry that send them every day.

The mails go out after the claim's transaction commits, so these tests run with real
commits (``transaction=True``), as the daily task does."""

import datetime as dt
import smtplib

import pytest
from django.conf import settings
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection, transaction
from django.utils import timezone

from config.celery import app as celery_app
from personnel.models import Sector
from tests.factories import InspectorFactory, UserFactory
from tests.training.factories import BatchFactory, EnrollmentFactory
from training import services
from training.models import BatchStatus, Enrollment, EnrollmentEvent, EnrollmentStatus
from training.tasks import REMINDER_MAX_RETRIES, send_batch_reminders

pytestmark = pytest.mark.django_db(transaction=True)

S = EnrollmentStatus
TODAY = dt.date(2025, 6, 7)


class FlakyBackend(EmailBackend):
    """The in-memory outbox, except that it refuses a mail to an address in ``refusals``
    (as many times as counted there), and notes whether a transaction was open at each send."""

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


def person(regions, username, email="{}@example.gov.cn"):
    user = UserFactory(username=username, email=email.format(username) if email else "")
    return InspectorFactory(region=regions["changan"], user=user, name=username, sector=Sector.COAL)


@pytest.fixture
def soon(regions):
    """A batch starting within the reminder window of TODAY (default: 3 days)."""
    return BatchFactory(
        region=regions["province"],
        starts_on=TODAY + dt.timedelta(days=settings.TRAINING_REMINDER_DAYS_BEFORE),
        place="省应急管理厅三楼会议室",
    )


def test_the_window_default_is_three_days():
    assert settings.TRAINING_REMINDER_DAYS_BEFORE == 3


def test_enrolled_inspectors_with_an_email_get_one_reminder(soon, regions, mailoutbox):
    # given
    enrolled = person(regions, "enrolled")
    EnrollmentFactory(batch=soon, inspector=enrolled)
    EnrollmentFactory(batch=soon, inspector=person(regions, "waiting"), status=S.WAITLISTED, waitlist_position=1)
    EnrollmentFactory(batch=soon, inspector=person(regions, "cancelled"), status=S.CANCELLED)
    EnrollmentFactory(batch=soon, inspector=person(regions, "no_email", email=None))
    EnrollmentFactory(batch=soon, inspector=InspectorFactory(region=regions["changan"]))  # no user at all
    # when
    run = services.batch_reminders_send(today=TODAY)
    # then
    assert (run.sent, run.failed) == (1, 0)
    assert [m.to for m in mailoutbox] == [["enrolled@example.gov.cn"]]
    message = mailoutbox[0]
    assert soon.starts_on.isoformat() in message.subject
    assert "enrolled" in message.body and "省应急管理厅三楼会议室" in message.body
    reminded = Enrollment.objects.get(inspector=enrolled)
    assert reminded.reminder_sent_at is not None
    assert EnrollmentEvent.objects.filter(enrollment=reminded, kind=EnrollmentEvent.Kind.REMINDED).count() == 1


def test_a_second_run_sends_nothing(soon, regions, mailoutbox):
    # given
    for n in range(3):
        EnrollmentFactory(batch=soon, inspector=person(regions, f"p{n}"))
    assert services.batch_reminders_send(today=TODAY).sent == 3
    # when
    again = services.batch_reminders_send(today=TODAY).sent
    next_day = services.batch_reminders_send(today=TODAY + dt.timedelta(days=1)).sent
    # then
    assert (again, next_day) == (0, 0)
    assert len(mailoutbox) == 3
    assert EnrollmentEvent.objects.filter(kind=EnrollmentEvent.Kind.REMINDED).count() == 3


def test_someone_promoted_after_a_run_is_reminded_by_the_next(soon, regions, mailoutbox, province_admin):
    # given: one seat, one waiting; the first run reminds the seat holder only
    soon.capacity = 1
    soon.save()
    seat = EnrollmentFactory(batch=soon, inspector=person(regions, "seat"))
    EnrollmentFactory(batch=soon, inspector=person(regions, "waiting"), status=S.WAITLISTED, waitlist_position=1)
    services.batch_reminders_send(today=TODAY)
    # when
    services.enrollment_cancel(enrollment=seat, actor=province_admin)
    sent = services.batch_reminders_send(today=TODAY).sent
    # then
    assert sent == 1
    assert [m.to for m in mailoutbox] == [["seat@example.gov.cn"], ["waiting@example.gov.cn"]]


@pytest.mark.parametrize(
    ("starts_in", "status", "reminded"),
    [
        (0, BatchStatus.OPEN, True),  # starts today
        (1, BatchStatus.CLOSED, True),  # enrollment closed, batch still on
        (4, BatchStatus.OPEN, False),  # outside the window: a later run will send it
        (-1, BatchStatus.OPEN, False),  # already started
        (2, BatchStatus.CANCELLED, False),
        (2, BatchStatus.DRAFT, False),
    ],
)
def test_only_batches_on_and_starting_within_the_window(regions, mailoutbox, starts_in, status, reminded):
    # given
    batch = BatchFactory(region=regions["province"], starts_on=TODAY + dt.timedelta(days=starts_in), status=status)
    EnrollmentFactory(batch=batch, inspector=person(regions, "someone"))
    # when
    sent = services.batch_reminders_send(today=TODAY).sent
    # then
    assert sent == int(reminded)
    assert len(mailoutbox) == int(reminded)


def test_the_window_follows_the_setting(regions, mailoutbox, settings):
    # given
    settings.TRAINING_REMINDER_DAYS_BEFORE = 7
    batch = BatchFactory(region=regions["province"], starts_on=TODAY + dt.timedelta(days=7))
    EnrollmentFactory(batch=batch, inspector=person(regions, "someone"))
    # when / then
    assert services.batch_reminders_send(today=TODAY).sent == 1


def test_the_celery_task_runs_eagerly_and_returns_the_count(regions, mailoutbox):
    # given: the task uses the real date, so the batch is placed relative to it
    today = timezone.localdate()
    batch = BatchFactory(region=regions["province"], starts_on=today + dt.timedelta(days=1))
    EnrollmentFactory(batch=batch, inspector=person(regions, "a"))
    EnrollmentFactory(batch=batch, inspector=person(regions, "b"))
    # when: apply() runs the task in-process, as CELERY_TASK_ALWAYS_EAGER does in development
    first = send_batch_reminders.apply()
    second = send_batch_reminders.apply()
    # then
    assert first.successful()
    assert (first.get(), second.get()) == (2, 0)
    assert len(mailoutbox) == 2


def test_one_recipients_smtp_error_does_not_stop_the_others_and_the_next_run_sends_it_once(
    soon, regions, flaky, mailoutbox
):
    # given: three enrolled, the server refuses the second address once
    people = [person(regions, name) for name in ("a", "b", "c")]
    for p in people:
        EnrollmentFactory(batch=soon, inspector=p)
    flaky.refusals["b@example.gov.cn"] = 1
    # when
    first = services.batch_reminders_send(today=TODAY)
    # then: a and c have theirs; b's claim is released, with the failure on record
    assert (first.sent, first.failed) == (2, 1)
    assert sorted(m.to[0] for m in mailoutbox) == ["a@example.gov.cn", "c@example.gov.cn"]
    b = Enrollment.objects.get(inspector=people[1])
    assert b.reminder_sent_at is None
    assert list(b.events.values_list("kind", "reason")) == [
        (EnrollmentEvent.Kind.REMINDER_FAILED, "SMTPRecipientsRefused")
    ]
    # when: the next run
    second = services.batch_reminders_send(today=TODAY)
    third = services.batch_reminders_send(today=TODAY)
    # then: b gets theirs, once; nobody else gets a second
    assert (second.sent, second.failed, third.sent) == (1, 0, 0)
    assert sorted(m.to[0] for m in mailoutbox) == ["a@example.gov.cn", "b@example.gov.cn", "c@example.gov.cn"]
    assert EnrollmentEvent.objects.filter(kind=EnrollmentEvent.Kind.REMINDED).count() == 3
    assert Enrollment.objects.filter(reminder_sent_at__isnull=True).count() == 0


def test_no_mail_is_sent_while_a_transaction_is_open(soon, regions, flaky):
    # given
    for name in ("a", "b"):
        EnrollmentFactory(batch=soon, inspector=person(regions, name))
    # when
    services.batch_reminders_send(today=TODAY)
    # then: every send happened after the claims committed
    assert flaky.in_transaction == [False, False]
    assert Enrollment.objects.filter(reminder_sent_at__isnull=False).count() == 2


def test_a_rolled_back_run_sends_nothing_and_claims_nothing(soon, regions, mailoutbox):
    # given
    EnrollmentFactory(batch=soon, inspector=person(regions, "a"))
    # when: the caller's transaction fails after the sweep
    with pytest.raises(RuntimeError), transaction.atomic():
        services.batch_reminders_send(today=TODAY)
        raise RuntimeError("the caller's commit fails")
    # then
    assert mailoutbox == []
    assert Enrollment.objects.get().reminder_sent_at is None
    assert not EnrollmentEvent.objects.filter(kind=EnrollmentEvent.Kind.REMINDED).exists()
    # and the next run sends it, once
    assert services.batch_reminders_send(today=TODAY).sent == 1
    assert len(mailoutbox) == 1


@pytest.fixture
def eager_retries(monkeypatch):
    """Eager tasks that retry in-process instead of raising Retry to the caller (as a
    worker would, only without waiting)."""
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", False)


def test_the_task_retries_a_failed_recipient_and_sends_each_mail_once(regions, flaky, mailoutbox, eager_retries):
    # given: the task uses the real date; the server refuses one address once
    today = timezone.localdate()
    batch = BatchFactory(region=regions["province"], starts_on=today + dt.timedelta(days=1))
    for name in ("a", "b", "c"):
        EnrollmentFactory(batch=batch, inspector=person(regions, name))
    flaky.refusals["a@example.gov.cn"] = 1
    # when: eager, the retry runs at once (under a worker it waits REMINDER_RETRY_SECONDS)
    result = send_batch_reminders.apply()
    # then: the retry sent the one that failed; every address has exactly one mail
    assert result.successful()
    assert result.get() == 1
    assert sorted(m.to[0] for m in mailoutbox) == ["a@example.gov.cn", "b@example.gov.cn", "c@example.gov.cn"]


def test_the_task_gives_up_after_its_retries_and_leaves_the_mail_to_the_next_day(
    regions, flaky, mailoutbox, eager_retries
):
    # given: one address refused every time
    today = timezone.localdate()
    batch = BatchFactory(region=regions["province"], starts_on=today + dt.timedelta(days=2))
    EnrollmentFactory(batch=batch, inspector=person(regions, "a"))
    EnrollmentFactory(batch=batch, inspector=person(regions, "b"))
    flaky.refusals["a@example.gov.cn"] = 100
    # when
    result = send_batch_reminders.apply()
    # then: b got theirs once; a is unclaimed, tried 1 + REMINDER_MAX_RETRIES times
    assert result.successful()
    assert [m.to[0] for m in mailoutbox] == ["b@example.gov.cn"]
    assert flaky.refusals["a@example.gov.cn"] == 100 - 1 - REMINDER_MAX_RETRIES
    assert Enrollment.objects.get(inspector__name="a").reminder_sent_at is None


def test_the_beat_schedule_names_the_registered_task():
    # given
    entries = [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()]
    # when
    celery_app.loader.import_default_modules()
    # then
    assert "training.tasks.send_batch_reminders" in entries
    assert "training.tasks.send_batch_reminders" in celery_app.tasks
    assert celery_app.conf.beat_schedule == settings.CELERY_BEAT_SCHEDULE
