from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import TimeStamped
from personnel.models import Region


class ExportKind(models.TextChoices):
    YEARLY_TOTALS = "yearly_totals", _("年度统计汇总")
    ROSTER = "roster", _("执法人员名册")
    ENROLLMENT_DETAIL = "enrollment_detail", _("报名明细（CSV）")


# What each kind's file is called (after the year and the region) and its type.
FILE_SUFFIXES = {
    ExportKind.YEARLY_TOTALS.value: "年度统计汇总.xlsx",
    ExportKind.ROSTER.value: "执法人员名册.xlsx",
    ExportKind.ENROLLMENT_DETAIL.value: "报名明细.csv",
}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("生成中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")


class ExportJob(TimeStamped):
    """One export request: what, for which scope, by whom, and how far it got."""

    kind = models.CharField(_("类型"), max_length=32, choices=ExportKind.choices)
    params = models.JSONField(_("参数"), default=dict)
    region = models.ForeignKey(Region, verbose_name=_("范围"), on_delete=models.PROTECT, related_name="export_jobs")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("申请人"), on_delete=models.PROTECT, related_name="export_jobs"
    )
    status = models.CharField(_("状态"), max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(_("进度（%）"), default=0)
    stage = models.CharField(_("当前步骤"), max_length=32, blank=True)
    file = models.FileField(_("文件"), upload_to="exports/%Y/%m/", blank=True)
    error = models.TextField(_("错误"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("执行次数"), default=0)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("最近心跳"), null=True, blank=True)
    # The outbox: when the job was last handed to the broker (empty: not yet, or the broker
    # refused it). The housekeeping sweep sends jobs never handed over, and sends again
    # those whose last hand-over is older than a lease without a worker taking them.
    sent_at = models.DateTimeField(_("最近派发"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("导出任务")
        verbose_name_plural = _("导出任务")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="export_progress_at_most_100"),
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="export_status_heartbeat")]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def filename(self) -> str:
        year = self.params.get("year", "")
        return f"{year}年{self.region.name}{FILE_SUFFIXES[self.kind]}"

    @property
    def content_type(self) -> str:
        return CSV_TYPE if self.kind == ExportKind.ENROLLMENT_DETAIL else XLSX_TYPE


class OverviewSnapshot(TimeStamped):
    """The overview page's figures of one year for the whole region tree, as last computed by
    the refresh (``services.overview_figures_refresh``): a row per region in
    ``OverviewRegionFigures``. The workbook never reads them; it computes from scratch."""

    year = models.PositiveSmallIntegerField(_("年度"), unique=True)
    # When the refresh that wrote the rows started (the figures are at least this fresh);
    # empty: asked for, not computed yet.
    computed_at = models.DateTimeField(_("计算时间"), null=True, blank=True)
    # When a page last asked for a refresh (asked again only once this is older than the limit).
    refresh_requested_at = models.DateTimeField(_("请求刷新时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("统计概览快照")
        verbose_name_plural = _("统计概览快照")

    def __str__(self):
        return f"{self.year}"


class OverviewRegionFigures(models.Model):
    """One region of a snapshot: its own staff's additive figures per sector (the cells of
    ``figures.grid``), the two figures that do not add up over regions (batches and
    sittings held, ``figures.held_by_region``) for the region and everything under it, and
    the 评教 counts of the batches it organised."""

    snapshot = models.ForeignKey(OverviewSnapshot, on_delete=models.CASCADE, related_name="regions")
    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="+")
    by_sector = models.JSONField(default=dict)  # {sector: {figure: count, "hours": "12.5"}}
    held = models.JSONField(default=dict)  # {"batches": n, "sittings": n}
    # The region's own staff's certificates expiring within the overview's window
    # (``exams.selectors.certificate_list``'s expiring_within) on the day of the refresh.
    expiring_certificates = models.PositiveIntegerField(default=0)
    # 评教 of the batches the region itself organised in the year (``figures.evaluation_counts_by_organiser``):
    # additive counts (completers, evaluations, each question's sum), summed over a scope's regions.
    evaluations = models.JSONField(default=dict)
    # Certificate work (issue 14), as ``reports.figures`` counts it for the whole tree; empty
    # (None): a row stored before these were, counted at the page until the next refresh.
    # Applications made in the year, the region the applying one: {kind: {state: n}}
    # (``figures.application_counts_by_region``).
    applications = models.JSONField(null=True, blank=True)
    # Cards printed in the year for the region's own inspectors (``figures.card_counts_by_region``).
    cards_printed = models.PositiveIntegerField(null=True, blank=True)
    # The 年审 row of a city (or of the province's own inspectors) on the day of the refresh
    # (``exams.selectors.annual_review_progress``, the deadline as ISO text); {} for a region that
    # has none.
    annual_review = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["snapshot", "region"], name="overview_one_row_per_region")]

    def __str__(self):
        return f"{self.snapshot_id}/{self.region_id}"
