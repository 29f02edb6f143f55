"""An inspector's batches as an iCalendar feed (RFC 5545)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from icalendar import Calendar, Event

from personnel.models import Inspector

from .models import Enrollment, EnrollmentStatus


def inspector_calendar(*, inspector: Inspector) -> bytes:
    """Every batch the inspector is enrolled, waitlisted or completed in, as all-day events."""
    cal = Calendar()
    cal.add("prodid", "-//inspector-training//calendar//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"{inspector.name} 的培训安排")
    cal.add("x-wr-timezone", settings.TIME_ZONE)
    enrollments = (
        Enrollment.objects.filter(
            inspector=inspector,
            status__in=(EnrollmentStatus.ENROLLED, EnrollmentStatus.WAITLISTED, EnrollmentStatus.COMPLETED),
        )
        .select_related("batch", "batch__course", "batch__region")
        .order_by("batch__starts_on")
    )
    for e in enrollments:
        batch = e.batch
        event = Event()
        event.add("uid", f"batch-{batch.pk}-enrollment-{e.pk}@inspector-training")
        prefix = "（候补）" if e.status == EnrollmentStatus.WAITLISTED else ""
        event.add("summary", f"{prefix}{batch.label} {batch.course.title}")
        event.add("dtstart", batch.starts_on)
        event.add("dtend", batch.ends_on + dt.timedelta(days=1))  # DTEND of an all-day event is exclusive
        event.add("dtstamp", e.updated_at)
        if batch.place:
            event.add("location", batch.place)
        event.add(
            "description", f"组织单位：{batch.region.name}；学时：{batch.course.hours}；状态：{e.get_status_display()}"
        )
        cal.add_component(event)
    return cal.to_ical()
