"""The applications API (申请): /api/v1/applications/.

- ``GET /applications/``: the applications the caller may see (an inspector: their own),
  filtered by kind, state, level, region (code, its subtree), year, inspector, awaiting.
- ``POST /applications/``: one (``inspector``) or many (``inspectors``) at once. One answers
  201 with the application, or 400/403/404/409 with every reason in ``fields.reasons``.
  Many answer 201 with ``created`` and ``refused`` (each refused inspector with its code,
  detail and reasons; a refused one writes nothing, the others are created), or 409
  (code ``refused``) with the same two lists when none could be created.
- ``POST /applications/{id}/approve/``, ``/return/`` (comment required), ``/withdraw/``.
- ``POST /applications/approve/`` with ``ids``: approve many; 200 with ``approved`` and
  ``refused`` (each id with its code and detail), or 409 (code ``refused``) when none was.
- ``GET /applications/progress/?year=``: the annual review per city (``annual_review_progress``).

Serializers live here rather than in exams/serializers.py: they serve this API only.
"""

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.errors import NotFound
from core.serializers import ID_MAX
from personnel.models import Inspector, Region, Sector

from . import applications, selectors
from .models import ApplicationEvent, ApplicationKind, ApplicationReason, ApplicationState, CertificateApplication

ID = r"\d+"
LEVELS = (("county", gettext_lazy("县")), ("city", gettext_lazy("市")), ("province", gettext_lazy("省")))


class ApplicationEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None, read_only=True)

    class Meta:
        model = ApplicationEvent
        fields = ["kind", "level", "comment", "actor", "at"]


class ApplicationSerializer(serializers.ModelSerializer):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    state_display = serializers.CharField(source="get_state_display", read_only=True)
    inspector_name = serializers.CharField(source="inspector.name", read_only=True)
    region = serializers.CharField(source="region.code", read_only=True)
    region_name = serializers.CharField(source="region.name", read_only=True)
    certificate_number = serializers.CharField(source="certificate.number", default=None, read_only=True)
    levels = serializers.ListField(source="level_list", child=serializers.CharField(), read_only=True)
    new_region = serializers.CharField(source="new_region.code", default=None, allow_null=True, read_only=True)

    class Meta:
        model = CertificateApplication
        fields = [
            "id",
            "kind",
            "kind_display",
            "state",
            "state_display",
            "inspector",
            "inspector_name",
            "certificate",
            "certificate_number",
            "source_result",
            "region",
            "region_name",
            "levels",
            "level",
            "year",
            "reason",
            "note",
            "new_region",
            "new_sector",
            "new_unit",
            "created_at",
            "closed_at",
        ]


class ApplicationDetailSerializer(ApplicationSerializer):
    events = ApplicationEventSerializer(many=True, read_only=True)

    class Meta(ApplicationSerializer.Meta):
        fields = [*ApplicationSerializer.Meta.fields, "events"]


class ApplicationFilterSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ApplicationKind.choices, required=False)
    state = serializers.ChoiceField(choices=ApplicationState.choices, required=False)
    level = serializers.ChoiceField(choices=LEVELS, required=False)
    region = serializers.RegexField(r"^\d{6}$", required=False, help_text=gettext_lazy("行政区划代码（含下级）"))
    year = serializers.IntegerField(min_value=2000, max_value=2100, required=False)
    inspector = serializers.IntegerField(min_value=1, max_value=ID_MAX, required=False)
    awaiting = serializers.BooleanField(
        required=False, default=None, allow_null=True, help_text=gettext_lazy("只看待本人审批的")
    )


class ApplicationInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ApplicationKind.choices)
    inspector = serializers.IntegerField(min_value=1, max_value=ID_MAX, required=False, help_text=gettext_lazy("一人"))
    inspectors = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=ID_MAX),
        required=False,
        min_length=1,
        max_length=5000,
        help_text=gettext_lazy("多人（逐一审核，不合格的附理由返回，其余创建）"),
    )
    year = serializers.IntegerField(min_value=2000, max_value=2100, required=False, help_text=gettext_lazy("年审年度"))
    reason = serializers.ChoiceField(choices=ApplicationReason.choices, required=False)
    note = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)
    new_region = serializers.RegexField(r"^\d{6}$", required=False, help_text=gettext_lazy("变更后地区代码"))
    new_sector = serializers.ChoiceField(choices=Sector.choices, required=False)
    new_unit = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)

    def validate(self, data):
        if ("inspector" in data) == ("inspectors" in data):
            raise serializers.ValidationError({"inspector": [_("请填写 inspector（一人）或 inspectors（多人）之一。")]})
        return data


class CommentSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)


class ReturnSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=300)


class BulkApproveSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=ID_MAX), min_length=1, max_length=10000
    )
    comment = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)


class ProgressFilterSerializer(serializers.Serializer):
    year = serializers.IntegerField(min_value=2000, max_value=2100, required=False)


class ApplicationRefusedSerializer(serializers.Serializer):
    """A refused item of a batch: ``inspector`` (apply) or ``id`` (approve), why, and every reason."""

    inspector = serializers.IntegerField(required=False)
    id = serializers.IntegerField(required=False)
    code = serializers.CharField()
    detail = serializers.CharField()
    reasons = serializers.ListField(child=serializers.DictField())


def _refused_items():
    return ApplicationRefusedSerializer(many=True)


_BATCH = inline_serializer(
    "ApplicationBatchResult",
    {"created": ApplicationSerializer(many=True), "refused": _refused_items()},
)
_APPROVED = inline_serializer(
    "ApplicationApproveResult",
    {"approved": ApplicationSerializer(many=True), "refused": _refused_items()},
)
_APPROVED_NONE = inline_serializer(
    "ApplicationApproveRefused",
    {
        "code": serializers.CharField(),
        "detail": serializers.CharField(),
        "fields": serializers.DictField(),
        "approved": ApplicationSerializer(many=True),
        "refused": _refused_items(),
    },
)
_ERRORS = {
    400: OpenApiResponse(description="输入有误（理由见 fields）"),
    403: OpenApiResponse(description="无权申请或无权在该层级审批（level_not_held）"),
    404: OpenApiResponse(description="不在您的管辖范围内"),
    409: OpenApiResponse(description="不符合条件（理由见 fields.reasons），或状态不允许（not_pending）"),
}
_PROGRESS = inline_serializer(
    "AnnualReviewProgress",
    many=True,
    fields={
        "region": serializers.CharField(),
        "region_name": serializers.CharField(),
        "due": serializers.IntegerField(),
        "applied": serializers.IntegerField(),
        "approved": serializers.IntegerField(),
        "returned": serializers.IntegerField(),
        "pending": serializers.IntegerField(),
        "overdue": serializers.IntegerField(),
        "deadline": serializers.DateField(allow_null=True),
        "colour": serializers.ChoiceField(choices=["green", "amber", "red"]),
    },
)


def _refused_body(refused, key: str) -> list[dict]:
    return [r.as_dict(key) for r in refused]


class ApplicationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """证件申请: units apply for their inspectors; each level approves or returns; the last
    approval changes the certificate (exams.applications)."""

    serializer_class = ApplicationSerializer
    lookup_value_regex = ID

    def get_queryset(self):
        filters = {}
        if self.action == "list":
            params = ApplicationFilterSerializer(data=self.request.query_params)
            params.is_valid(raise_exception=True)
            filters = params.validated_data
        return selectors.application_list(actor=self.request.user, filters=filters)

    def get_object(self):
        return selectors.application_get_for_actor(actor=self.request.user, application_id=self.kwargs["pk"])

    def get_serializer_class(self):
        return ApplicationDetailSerializer if self.action == "retrieve" else ApplicationSerializer

    @extend_schema(parameters=[ApplicationFilterSerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=ApplicationInputSerializer, responses={201: _BATCH, **_ERRORS})
    def create(self, request):
        """Apply for one inspector (``inspector``: 201 with the application) or many
        (``inspectors``: 201 with ``created`` and ``refused``; 409 when none was created)."""
        form = ApplicationInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        options = {
            "year": data.get("year"),
            "reason": data.get("reason", ""),
            "note": data["note"],
            "new_sector": data.get("new_sector", ""),
            "new_unit": data["new_unit"],
            "new_region": _region(data.get("new_region")),
        }
        # The service reads and locks the inspectors itself (absent or out of scope: refused).
        if "inspector" in data:
            inspector = Inspector(pk=data["inspector"])
            application = applications.application_create(
                actor=request.user, kind=data["kind"], inspector=inspector, **options
            )
            return Response(ApplicationSerializer(application).data, status=status.HTTP_201_CREATED)
        people = [Inspector(pk=pk) for pk in data["inspectors"]]
        outcome = applications.applications_create(actor=request.user, kind=data["kind"], inspectors=people, **options)
        body = {
            "created": ApplicationSerializer(outcome.done, many=True).data,
            "refused": _refused_body(outcome.refused, "inspector"),
        }
        if not outcome.done:
            message = _("没有可以创建的申请。")
            return Response(
                {"code": "refused", "detail": message, "fields": {}, **body}, status=status.HTTP_409_CONFLICT
            )
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=CommentSerializer, responses={200: ApplicationSerializer, **_ERRORS})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve at the level the application waits at (the actor must hold it); the last
        level carries the change out."""
        form = CommentSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        application = self.get_object()
        done = applications.application_approve(
            actor=request.user, application=application, comment=form.validated_data["comment"]
        )
        return Response(ApplicationSerializer(done).data)

    @extend_schema(request=ReturnSerializer, responses={200: ApplicationSerializer, **_ERRORS})
    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    def return_(self, request, pk=None):
        """Return with a comment (required) at the level the application waits at."""
        form = ReturnSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        application = self.get_object()
        done = applications.application_return(
            actor=request.user, application=application, comment=form.validated_data["comment"]
        )
        return Response(ApplicationSerializer(done).data)

    @extend_schema(request=CommentSerializer, responses={200: ApplicationSerializer, **_ERRORS})
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        """The applying side withdraws a pending application."""
        form = CommentSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        application = self.get_object()
        done = applications.application_withdraw(
            actor=request.user, application=application, comment=form.validated_data["comment"]
        )
        return Response(ApplicationSerializer(done).data)

    @extend_schema(
        operation_id="v1_applications_approve_many",
        request=BulkApproveSerializer,
        responses={200: _APPROVED, 409: OpenApiResponse(_APPROVED_NONE, description="没有一件获批（code refused）")},
    )
    @action(detail=False, methods=["post"], url_path="approve", url_name="approve-many")
    def approve_many(self, request):
        """Approve many at once: each at its level; 200 with ``approved`` and ``refused``
        (each id with its code and detail), 409 when none was approved."""
        form = BulkApproveSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        outcome = applications.applications_approve(
            actor=request.user, ids=form.validated_data["ids"], comment=form.validated_data["comment"]
        )
        body = {
            "approved": ApplicationSerializer(outcome.done, many=True).data,
            "refused": _refused_body(outcome.refused, "id"),
        }
        if not outcome.done:
            message = _("没有可以批准的申请。")
            return Response(
                {"code": "refused", "detail": message, "fields": {}, **body}, status=status.HTTP_409_CONFLICT
            )
        return Response(body)

    @extend_schema(parameters=[ProgressFilterSerializer], responses={200: _PROGRESS})
    @action(detail=False, methods=["get"], pagination_class=None)
    def progress(self, request):
        """年审 per city for a year (default: this year): due, applied, approved, returned,
        pending, overdue, and the deadline colour."""
        params = ProgressFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        year = params.validated_data.get("year") or timezone.localdate().year
        rows = selectors.annual_review_progress(actor=request.user, year=year)
        return Response(rows)


def _region(code: str | None) -> Region | None:
    if not code:
        return None
    region = Region.objects.filter(code=code).first()
    if region is None:
        raise NotFound(_("地区不存在。"), fields={"new_region": [_("地区不存在。")]})
    return region
