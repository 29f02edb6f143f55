"""The public register's pages and their JSON twins (no login, the verify pages' rate limit).

- ``/register/``: the holders of a valid certificate; ``/register/changes/``: the last 90 days'
  issued, cancelled or taken back, and revoked certificates;
- ``/api/v1/register/`` and ``/api/v1/register/changes/``: the same rows as JSON.

Each asks ``exams.register.register_page`` for its rows, and counts against the verify
limit (exams.throttles): one budget for every public look-up, so alternating between the
doors does not speed up walking the holders.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound, ValidationFailed
from personnel.models import Sector

from .register import CHANGES, CHANGES_DAYS, HOLDERS, register_page, register_query
from .throttles import VerifyRateThrottle, verify_allowed
from .views import _throttled

# --- pages ------------------------------------------------------------------------------------


def _register(request, kind: str):
    allowed, wait = verify_allowed(request)
    if not allowed:
        return _throttled(request, wait)
    url_name = "register" if kind == HOLDERS else "register-changes"
    context = {"kind": kind, "sectors": Sector.choices, "days": CHANGES_DAYS, "action": reverse(url_name)}
    try:
        query = register_query(request.GET)
    except ValidationFailed as exc:
        # The form comes back empty with the reason: nothing of the bad input is echoed.
        return render(request, "exams/register.html", {**context, "error": exc.detail}, status=400)
    try:
        page = register_page(kind=kind, query=query, with_regions=True)
    except NotFound as exc:
        return render(request, "exams/register.html", {**context, "error": exc.detail, "query": query}, status=404)
    base = reverse(url_name)

    def link(number: int) -> str:
        params = query.as_params(page=number)
        return f"{base}?{urlencode(params)}" if params else base

    context.update(
        page=page,
        query=query,
        previous_url=link(page.page - 1) if page.has_previous else "",
        next_url=link(page.page + 1) if page.has_next else "",
        first_url=link(1),
        last_url=link(page.num_pages),
        other_url=_other(kind, query),
    )
    return render(request, "exams/register.html", context)


def _other(kind: str, query) -> str:
    """The other list (holders or changes) with the same filters, from its first page."""
    params = query.as_params(page=1)
    base = reverse("register-changes" if kind == HOLDERS else "register")
    return f"{base}?{urlencode(params)}" if params else base


@never_cache
@require_safe
def register_holders_page(request):
    """``/register/``: the valid certificate holders, by region, sector and search."""
    return _register(request, HOLDERS)


@never_cache
@require_safe
def register_changes_page(request):
    """``/register/changes/``: the certificates issued, cancelled or revoked lately."""
    return _register(request, CHANGES)


# --- API ----------------------------------------------------------------------------------------


class RegisterHolderSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="姓名")
    unit = serializers.CharField(help_text="工作单位")
    region = serializers.CharField(help_text="所属地区")
    sector = serializers.ChoiceField(choices=Sector.choices, help_text="行业")
    sector_display = serializers.CharField(help_text="行业名称")
    number = serializers.CharField(help_text="证号（13 位）")
    number_printed = serializers.CharField(help_text="证号（证件上的印制形式）")
    valid_until = serializers.DateField(help_text="有效期至")


class RegisterChangeSerializer(RegisterHolderSerializer):
    date = serializers.DateField(help_text="变动日期")
    change = serializers.CharField(help_text="变动类别：issued 发证、cancelled 注销、returned 收回、revoked 吊销")
    change_display = serializers.CharField(help_text="变动类别名称")


def _page_serializer(name: str, row):
    return type(
        name,
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(help_text="符合条件的总行数"),
            "page": serializers.IntegerField(help_text="本页页码"),
            "pages": serializers.IntegerField(help_text="总页数"),
            "next": serializers.URLField(allow_null=True, help_text="下一页"),
            "previous": serializers.URLField(allow_null=True, help_text="上一页"),
            "results": row(many=True),
        },
    )


RegisterHolderPageSerializer = _page_serializer("RegisterHolderPage", RegisterHolderSerializer)
RegisterChangePageSerializer = _page_serializer("RegisterChangePage", RegisterChangeSerializer)

QUERY_PARAMETERS = [
    OpenApiParameter("q", str, description="按姓名、证号或工作单位搜索（至多 50 个字）"),
    OpenApiParameter("region", str, description="行政区划代码：该地区及其下级地区"),
    OpenApiParameter("sector", str, enum=Sector.values, description="行业"),
    OpenApiParameter("page", int, description="页码（每页 20 行）"),
]


class _RegisterAPIView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [VerifyRateThrottle]
    renderer_classes = [JSONRenderer]
    kind = HOLDERS

    def get(self, request):
        page = register_page(kind=self.kind, query=register_query(request.query_params))

        def link(number: int) -> str:
            params = page.query.as_params(page=number)
            path = request.path + (f"?{urlencode(params)}" if params else "")
            return request.build_absolute_uri(path)

        response = Response(
            {
                "count": page.count,
                "page": page.page,
                "pages": page.num_pages,
                "next": link(page.page + 1) if page.has_next else None,
                "previous": link(page.page - 1) if page.has_previous else None,
                "results": page.rows,
            }
        )
        response["Cache-Control"] = "no-cache, no-store, max-age=0"
        return response


class RegisterHoldersAPIView(_RegisterAPIView):
    """The public register: valid certificate holders (no login; the verify rate limit)."""

    kind = HOLDERS

    @extend_schema(
        operation_id="register_list",
        tags=["register"],
        parameters=QUERY_PARAMETERS,
        responses={200: RegisterHolderPageSerializer},
    )
    def get(self, request):
        return super().get(request)


class RegisterChangesAPIView(_RegisterAPIView):
    """The public register's changes of the last 90 days: issued, cancelled or taken back,
    revoked (no login; the verify rate limit)."""

    kind = CHANGES

    @extend_schema(
        operation_id="register_changes",
        tags=["register"],
        parameters=QUERY_PARAMETERS,
        responses={200: RegisterChangePageSerializer},
    )
    def get(self, request):
        return super().get(request)
