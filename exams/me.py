"""The inspector's own dashboard (``/me/`` and ``/api/v1/me/``): one assembly, two renderings.

Everything comes through the scoped selectors with the inspector as actor, so the page
can only ever show the signed-in inspector's own rows. Six statements at most for the API
with a token (the token, the scope's two looks, the inspector with their hours, required
hours, certificate and calendar token, the upcoming enrollments, the results with their
exams' parts), however many results or enrollments there are. ``dashboard_json`` writes
the JSON the serializers below describe (they stay the OpenAPI schema), without building
them on every request.
"""

from __future__ import annotations

import datetime as dt
import weakref
from decimal import Context, Decimal

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import F, OuterRef, Subquery
from django.db.models.fields.json import JSONField
from django.db.models.functions import JSONObject
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import serializers

from core.errors import NotFound
from personnel import access
from personnel.models import Inspector
from personnel.selectors import inspector_list
from training import rules
from training.evaluations import COMMENT_MAX, QUESTIONS, SCORES, closes_on, evaluation_candidates, rating_open
from training.models import ACTIVE_ENROLLMENT, Batch, EnrollmentStatus
from training.selectors import enrollment_list, hours_this_year_per_row, required_hours_per_row
from training.services import calendar_token_for

from .applications import level_label
from .models import ApplicationKind, ApplicationState, Certificate, CertificateApplication, CertificateStatus, ExamKind
from .qr import verify_url
from .selectors import certificates_held_first, result_list

# Amber from the first expiry reminder on (90 days before), so the colour and the mail agree.
AMBER_DAYS = 90

GREEN, AMBER, RED, GREY = "green", "amber", "red", "grey"
_RED_STATUSES = (CertificateStatus.EXPIRED, CertificateStatus.SUSPENDED, CertificateStatus.REVOKED)


def certificate_tone(certificate: Certificate | None, *, today: dt.date) -> str:
    """grey: none (or returned); red: expired, suspended, revoked or past its date;
    amber: valid with AMBER_DAYS or fewer left; green otherwise."""
    if certificate is None:
        return GREY
    return _tone(certificate.status, certificate.valid_until, today)


def _tone(status: str, valid_until: dt.date, today: dt.date) -> str:
    if status == CertificateStatus.RETURNED:
        return GREY
    if status in _RED_STATUSES:
        return RED
    days_left = (valid_until - today).days
    if days_left < 0:  # not yet swept by the nightly expiry run
        return RED
    return AMBER if days_left <= AMBER_DAYS else GREEN


def _countdown(status: str, days_left: int) -> str:
    if status == CertificateStatus.REVOKED:
        return _("证件已吊销")
    if status == CertificateStatus.RETURNED:
        return _("证件已收回")
    if days_left > 0:
        return _("距有效期届满还有 %(d)d 天") % {"d": days_left}
    if days_left == 0:
        return _("今天到期")
    return _("已超过有效期 %(d)d 天") % {"d": -days_left}


def _label(choices, value) -> str:
    return str(dict(choices).get(value, value))


def _certificate_card(found: dict | None, today: dt.date) -> dict | None:
    """The card of the certificate ``certificates_held_first`` picks, from the JSON object the
    inspector's statement carries (dates as ISO strings)."""
    if found is None:
        return None
    status = found["status"]
    issued_on = dt.date.fromisoformat(found["issued_on"])
    valid_until = dt.date.fromisoformat(found["valid_until"])
    days_left = (valid_until - today).days
    return {
        "number": found["number"],
        "status": status,
        "status_display": _label(CertificateStatus.choices, status),
        "region": found["region"],
        "issued_on": issued_on,
        "valid_until": valid_until,
        "days_left": days_left,
        "countdown": _countdown(status, days_left),
        "tone": _tone(status, valid_until, today),
    }


