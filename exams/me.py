"""The inspector's own dashboard (``/me/`` and ``/api/v1/me/``): one assembly, two renderings.

Everything comes through the scoped selectors with the inspector as actor, so the page
can only ever show the signed-in inspector's own rows. The number of queries does not
grow with their results or enrollments.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import serializers

from core.errors import NotFound
from personnel import access
from training import rules
from training.models import ACTIVE_ENROLLMENT
from training.selectors import enrollment_list, inspector_hours_list
from training.services import calendar_token_for

from .models import Certificate, CertificateStatus
from .qr import verify_url
from .selectors import certificate_for_inspector, result_list

# Amber from the first expiry reminder on (90 days before), so the colour and the mail agree.
AMBER_DAYS = 90

GREEN, AMBER, RED, GREY = "green", "amber", "red", "grey"
_RED_STATUSES = (CertificateStatus.EXPIRED, CertificateStatus.SUSPENDED, CertificateStatus.REVOKED)


def certificate_tone(certificate: Certificate | None, *, today: dt.date) -> str:
    """grey: none (or returned); red: expired, suspended, revoked or past its date;
    amber: valid with AMBER_DAYS or fewer left; green otherwise."""
    if certificate is None or certificate.status == CertificateStatus.RETURNED:
        return GREY
    if certificate.status in _RED_STATUSES:
        return RED
    days_left = (certificate.valid_until - today).days
    if days_left < 0:  # not yet swept by the nightly expiry run
        return RED
    return AMBER if days_left <= AMBER_DAYS else GREEN


def _countdown(certificate: Certificate, days_left: int) -> str:
    if certificate.status == CertificateStatus.REVOKED:
        return _("证件已吊销")
    if certificate.status == CertificateStatus.RETURNED:
        return _("证件已收回")
    if days_left > 0:
        return _("距有效期届满还有 %(d)d 天") % {"d": days_left}
    if days_left == 0:
        return _("今天到期")
    return _("已超过有效期 %(d)d 天") % {"d": -days_left}


def _certificate_card(certificate: Certificate | None, today: dt.date) -> dict | None:
    if certificate is None:
        return None
    days_left = (certificate.valid_until - today).days
    return {
        "number": certificate.number,
        "status": certificate.status,
        "status_display": certificate.get_status_display(),
        "region": certificate.region.name,
        "issued_on": certificate.issued_on,
        "valid_until": certificate.valid_until,
        "days_left": days_left,
        "countdown": _countdown(certificate, days_left),
        "tone": certificate_tone(certificate, today=today),
    }


def _decimal(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _percent(hours: Decimal, required: Decimal) -> int:
    if required <= 0:
        return 100
    return min(100, int(hours * 100 / required))


def inspector_dashboard(*, actor, today: dt.date | None = None) -> dict:
    """The signed-in inspector's certificate, hours this year (the year of the batches:
    ``training.rules.in_year``), upcoming batches and exam results. Anyone who is not an
    inspector gets NotFound."""
    if access.scope_for(actor).kind != access.SELF:
        raise NotFound(_("此页面仅供执法人员使用。"))
    today = today or timezone.localdate()
    me = inspector_hours_list(actor=actor, year=today.year).first()
    if me is None:
        raise NotFound(_("此页面仅供执法人员使用。"))

    certificate = certificate_for_inspector(inspector=me)
    hours, required = me.hours, me.required

    enrollments = (
        enrollment_list(actor=actor)
        .filter(status__in=ACTIVE_ENROLLMENT, batch__ends_on__gte=today)
        .order_by("batch__starts_on", "batch_id")
    )
    upcoming = [
        {
            "batch": e.batch_id,
            "label": e.batch.label,
            "course": e.batch.course.title,
            "organiser": e.batch.region.name,
            "starts_on": e.batch.starts_on,
            "ends_on": e.batch.ends_on,
            "place": e.batch.place,
            "in_progress": e.batch.starts_on <= today,
            "status": e.status,
            "status_display": e.get_status_display(),
            "waitlist_position": e.waitlist_position,
        }
        for e in enrollments
    ]

    results = [
        {
            "exam": r.exam.title,
            "kind": r.exam.kind,
            "kind_display": r.exam.get_kind_display(),
            "held_on": r.sitting.held_on,
            "place": r.sitting.place,
            "parts": [
                {
                    "name": part.name,
                    "score": _decimal((r.part_scores or {}).get(str(part.pk))),
                    "max_score": part.max_score,
                }
                for part in r.exam.parts.all()
            ],
            "score": r.score,
            "pass_mark": r.pass_mark if r.pass_mark is not None else r.exam.pass_mark,
            "absent": r.absent,
            "passed": r.passed,
            "attempt": r.attempt,
            "max_attempts": r.exam.max_attempts,
        }
        for r in result_list(actor=actor).prefetch_related("exam__parts").order_by("-sitting__held_on", "-id")
    ]

    token = calendar_token_for(inspector=me)
    return {
        "today": today,
        "inspector": {
            "name": me.name,
            "region": me.region.name,
            "sector_display": me.get_sector_display(),
            "status_display": me.get_status_display(),
        },
        "certificate": _certificate_card(certificate, today),
        "hours": {
            "year": today.year,
            "hours": hours,
            "required": required,
            "remaining": max(Decimal("0"), required - hours),
            "met": rules.hours_met(hours, required),
            "percent": _percent(hours, required),
        },
        "upcoming": upcoming,
        "calendar_path": reverse("calendar-feed", kwargs={"token": token.token}),
        "results": results,
    }


# --- the JSON twin's shape (also its OpenAPI schema) -------------------------------------------


class MeInspectorSerializer(serializers.Serializer):
    name = serializers.CharField()
    region = serializers.CharField()
    sector_display = serializers.CharField()
    status_display = serializers.CharField()


class MeCertificateSerializer(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.ChoiceField(choices=CertificateStatus.choices)
    status_display = serializers.CharField()
    region = serializers.CharField()
    issued_on = serializers.DateField()
    valid_until = serializers.DateField()
    days_left = serializers.IntegerField(help_text="有效期届满前的天数；负数为已超过的天数")
    countdown = serializers.CharField()
    tone = serializers.ChoiceField(choices=[GREEN, AMBER, RED, GREY], help_text="页面颜色")
    verify_url = serializers.SerializerMethodField()

    def get_verify_url(self, obj) -> str:
        return verify_url(self.context.get("request"), obj["number"])


class MeHoursSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    hours = serializers.DecimalField(max_digits=7, decimal_places=1)
    required = serializers.DecimalField(max_digits=7, decimal_places=1)
    remaining = serializers.DecimalField(max_digits=7, decimal_places=1)
    met = serializers.BooleanField()
    percent = serializers.IntegerField(min_value=0, max_value=100)


class MeBatchSerializer(serializers.Serializer):
    batch = serializers.IntegerField()
    label = serializers.CharField()
    course = serializers.CharField()
    organiser = serializers.CharField()
    starts_on = serializers.DateField()
    ends_on = serializers.DateField()
    place = serializers.CharField()
    in_progress = serializers.BooleanField()
    status = serializers.CharField()
    status_display = serializers.CharField()
    waitlist_position = serializers.IntegerField(allow_null=True)


class MePartScoreSerializer(serializers.Serializer):
    name = serializers.CharField()
    score = serializers.DecimalField(max_digits=6, decimal_places=1, allow_null=True)
    max_score = serializers.DecimalField(max_digits=6, decimal_places=1)


class MeResultSerializer(serializers.Serializer):
    exam = serializers.CharField()
    kind = serializers.CharField()
    kind_display = serializers.CharField()
    held_on = serializers.DateField()
    place = serializers.CharField()
    parts = MePartScoreSerializer(many=True)
    score = serializers.DecimalField(max_digits=6, decimal_places=1, allow_null=True)
    pass_mark = serializers.DecimalField(max_digits=6, decimal_places=1)
    absent = serializers.BooleanField()
    passed = serializers.BooleanField(allow_null=True)
    attempt = serializers.IntegerField(allow_null=True, help_text="第几次考试；缺考不计次数")
    max_attempts = serializers.IntegerField()


class MeDashboardSerializer(serializers.Serializer):
    today = serializers.DateField()
    inspector = MeInspectorSerializer()
    certificate = MeCertificateSerializer(allow_null=True)
    hours = MeHoursSerializer()
    upcoming = MeBatchSerializer(many=True)
    calendar_url = serializers.SerializerMethodField()
    results = MeResultSerializer(many=True)

    def get_calendar_url(self, obj) -> str:
        request = self.context.get("request")
        path = obj["calendar_path"]
        return request.build_absolute_uri(path) if request is not None else path
