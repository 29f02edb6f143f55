"""An inspector's batches as an iCalendar feed (RFC 5545).

Written in one language, the active one (the request's: ``LocaleMiddleware`` picks it from
the language cookie or Accept-Language, else ``LANGUAGE_CODE`` zh-hans): every fixed string of
the feed goes through gettext, as do the labels it takes from the models (the batch label, the
enrollment status), so no feed mixes a translated status with untranslated Chinese text.
Names, course titles and places are data and stay as entered."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils.translation import gettext as _
from icalendar import Calendar, Event

from personnel.models import Inspector

from .models import Enrollment, EnrollmentStatus


def inspector_calendar(*, inspector: Inspector) -> bytes:
    """Every batch the inspector is enrolled, waitlisted or completed in, as all-day events."""
    cal = Calendar()
    cal.add("prodid", "-//inspector-training//calendar//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", _("%(name)s 的培训安排") % {"name": inspector.name})
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
        summary = str(batch)
        if e.status == EnrollmentStatus.WAITLISTED:
            summary = _("（候补）%(summary)s") % {"summary": summary}
        event.add("summary", summary)
        event.add("dtstart", batch.starts_on)
        event.add("dtend", batch.ends_on + dt.timedelta(days=1))  # DTEND of an all-day event is exclusive
        event.add("dtstamp", e.updated_at)
        if batch.place:
            event.add("location", batch.place)
        event.add(
            "description",
            _("组织单位：%(organizer)s；学时：%(hours)s；状态：%(status)s")
            % {"organizer": batch.region.name, "hours": batch.course.hours, "status": e.get_status_display()},
        )
        cal.add_component(event)
    return cal.to_ical()
