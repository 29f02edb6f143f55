"""E-mail reminders before a batch starts: who gets one, exactly once, and the Celery
task and beat entry that send them every day."""

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone

from config.celery import app as celery_app
from personnel.models import Sector
from tests.factories import InspectorFactory, UserFactory
from tests.training.factories import BatchFactory, EnrollmentFactory
from training import services
from training.models import BatchStatus, Enrollment, EnrollmentEvent, EnrollmentStatus
from training.tasks import send_batch_reminders

S = EnrollmentStatus
TODAY = dt.date(2025, 6, 7)


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
    sent = services.batch_reminders_send(today=TODAY)
    # then
    assert sent == 1
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
    assert services.batch_reminders_send(today=TODAY) == 3
    # when
    again = services.batch_reminders_send(today=TODAY)
    next_day = services.batch_reminders_send(today=TODAY + dt.timedelta(days=1))
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
    sent = services.batch_reminders_send(today=TODAY)
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
    sent = services.batch_reminders_send(today=TODAY)
    # then
    assert sent == int(reminded)
    assert len(mailoutbox) == int(reminded)


def test_the_window_follows_the_setting(regions, mailoutbox, settings):
    # given
    settings.TRAINING_REMINDER_DAYS_BEFORE = 7
    batch = BatchFactory(region=regions["province"], starts_on=TODAY + dt.timedelta(days=7))
    EnrollmentFactory(batch=batch, inspector=person(regions, "someone"))
    # when / then
    assert services.batch_reminders_send(today=TODAY) == 1


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


def test_the_beat_schedule_names_the_registered_task():
    # given
    entries = [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()]
    # when
    celery_app.loader.import_default_modules()
    # then
    assert "training.tasks.send_batch_reminders" in entries
    assert "training.tasks.send_batch_reminders" in celery_app.tasks
    assert celery_app.conf.beat_schedule == settings.CELERY_BEAT_SCHEDULE
