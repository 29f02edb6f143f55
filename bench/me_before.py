"""The PEER of ``bench.load``'s /me/ scenario: ``/api/v1/me/`` AS IT WAS before issue 13.

NOT part of the application: mounted only by ``bench.settings_load`` (``/before/me/``), so that
the benchmark measures the current ``exams.views.MeAPIView`` against the version it replaced,
in the same run. A copy of the old ``exams.me.inspector_dashboard`` (11-12 statements:
the scope, the hours list with every region's required hours, two looks for the certificate,
the upcoming enrollments and the results as model instances, the exam parts prefetched, the
calendar token) and of the old view (DRF serializers building the JSON). Do not import it
from the application, and do not "fix" it: it is the yardstick.

The sections /me/ gained after issue 13 (the latest applications, issue 14; the batches to
rate, issue 15) are added the way the old view read everything, one ORM read each with model
instances (two statements more: 13-14), so that both views still answer the very same JSON.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound
from exams.applications import level_label
from exams.me import ME_APPLICATIONS, ME_EVALUATIONS, MeDashboardSerializer
from exams.models import HELD, Certificate, CertificateApplication, CertificateStatus
from exams.selectors import result_list
from personnel import access
from training import rules
from training.evaluations import closes_on, evaluation_candidates, rating_open
from training.models import ACTIVE_ENROLLMENT
from training.selectors import enrollment_list, inspector_hours_list
from training.services import calendar_token_for

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


def inspector_dashboard_before(*, actor, today: dt.date | None = None) -> dict:
    """The signed-in inspector's certificate, hours this year (the year of the batches:
    ``training.rules.in_year``), upcoming batches and exam results. Anyone who is not an
    inspector gets NotFound."""
    if access.scope_for(actor).kind != access.SELF:
        raise NotFound(_("此页面仅供执法人员使用。"))
    today = today or timezone.localdate()
    me = inspector_hours_list(actor=actor, year=today.year).first()
    if me is None:
        raise NotFound(_("此页面仅供执法人员使用。"))

    # exams.selectors.certificate_for_inspector as it was: two looks (held, else latest).
    held = Certificate.objects.filter(holder=me).select_related("region")
    certificate = held.filter(status__in=HELD).first() or held.order_by("-issued_on", "-id").first()
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
        "applications": [
            {
                "id": a.pk,
                "kind": a.kind,
                "kind_display": a.get_kind_display(),
                "state": a.state,
                "state_display": a.get_state_display(),
                "level": a.level or "",
                "level_display": level_label(a.level or ""),
                "year": a.year,
            }
            for a in CertificateApplication.objects.filter(inspector=me).order_by("-created_at", "-id")[
                :ME_APPLICATIONS
            ]
        ],
        "evaluations": [
            {
                "batch": e.batch_id,
                "label": e.batch.label,
                "course": e.batch.course.title,
                "organiser": e.batch.region.name,
                "ends_on": e.batch.ends_on,
                "closes_on": closes_on(e.batch.ends_on),
                "given_on": timezone.localtime(e.evaluation.created_at).date() if _rated(e) else None,
            }
            for e in evaluation_candidates(me.pk).select_related(
                "batch", "batch__course", "batch__region", "evaluation"
            )[:ME_EVALUATIONS]
            if rating_open(e.batch.ends_on, today)
        ],
    }


def _rated(enrollment) -> bool:
    try:
        return enrollment.evaluation is not None
    except ObjectDoesNotExist:  # the reverse one-to-one raises when there is none
        return False


class MeBeforeAPIView(APIView):
    """``/before/me/``: the old ``MeAPIView`` (the serializer over the old assembly)."""

    permission_classes = [IsAuthenticated]

    def get(self, request):
        data = inspector_dashboard_before(actor=request.user)
        return Response(MeDashboardSerializer(data, context={"request": request}).data)
