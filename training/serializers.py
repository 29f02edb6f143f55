"""Shapes of the training API: output rows, validated input handed to services, and
the query parameters of each list (validated here, applied by the scoped selectors)."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.serializers import ID_MAX, FieldsBuiltOnce
from personnel.models import Sector
from personnel.selectors import can_see_full_national_id
from personnel.serializers import CodeField, InspectorOutputSerializer, RegionBriefSerializer, RegionCodeField

from .models import (
    THREE_SYSTEMS,
    Batch,
    BatchEvent,
    BatchStatus,
    Course,
    Delivery,
    Enrollment,
    EnrollmentEvent,
    EnrollmentStatus,
    HoursPolicy,
    HoursPolicyEvent,
    Topic,
)


def current_year() -> int:
    return timezone.localdate().year


REGION_CODE = r"^\d{6}$"
# Ids and counts are bounded by what the columns hold: past that, a lookup is a 500 on
# SQLite (OverflowError) and PostgreSQL (out of range), not a 400.
YEAR_MAX = 32767  # PositiveSmallIntegerField (a year filter past it is a 500 on PostgreSQL)


# --- courses ----------------------------------------------------------------------------------


class TopicsField(serializers.ListField):
    child = serializers.ChoiceField(choices=Topic.choices)


class CourseSerializer(serializers.ModelSerializer):
    topics = TopicsField(read_only=True)
    delivery_display = serializers.CharField(source="get_delivery_display", read_only=True)
    covers_three_systems = serializers.BooleanField(read_only=True)

    class Meta:
        model = Course
        fields = [
            "id",
            "code",
            "title",
            "topics",
            "covers_three_systems",
            "hours",
            "delivery",
            "delivery_display",
            "description",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CourseBriefSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    topics = TopicsField(read_only=True)

    class Meta:
        model = Course
        fields = ["id", "code", "title", "topics", "hours", "delivery"]
        read_only_fields = fields


class CourseInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32, label=_("课程编号"))
    title = serializers.CharField(max_length=200, label=_("课程名称"))
    topics = TopicsField(allow_empty=False, label=_("专题"))
    hours = serializers.DecimalField(max_digits=5, decimal_places=1, label=_("学时"))
    delivery = serializers.ChoiceField(choices=Delivery.choices, required=False, label=_("授课方式"))
    description = serializers.CharField(required=False, allow_blank=True, label=_("课程简介"))
    active = serializers.BooleanField(required=False, label=_("启用"))


class CourseUpdateSerializer(CourseInputSerializer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class CourseFilterSerializer(serializers.Serializer):
    topic = serializers.ChoiceField(choices=Topic.choices, required=False, label=_("专题"))
    # allow_null makes an absent ?active= mean "either", not False.
    active = serializers.BooleanField(required=False, allow_null=True, default=None, label=_("启用"))


# --- batches ----------------------------------------------------------------------------------


class BatchCountsSerializer(serializers.Serializer):
    """The per-status counts that ``selectors.batch_counts`` annotates on each batch."""

    enrolled = serializers.IntegerField(source="enrolled_count")
    waitlisted = serializers.IntegerField(source="waitlisted_count")
    cancelled = serializers.IntegerField(source="cancelled_count")
    completed = serializers.IntegerField(source="completed_count")
    no_show = serializers.IntegerField(source="no_show_count")


def _sector_or_blank():
    """A batch's sector: blank is a batch for every sector (综合). Declared, because a
    read-only model field loses allow_blank and the schema would leave "" out."""
    return serializers.ChoiceField(choices=Sector.choices, allow_blank=True, read_only=True)


def _display_name():
    """The batch as people read it among others: number, organiser and course
    ("2025年第1批 · 石家庄市 · …"). ``label`` stays the number alone ("2025年第1批")."""
    return serializers.CharField(read_only=True, help_text="批次 · 组织单位 · 课程名称")


class BatchOutputSerializer(serializers.ModelSerializer):
    label = serializers.CharField(read_only=True, help_text="年度与批次号，如 2025年第1批（不含组织单位）")
    display_name = _display_name()
    course = CourseBriefSerializer(read_only=True)
    region = RegionBriefSerializer(read_only=True)
    sector = _sector_or_blank()
    sector_display = serializers.SerializerMethodField()
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    days = serializers.IntegerField(read_only=True)
    counts = BatchCountsSerializer(source="*", read_only=True)

    class Meta:
        model = Batch
        fields = [
            "id",
            "label",
            "display_name",
            "course",
            "year",
            "number",
            "sector",
            "sector_display",
            "region",
            "starts_on",
            "ends_on",
            "days",
            "place",
            "capacity",
            "enrollment_deadline",
            "status",
            "status_display",
            "counts",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_sector_display(self, obj) -> str:
        return obj.get_sector_display() if obj.sector else str(_("综合"))


class BatchBriefSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    label = serializers.CharField(read_only=True, help_text="年度与批次号，如 2025年第1批（不含组织单位）")
    display_name = _display_name()
    course = CourseBriefSerializer(read_only=True)
    region = RegionBriefSerializer(read_only=True)
    sector = _sector_or_blank()

    class Meta:
        model = Batch
        fields = ["id", "label", "display_name", "course", "region", "sector", "starts_on", "ends_on", "status"]
        read_only_fields = fields


class CourseCodeField(CodeField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="code", queryset=Course.objects.all(), **kwargs)


class BatchInputSerializer(serializers.Serializer):
    course = CourseCodeField(label=_("课程编号"))
    year = serializers.IntegerField(required=False, min_value=2000, max_value=2100, label=_("年度（默认取开始日期）"))
    number = serializers.IntegerField(required=False, min_value=1, max_value=32767, label=_("批次（默认下一个）"))
    sector = serializers.ChoiceField(
        choices=Sector.choices, required=False, allow_blank=True, label=_("面向行业（留空为综合）")
    )
    region = RegionCodeField(label=_("组织单位地区代码"))
    starts_on = serializers.DateField(label=_("开始日期"))
    ends_on = serializers.DateField(label=_("结束日期"))
    place = serializers.CharField(max_length=200, required=False, allow_blank=True, label=_("地点"))
    capacity = serializers.IntegerField(min_value=1, max_value=2_147_483_647, label=_("名额"))
    enrollment_deadline = serializers.DateField(label=_("报名截止日期"))
    status = serializers.ChoiceField(
        choices=[(BatchStatus.DRAFT.value, BatchStatus.DRAFT.label), (BatchStatus.OPEN.value, BatchStatus.OPEN.label)],
        required=False,
        label=_("状态"),
    )


class BatchUpdateSerializer(BatchInputSerializer):
    # Completing has its own action (attendance decides who completes).
    status = serializers.ChoiceField(
        choices=[c for c in BatchStatus.choices if c[0] != BatchStatus.COMPLETED], required=False, label=_("状态")
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class BatchFilterSerializer(serializers.Serializer):
    year = serializers.IntegerField(required=False, min_value=1, max_value=YEAR_MAX, label=_("年度"))
    sector = serializers.ChoiceField(
        choices=Sector.choices, required=False, allow_blank=True, label=_("面向行业（空值为综合批次）")
    )
    region = serializers.RegexField(REGION_CODE, required=False, label=_("组织单位地区代码（含下级）"))
    status = serializers.ChoiceField(choices=BatchStatus.choices, required=False, label=_("状态"))
    topic = serializers.ChoiceField(choices=Topic.choices, required=False, label=_("课程专题"))
    course = serializers.CharField(required=False, max_length=32, label=_("课程编号"))


class EnrollInputSerializer(serializers.Serializer):
    inspector = serializers.IntegerField(min_value=1, max_value=ID_MAX, label=_("执法人员ID（本人报名填自己的ID）"))


class BulkEnrollInputSerializer(serializers.Serializer):
    sector = serializers.ChoiceField(choices=Sector.choices, required=False, label=_("行业（默认取批次行业）"))
    region = serializers.RegexField(REGION_CODE, required=False, label=_("地区代码（默认组织单位，含下级）"))
    inspectors = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=ID_MAX),
        required=False,
        allow_empty=False,
        label=_("只报这些人员（ID）"),
    )


class OutcomeSerializer(serializers.Serializer):
    inspector = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["enrolled", "waitlisted", "refused"])
    code = serializers.CharField(help_text=_("拒绝原因代码，报名成功时为空"))
    detail = serializers.CharField()
    enrollment = serializers.IntegerField(allow_null=True)
    waitlist_position = serializers.IntegerField(allow_null=True)


class BulkEnrollSummarySerializer(serializers.Serializer):
    enrolled = serializers.IntegerField()
    waitlisted = serializers.IntegerField()
    refused = serializers.IntegerField()


class BulkEnrollResultSerializer(serializers.Serializer):
    summary = BulkEnrollSummarySerializer()
    outcomes = OutcomeSerializer(many=True)


class AttendanceInputSerializer(serializers.Serializer):
    day = serializers.DateField(label=_("日期"))
    present = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=ID_MAX), required=False, default=list, label=_("出勤")
    )
    absent = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=ID_MAX), required=False, default=list, label=_("缺勤")
    )
    all_present = serializers.BooleanField(required=False, default=False, label=_("除缺勤者外全部出勤"))


class AttendanceRowSerializer(serializers.Serializer):
    inspector = serializers.IntegerField()
    name = serializers.CharField()
    enrollment = serializers.IntegerField()
    status = serializers.ChoiceField(choices=EnrollmentStatus.choices)
    days_present = serializers.ListField(child=serializers.DateField())
    days_absent = serializers.ListField(child=serializers.DateField())
    days_checked_in = serializers.ListField(
        child=serializers.DateField(), help_text=_("其中本人扫码签到的日期（其余为培训机构登记）")
    )


class AttendanceGridSerializer(serializers.Serializer):
    batch = serializers.IntegerField()
    days = serializers.ListField(child=serializers.DateField())
    marked = serializers.IntegerField(required=False, help_text=_("本次登记的人数（仅登记时返回）"))
    rows = AttendanceRowSerializer(many=True)


class CompleteInputSerializer(serializers.Serializer):
    overrides = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=200),
        required=False,
        default=dict,
        label=_("特批结业：{执法人员ID: 理由}"),
    )
    no_attendance_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=150,
        label=_("未登记考勤的理由（批次没有任何考勤时必填；填写后全部已报名人员按花名册结业）"),
    )

    def validate_overrides(self, value):
        try:
            overrides = {int(k): v for k, v in value.items()}
        except (TypeError, ValueError):
            raise serializers.ValidationError(_("键应为执法人员ID。")) from None
        if any(not 1 <= k <= ID_MAX for k in overrides):
            raise serializers.ValidationError(_("键应为执法人员ID。"))
        return overrides


class CompleteResultSerializer(serializers.Serializer):
    completed = serializers.IntegerField()
    no_show = serializers.IntegerField()
    excused = serializers.IntegerField()
    waitlist_cancelled = serializers.IntegerField(help_text="仍在候补、随结业取消的人数")


class PlanRowSerializer(serializers.Serializer):
    enrollment = serializers.IntegerField()
    inspector = serializers.IntegerField()
    name = serializers.CharField()
    region = serializers.CharField(help_text="所属地区名称")
    days_present = serializers.IntegerField()
    missing_days = serializers.ListField(child=serializers.DateField(), help_text="缺勤（或未登记出勤）的培训日")
    reason = serializers.CharField(allow_blank=True, help_text="特批理由，或未登记考勤时的理由")
    waitlist_position = serializers.IntegerField(allow_null=True)


class RefusalSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="illegal_transition / too_early / no_attendance")
    detail = serializers.CharField()


class CompletionPlanSerializer(serializers.Serializer):
    """What ``complete`` would do now with the same body (``training.services.batch_completion_plan``)."""

    batch = serializers.IntegerField()
    days = serializers.ListField(child=serializers.DateField())
    attendance_recorded = serializers.BooleanField(help_text="是否登记过任何考勤")
    no_attendance_reason = serializers.CharField(allow_blank=True)
    counts = CompleteResultSerializer()
    completed = PlanRowSerializer(many=True, help_text="每天出勤（或未登记考勤时按花名册）结业")
    excused = PlanRowSerializer(many=True, help_text="缺勤但特批结业")
    no_show = PlanRowSerializer(many=True, help_text="缺席，含缺勤日期")
    waitlist_cancelled = PlanRowSerializer(many=True, help_text="候补将被取消（按候补顺序）")
    refusal = RefusalSerializer(allow_null=True, help_text="现在结业会被拒绝的原因；为空则可以结业")


class UncompleteInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, label=_("撤销结业的理由"))


# --- enrollments ------------------------------------------------------------------------------


class InspectorBriefSerializer(FieldsBuiltOnce, InspectorOutputSerializer):
    """An inspector inside a training row; the ID number is masked by the personnel rule."""

    class Meta(InspectorOutputSerializer.Meta):
        fields = ["id", "name", "national_id", "region", "sector", "sector_display", "status", "status_display"]
        read_only_fields = fields


class EnrollmentOutputSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    batch = BatchBriefSerializer(read_only=True)
    inspector = InspectorBriefSerializer(read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = Enrollment
        fields = [
            "id",
            "batch",
            "inspector",
            "status",
            "status_display",
            "waitlist_position",
            "hours_credited",
            "completed_on",
            "override_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# --- the JSON twin of EnrollmentOutputSerializer ------------------------------------------------
# Every enroll call answers with one enrollment. Building the nested model serializers (their
# fields copied per instance, every value looked up through a field) cost about a third of the
# call's CPU; ``enrollment_json`` writes the same JSON directly. The serializer stays the
# OpenAPI schema; tests/training/test_enrollment_json.py compares the two. The leaf values
# go through DRF's own fields (stateless for output): numbers and times read exactly the same.
_HOURS = serializers.DecimalField(max_digits=5, decimal_places=1)
_DATE = serializers.DateField()
_STAMP = serializers.DateTimeField()


def _choice(value):
    """A ChoiceField's output: the stored value (an enum member as its plain value)."""
    return value if value in ("", None) else str(value)


