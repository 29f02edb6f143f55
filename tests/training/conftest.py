"""Training fixtures for the API and admin tests.

Through the API and the admin "today" is the real date, so batches here lie in the
future; a test that needs a finished batch enrolls first and then moves the dates
into the past with ``move_to_past`` (a plain UPDATE, as the "given" of the test).
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from personnel.models import Sector
from tests.factories import InspectorFactory
from tests.training.factories import BatchFactory, CourseFactory
from training.models import Batch


def in_days(n: int) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=n)


@pytest.fixture
def course(db):
    """The special course on the three systems, 16 hours."""
    return CourseFactory(code="SZ-01", title="行政执法三项制度专题培训", hours=Decimal("16.0"))


@pytest.fixture
def batch(course, regions):
    """An open coal batch of 石家庄 with two seats: three days starting a month from now,
    enrollment until ten days before."""
    start = in_days(30)
    return BatchFactory(
        course=course,
        region=regions["sjz"],
        sector=Sector.COAL,
        number=1,
        starts_on=start,
        enrollment_deadline=start - dt.timedelta(days=10),
        capacity=2,
        place="石家庄市应急管理局培训室",
    )


@pytest.fixture
def coal(regions):
    """Four active coal inspectors of 石家庄 (长安, 长安, 桥西, 石家庄 itself)."""
    places = ["changan", "changan", "qiaoxi", "sjz"]
    return [InspectorFactory(region=regions[p], sector=Sector.COAL, name=f"煤矿{i}") for i, p in enumerate(places)]


@pytest.fixture
def move_to_past():
    """Shift a batch so that it ended ``ended_days_ago`` days ago (same length)."""

    def _move(batch: Batch, ended_days_ago: int = 1) -> Batch:
        ends = timezone.localdate() - dt.timedelta(days=ended_days_ago)
        starts = ends - dt.timedelta(days=batch.days - 1)
        Batch.objects.filter(pk=batch.pk).update(
            starts_on=starts, ends_on=ends, enrollment_deadline=starts - dt.timedelta(days=5), year=starts.year
        )
        batch.refresh_from_db()
        return batch

    return _move
