"""The pages of QR sign-in (扫码签到); the codes and their rules are training.checkin's.

- ``/checkin/?t=<token>``: what the inspector's phone opens from the QR code. Signed in (the
  login page sends them back here), the scan is recorded and the page says so, or says why
  not (a 4xx with the reason). Opening it records at once: the token is fresh for 30-60 s
  and proves presence in the room, and the only thing it can record is the signed-in
  inspector's own presence on that day.
- ``/checkin/``: the same by the 6-digit code, typed (tries per user limited).
- ``/checkin/batch/<id>/``: the trainer's page for today, for the admins who manage the
  batch (may mark its attendance): the QR code, the code and the count, kept current by
  training/static/training/checkin.js from ``/api/v1/checkin/batches/<id>/`` (no inline script:
  core.csp).
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import AccessDenied, DomainError, NotFound
from personnel import access
from personnel.models import Inspector
from personnel.selectors import actor_manages_region

from . import checkin, selectors
from .models import Batch

# The tokens a browser opened before it was sent to log in: {token: when (epoch seconds)}.
SEEN_KEY = "checkin_seen"
SEEN_KEPT = 5


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("签到码"),
        min_length=6,
        max_length=6,
        help_text=_("培训现场屏幕上二维码下方的 6 位数字，每 30 秒更新。"),
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric",
                "autocomplete": "one-time-code",
                "pattern": "[0-9]{6}",
                "size": 8,
                "aria-describedby": "code-help",
            }
        ),
    )


def _inspector(request) -> Inspector | None:
    scope = access.scope_for(request.user)
    if scope.kind != access.SELF:
        return None
    return Inspector.objects.select_related("region").get(pk=scope.inspector_id)


def _seen_at(request, token: str) -> dt.datetime | None:
    stamp = request.session.get(SEEN_KEY, {}).get(token)
    return dt.datetime.fromtimestamp(stamp, tz=dt.UTC) if stamp is not None else None


def _remember(request, token: str, now: dt.datetime) -> None:
    """Note that this browser opened a fresh token (kept across the login: Django keeps a
    session's data when it logs someone in)."""
    try:
        checkin.ticket_from_token(token, now=now)
    except DomainError:
        return
    seen = dict(request.session.get(SEEN_KEY, {}))
    seen.setdefault(token, now.timestamp())
    request.session[SEEN_KEY] = dict(sorted(seen.items(), key=lambda kv: kv[1])[-SEEN_KEPT:])


def _result(request, *, outcome=None, error: DomainError | None = None, ticket=None):
    batch = None
    if outcome is not None:
        batch = outcome.attendance.enrollment.batch
    elif ticket is not None:
        batch = Batch.objects.select_related("course", "region").filter(pk=ticket.batch_id).first()
    context = {
        "outcome": outcome,
        "error": error,
        "batch": batch,
        "day": outcome.attendance.day if outcome is not None else getattr(ticket, "day", None),
        "at": timezone.localtime(outcome.attendance.created_at) if outcome is not None else None,
    }
    return render(request, "training/checkin/result.html", context, status=error.status_code if error else 200)


def _not_inspector(request):
    return render(request, "training/checkin/not_inspector.html", status=403)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def checkin_page(request):
    """The inspector's side: a scanned token (``?t=``) or a typed code."""
    now = timezone.now()
    token = request.GET.get("t", "")
    if not request.user.is_authenticated:
        if token:
            _remember(request, token, now)
        return redirect_to_login(request.get_full_path())
    inspector = _inspector(request)
    if inspector is None:
        return _not_inspector(request)
    if request.method == "POST":
        return _by_code(request, inspector, now)
    if token and request.method == "GET":  # not HEAD: a link checker records nobody
        ticket = None
        try:
            ticket = checkin.ticket_from_token(token, now=now, seen_at=_seen_at(request, token))
            outcome = checkin.check_in(ticket=ticket, inspector=inspector, now=now)
        except DomainError as exc:
            return _result(request, error=exc, ticket=ticket)
        return _result(request, outcome=outcome)
    return _code_page(request, CodeForm(), inspector, now)


def _code_page(request, form, inspector, now, *, status=200, wait=None):
    today = timezone.localdate(now)
    batches = [
        e.batch
        for e in inspector.enrollments.filter(batch__starts_on__lte=today, batch__ends_on__gte=today)
        .select_related("batch__course", "batch__region")
        .order_by("batch__starts_on", "batch_id")
    ]
    context = {"form": form, "batches": batches, "today": today, "wait": wait}
    response = render(request, "training/checkin/code.html", context, status=status)
    if wait is not None:
        response["Retry-After"] = str(wait)
    return response


def _by_code(request, inspector, now):
    form = CodeForm(request.POST)
    if not form.is_valid():
        return _code_page(request, form, inspector, now, status=400)
    allowed, wait = checkin.code_try_allowed(request)
    if not allowed:
        form.add_error(None, gettext("输入次数过多，请稍后再试。"))
        return _code_page(request, form, inspector, now, status=429, wait=wait)
    ticket = None
    try:
        ticket = checkin.ticket_from_code(form.cleaned_data["code"], inspector_id=inspector.pk, now=now)
        outcome = checkin.check_in(ticket=ticket, inspector=inspector, now=now)
    except DomainError as exc:
        if exc.code == "code_invalid":
            form.add_error("code", exc.detail)
            return _code_page(request, form, inspector, now, status=exc.status_code)
        return _result(request, error=exc, ticket=ticket)
    return _result(request, outcome=outcome)


# --- the trainer's page ------------------------------------------------------------------------


def _managed_batch(user, batch_id: int) -> Batch:
    """The batch, for an admin who manages its region (who may mark its attendance); raises
    DomainError (403 / 404) otherwise: NotFound for a batch the admin cannot see."""
    if not access.scope_for(user).is_admin:
        raise checkin_denied()
    batch = selectors.batch_get_for_actor(actor=user, batch_id=batch_id)
    if not actor_manages_region(actor=user, region=batch.region):
        raise checkin_denied()
    return batch


def checkin_denied() -> DomainError:
    return AccessDenied(gettext("只有组织该批次的地区（及其上级）的管理员可以打开签到二维码。"))


@never_cache
@login_required
@require_safe
def trainer_page(request, batch_id: int):
    """``/checkin/batch/<id>/``: today's QR code of the batch, its code and the count."""
    try:
        batch = _managed_batch(request.user, batch_id)
    except NotFound:
        raise Http404 from None
    except DomainError:
        raise PermissionDenied from None
    state = checkin.live_state(request=request, batch=batch, now=timezone.now())
    code_page = checkin.absolute_url(request, reverse("checkin")).split("://", 1)[-1]
    return render(request, "training/checkin/trainer.html", {"batch": batch, "state": state, "code_page": code_page})


class CheckinLiveSerializer(serializers.Serializer):
    batch = serializers.IntegerField()
    day = serializers.DateField(help_text="今天（当地日期）")
    open = serializers.BooleanField(help_text="现在是否可以扫码签到")
    reason = serializers.CharField(help_text="不能签到时的原因")
    url = serializers.CharField(help_text="二维码内容：/checkin/?t=<token> 的完整地址；不能签到时为空")
    code = serializers.CharField(help_text="6 位数字签到码（与二维码同时更新）；不能签到时为空")
    qr = serializers.CharField(help_text="二维码，SVG 的 data: URI；不能签到时为空")
    seconds_left = serializers.IntegerField(help_text="距当前二维码更新的秒数")
    poll_seconds = serializers.IntegerField(help_text="建议的刷新间隔（秒）")
    enrolled = serializers.IntegerField(help_text="已报名人数")
    signed_in = serializers.IntegerField(help_text="今天已出勤人数（扫码或培训机构登记）")
    latest = serializers.ListField(child=serializers.CharField(), help_text="最近扫码签到的人员姓名")


class CheckinLiveAPIView(APIView):
    """Today's sign-in of a batch for its trainer's page: the current QR code and code, and
    the count. For the admins who manage the batch; 404 for a batch the caller cannot see."""

    @extend_schema(
        operation_id="checkin_live",
        tags=["training"],
        responses={
            200: CheckinLiveSerializer,
            403: OpenApiResponse(description="不是该批次组织地区的管理员"),
            404: OpenApiResponse(description="批次不存在或不可见"),
        },
    )
    def get(self, request, batch_id: int):
        batch = _managed_batch(request.user, batch_id)  # a refusal is the API's 403 / 404 body
        response = Response(checkin.live_state(request=request, batch=batch, now=timezone.now()))
        response["Cache-Control"] = "no-store"
        return response
