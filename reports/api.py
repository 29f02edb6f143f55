"""The export API: request a workbook, follow its progress, download it."""

from django.http import FileResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.errors import Conflict

from . import services
from .models import XLSX_TYPE, ExportStatus
from .selectors import export_job_get_for_actor, export_job_list
from .serializers import ExportJobInputSerializer, ExportJobSerializer

DOWNLOADED = "工作簿文件；报名明细（enrollment_detail）为 CSV（UTF-8，带 BOM）"


class ExportJobViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Export jobs: the yearly totals workbook, the roster or the enrollment detail as CSV, for a
    year and a region scope.
    Listed for admins whose current region contains the job's region (the requester too, only
    while they still administer it: rights follow the role held now)."""

    serializer_class = ExportJobSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return export_job_list(actor=self.request.user)

    def get_object(self):
        return export_job_get_for_actor(actor=self.request.user, job_id=self.kwargs["pk"])

    def perform_content_negotiation(self, request, force=False):
        # The download answers with the file whatever the client accepts (a client asking
        # for the spreadsheet type must not get 406); its errors are JSON like everywhere.
        return super().perform_content_negotiation(request, force=force or self.action == "download")

    @extend_schema(
        request=ExportJobInputSerializer,
        responses={
            202: OpenApiResponse(
                ExportJobSerializer,
                description=(
                    "已受理，任务已保存（返回任务 id 与 Location）；在默认的内嵌模式下返回时已生成完毕。"
                    "消息队列暂不可用时同样返回 202（status 为 queued），任务在队列恢复后由每分钟的巡检派发，不必重新提交"
                ),
            ),
            400: OpenApiResponse(description="年度或地区有误（地区不存在与不在管辖范围内的答复相同）"),
            403: OpenApiResponse(description="只有管理员可以导出"),
        },
    )
    def create(self, request, *args, **kwargs):
        data = ExportJobInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        job = services.export_job_create(
            actor=request.user,
            kind=params["kind"],
            year=params["year"],
            region_code=params["region"] or None,
            include_detail=params["include_detail"],
        )
        # Handed to the broker on commit (services.hand_over: never raises, a job the broker did
        # not take waits for the sweep); with an eager (embedded) worker it has already finished.
        job.refresh_from_db()
        body = ExportJobSerializer(job, context=self.get_serializer_context()).data
        location = request.build_absolute_uri(reverse("export-job-detail", kwargs={"pk": job.pk}))
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})

    @extend_schema(
        responses={
            (200, XLSX_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description=DOWNLOADED),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description=DOWNLOADED),
            404: OpenApiResponse(description="任务不存在，或无权下载"),
            409: OpenApiResponse(description="尚未生成完毕，或文件已按保留期限清理（code 为 not_ready）"),
        }
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """The file of a finished job (a workbook, or the CSV detail), for admins whose current
        region contains its region; anyone else, a former admin included, gets 404."""
        job = self.get_object()
        if job.status != ExportStatus.DONE or not job.file:
            raise Conflict(_("导出文件尚未生成或已被清理。"), code="not_ready")
        try:
            handle = job.file.open("rb")
        except FileNotFoundError:
            raise Conflict(_("导出文件尚未生成或已被清理。"), code="not_ready") from None
        return FileResponse(handle, as_attachment=True, filename=job.filename, content_type=job.content_type)
