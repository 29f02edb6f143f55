"""The question bank API (题库): /api/v1/questions/ for the admins of the regions whose banks
they manage: list with filters, read, add, change (a change of content makes a new version;
the versions are read at /questions/{id}/versions/), the .xlsx import and its template.

An inspector is refused every one of them (403): the bank holds the answers. Reads go
through exams.questions.question_list (scoped by region); writes through its services, the
import through exams.question_imports.
"""

from django.http import HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from core.errors import AccessDenied, NotFound, ValidationFailed
from core.serializers import ID_MAX
from personnel import access
from personnel.models import Region
from personnel.serializers import RegionCodeField, import_result_schemas

from . import questions
from .models import Difficulty, Question, QuestionKind, QuestionVersion
from .question_imports import question_template, questions_import

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

QuestionImportResultSerializer, QuestionImportRefusedSerializer = import_result_schemas("QuestionImport")


class QuestionOutputSerializer(serializers.ModelSerializer):
    region = serializers.SlugRelatedField(slug_field="code", read_only=True)
    region_name = serializers.CharField(source="region.name", read_only=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    options = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Question
        fields = [
            "id",
            "region",
            "region_name",
            "kind",
            "kind_display",
            "stem",
            "options",
            "answer",
            "explanation",
            "category",
            "difficulty",
            "active",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class QuestionVersionSerializer(serializers.ModelSerializer):
    options = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = QuestionVersion
        fields = ["version", "kind", "stem", "options", "answer", "explanation", "category", "difficulty", "at"]
        read_only_fields = fields


_OPTIONS_HELP = gettext_lazy("选项文字，依次为 A、B、C…（最多 6 个）；判断题可省略（即“正确”“错误”）")


class QuestionInputSerializer(serializers.Serializer):
    region = RegionCodeField(required=False, label=gettext_lazy("所属地区代码（默认为本人管辖地区）"))
    kind = serializers.ChoiceField(choices=QuestionKind.choices, label=gettext_lazy("题型"))
    stem = serializers.CharField(label=gettext_lazy("题干"), max_length=questions.STEM_MAX)
    options = serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=questions.OPTION_MAX),
        required=False,
        max_length=questions.MAX_OPTIONS,
        help_text=_OPTIONS_HELP,
    )
    answer = serializers.CharField(
        max_length=32, label=gettext_lazy("答案"), help_text=gettext_lazy("选项字母，如 B 或 ACD；判断题 A 或 B")
    )
    explanation = serializers.CharField(
        required=False, allow_blank=True, max_length=questions.EXPLANATION_MAX, label=gettext_lazy("解析")
    )
    category = serializers.CharField(max_length=questions.CATEGORY_MAX, label=gettext_lazy("分类"))
    difficulty = serializers.ChoiceField(choices=Difficulty.choices, required=False, label=gettext_lazy("难度"))
    active = serializers.BooleanField(required=False, default=True, label=gettext_lazy("启用"))


class QuestionUpdateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=QuestionKind.choices, required=False, label=gettext_lazy("题型"))
    stem = serializers.CharField(required=False, max_length=questions.STEM_MAX, label=gettext_lazy("题干"))
    options = serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=questions.OPTION_MAX),
        required=False,
        max_length=questions.MAX_OPTIONS,
        help_text=_OPTIONS_HELP,
    )
    answer = serializers.CharField(required=False, max_length=32, label=gettext_lazy("答案"))
    explanation = serializers.CharField(
        required=False, allow_blank=True, max_length=questions.EXPLANATION_MAX, label=gettext_lazy("解析")
    )
    category = serializers.CharField(required=False, max_length=questions.CATEGORY_MAX, label=gettext_lazy("分类"))
    difficulty = serializers.ChoiceField(choices=Difficulty.choices, required=False, label=gettext_lazy("难度"))
    active = serializers.BooleanField(required=False, label=gettext_lazy("启用"))


class QuestionFilterSerializer(serializers.Serializer):
    """Query parameters of the question list (applied by the scoped selector)."""

    category = serializers.CharField(required=False, max_length=questions.CATEGORY_MAX, label=gettext_lazy("分类"))
    kind = serializers.ChoiceField(choices=QuestionKind.choices, required=False, label=gettext_lazy("题型"))
    difficulty = serializers.ChoiceField(choices=Difficulty.choices, required=False, label=gettext_lazy("难度"))
    active = serializers.BooleanField(required=False, allow_null=True, default=None, label=gettext_lazy("启用"))
    region = serializers.RegexField(r"^\d{6}$", required=False, label=gettext_lazy("地区代码（含下级）"))
    search = serializers.CharField(required=False, max_length=64, label=gettext_lazy("题干、解析或分类中的文字"))


