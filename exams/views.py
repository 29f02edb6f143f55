"""Pages of the exams app, and their JSON twins.

- ``/verify/`` and ``/verify/<number>/``: public certificate check (no login, rate-limited);
- ``/me/``: the signed-in inspector's own page;
- ``/api/v1/certificates/verify/<number>/`` and ``/api/v1/me/``: the same data as JSON.

The two API views live here rather than in ``api.py`` because each is the twin of a page
and shares its selector and throttle; the CRUD viewsets are in ``api.py``.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound
from personnel import access

from . import numbers
from .me import MeDashboardSerializer, dashboard_json, inspector_dashboard
from .models import CertificateStatus
from .qr import qr_svg, verify_url
from .selectors import certificate_verify
from .throttles import VerifyRateThrottle, verify_allowed

# The colour of a status on the public page (the inspector's page adds the expiry countdown).
STATUS_TONE = {
    CertificateStatus.VALID: "green",
    CertificateStatus.SUSPENDED: "red",
    CertificateStatus.REVOKED: "red",
    CertificateStatus.EXPIRED: "red",
    CertificateStatus.RETURNED: "grey",
}


# --- public verification ----------------------------------------------------------------------


def _not_found(request):
    # Says nothing about why (unknown, mistyped, never issued) and echoes nothing back, so
    # every miss has the very same body.
    return render(request, "exams/verify_not_found.html", status=404)


def _throttled(request, wait: int | None):
    response = render(request, "exams/throttled.html", {"wait": wait}, status=429)
    if wait is not None:
        response["Retry-After"] = str(wait)
    return response


@never_cache
@require_safe
def verify_page(request, number: str):
    """``/verify/<number>/``: status, masked holder, issuing region, validity. Nothing else."""
    allowed, wait = verify_allowed(request)
    if not allowed:
        return _throttled(request, wait)
    found = certificate_verify(number=number)
    if found is None:
        return _not_found(request)
    return render(request, "exams/verify.html", {"cert": found, "tone": STATUS_TONE.get(found["status"], "grey")})


@never_cache
@require_safe
def verify_form(request):
    """``/verify/?number=...``: a well-formed number goes to its page; anything else is the
    same not-found answer (and counts against the same limit)."""
    raw = request.GET.get("number", "")
    if not raw.strip():
        return render(request, "exams/verify_form.html")
    normalized = numbers.normalize(raw)
    if numbers.is_valid(normalized):
        return redirect("verify", number=normalized)
    return verify_page(request, raw)


class VerifySerializer(serializers.Serializer):
    number = serializers.CharField(help_text="证号")
    status = serializers.ChoiceField(choices=CertificateStatus.choices)
    status_display = serializers.CharField()
    holder = serializers.CharField(help_text="持证人姓名（已脱敏，如 张*三）")
    region = serializers.CharField(help_text="发证地区")
    issued_on = serializers.DateField()
    valid_until = serializers.DateField()


class CertificateVerifyAPIView(APIView):
    """Public check of a certificate number: no login, rate-limited per client."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [VerifyRateThrottle]
    # JSON only: no content negotiation on the busiest anonymous endpoint.
    renderer_classes = [JSONRenderer]

    def dispatch(self, request, *args, **kwargs):
        """A found number (nearly every call) is answered here, without DRF's request wrapping,
        content negotiation and renderer (about a third of the endpoint's CPU besides the
        query): the same limit counted once, the same JSON and headers. Anything else (refused,
        not found, another method, an Accept or ?format= DRF must judge) goes through DRF
        with the limit's decision already made, so that nothing is counted twice."""
        if request.method in ("GET", "HEAD") and _plain_json_accepted(request):
            throttle = VerifyRateThrottle()
            allowed = throttle.allow_request(request, self)
            found = certificate_verify(number=kwargs.get("number", "")) if allowed else None
            if found is not None:
                response = HttpResponse(self.renderer_classes[0]().render(found), content_type="application/json")
                response["Cache-Control"] = "no-cache, no-store, max-age=0"
                response["Allow"] = ", ".join(self.allowed_methods)
                return response
            request.verify_decided = (allowed, throttle.wait(), found)
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(
        operation_id="certificates_verify",
        tags=["certificates"],
        responses={
            200: VerifySerializer,
            404: OpenApiResponse(description="未找到（未知或格式不正确的证号，答复相同）"),
            429: OpenApiResponse(description="查询过于频繁"),
        },
    )
    def get(self, request, number: str):
        decided = getattr(request, "verify_decided", None)
        found = decided[2] if decided is not None else certificate_verify(number=number)
        if found is None:
            raise NotFound(_("未找到该证号。"))
        # certificate_verify already returns exactly the public fields (VerifySerializer
        # documents them for the schema); the renderer writes the dates as ISO strings.
        response = Response(found)
        response["Cache-Control"] = "no-cache, no-store, max-age=0"
        return response


def _plain_json_accepted(request) -> bool:
    """True when DRF would pick JSON without a doubt: no ?format= (the query string is not
    parsed: any "format" in it goes to DRF), and no Accept header or one naming JSON or anything."""
    if "format" in request.META.get("QUERY_STRING", ""):
        return False
    accept = request.META.get("HTTP_ACCEPT", "")
    return not accept or "*/*" in accept or "application/json" in accept or "application/*" in accept


# --- the inspector's own page -------------------------------------------------------------------


@login_required
@require_safe
def me_page(request):
    """``/me/``: the signed-in inspector's certificate, hours, batches and results."""
    try:
        data = inspector_dashboard(actor=request.user)
    except NotFound:
        scope = access.scope_for(request.user)
        return render(request, "exams/not_inspector.html", {"is_admin": scope.is_admin or request.user.is_staff})
    certificate = data["certificate"]
    if certificate is not None:
        url = verify_url(request, certificate["number"])
        certificate["verify_url"] = url
        certificate["qr_svg"] = qr_svg(url)
    calendar_url = request.build_absolute_uri(data["calendar_path"])
    data["calendar_url"] = calendar_url
    data["webcal_url"] = "webcal://" + calendar_url.split("://", 1)[1]
    return render(request, "exams/me.html", data)


class MeAPIView(APIView):
    """The signed-in inspector's own dashboard; 404 for anyone who is not an inspector."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="me_dashboard",
        tags=["me"],
        responses={200: MeDashboardSerializer, 404: OpenApiResponse(description="不是执法人员账号")},
    )
    def get(self, request):
        # MeDashboardSerializer documents the body; dashboard_json writes it (the same JSON).
        return Response(dashboard_json(inspector_dashboard(actor=request.user), request))