# (model, field name) -> {value: label}: Model.get_FOO_display() builds this dict on every call.
_LABELS: dict[tuple, dict] = {}


def _display(instance, name: str) -> str:
    """``instance.get_<name>_display()`` as a CharField writes it (the label in the active
    language; an unknown value as it is)."""
    key = (type(instance), name)
    labels = _LABELS.get(key)
    if labels is None:
        labels = _LABELS[key] = dict(instance._meta.get_field(name).flatchoices)
    value = getattr(instance, name)
    return str(labels.get(value, value))


def _region_json(region) -> dict:
    return {"id": region.pk, "code": region.code, "name": region.name, "level": _choice(region.level)}


def _or_none(field, value):
    return None if value is None else field.to_representation(value)


def enrollment_json(enrollment: Enrollment, *, actor) -> dict:
    """``EnrollmentOutputSerializer(enrollment, context={"request": request}).data`` for a
    request by ``actor``, field for field and in the same order. The enrollment carries its
    batch (with course and region) and its inspector (with region), as the selectors and
    ``services.enrollment_create`` return it."""
    batch, inspector = enrollment.batch, enrollment.inspector
    course = batch.course
    full_id = actor is not None and can_see_full_national_id(actor=actor, inspector=inspector)
    return {
        "id": enrollment.pk,
        "batch": {
            "id": batch.pk,
            "label": str(batch.label),
            "display_name": str(batch.display_name),
            "course": {
                "id": course.pk,
                "code": course.code,
                "title": course.title,
                "topics": [_choice(t) for t in course.topics],
                "hours": _or_none(_HOURS, course.hours),
                "delivery": _choice(course.delivery),
            },
            "region": _region_json(batch.region),
            "sector": _choice(batch.sector),
            "starts_on": _or_none(_DATE, batch.starts_on),
            "ends_on": _or_none(_DATE, batch.ends_on),
            "status": _choice(batch.status),
        },
        "inspector": {
            "id": inspector.pk,
            "name": inspector.name,
            "national_id": inspector.national_id if full_id else inspector.masked_national_id,
            "region": _region_json(inspector.region),
            "sector": _choice(inspector.sector),
            "sector_display": _display(inspector, "sector"),
            "status": _choice(inspector.status),
            "status_display": _display(inspector, "status"),
        },
        "status": _choice(enrollment.status),
        "status_display": _display(enrollment, "status"),
        "waitlist_position": enrollment.waitlist_position,
        "hours_credited": _or_none(_HOURS, enrollment.hours_credited),
        "completed_on": _or_none(_DATE, enrollment.completed_on),
        "override_reason": enrollment.override_reason,
        "created_at": _or_none(_STAMP, enrollment.created_at),
        "updated_at": _or_none(_STAMP, enrollment.updated_at),
    }