class QuestionImportSerializer(serializers.Serializer):
    file = serializers.FileField(label=gettext_lazy("题库文件（.xlsx、.xls 或 .csv）"))
    region = RegionCodeField(required=False, label=gettext_lazy("导入到哪个地区的题库（默认为本人管辖地区）"))
    dry_run = serializers.BooleanField(required=False, default=False, label=gettext_lazy("仅校验，不写入"))


def _require_admin(actor) -> None:
    if not access.scope_for(actor).is_admin:
        raise AccessDenied(_("题库仅供管理员使用。"))


def _own_region(actor) -> Region:
    scope = access.scope_for(actor)
    region = Region.objects.filter(pk=scope.region_id).first() if scope.region_id else None
    if region is None:
        message = _("请填写所属地区代码。")
        raise ValidationFailed(message, fields={"region": [message]})
    return region


_REFUSED = {
    400: OpenApiResponse(description="内容有误（fields 逐项说明）"),
    403: OpenApiResponse(description="不是管理员，或无权管理该地区的题库"),
    409: OpenApiResponse(description="本地区题库中已有相同的试题（duplicate_question，说明其编号）"),
}


class QuestionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Questions of the banks of the regions the caller administers (their subtree)."""

    serializer_class = QuestionOutputSerializer
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication first: anonymous is a 401
        _require_admin(request.user)  # before any lookup: an inspector learns nothing of the bank

    def get_queryset(self):
        filters = {}
        if self.action == "list":
            params = QuestionFilterSerializer(data=self.request.query_params)
            params.is_valid(raise_exception=True)
            filters = params.validated_data
        return questions.question_list(actor=self.request.user, filters=filters)

    def get_object(self):
        pk = int(self.kwargs["pk"])
        if pk > ID_MAX:
            raise NotFound()
        return questions.question_get_for_actor(actor=self.request.user, question_id=pk)

    @extend_schema(parameters=[QuestionFilterSerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=QuestionInputSerializer, responses={201: QuestionOutputSerializer, **_REFUSED})
    def create(self, request, *args, **kwargs):
        data = QuestionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        region = values.pop("region", None) or _own_region(request.user)
        values.setdefault("options", [])
        values.setdefault("difficulty", Difficulty.MEDIUM)
        question = questions.question_create(actor=request.user, region=region, **values)
        return Response(QuestionOutputSerializer(question).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=QuestionUpdateSerializer, responses={200: QuestionOutputSerializer, **_REFUSED})
    def partial_update(self, request, *args, **kwargs):
        question = self.get_object()
        data = QuestionUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        question = questions.question_update(question=question, actor=request.user, **data.validated_data)
        return Response(
            QuestionOutputSerializer(questions.question_get_for_actor(actor=request.user, question_id=question.pk)).data
        )

    @extend_schema(responses={200: QuestionVersionSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None)  # every version, not a page
    def versions(self, request, pk=None):
        """Every version of the question, the first first: what a paper drawn then asked."""
        question = self.get_object()
        return Response(QuestionVersionSerializer(question.versions.order_by("version"), many=True).data)

    @extend_schema(
        request={"multipart/form-data": QuestionImportSerializer},
        responses={
            200: OpenApiResponse(QuestionImportResultSerializer, description="导入成功（或校验通过的试运行）"),
            400: OpenApiResponse(QuestionImportRefusedSerializer, description="有错误，未写入任何数据"),
            403: OpenApiResponse(description="无导入权限"),
        },
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser, FormParser])
    def import_questions(self, request):
        """Import questions (.xlsx/.xls/.csv: 题型, 题干, 选项A-F, 答案, 解析, 分类, 难度, 启用).
        Every row is checked first (content, duplicates within the file and against the bank);
        any problem writes nothing and is reported by row and column."""
        form = QuestionImportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        result = questions_import(
            actor=request.user,
            data=upload.read(),
            filename=upload.name,
            region=form.validated_data.get("region"),
            dry_run=form.validated_data["dry_run"],
        )
        body = result.as_dict()
        if not result.ok:
            body = {"code": "invalid_file", "detail": str(result.errors[0]), "fields": {}, **body}
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        return Response(body, status=status.HTTP_200_OK)

    def perform_content_negotiation(self, request, force=False):
        # The template answers a workbook it builds itself; its refusals are JSON whatever the
        # Accept header asks (DRF would answer 406 to an Accept of the workbook's type).
        if self.action == "template":
            return JSONRenderer(), JSONRenderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(
        responses={
            (200, XLSX): OpenApiResponse(OpenApiTypes.BINARY, description="题库导入模板（.xlsx）"),
            403: OpenApiResponse(description="不是管理员"),
        }
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def template(self, request):
        """The empty import file: a guide row and the header (题型, 题干, 选项A-F, 答案, 解析,
        分类, 难度, 启用), drop-down lists for 题型, 难度 and 启用."""
        response = HttpResponse(question_template(), content_type=XLSX)
        response["Content-Disposition"] = 'attachment; filename="question-bank-template.xlsx"'
        return response
