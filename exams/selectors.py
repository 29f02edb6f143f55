"""Reads of exams, results and certificates, scoped in one place (personnel.selectors)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Case, F, Q, QuerySet, Value, When
from django.utils import timezone

from core.errors import NotFound
from personnel import access
from personnel.models import Inspector
from personnel.selectors import scope_filter

from . import numbers
from .models import (
    HELD,
    AnnualReviewWindow,
    ApplicationKind,
    ApplicationState,
    Certificate,
    CertificateApplication,
    CertificateEvent,
    CertificateStatus,
    Exam,
    Result,
    ResultChange,
    Sitting,
)


def exam_list(*, actor, filters: dict | None = None) -> QuerySet[Exam]:
    """Admins: exams organised in their subtree. Inspectors: exams they sat."""
    qs = Exam.objects.select_related("region", "course").prefetch_related("parts")
    scope = access.scope_for(actor)
    if scope.kind == access.SELF:
        qs = qs.filter(results__inspector_id=scope.inspector_id).distinct()
    else:
        q = scope_filter(actor=actor, region_field="region")
        if q is not None:
            qs = qs.filter(q)
    filters = filters or {}
    if filters.get("kind"):
        qs = qs.filter(kind=filters["kind"])
    return qs


def exam_get_for_actor(*, actor, exam_id) -> Exam:
    exam = exam_list(actor=actor).filter(pk=exam_id).first()
    if exam is None:
        raise NotFound()
    return exam


def sitting_list(*, actor, filters: dict | None = None) -> QuerySet[Sitting]:
    qs = Sitting.objects.select_related("exam", "exam__region", "batch", "batch__course")
    scope = access.scope_for(actor)
    if scope.kind == access.SELF:
        qs = qs.filter(results__inspector_id=scope.inspector_id).distinct()
    else:
        q = scope_filter(actor=actor, region_field="exam__region")
        if q is not None:
            qs = qs.filter(q)
    filters = filters or {}
    if filters.get("exam"):
        qs = qs.filter(exam_id=filters["exam"])
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("year"):
        qs = qs.filter(held_on__year=filters["year"])
    return qs


def sitting_get_for_actor(*, actor, sitting_id) -> Sitting:
    sitting = sitting_list(actor=actor).filter(pk=sitting_id).first()
    if sitting is None:
        raise NotFound()
    return sitting


def result_list(*, actor, filters: dict | None = None) -> QuerySet[Result]:
    """Results of inspectors the actor may see (an inspector: their own)."""
    qs = Result.objects.select_related("sitting", "exam", "inspector", "inspector__region")
    q = scope_filter(actor=actor, region_field="inspector__region", inspector_field="inspector_id")
    if q is not None:
        qs = qs.filter(q)
    filters = filters or {}
    for key in ("sitting", "exam", "inspector"):
        if filters.get(key):
            qs = qs.filter(**{f"{key}_id": filters[key]})
    if filters.get("passed") is not None:
        qs = qs.filter(passed=filters["passed"])
    if filters.get("absent") is not None:
        qs = qs.filter(absent=filters["absent"])
    if filters.get("year"):
        qs = qs.filter(sitting__held_on__year=filters["year"])
    return qs


def result_get_for_actor(*, actor, result_id) -> Result:
    result = result_list(actor=actor).filter(pk=result_id).first()
    if result is None:
        raise NotFound()
    return result


def result_history(*, actor, result_id) -> QuerySet[ResultChange]:
    result = result_get_for_actor(actor=actor, result_id=result_id)
    return result.changes.select_related("actor").order_by("at", "id")


def certificate_list(*, actor, filters: dict | None = None, today: dt.date | None = None) -> QuerySet[Certificate]:
    """Certificates whose holder the actor may see; filters status, expiring_within (days),
    region (holder's region subtree, by code), sector."""
    qs = Certificate.objects.select_related("holder", "holder__region", "region")
    q = scope_filter(actor=actor, region_field="holder__region", inspector_field="holder_id")
    if q is not None:
        qs = qs.filter(q)
    filters = filters or {}
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("expiring_within") is not None:
        today = today or timezone.localdate()
        qs = qs.filter(
            status__in=HELD,
            valid_until__gte=today,
            valid_until__lte=today + dt.timedelta(days=int(filters["expiring_within"])),
        )
    if filters.get("region"):
        from personnel.models import Region

        path = Region.objects.filter(code=filters["region"]).values_list("path", flat=True).first()
        qs = qs.filter(holder__region__path__startswith=path) if path else qs.none()
    if filters.get("sector"):
        qs = qs.filter(holder__sector=filters["sector"])
    if filters.get("search"):
        term = filters["search"].strip()
        qs = qs.filter(Q(number__startswith=numbers.normalize(term)) | Q(holder__name__icontains=term))
    return qs


def certificate_get_for_actor(*, actor, certificate_id) -> Certificate:
    certificate = certificate_list(actor=actor).filter(pk=certificate_id).first()
    if certificate is None:
        raise NotFound()
    return certificate


def certificate_events(*, actor, certificate_id) -> QuerySet[CertificateEvent]:
    certificate = certificate_get_for_actor(actor=actor, certificate_id=certificate_id)
    return certificate.events.select_related("actor").order_by("at", "id")


def certificates_held_first(qs: QuerySet[Certificate]) -> QuerySet[Certificate]:
    """The order that picks an inspector's certificate: the one they hold (valid or
    suspended; the latest issued, then the lowest number), else their latest one (the latest
    issued, then the last created). Its first row is ``certificate_for_inspector``'s answer;
    the inspector's page asks for it inside its own statement (``exams.me``)."""
    held = Q(status__in=HELD)
    return qs.order_by(
        Case(When(held, then=Value(0)), default=Value(1)),
        F("issued_on").desc(),
        Case(When(held, then=F("number"))).asc(),
        F("id").desc(),
    )


def certificate_for_inspector(*, inspector: Inspector) -> Certificate | None:
    """The certificate an inspector holds (valid or suspended), else their latest one."""
    return certificates_held_first(Certificate.objects.filter(holder=inspector).select_related("region")).first()


def certificate_verify(*, number: str) -> dict | None:
    """Public verification: what anyone may know about a certificate number, nothing more."""
    normalized = numbers.normalize(number)
    if not numbers.is_valid(normalized):
        return None
    certificate = (
        Certificate.objects.filter(number=normalized)
        .select_related("holder", "region")
        .only("number", "status", "valid_until", "issued_on", "holder__name", "region__name")
        .first()
    )
    if certificate is None:
        return None
    status = effective_status(certificate)
    return {
        "number": certificate.number,
        "status": status,
        "status_display": str(CertificateStatus(status).label),
        "holder": mask_name(certificate.holder.name),
        "region": certificate.region.name,
        "issued_on": certificate.issued_on,
        "valid_until": certificate.valid_until,
    }


def effective_status(certificate: Certificate, today: dt.date | None = None) -> str:
    """The status a verifier must be told: a certificate past its date is expired even
    before the nightly sweep has written it down."""
    today = today or timezone.localdate()
    if certificate.status in HELD and certificate.valid_until < today:
        return CertificateStatus.EXPIRED
    return certificate.status


def mask_name(name: str) -> str:
    """张三 -> 张*, 张小三 -> 张*三, 欧阳小明 -> 欧**明."""
    name = (name or "").strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


# --- applications (申请) -----------------------------------------------------------------------


def application_list(*, actor, filters: dict | None = None) -> QuerySet[CertificateApplication]:
    """Applications for inspectors the actor may see (an inspector: their own); filters kind,
    state, level, region (the applying region's subtree, by code), year (年审 year), inspector,
    awaiting (True: pending at a level the actor holds, ``applications.awaiting_q``)."""
    qs = CertificateApplication.objects.select_related("inspector", "region", "certificate", "created_by", "new_region")
    q = scope_filter(actor=actor, region_field="region", inspector_field="inspector_id")
    if q is not None:
        qs = qs.filter(q)
    filters = filters or {}
    for key in ("kind", "state", "level", "year"):
        if filters.get(key):
            qs = qs.filter(**{key: filters[key]})
    if filters.get("inspector"):
        qs = qs.filter(inspector_id=filters["inspector"])
    if filters.get("region"):
        from personnel.models import Region

        path = Region.objects.filter(code=filters["region"]).values_list("path", flat=True).first()
        qs = qs.filter(region__path__startswith=path) if path else qs.none()
    if filters.get("awaiting"):
        from .applications import awaiting_q

        qs = qs.filter(awaiting_q(actor))
    return qs


def application_get_for_actor(*, actor, application_id) -> CertificateApplication:
    application = application_list(actor=actor).filter(pk=application_id).first()
    if application is None:
        raise NotFound()
    return application


def application_summary(*, actor, year: int | None = None) -> list[dict]:
    """Applications per kind and state in the actor's scope (created in ``year`` if given):
    [{kind, state, count}], one GROUP BY."""
    from django.db.models import Count

    qs = application_list(actor=actor)
    if year:
        qs = qs.filter(created_at__year=year)
    return list(qs.order_by().values("kind", "state").annotate(count=Count("id")).order_by("kind", "state"))


# Where a region's city sits in its path: "130000/130100/..." -> the first two codes.
_CITY_PATH_LENGTH = 14


def annual_review_progress(*, actor, year: int, today: dt.date | None = None) -> list[dict]:
    """年审 of ``year`` per city in the actor's scope: ``due`` (certificates held, valid or
    suspended), ``applied`` (年审 applications of the year not withdrawn), ``approved``,
    ``returned``, ``pending``, ``overdue`` (due but not approved once the deadline passed), and
    ``colour`` (``rules.deadline_colour``: amber from two months before the deadline, red once
    overdue). Inspectors of the province itself count under the province. Three GROUP BYs."""
    from django.db.models import Count
    from django.db.models.functions import Substr

    from personnel.models import Region

    from . import rules

    today = today or timezone.localdate()
    window = AnnualReviewWindow.objects.filter(year=year).first()
    deadline = window.deadline if window else None
    city = Substr("holder__region__path", 1, _CITY_PATH_LENGTH)
    due = dict(
        certificate_list(actor=actor)
        .filter(status__in=HELD)
        .order_by()
        .annotate(city=city)
        .values("city")
        .annotate(n=Count("id"))
        .values_list("city", "n")
    )
    apps: dict[str, dict[str, int]] = {}
    for key, state, n in (
        application_list(actor=actor, filters={"kind": ApplicationKind.REVIEW, "year": year})
        .order_by()
        .annotate(city=Substr("region__path", 1, _CITY_PATH_LENGTH))
        .values("city", "state")
        .annotate(n=Count("id"))
        .values_list("city", "state", "n")
    ):
        apps.setdefault(key, {})[state] = n
    keys = set(due) | set(apps)
    names = dict(Region.objects.filter(path__in=keys).values_list("path", "name"))
    codes = dict(Region.objects.filter(path__in=keys).values_list("path", "code"))
    rows = []
    for key in sorted(keys):
        states = apps.get(key, {})
        approved = states.get(ApplicationState.APPROVED, 0)
        n_due = max(due.get(key, 0), approved)
        applied = sum(n for s, n in states.items() if s != ApplicationState.WITHDRAWN)
        outstanding = max(n_due - approved, 0)
        rows.append(
            {
                "region": codes.get(key, ""),
                "region_name": names.get(key, ""),
                "due": n_due,
                "applied": applied,
                "approved": approved,
                "returned": states.get(ApplicationState.RETURNED, 0),
                "pending": states.get(ApplicationState.PENDING, 0),
                "overdue": outstanding if deadline is not None and today > deadline else 0,
                "deadline": deadline,
                "colour": rules.deadline_colour(deadline=deadline, today=today, outstanding=outstanding),
            }
        )
    return rows