class EnrollmentFilterSerializer(serializers.Serializer):
    inspector = serializers.IntegerField(required=False, min_value=1, max_value=ID_MAX, label=_("执法人员ID"))
    batch = serializers.IntegerField(required=False, min_value=1, max_value=ID_MAX, label=_("批次ID"))
    status = serializers.ChoiceField(choices=EnrollmentStatus.choices, required=False, label=_("状态"))
    year = serializers.IntegerField(required=False, min_value=1, max_value=YEAR_MAX, label=_("年度"))


class CancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="", label=_("原因"))


class ReplaceInputSerializer(serializers.Serializer):
    inspector = serializers.IntegerField(min_value=1, max_value=ID_MAX, label=_("替换为（执法人员ID）"))
    reason = serializers.CharField(max_length=200, label=_("原因"))


class MoveInputSerializer(serializers.Serializer):
    batch = serializers.IntegerField(min_value=1, max_value=ID_MAX, label=_("转到批次ID（同一课程）"))
    reason = serializers.CharField(max_length=200, label=_("原因"))


class EnrollmentEventSerializer(serializers.ModelSerializer):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    actor = serializers.SerializerMethodField()

    class Meta:
        model = EnrollmentEvent
        fields = ["id", "kind", "kind_display", "reason", "actor", "at"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_actor(self, obj):
        return obj.actor.get_username() if obj.actor_id else None


class ChangesField(serializers.DictField):
    """``{field: [old, new]}``."""

    child = serializers.ListField(child=serializers.JSONField(allow_null=True), min_length=2, max_length=2)


class BatchEventSerializer(serializers.ModelSerializer):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    changes = ChangesField(read_only=True)
    actor = serializers.SerializerMethodField()

    class Meta:
        model = BatchEvent
        fields = ["id", "kind", "kind_display", "changes", "reason", "actor", "at"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_actor(self, obj):
        return obj.actor.get_username() if obj.actor_id else None


# --- hours, coverage, policies --------------------------------------------------------------


class InspectorHoursSerializer(InspectorBriefSerializer):
    hours = serializers.DecimalField(max_digits=7, decimal_places=1, read_only=True)
    required = serializers.DecimalField(max_digits=7, decimal_places=1, read_only=True)
    met = serializers.BooleanField(read_only=True)

    class Meta(InspectorBriefSerializer.Meta):
        fields = [*InspectorBriefSerializer.Meta.fields, "hours", "required", "met"]
        read_only_fields = fields


class HoursFilterSerializer(serializers.Serializer):
    # Bounded: the year becomes a date range in the query (year 0 or 10**10 is a 500 there).
    year = serializers.IntegerField(
        required=False, default=current_year, min_value=2000, max_value=2100, label=_("年度（默认今年）")
    )
    region = serializers.RegexField(REGION_CODE, required=False, label=_("地区代码（含下级）"))
    sector = serializers.ChoiceField(choices=Sector.choices, required=False, label=_("行业"))
    met = serializers.BooleanField(required=False, allow_null=True, default=None, label=_("是否达标"))


class YearRegionFilterSerializer(serializers.Serializer):
    year = serializers.IntegerField(
        required=False, default=current_year, min_value=2000, max_value=2100, label=_("年度（默认今年）")
    )
    region = serializers.RegexField(REGION_CODE, required=False, label=_("地区代码（含下级）"))


class HoursSummarySerializer(serializers.Serializer):
    year = serializers.IntegerField()
    region = serializers.CharField(allow_null=True)
    inspectors = serializers.IntegerField(help_text=_("在岗人数"))
    met = serializers.IntegerField(help_text=_("达标人数"))
    met_rate = serializers.FloatField(allow_null=True, help_text=_("达标率（%）"))
    hours_delivered = serializers.DecimalField(max_digits=12, decimal_places=1, help_text=_("已认定学时合计"))


class CoverageRowSerializer(serializers.Serializer):
    sector = serializers.ChoiceField(choices=Sector.choices)
    sector_display = serializers.CharField()
    inspectors = serializers.IntegerField()
    publicity = serializers.IntegerField(help_text=_("完成行政执法公示课程的人数"))
    publicity_rate = serializers.FloatField(allow_null=True)
    process_recording = serializers.IntegerField(help_text=_("完成执法全过程记录课程的人数"))
    process_recording_rate = serializers.FloatField(allow_null=True)
    legal_review = serializers.IntegerField(help_text=_("完成重大执法决定法制审核课程的人数"))
    legal_review_rate = serializers.FloatField(allow_null=True)
    all_three = serializers.IntegerField(help_text=_("三项均完成的人数"))
    all_three_rate = serializers.FloatField(allow_null=True)


class CoverageSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    region = serializers.CharField(allow_null=True)
    rows = CoverageRowSerializer(many=True)


class CoverageMissingFilterSerializer(YearRegionFilterSerializer):
    topic = serializers.ChoiceField(choices=[(t.value, t.label) for t in THREE_SYSTEMS], label=_("专题"))
    sector = serializers.ChoiceField(choices=Sector.choices, required=False, label=_("行业"))


class HoursPolicySerializer(serializers.ModelSerializer):
    region = RegionBriefSerializer(read_only=True)

    class Meta:
        model = HoursPolicy
        fields = ["id", "region", "year", "required_hours", "created_at", "updated_at"]
        read_only_fields = fields


class HoursPolicyInputSerializer(serializers.Serializer):
    region = RegionCodeField(label=_("地区代码"))
    year = serializers.IntegerField(min_value=2000, max_value=2100, label=_("年度"))
    required_hours = serializers.DecimalField(max_digits=5, decimal_places=1, label=_("年度应修学时"))


class HoursPolicyUpdateSerializer(serializers.Serializer):
    required_hours = serializers.DecimalField(max_digits=5, decimal_places=1, label=_("年度应修学时"))


class HoursPolicyEventSerializer(serializers.ModelSerializer):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    region = serializers.CharField(source="region.code", read_only=True)
    actor = serializers.SerializerMethodField()

    class Meta:
        model = HoursPolicyEvent
        fields = ["id", "region", "year", "kind", "kind_display", "old_hours", "new_hours", "actor", "at"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_actor(self, obj):
        return obj.actor.get_username() if obj.actor_id else None


class HoursPolicyFilterSerializer(serializers.Serializer):
    year = serializers.IntegerField(required=False, min_value=1, max_value=YEAR_MAX, label=_("年度"))


class CalendarLinkSerializer(serializers.Serializer):
    path = serializers.CharField(help_text=_("/calendar/<token>.ics"))
    url = serializers.URLField(help_text=_("完整订阅地址"))


# --- 评教 (training.evaluations) ------------------------------------------------------------------


class EvaluationInputSerializer(serializers.Serializer):
    """A participant's rating; the range (1-5) and the comment's length are the service's rules."""

    content = serializers.IntegerField(label=_("课程内容"), help_text=_("1-5 分"))
    trainer = serializers.IntegerField(label=_("授课教师"), help_text=_("1-5 分"))
    organisation = serializers.IntegerField(label=_("组织安排"), help_text=_("1-5 分"))
    comment = serializers.CharField(label=_("意见建议"), required=False, allow_blank=True, default="")


class EvaluationSerializer(serializers.Serializer):
    """One evaluation as its readers see it: anonymous (no name, no enrollment)."""

    content = serializers.IntegerField()
    trainer = serializers.IntegerField()
    organisation = serializers.IntegerField()
    comment = serializers.CharField()
    given_on = serializers.DateField(help_text=_("评价日期"))


class EvaluationFiguresSerializer(serializers.Serializer):
    completers = serializers.IntegerField(help_text=_("结业人数"))
    evaluations = serializers.IntegerField(help_text=_("评价份数（结业者的评价）"))
    response_rate = serializers.FloatField(allow_null=True, help_text=_("参评率 = 评价份数 / 结业人数"))
    content = serializers.FloatField(allow_null=True, help_text=_("课程内容平均分"))
    trainer = serializers.FloatField(allow_null=True, help_text=_("授课教师平均分"))
    organisation = serializers.FloatField(allow_null=True, help_text=_("组织安排平均分"))
    overall = serializers.FloatField(allow_null=True, help_text=_("综合平均分（三项全部评分的平均）"))


class BatchEvaluationsSerializer(serializers.Serializer):
    summary = EvaluationFiguresSerializer()
    evaluations = EvaluationSerializer(many=True)


class EvaluationGivenSerializer(serializers.Serializer):
    batch = serializers.IntegerField()
    content = serializers.IntegerField()
    trainer = serializers.IntegerField()
    organisation = serializers.IntegerField()
    comment = serializers.CharField()
    given_on = serializers.DateField()