def _decimal(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _percent(hours: Decimal, required: Decimal) -> int:
    if required <= 0:
        return 100
    return min(100, int(hours * 100 / required))


# --- the three statements of the dashboard, compiled once ---------------------------------------
#
# Building and compiling these querysets cost about two thirds of the request's CPU (the
# statement of the inspector alone, with its three subqueries, about 7 ms). Each is built by
# the scoped selectors for a stand-in inspector (``_Placeholder``), compiled once per process,
# database connection and year, and run with the real inspector's id and today's date in place
# of the stand-in's. tests/exams/test_me_statements.py checks the rows against the querysets.

_PLACEHOLDER_ID = -790_313_017  # no primary key is negative
_PLACEHOLDER_DAY = dt.date(1901, 2, 3)


class _Placeholder:
    """An actor the scoped selectors see as the signed-in inspector ``_PLACEHOLDER_ID``."""

    is_authenticated = True
    is_active = True
    is_superuser = False
    is_staff = False
    pk = None

    def __init__(self):
        self._personnel_scope = access.Scope(access.SELF, inspector_id=_PLACEHOLDER_ID)


class _Compiled:
    """A read built by ``build(actor, day, year)`` (a values_list queryset), compiled once per
    connection and ``key``; ``rows`` runs it for an inspector and a day."""

    def __init__(self, build):
        self.build = build
        self._by_connection: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _compile(self, year: int):
        qs = self.build(_Placeholder(), _PLACEHOLDER_DAY, year)
        compiler = qs.query.get_compiler(using=qs.db)
        sql, params = compiler.as_sql()
        # The backend may have adapted the day already (SQLite: a string; PostgreSQL: a date).
        placeholder_day = compiler.connection.ops.adapt_datefield_value(_PLACEHOLDER_DAY)
        slots = []
        for i, value in enumerate(params):
            if type(value) is int and value == _PLACEHOLDER_ID:
                slots.append((i, "inspector"))
            elif type(value) is type(placeholder_day) and value == placeholder_day:
                slots.append((i, "day"))
        if not any(which == "inspector" for _i, which in slots):
            raise RuntimeError("the statement does not filter by the inspector")
        converters = compiler.get_converters([s[0] for s in compiler.select[0 : compiler.col_count]])
        return sql, tuple(params), slots, compiler, converters

    def rows(self, *, inspector_id: int, day: dt.date, year: int) -> list:
        connection = connections[DEFAULT_DB_ALIAS]
        compiled = self._by_connection.setdefault(connection, {})
        key = (year, str(settings.TRAINING_REQUIRED_HOURS))
        if key not in compiled:
            if len(compiled) > 4:  # a new year, or a test changing the default hours
                compiled.clear()
            compiled[key] = self._compile(year)
        sql, params, slots, compiler, converters = compiled[key]
        values = list(params)
        for i, which in slots:
            values[i] = inspector_id if which == "inspector" else connection.ops.adapt_datefield_value(day)
        with connection.cursor() as cursor:
            cursor.execute(sql, values)
            rows = cursor.fetchall()
        return list(compiler.apply_converters(rows, converters)) if converters else rows


def _certificate_object():
    """The picked certificate's public fields as one JSON object, a subquery per inspector."""
    picked = certificates_held_first(Certificate.objects.filter(holder=OuterRef("pk"))).values(
        card=JSONObject(
            number=F("number"),
            status=F("status"),
            region=F("region__name"),
            issued_on=F("issued_on"),
            valid_until=F("valid_until"),
        )
    )[:1]
    return Subquery(picked, output_field=JSONField())


# The inspector's latest applications (申请) shown on /me/, each a JSON object carried by the
# inspector's own statement (no statement of their own: /me/ stays within its six).
ME_APPLICATIONS = 3


def _application_object(index: int):
    """The inspector's ``index``-th latest application as one JSON object, a subquery."""
    latest = (
        CertificateApplication.objects.filter(inspector=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values(card=JSONObject(id=F("id"), kind=F("kind"), state=F("state"), level=F("level"), year=F("year")))[
            index : index + 1
        ]
    )
    return Subquery(latest, output_field=JSONField())


# The inspector's latest completed batches, each with the day it was rated (评教) if it was: the
# page offers the form for those still open and not rated. Carried by the inspector's own
# statement like the applications. A batch completed before the latest three is still rated
# through the API (``/api/v1/batches/{id}/evaluations/``).
ME_EVALUATIONS = 3
# What the page's 评教 form asks (the page alone: the JSON leaves it out).
EVALUATION_FORM = {"questions": QUESTIONS, "scores": list(SCORES), "comment_max": COMMENT_MAX}


def _evaluation_object(index: int):
    """The inspector's ``index``-th latest completed enrollment (``evaluation_candidates``) as
    one JSON object: its batch, and when it was rated (null: not yet)."""
    latest = evaluation_candidates(OuterRef("pk")).values(
        card=JSONObject(
            batch=F("batch_id"),
            year=F("batch__year"),
            number=F("batch__number"),
            course=F("batch__course__title"),
            organiser=F("batch__region__name"),
            ends_on=F("batch__ends_on"),
            given=F("evaluation__created_at"),
        )
    )[index : index + 1]
    return Subquery(latest, output_field=JSONField())


def inspector_row(actor, day: dt.date, year: int):
    """The inspector with their hours in ``year``, required hours, certificate, calendar token,
    latest applications and latest completed batches (评教)."""
    applications = {f"application_{i}": _application_object(i) for i in range(ME_APPLICATIONS)}
    evaluations = {f"evaluation_{i}": _evaluation_object(i) for i in range(ME_EVALUATIONS)}
    return (
        inspector_list(actor=actor)
        .annotate(
            hours=hours_this_year_per_row(year),
            required=required_hours_per_row(year),
            certificate=_certificate_object(),
            **applications,
            **evaluations,
        )
        .order_by()
        .values_list(
            "name",
            "sector",
            "status",
            "region__name",
            "calendar_token__token",
            "hours",
            "required",
            "certificate",
            *applications,
            *evaluations,
        )[:1]
    )


def _applications(found) -> list[dict]:
    """The latest applications from the JSON objects of the inspector's statement."""
    out = []
    for row in found:
        if row is None:
            continue
        out.append(
            {
                "id": int(row["id"]),
                "kind": row["kind"],
                "kind_display": _label(ApplicationKind.choices, row["kind"]),
                "state": row["state"],
                "state_display": _label(ApplicationState.choices, row["state"]),
                "level": row["level"] or "",
                "level_display": level_label(row["level"] or ""),
                "year": row["year"],
            }
        )
    return out


def _given_on(value) -> dt.date | None:
    """The rating's day from the JSON object's timestamp (PostgreSQL writes it with its offset,
    SQLite as naive UTC)."""
    if not value:
        return None
    at = dt.datetime.fromisoformat(value.replace(" ", "T"))
    if timezone.is_naive(at):
        at = timezone.make_aware(at, dt.UTC)
    return timezone.localtime(at).date()


def _evaluations(found, today: dt.date) -> list[dict]:
    """The latest completed batches whose 评教 is still open (rated or not), from the JSON
    objects of the inspector's statement."""
    out = []
    for row in found:
        if row is None:
            continue
        ends_on = dt.date.fromisoformat(row["ends_on"])
        if not rating_open(ends_on, today):
            continue
        out.append(
            {
                "batch": int(row["batch"]),
                "label": Batch(year=row["year"], number=row["number"]).label,
                "course": row["course"],
                "organiser": row["organiser"],
                "ends_on": ends_on,
                "closes_on": closes_on(ends_on),
                "given_on": _given_on(row["given"]),
            }
        )
    return out


def upcoming_rows(actor, day: dt.date, year: int):
    """Enrollments (enrolled or waitlisted) in batches not over by ``day``, soonest first."""
    return (
        enrollment_list(actor=actor)
        .filter(status__in=ACTIVE_ENROLLMENT, batch__ends_on__gte=day)
        .order_by("batch__starts_on", "batch_id")
        .values_list(
            "batch_id",
            "batch__year",
            "batch__number",
            "batch__course__title",
            "batch__region__name",
            "batch__starts_on",
            "batch__ends_on",
            "batch__place",
            "status",
            "waitlist_position",
        )
    )


def result_rows(actor, day: dt.date, year: int):
    """The inspector's results, newest first, one row per part of their exam (a LEFT JOIN)."""
    return (
        result_list(actor=actor)
        .order_by("-sitting__held_on", "-id", "exam__parts__order", "exam__parts__id")
        .values_list(
            "id",
            "exam__title",
            "exam__kind",
            "sitting__held_on",
            "sitting__place",
            "part_scores",
            "score",
            "pass_mark",
            "exam__pass_mark",
            "absent",
            "passed",
            "attempt",
            "exam__max_attempts",
            "exam__parts__id",
            "exam__parts__name",
            "exam__parts__max_score",
        )
    )


_INSPECTOR = _Compiled(inspector_row)
_UPCOMING = _Compiled(upcoming_rows)
_RESULTS = _Compiled(result_rows)
_SECTORS = dict(Inspector._meta.get_field("sector").flatchoices)
_INSPECTOR_STATUSES = dict(Inspector._meta.get_field("status").flatchoices)


def _results(rows) -> list[dict]:
    results: list[dict] = []
    last_id = None
    for (
        result_id,
        title,
        kind,
        held_on,
        place,
        part_scores,
        score,
        pass_mark,
        exam_pass_mark,
        absent,
        passed,
        attempt,
        max_attempts,
        part_id,
        part_name,
        part_max,
    ) in rows:
        if result_id != last_id:
            last_id = result_id
            results.append(
                {
                    "exam": title,
                    "kind": kind,
                    "kind_display": _label(ExamKind.choices, kind),
                    "held_on": held_on,
                    "place": place,
                    "parts": [],
                    "score": score,
                    "pass_mark": pass_mark if pass_mark is not None else exam_pass_mark,
                    "absent": absent,
                    "passed": passed,
                    "attempt": attempt,
                    "max_attempts": max_attempts,
                }
            )
        if part_id is not None:
            results[-1]["parts"].append(
                {"name": part_name, "score": _decimal((part_scores or {}).get(str(part_id))), "max_score": part_max}
            )
    return results


def _upcoming(rows, today: dt.date) -> list[dict]:
    return [
        {
            "batch": batch_id,
            "label": Batch(year=batch_year, number=batch_number).label,
            "course": course,
            "organiser": organiser,
            "starts_on": starts_on,
            "ends_on": ends_on,
            "place": place,
            "in_progress": starts_on <= today,
            "status": status,
            "status_display": _label(EnrollmentStatus.choices, status),
            "waitlist_position": waitlist_position,
        }
        for (
            batch_id,
            batch_year,
            batch_number,
            course,
            organiser,
            starts_on,
            ends_on,
            place,
            status,
            waitlist_position,
        ) in rows
    ]


def inspector_dashboard(*, actor, today: dt.date | None = None) -> dict:
    """The signed-in inspector's certificate, hours this year (the year of the batches:
    ``training.rules.in_year``), upcoming batches and exam results. Anyone who is not an
    inspector gets NotFound."""
    scope = access.scope_for(actor)
    if scope.kind != access.SELF:
        raise NotFound(_("此页面仅供执法人员使用。"))
    today = today or timezone.localdate()
    year = today.year
    found = _INSPECTOR.rows(inspector_id=scope.inspector_id, day=today, year=year)
    if not found:
        raise NotFound(_("此页面仅供执法人员使用。"))
    name, sector, status, region, calendar_token, hours, required, certificate, *cards = found[0]
    applications, evaluations = cards[:ME_APPLICATIONS], cards[ME_APPLICATIONS:]
    if calendar_token is None:  # the first visit creates it
        calendar_token = calendar_token_for(inspector=Inspector(pk=scope.inspector_id)).token
    upcoming = _upcoming(_UPCOMING.rows(inspector_id=scope.inspector_id, day=today, year=year), today)
    results = _results(_RESULTS.rows(inspector_id=scope.inspector_id, day=today, year=year))
    return {
        "today": today,
        "inspector": {
            "name": name,
            "region": region,
            "sector_display": _label(_SECTORS.items(), sector),
            "status_display": _label(_INSPECTOR_STATUSES.items(), status),
        },
        "certificate": _certificate_card(certificate, today),
        "hours": {
            "year": year,
            "hours": hours,
            "required": required,
            "remaining": max(Decimal("0"), required - hours),
            "met": rules.hours_met(hours, required),
            "percent": _percent(hours, required),
        },
        "upcoming": upcoming,
        "calendar_path": reverse("calendar-feed", kwargs={"token": calendar_token}),
        "results": results,
        "applications": _applications(applications),
        "evaluations": _evaluations(evaluations, today),
        "evaluation_form": EVALUATION_FORM,
    }


# --- the JSON twin: what the serializers below write, built directly ------------------------

_PRECISION = Context(prec=7)  # the widest DecimalField below (max_digits=7)
_ONE_PLACE = Decimal("0.1")


def _d1(value) -> str | None:
    """DRF's DecimalField(decimal_places=1) output: rounded half-even to one place, as text."""
    if value is None:
        return None
    if not isinstance(value, Decimal):
        value = Decimal(str(value).strip())
    return f"{value.quantize(_ONE_PLACE, context=_PRECISION):f}"


def _iso(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def dashboard_json(data: dict, request) -> dict:
    """``MeDashboardSerializer(data, context={"request": request}).data``, field for field
    and in the same order, without building the serializers (about half of the request's
    CPU). tests/exams/test_me_statements.py compares the two."""
    certificate = data["certificate"]
    hours = data["hours"]
    return {
        "today": _iso(data["today"]),
        "inspector": {k: str(v) for k, v in data["inspector"].items()},
        "certificate": None
        if certificate is None
        else {
            "number": certificate["number"],
            "status": certificate["status"],
            "status_display": str(certificate["status_display"]),
            "region": certificate["region"],
            "issued_on": _iso(certificate["issued_on"]),
            "valid_until": _iso(certificate["valid_until"]),
            "days_left": int(certificate["days_left"]),
            "countdown": str(certificate["countdown"]),
            "tone": certificate["tone"],
            "verify_url": verify_url(request, certificate["number"]),
        },
        "hours": {
            "year": int(hours["year"]),
            "hours": _d1(hours["hours"]),
            "required": _d1(hours["required"]),
            "remaining": _d1(hours["remaining"]),
            "met": bool(hours["met"]),
            "percent": int(hours["percent"]),
        },
        "upcoming": [
            {
                "batch": int(b["batch"]),
                "label": str(b["label"]),
                "course": b["course"],
                "organiser": b["organiser"],
                "starts_on": _iso(b["starts_on"]),
                "ends_on": _iso(b["ends_on"]),
                "place": b["place"],
                "in_progress": bool(b["in_progress"]),
                "status": b["status"],
                "status_display": str(b["status_display"]),
                "waitlist_position": b["waitlist_position"],
            }
            for b in data["upcoming"]
        ],
        "calendar_url": request.build_absolute_uri(data["calendar_path"]),
        "results": [
            {
                "exam": r["exam"],
                "kind": r["kind"],
                "kind_display": str(r["kind_display"]),
                "held_on": _iso(r["held_on"]),
                "place": r["place"],
                "parts": [
                    {"name": p["name"], "score": _d1(p["score"]), "max_score": _d1(p["max_score"])} for p in r["parts"]
                ],
                "score": _d1(r["score"]),
                "pass_mark": _d1(r["pass_mark"]),
                "absent": bool(r["absent"]),
                "passed": r["passed"],
                "attempt": r["attempt"],
                "max_attempts": int(r["max_attempts"]),
            }
            for r in data["results"]
        ],
        "applications": [
            {
                "id": a["id"],
                "kind": a["kind"],
                "kind_display": str(a["kind_display"]),
                "state": a["state"],
                "state_display": str(a["state_display"]),
                "level": a["level"],
                "level_display": str(a["level_display"]),
                "year": a["year"],
            }
            for a in data["applications"]
        ],
        "evaluations": [
            {
                "batch": e["batch"],
                "label": str(e["label"]),
                "course": e["course"],
                "organiser": e["organiser"],
                "ends_on": _iso(e["ends_on"]),
                "closes_on": _iso(e["closes_on"]),
                "given_on": _iso(e["given_on"]),
            }
            for e in data["evaluations"]
        ],
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


class MeApplicationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ApplicationKind.choices)
    kind_display = serializers.CharField()
    state = serializers.ChoiceField(choices=ApplicationState.choices)
    state_display = serializers.CharField()
    level = serializers.CharField(help_text="审批中的当前层级（county/city/province）；已办结、退回或撤回为空")
    level_display = serializers.CharField()
    year = serializers.IntegerField(allow_null=True, help_text="年审年度")


class MeEvaluationSerializer(serializers.Serializer):
    batch = serializers.IntegerField()
    label = serializers.CharField()
    course = serializers.CharField()
    organiser = serializers.CharField()
    ends_on = serializers.DateField()
    closes_on = serializers.DateField(help_text="评教截止日期")
    given_on = serializers.DateField(allow_null=True, help_text="评价日期；为空表示尚未评价")


class MeDashboardSerializer(serializers.Serializer):
    today = serializers.DateField()
    inspector = MeInspectorSerializer()
    certificate = MeCertificateSerializer(allow_null=True)
    hours = MeHoursSerializer()
    upcoming = MeBatchSerializer(many=True)
    calendar_url = serializers.SerializerMethodField()
    results = MeResultSerializer(many=True)
    applications = MeApplicationSerializer(many=True, help_text="最近的证件申请（至多 3 件），新的在前")
    evaluations = MeEvaluationSerializer(
        many=True,
        help_text="评教：最近结业的培训（至多 3 期）中仍可评价的，已评价的带评价日期；"
        "评价用 POST /api/v1/batches/{id}/evaluations/",
    )

    def get_calendar_url(self, obj) -> str:
        request = self.context.get("request")
        path = obj["calendar_path"]
        return request.build_absolute_uri(path) if request is not None else path
