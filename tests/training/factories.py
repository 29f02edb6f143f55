"""factory_boy factories for the training app."""

import datetime as dt
from decimal import Decimal

import factory

from personnel.models import RegionLevel
from tests.factories import InspectorFactory, RegionFactory
from training.models import Batch, BatchStatus, Course, Enrollment, EnrollmentStatus


class CourseFactory(factory.django.DjangoModelFactory):
    """By default the special course on the three systems (all three topics)."""

    class Meta:
        model = Course
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"C{n:04d}")
    title = factory.Sequence(lambda n: f"行政执法三项制度专题培训{n}")
    covers_publicity = True
    covers_process_recording = True
    covers_legal_review = True
    covers_other = False
    hours = Decimal("16.0")


class BatchFactory(factory.django.DjangoModelFactory):
    """An open, mixed-sector, three-day batch in June 2025 with 30 seats; the
    deadline is five days before it starts."""

    class Meta:
        model = Batch

    course = factory.SubFactory(CourseFactory)
    number = factory.Sequence(lambda n: n + 1)
    sector = ""
    region = factory.SubFactory(RegionFactory, code="130000", name="河北省", level=RegionLevel.PROVINCE)
    starts_on = dt.date(2025, 6, 10)
    ends_on = factory.LazyAttribute(lambda b: b.starts_on + dt.timedelta(days=2))
    year = factory.LazyAttribute(lambda b: b.starts_on.year)
    enrollment_deadline = factory.LazyAttribute(lambda b: b.starts_on - dt.timedelta(days=5))
    place = "省应急管理厅培训中心"
    capacity = 30
    status = BatchStatus.OPEN


class EnrollmentFactory(factory.django.DjangoModelFactory):
    """A row written directly (no rules checked): for the state a test starts from.
    Tests of the rules themselves go through training.services."""

    class Meta:
        model = Enrollment

    batch = factory.SubFactory(BatchFactory)
    inspector = factory.SubFactory(InspectorFactory, region=factory.SelfAttribute("..batch.region"))
    status = EnrollmentStatus.ENROLLED
    waitlist_position = None
    hours_credited = factory.LazyAttribute(
        lambda e: e.batch.course.hours if e.status == EnrollmentStatus.COMPLETED else Decimal("0")
    )
    completed_on = factory.LazyAttribute(lambda e: e.batch.ends_on if e.status == EnrollmentStatus.COMPLETED else None)
