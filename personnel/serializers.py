from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.serializers import FieldsBuiltOnce

from .models import Inspector, InspectorEvent, InspectorStatus, Region, RegionLevel, Sector
from .selectors import can_see_full_national_id


class RegionSerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)  # the province has none
    level_display = serializers.CharField(source="get_level_display", read_only=True)

    class Meta:
        model = Region
        fields = ["id", "code", "name", "level", "level_display", "parent", "path", "depth"]
        read_only_fields = fields


class RegionBriefSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    class Meta:
        model = Region
        fields = ["id", "code", "name", "level"]
        read_only_fields = fields


class InspectorOutputSerializer(serializers.ModelSerializer):
    national_id = serializers.SerializerMethodField()
    region = RegionBriefSerializer(read_only=True)
    sector_display = serializers.CharField(source="get_sector_display", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = Inspector
        fields = [
            "id",
            "name",
            "national_id",
            "gender",
            "birth_date",
            "region",
            "sector",
            "sector_display",
            "position",
            "unit",
            "phone",
            "status",
            "status_display",
            "hired_on",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_national_id(self, obj) -> str:
        request = self.context.get("request")
        actor = getattr(request, "user", None)
        if actor is not None and can_see_full_national_id(actor=actor, inspector=obj):
            return obj.national_id
        return obj.masked_national_id


class CodeField(serializers.SlugRelatedField):
    """A row named by its code, looked up as typed. PostgreSQL refuses a NUL in a query
    (a 500); no code has one, so it is simply not found."""

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data.replace("\x00", ""))
        return super().to_internal_value(data)


class RegionCodeField(CodeField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="code", queryset=Region.objects.all(), **kwargs)


class InspectorInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64, label=_("姓名"))
    national_id = serializers.CharField(max_length=32, label=_("身份证号"))
    region = RegionCodeField(label=_("地区代码"))
    sector = serializers.ChoiceField(choices=Sector.choices, label=_("行业"))
    position = serializers.CharField(max_length=64, required=False, allow_blank=True, label=_("职务"))
    unit = serializers.CharField(max_length=64, required=False, allow_blank=True, label=_("工作单位"))
    phone = serializers.CharField(max_length=20, required=False, allow_blank=True, label=_("手机"))
    status = serializers.ChoiceField(choices=InspectorStatus.choices, required=False, label=_("状态"))
    hired_on = serializers.DateField(required=False, allow_null=True, label=_("入职日期"))


class InspectorUpdateSerializer(InspectorInputSerializer):
    national_id = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class RosterImportSerializer(serializers.Serializer):
    file = serializers.FileField(label=_("名册文件（.xlsx 或 .csv）"))
    dry_run = serializers.BooleanField(required=False, default=False, label=_("仅校验，不写入"))


class InspectorFilterSerializer(serializers.Serializer):
    """Query parameters of the inspector list (applied by the scoped selector)."""

    sector = serializers.ChoiceField(choices=Sector.choices, required=False, label=_("行业"))
    status = serializers.ChoiceField(choices=InspectorStatus.choices, required=False, label=_("状态"))
    region = serializers.RegexField(r"^\d{6}$", required=False, label=_("地区代码（含下级）"))
    search = serializers.CharField(required=False, max_length=64, label=_("姓名或身份证号开头"))


class RegionFilterSerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=RegionLevel.choices, required=False, label=_("级别"))
    parent = serializers.RegexField(r"^\d{6}$", required=False, label=_("上级地区代码"))


def import_result_schemas(name: str, extra: dict | None = None):
    """Schema components of a file import's answer: ``<name>Result`` (200) and
    ``<name>Refused`` (400: the error envelope plus the result), sharing one
    ``<name>Error`` row. Used by the roster and the score imports."""
    from drf_spectacular.utils import inline_serializer

    error_row = type(
        inline_serializer(
            f"{name}Error",
            fields={
                "row": serializers.IntegerField(),
                "column": serializers.CharField(),
                "message": serializers.CharField(),
            },
        )
    )

    def fields(*, required: bool) -> dict:
        base = {
            key: serializers.BooleanField(required=required)
            if key in ("ok", "dry_run")
            else serializers.IntegerField(required=required)
            for key in ("ok", "dry_run", "total", "created", "updated", "unchanged", *(extra or {}))
        }
        return {**base, "errors": error_row(many=True, required=required)}

    result = inline_serializer(f"{name}Result", fields=fields(required=True))
    refused = inline_serializer(
        f"{name}Refused",
        fields={
            "code": serializers.CharField(),
            "detail": serializers.CharField(),
            "fields": serializers.DictField(),
            **fields(required=False),
        },
    )
    return result, refused


class InspectorEventSerializer(serializers.ModelSerializer):
    """One row of an inspector's history; ID and mobile numbers in ``changes`` are masked."""

    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    changes = serializers.DictField(
        child=serializers.ListField(child=serializers.JSONField(allow_null=True), min_length=2, max_length=2),
        read_only=True,
        help_text="{field: [old, new]}",
    )
    actor = serializers.SerializerMethodField()

    class Meta:
        model = InspectorEvent
        fields = ["id", "kind", "kind_display", "changes", "actor", "at"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_actor(self, obj):
        return obj.actor.get_username() if obj.actor_id else None
