"""The exams API: exams, sittings with their score grid and file import, results with
their history, certificates with their workflow verbs and event log.

Reads go through exams.selectors (404 outside the caller's scope); every write goes to
exams.services, scores through the one check in exams.imports.
"""

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from core.errors import AccessDenied, ValidationFailed
from personnel import access
from personnel.models import Region
from personnel.serializers import import_result_schemas
from training.selectors import batch_list

from . import api_online, card_admin, online, selectors, services
from . import card as card_pdf
from .imports import Entry, candidate_pool, grid_read, require_open_sitting, scores_import, scores_save
from .serializers import (
    AnnualReviewSerializer,
    CertificateEventSerializer,
    CertificateFilterSerializer,
    CertificateOutputSerializer,
    ExamFilterSerializer,
    ExamInputSerializer,
    ExamOutputSerializer,
    GridRowInputSerializer,
    GridSavedSerializer,
    GridSerializer,
    ReasonSerializer,
    ResultChangeSerializer,
    ResultFilterSerializer,
    ResultOutputSerializer,
    ReviewInputSerializer,
    ReviewOutputSerializer,
    ScoreImportSerializer,
    SittingFilterSerializer,
    SittingInputSerializer,
    SittingOutputSerializer,
)

ID = r"\d+"


# The import answers, as for the roster: a result (200) or the envelope plus the result (400).
ScoreImportResultSerializer, ScoreImportRefusedSerializer = import_result_schemas(
    "ScoreImport", extra={"absent": int, "certificates": int}
)


def _params(serializer_class, request) -> dict:
    params = serializer_class(data=request.query_params)
    params.is_valid(raise_exception=True)
    return params.validated_data


def _require_admin(actor) -> None:
    if not access.scope_for(actor).is_admin:
        raise AccessDenied()


def _own_region(actor):
    """The region an admin is bound to: the default organiser of what they create."""
    scope = access.scope_for(actor)
    region = Region.objects.filter(pk=scope.region_id).first() if scope.region_id else None
    if region is None:
        message = _("请填写组织地区代码。")
        raise ValidationFailed(message, fields={"region": [message]})
    return region


# --- exams ------------------------------------------------------------------------------------


class ExamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Exams organised in the caller's region (an inspector: the exams they sat)."""

    serializer_class = ExamOutputSerializer
    lookup_value_regex = ID

    def get_queryset(self):
        filters = _params(ExamFilterSerializer, self.request) if self.action == "list" else {}
        return selectors.exam_list(actor=self.request.user, filters=filters)

    def get_object(self):
        return selectors.exam_get_for_actor(actor=self.request.user, exam_id=self.kwargs["pk"])

    @extend_schema(parameters=[ExamFilterSerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=ExamInputSerializer, responses={201: ExamOutputSerializer})
    def create(self, request, *args, **kwargs):
        _require_admin(request.user)
        data = ExamInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        region = values.pop("region", None)
        if region is None:
            region = _own_region(request.user)
        parts = [(p["name"], p["max_score"]) for p in values.pop("parts")]
        exam = services.exam_create(actor=request.user, region=region, parts=parts, **values)
        exam = selectors.exam_get_for_actor(actor=request.user, exam_id=exam.pk)
        return Response(self.get_serializer(exam).data, status=status.HTTP_201_CREATED)


# --- sittings and their score grid ------------------------------------------------------------


class SittingViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Sittings of the exams the caller may see; admins read and write their score grid."""

    serializer_class = SittingOutputSerializer
    lookup_value_regex = ID

    def get_queryset(self):
        filters = _params(SittingFilterSerializer, self.request) if self.action == "list" else {}
        return selectors.sitting_list(actor=self.request.user, filters=filters)

    def get_object(self):
        return selectors.sitting_get_for_actor(actor=self.request.user, sitting_id=self.kwargs["pk"])

    @extend_schema(parameters=[SittingFilterSerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=SittingInputSerializer, responses={201: SittingOutputSerializer})
    def create(self, request, *args, **kwargs):
        _require_admin(request.user)
        data = SittingInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        errors = {}
        exam = selectors.exam_list(actor=request.user).filter(pk=values["exam"]).first()
        if exam is None:
            errors["exam"] = [_("未找到该考试。")]
        batch = None
        if values.get("batch"):
            batch = batch_list(actor=request.user).filter(pk=values["batch"]).first()
            if batch is None:
                errors["batch"] = [_("未找到该培训批次。")]
        if errors:
            raise ValidationFailed(_("提交的数据有误。"), fields=errors)
        sitting = services.sitting_create(
            actor=request.user,
            exam=exam,
            held_on=values["held_on"],
            place=values["place"],
            batch=batch,
            **{name: values[name] for name in online.ONLINE_FIELDS},
        )
        sitting = selectors.sitting_get_for_actor(actor=request.user, sitting_id=sitting.pk)
        return Response(self.get_serializer(sitting).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(
                api_online.AttemptDetailSerializer, description="我的答卷和试卷（再次调用返回同一份）"
            ),
            404: api_online.NOT_AN_INSPECTOR,
            409: api_online.CLOSED,
        },
    )
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        """An inspector starts (or resumes) their attempt at an online sitting: the paper with
        options in display order, never the answers (exams.api_online)."""
        return api_online.sitting_start(request, pk)

    @extend_schema(responses={200: api_online.SittingAttemptSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def attempts(self, request, pk=None):
        """The online attempts of a sitting, for its admins (read-only)."""
        _require_admin(request.user)
        sitting = self.get_object()
        page = self.paginate_queryset(online.sitting_attempts(sitting=sitting))
        return self.get_paginated_response(api_online.sitting_attempts_json(sitting, page))

    @extend_schema(methods=["GET"], responses={200: GridSerializer})
    @extend_schema(
        methods=["POST", "PUT"],
        request=GridRowInputSerializer(many=True),
        responses={
            200: OpenApiResponse(GridSavedSerializer, description="全部写入（未变的行不重复记录）"),
            400: OpenApiResponse(description="有错误：fields.rows.<序号>.<字段> 逐行说明，未写入任何数据"),
            403: OpenApiResponse(description="无权录入该场次的成绩"),
            409: OpenApiResponse(description="场次已确认或已取消（sitting_closed）"),
        },
    )
    @action(detail=True, methods=["get", "post", "put"], url_path="results", parser_classes=[JSONParser])
    def results(self, request, pk=None):
        """The score grid: one row per candidate with their current result. POST/PUT a list
        of {inspector, scores: {part id: score}, absent}; every row is checked first and any
        error writes nothing. Rows left out are left as they are."""
        _require_admin(request.user)
        sitting = self.get_object()
        if request.method in ("GET", "HEAD"):  # HEAD is a read (tests/security/test_head.py)
            parts, rows = grid_read(sitting=sitting, actor=request.user)
            grid = {"sitting": sitting, "parts": parts, "rows": [_grid_row(r) for r in rows]}
            return Response(GridSerializer(grid, context=self.get_serializer_context()).data)
        require_open_sitting(sitting=sitting, actor=request.user)
        entries = _grid_entries(sitting, request.user, request.data)
        outcome = scores_save(sitting=sitting, actor=request.user, entries=entries, source="grid")
        if not outcome.ok:
            raise ValidationFailed(_("成绩有误，未写入任何数据。"), fields={"rows": _grid_errors(outcome.errors)})
        body = {
            "ok": True,
            "created": outcome.created,
            "updated": outcome.updated,
            "unchanged": outcome.unchanged,
            "absent": outcome.absent,
            "certificates": outcome.certificates,
        }
        return Response(GridSavedSerializer(body).data)

    @extend_schema(
        request={"multipart/form-data": ScoreImportSerializer},
        responses={
            200: OpenApiResponse(ScoreImportResultSerializer, description="导入成功（或校验通过的试运行）"),
            400: OpenApiResponse(ScoreImportRefusedSerializer, description="有错误，未写入任何数据"),
            403: OpenApiResponse(description="无导入权限"),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="results/import",
        parser_classes=[MultiPartParser, FormParser],
    )
    def import_results(self, request, pk=None):
        """Import scores (.xlsx/.csv: 身份证号 or 证号, one column per part, 缺考). Every row is
        checked first; any error writes nothing and is reported by row and column."""
        _require_admin(request.user)
        sitting = self.get_object()
        form = ScoreImportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        result = scores_import(
            sitting=sitting,
            actor=request.user,
            data=upload.read(),
            filename=upload.name,
            dry_run=form.validated_data["dry_run"],
        )
        body = result.as_dict()
        if not result.ok:
            body = {"code": "invalid_file", "detail": str(result.errors[0]), "fields": {}, **body}
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        return Response(body, status=status.HTTP_200_OK)


def _grid_row(row) -> dict:
    result = row.result
    return {
        "inspector": row.inspector,
        "result": result.pk if result else None,
        "scores": result.part_scores if result else {},
        "total": result.score if result else None,
        "absent": result.absent if result else False,
        "passed": result.passed if result else None,
        "attempt": result.attempt if result else None,
    }


def _grid_entries(sitting, actor, data) -> list[Entry]:
    rows = data.get("rows") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        message = _("请提交成绩行的列表：[{inspector, scores, absent}, ...]。")
        raise ValidationFailed(message, fields={"rows": [message]})
    parsed: list[dict | None] = []
    problems: list[list] = []
    for row in rows:
        form = GridRowInputSerializer(data=row if isinstance(row, dict) else {})
        if form.is_valid():
            parsed.append(form.validated_data)
            problems.append([])
        else:
            parsed.append(None)
            problems.append([_shape_problem(name, messages) for name, messages in form.errors.items()])
    ids = {p["inspector"] for p in parsed if p}
    people = candidate_pool(sitting=sitting, actor=actor).in_bulk(ids) if ids else {}
    entries = []
    for index, (values, found) in enumerate(zip(parsed, problems, strict=True)):
        label = _("序号 %(i)d 的行") % {"i": index}
        if values is None:
            entries.append(Entry(inspector=None, scores={}, absent=None, label=label, problems=found))
            continue
        inspector = people.get(values["inspector"])
        if inspector is None:
            found.append(("inspector", None, _("未找到该执法人员（或不在您的管辖范围内）")))
        entries.append(
            Entry(inspector=inspector, scores=values["scores"], absent=values["absent"], label=label, problems=found)
        )
    return entries


def _shape_problem(name: str, messages) -> tuple[str, str | None, str]:
    if name == "scores" and isinstance(messages, dict):
        key, inner = next(iter(messages.items()))
        return ("scores", str(key), str(inner[0]))
    field_name = name if name in ("inspector", "absent", "scores") else "inspector"
    return (field_name, None, str(messages[0]))


def _grid_errors(errors) -> dict:
    """{"<row index>": {"inspector": [...], "absent": [...], "scores": {"<part id>": [...]}}}"""
    out: dict[str, dict] = {}
    for error in errors:
        row = out.setdefault(str(error.index), {})
        if error.field == "scores":
            row.setdefault("scores", {}).setdefault(error.part_id or "*", []).append(error.message)
        else:
            row.setdefault(error.field, []).append(error.message)
    return out


# --- results ----------------------------------------------------------------------------------


class ResultViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Results of the inspectors the caller may see (an inspector: their own)."""

    serializer_class = ResultOutputSerializer
    lookup_value_regex = ID

    def get_queryset(self):
        filters = _params(ResultFilterSerializer, self.request) if self.action == "list" else {}
        return selectors.result_list(actor=self.request.user, filters=filters)

    def get_object(self):
        return selectors.result_get_for_actor(actor=self.request.user, result_id=self.kwargs["pk"])

    @extend_schema(parameters=[ResultFilterSerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: ResultChangeSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None)  # the whole history, not a page
    def history(self, request, pk=None):
        """Every change of the recorded score: old and new values, who and when."""
        changes = selectors.result_history(actor=request.user, result_id=pk)
        return Response(ResultChangeSerializer(changes, many=True).data)


# --- certificates -----------------------------------------------------------------------------

_REFUSALS = {
    400: OpenApiResponse(description="缺少理由等（fields 说明）"),
    403: OpenApiResponse(description="无权管理该证件"),
    404: OpenApiResponse(description="不在您的管辖范围内"),
    409: OpenApiResponse(description="当前状态不允许（illegal_transition 等）"),
}


class CertificateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """行政执法证 of the holders the caller may see; admins move them through the one state
    machine in exams.services (every transition writes an event)."""

    serializer_class = CertificateOutputSerializer
    lookup_value_regex = ID  # certificates/verify/<number>/ belongs to the public verify view

    def get_queryset(self):
        filters = _params(CertificateFilterSerializer, self.request) if self.action == "list" else {}
        return selectors.certificate_list(actor=self.request.user, filters=filters)

    def get_object(self):
        return selectors.certificate_get_for_actor(actor=self.request.user, certificate_id=self.kwargs["pk"])

    @extend_schema(parameters=[CertificateFilterSerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def _transition(self, request, service, **extra):
        certificate = self.get_object()
        form = ReasonSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        service(certificate=certificate, reason=form.validated_data["reason"], actor=request.user, **extra)
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=ReasonSerializer, responses={200: CertificateOutputSerializer, **_REFUSALS})
    @action(detail=True, methods=["post"])
    def suspend(self, request, pk=None):
        """暂扣 a valid certificate (reason required)."""
        return self._transition(request, services.certificate_suspend)

    @extend_schema(request=ReasonSerializer, responses={200: CertificateOutputSerializer, **_REFUSALS})
    @action(detail=True, methods=["post"])
    def reinstate(self, request, pk=None):
        """恢复 a suspended certificate still within its validity (reason required)."""
        return self._transition(request, services.certificate_reinstate)

    @extend_schema(request=ReasonSerializer, responses={200: CertificateOutputSerializer, **_REFUSALS})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """吊销 a valid or suspended certificate: final (reason required)."""
        return self._transition(request, services.certificate_revoke)

    @extend_schema(request=ReasonSerializer, responses={200: CertificateOutputSerializer, **_REFUSALS})
    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    def return_(self, request, pk=None):
        """收回 when the holder has retired or transferred (reason optional)."""
        return self._transition(request, services.certificate_return)

    @extend_schema(request=None, responses={200: CertificateOutputSerializer, **_REFUSALS})
    @action(detail=True, methods=["post"])
    def renew(self, request, pk=None):
        """换发 near expiry when the holder passed their latest qualification or annual exam."""
        certificate = self.get_object()
        services.certificate_renew(certificate=certificate, actor=request.user)
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        request=ReviewInputSerializer,
        responses={
            200: ReviewOutputSerializer,
            **_REFUSALS,
        },
    )
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        """年审 for a year (default: last year); a failed review suspends the certificate."""
        certificate = self.get_object()
        form = ReviewInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        review = services.certificate_review(
            certificate=certificate, year=form.validated_data["year"], actor=request.user
        )
        body = {
            "review": AnnualReviewSerializer(review).data,
            "certificate": self.get_serializer(self.get_object()).data,
        }
        return Response(body)

    @extend_schema(responses={200: CertificateEventSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None)  # the whole log, not a page
    def events(self, request, pk=None):
        """The certificate's event log, oldest first."""
        events = selectors.certificate_events(actor=request.user, certificate_id=pk)
        return Response(CertificateEventSerializer(events, many=True).data)

    def perform_content_negotiation(self, request, force=False):
        # The card answers a PDF it builds itself; its refusals are JSON whatever the Accept
        # header asks (DRF would answer 406 to "Accept: application/pdf" before the view ran).
        if self.action == "card":
            return JSONRenderer(), JSONRenderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "layout",
                str,
                enum=[*card_pdf.LAYOUTS],
                default=card_pdf.LAYOUT_CARD,
                description="card：每页一张（证卡尺寸，正面后接背面）；a4：A4 拼版，带裁切线，正反面交替",
            )
        ],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="执法证 PDF"),
            400: _REFUSALS[400],
            403: _REFUSALS[403],
            404: _REFUSALS[404],
            409: OpenApiResponse(description="证件不是有效状态，不能制卡（card_not_printable）"),
        },
    )
    @action(detail=True, methods=["get"])
    def card(self, request, pk=None):
        """The printed card (执法证) as PDF; records a card_printed (制卡) event. Admins whose
        region contains the holder's."""
        certificate = self.get_object()
        layout = request.query_params.get("layout", card_pdf.LAYOUT_CARD)
        if request.method == "HEAD":
            # What GET would answer, without printing a card (and so without a 制卡 event).
            card_pdf.certificate_cards_check(actor=request.user, certificates=[certificate], layout=layout)
            return card_admin.pdf_response(b"", 1)
        pdf = card_pdf.certificate_cards_print(
            actor=request.user, certificates=[certificate], layout=layout, request=request
        )
        return card_admin.pdf_response(pdf, 1)
