"""Shapes of the export API: the request handed to reports.services, and the job as shown."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import ExportJob, ExportKind, ExportStatus


class ExportJobInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ExportKind.choices, label=_("类型"))
    year = serializers.IntegerField(label=_("年度"))
    region = serializers.CharField(
        max_length=12,
        required=False,
        allow_blank=True,
        default="",
        label=_("地区代码"),
        help_text=_("留空为本人管辖的地区（省级管理员为全省）"),
    )
    include_detail = serializers.BooleanField(
        default=True,
        label=_("含报名明细"),
        help_text=_("仅年度统计汇总使用；范围很大时建议关闭，另以 enrollment_detail（CSV）导出明细"),
    )


class ExportJobSerializer(serializers.ModelSerializer):
    # A plain string here, so the schema's kind enum lives on the input alone: two
    # components sharing it would collide with other apps' "kind" enums.
    kind = serializers.CharField(read_only=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    region = serializers.SlugRelatedField(slug_field="code", read_only=True)
    region_name = serializers.CharField(source="region.name", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    filename = serializers.CharField(read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "kind",
            "kind_display",
            "params",
            "region",
            "region_name",
            "requested_by",
            "status",
            "status_display",
            "progress",
            "stage",
            "error",
            "filename",
            "download_url",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_download_url(self, obj) -> str | None:
        """Only for a finished job whose file is still kept."""
        if obj.status != ExportStatus.DONE or not obj.file:
            return None
        url = reverse("export-job-download", kwargs={"pk": obj.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url
