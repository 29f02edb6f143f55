"""Shapes of the exams API: input serializers validate types, output serializers render;
rules live in exams.services and the score check in exams.imports."""

from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from personnel.models import Sector
from personnel.selectors import can_see_full_national_id
from personnel.serializers import RegionBriefSerializer, RegionCodeField
from training.models import Course

from .models import (
    AnnualReview,
    Certificate,
    CertificateEvent,
    CertificateStatus,
    Exam,
    ExamKind,
    ExamPart,
    Result,
    ResultChange,
    ScoreShown,
    Sitting,
    SittingMode,
    SittingStatus,
)

SCORE = {"max_digits": 6, "decimal_places": 1}
# An id past what a BigAutoField holds is a 500 in a lookup (SQLite OverflowError,
# PostgreSQL out of range): refused as a 400 instead.
ID = {"min_value": 1, "max_value": 2**63 - 1}


def _actor(context):
    request = context.get("request")
    return getattr(request, "user", None)


class HolderSerializer(serializers.Serializer):
    """An inspector as the exams API shows them: the ID number masked unless the caller
    administers the inspector's region (the personnel rule)."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    national_id = serializers.SerializerMethodField()
    region = RegionBriefSerializer(read_only=True)
    sector = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True)

    @extend_schema_field(OpenApiTypes.STR)
    def get_national_id(self, obj) -> str:
        actor = _actor(self.context)
        if actor is not None and can_see_full_national_id(actor=actor, inspector=obj):
            return obj.national_id
        return obj.masked_national_id


# --- exams -----------------------------------------------------------------------------------


class ExamPartSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExamPart
        fields = ["id", "name", "max_score", "order"]
        read_only_fields = fields


class ExamBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Exam
        fields = ["id", "title", "kind"]
        read_only_fields = fields


class ExamOutputSerializer(serializers.ModelSerializer):
    region = RegionBriefSerializer(read_only=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    parts = ExamPartSerializer(many=True, read_only=True)
    max_score = serializers.DecimalField(max_digits=7, decimal_places=1, read_only=True)

    class Meta:
        model = Exam
        fields = [
            "id",
            "title",
            "kind",
            "kind_display",
            "course",
            "region",
            "pass_mark",
            "max_attempts",
            "max_score",
            "parts",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ExamPartInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64, label=_("科目"))
    max_score = serializers.DecimalField(**SCORE, min_value=Decimal("0.5"), label=_("满分"))


class ExamInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, label=_("考试名称"))
    kind = serializers.ChoiceField(choices=ExamKind.choices, label=_("类别"))
    course = serializers.PrimaryKeyRelatedField(
        queryset=Course.objects.all(), required=False, allow_null=True, label=_("课程")
    )
    region = RegionCodeField(required=False, label=_("组织地区代码（默认为本人管辖地区）"))
    pass_mark = serializers.DecimalField(**SCORE, min_value=Decimal("0"), required=False, label=_("及格分"))
    max_attempts = serializers.IntegerField(min_value=1, max_value=20, required=False, label=_("最多考试次数"))
    parts = ExamPartInputSerializer(many=True, allow_empty=False, label=_("科目"))


class ExamFilterSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ExamKind.choices, required=False, label=_("类别"))


# --- sittings and the score grid --------------------------------------------------------------


class SittingBatchSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    year = serializers.IntegerField(read_only=True)
    number = serializers.IntegerField(read_only=True)
    course = serializers.CharField(source="course.title", read_only=True)


class SittingOutputSerializer(serializers.ModelSerializer):
    exam = ExamBriefSerializer(read_only=True)
    batch = SittingBatchSerializer(read_only=True, allow_null=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = Sitting
        fields = [
            "id",
            "exam",
            "held_on",
            "place",
            "batch",
            "status",
            "status_display",
            "mode",
            "opens_at",
            "closes_at",
            "duration_minutes",
            "score_shown",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SittingInputSerializer(serializers.Serializer):
    exam = serializers.IntegerField(label=_("考试"))
    held_on = serializers.DateField(label=_("考试日期"))
    place = serializers.CharField(max_length=200, required=False, allow_blank=True, default="", label=_("考点"))
    batch = serializers.IntegerField(required=False, allow_null=True, label=_("培训批次（其结业人员为考生）"))
    mode = serializers.ChoiceField(
        choices=SittingMode.choices, required=False, default=SittingMode.PAPER, label=_("考试方式")
    )
    opens_at = serializers.DateTimeField(required=False, allow_null=True, default=None, label=_("开考时间（在线考试）"))
    closes_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, label=_("截止时间（在线考试）")
    )
    duration_minutes = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=32767,
        label=_("答题时长（分钟，在线考试）"),
    )
    score_shown = serializers.ChoiceField(
        choices=ScoreShown.choices, required=False, default=ScoreShown.ON_SUBMIT, label=_("成绩公布（在线考试）")
    )


class SittingFilterSerializer(serializers.Serializer):
    exam = serializers.IntegerField(required=False, **ID, label=_("考试"))
    status = serializers.ChoiceField(choices=SittingStatus.choices, required=False, label=_("状态"))
    year = serializers.IntegerField(required=False, min_value=2000, max_value=2100, label=_("年度"))


@extend_schema_field({"oneOf": [{"type": "number"}, {"type": "string"}], "nullable": True})
class ScoreValueField(serializers.Field):
    """A score as typed: a number or a string (e.g. "85.5"); blank or null is "not given".
    exams.services.parse_score decides what it means, so every caller reads it alike."""

    def to_internal_value(self, data):
        if isinstance(data, bool | dict | list):
            raise serializers.ValidationError(_("不是数字"))
        return data

    def to_representation(self, value):
        return value


class GridRowInputSerializer(serializers.Serializer):
    inspector = serializers.IntegerField(**ID, label=_("考生（执法人员 id）"))
    scores = serializers.DictField(
        child=ScoreValueField(allow_null=True), required=False, default=dict, label=_("分项成绩（科目 id: 分数）")
    )
    absent = serializers.BooleanField(required=False, default=False, label=_("缺考"))


class GridRowSerializer(serializers.Serializer):
    inspector = HolderSerializer(read_only=True)
    result = serializers.IntegerField(read_only=True, allow_null=True)
    scores = serializers.DictField(child=serializers.DecimalField(**SCORE), read_only=True)
    total = serializers.DecimalField(**SCORE, read_only=True, allow_null=True)
    absent = serializers.BooleanField(read_only=True)
    passed = serializers.BooleanField(read_only=True, allow_null=True)
    attempt = serializers.IntegerField(read_only=True, allow_null=True)


class GridSerializer(serializers.Serializer):
    sitting = SittingOutputSerializer(read_only=True)
    parts = ExamPartSerializer(many=True, read_only=True)
    rows = GridRowSerializer(many=True, read_only=True)


class GridSavedSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    absent = serializers.IntegerField()
    certificates = serializers.IntegerField(help_text=_("因本次成绩而颁发的执法证数"))


class ScoreImportSerializer(serializers.Serializer):
    file = serializers.FileField(label=_("成绩文件（.xlsx 或 .csv）"))
    dry_run = serializers.BooleanField(required=False, default=False, label=_("仅校验，不写入"))


# --- results --------------------------------------------------------------------------------


class ResultOutputSerializer(serializers.ModelSerializer):
    exam = ExamBriefSerializer(read_only=True)
    held_on = serializers.DateField(source="sitting.held_on", read_only=True)
    inspector = HolderSerializer(read_only=True)
    scores = serializers.DictField(source="part_scores", child=serializers.DecimalField(**SCORE), read_only=True)

    class Meta:
        model = Result
        fields = [
            "id",
            "sitting",
            "held_on",
            "exam",
            "inspector",
            "scores",
            "score",
            "absent",
            "passed",
            "attempt",
            "pass_mark",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ResultFilterSerializer(serializers.Serializer):
    sitting = serializers.IntegerField(required=False, **ID, label=_("场次"))
    exam = serializers.IntegerField(required=False, **ID, label=_("考试"))
    inspector = serializers.IntegerField(required=False, **ID, label=_("考生"))
    passed = serializers.BooleanField(required=False, allow_null=True, default=None, label=_("合格"))
    absent = serializers.BooleanField(required=False, allow_null=True, default=None, label=_("缺考"))
    year = serializers.IntegerField(required=False, min_value=2000, max_value=2100, label=_("年度"))


class ResultChangeSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = ResultChange
        fields = [
            "id",
            "at",
            "actor",
            "source",
            "old_score",
            "new_score",
            "old_absent",
            "new_absent",
            "old_parts",
            "new_parts",
        ]
        read_only_fields = fields


# --- certificates ---------------------------------------------------------------------------


class CertificateOutputSerializer(serializers.ModelSerializer):
    holder = HolderSerializer(read_only=True)
    region = RegionBriefSerializer(read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    days_left = serializers.SerializerMethodField()

    class Meta:
        model = Certificate
        fields = [
            "id",
            "number",
            "holder",
            "region",
            "issued_on",
            "valid_until",
            "days_left",
            "status",
            "status_display",
            "renewal_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_days_left(self, obj) -> int:
        """Days until the end of validity (negative once past it)."""
        today = self.context.get("today") or timezone.localdate()
        return (obj.valid_until - today).days


class CertificateFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CertificateStatus.choices, required=False, label=_("状态"))
    expiring_within = serializers.IntegerField(
        required=False, min_value=0, max_value=3650, label=_("若干天内到期（有效或暂扣）")
    )
    region = serializers.RegexField(r"^\d{6}$", required=False, label=_("持证人地区代码（含下级）"))
    sector = serializers.ChoiceField(choices=Sector.choices, required=False, label=_("行业"))
    search = serializers.CharField(required=False, max_length=64, label=_("证号开头或姓名"))


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="", label=_("理由"))


class ReviewInputSerializer(serializers.Serializer):
    year = serializers.IntegerField(
        min_value=2000, max_value=2100, default=lambda: timezone.localdate().year - 1, label=_("年审年度")
    )


class AnnualReviewSerializer(serializers.ModelSerializer):
    class Meta:
        model = AnnualReview
        fields = ["id", "year", "passed", "hours", "required_hours", "note", "created_at"]
        read_only_fields = fields


class ReviewOutputSerializer(serializers.Serializer):
    review = AnnualReviewSerializer(read_only=True)
    certificate = CertificateOutputSerializer(read_only=True)


class CertificateEventSerializer(serializers.ModelSerializer):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    actor = serializers.CharField(source="actor.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = CertificateEvent
        fields = ["id", "at", "kind", "kind_display", "reason", "from_status", "to_status", "actor"]
        read_only_fields = fields
