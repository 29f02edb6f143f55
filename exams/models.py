from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.models import ChangeEvent, TimeStamped
from core.text import name_with_points, plain_number
from personnel.models import Inspector, Region
from training.models import Batch, Course

SCORE = {"max_digits": 6, "decimal_places": 1}


class ExamKind(models.TextChoices):
    COURSE = "course", _("结业考试")
    QUALIFICATION = "qualification", _("执法资格考试")
    ANNUAL = "annual", _("年度考核考试")


class Exam(TimeStamped):
    title = models.CharField(_("考试名称"), max_length=200)
    kind = models.CharField(_("类别"), max_length=16, choices=ExamKind.choices)
    course = models.ForeignKey(
        Course, verbose_name=_("课程"), null=True, blank=True, on_delete=models.PROTECT, related_name="exams"
    )
    region = models.ForeignKey(Region, verbose_name=_("组织地区"), on_delete=models.PROTECT, related_name="exams")
    pass_mark = models.DecimalField(_("及格分"), **SCORE, default=Decimal("60"), validators=[MinValueValidator(0)])
    max_attempts = models.PositiveSmallIntegerField(_("最多考试次数"), default=3, validators=[MinValueValidator(1)])

    class Meta:
        verbose_name = _("考试")
        verbose_name_plural = _("考试")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(pass_mark__gte=0),
                name="exam_pass_mark_non_negative",
                violation_error_message=_("及格分不能为负数。"),
            ),
            models.CheckConstraint(
                condition=Q(max_attempts__gte=1),
                name="exam_max_attempts_positive",
                violation_error_message=_("最多考试次数至少为 1。"),
            ),
        ]

    def __str__(self):
        return self.title

    @property
    def max_score(self) -> Decimal:
        return sum((p.max_score for p in self.parts.all()), Decimal("0"))


class ExamPart(models.Model):
    """A part of the paper, e.g. 通用法律知识 (general) and 专门法律知识 (specialist)."""

    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="parts")
    name = models.CharField(_("科目"), max_length=64)
    max_score = models.DecimalField(_("满分"), **SCORE, validators=[MinValueValidator(Decimal("0.5"))])
    order = models.PositiveSmallIntegerField(_("顺序"), default=0)

    class Meta:
        verbose_name = _("考试科目")
        verbose_name_plural = _("考试科目")
        ordering = ["exam", "order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["exam", "name"],
                name="exam_part_unique_name",
                violation_error_message=_("同一考试的科目名称不能重复。"),
            ),
            models.CheckConstraint(
                condition=Q(max_score__gt=0),
                name="exam_part_max_positive",
                violation_error_message=_("科目满分必须大于 0。"),
            ),
        ]

    def __str__(self):
        return name_with_points(self.name, self.max_score)


class SittingStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("待考")
    GRADING = "grading", _("成绩录入中")
    CLOSED = "closed", _("成绩已确认")
    CANCELLED = "cancelled", _("已取消")


class SittingMode(models.TextChoices):
    PAPER = "paper", _("线下考试")
    ONLINE = "online", _("在线考试")


class ScoreShown(models.TextChoices):
    ON_SUBMIT = "on_submit", _("交卷后即显示")
    ON_CLOSE = "on_close", _("成绩确认后显示")


class Sitting(TimeStamped):
    exam = models.ForeignKey(Exam, verbose_name=_("考试"), on_delete=models.PROTECT, related_name="sittings")
    held_on = models.DateField(_("考试日期"))
    place = models.CharField(_("考点"), max_length=200, blank=True)
    batch = models.ForeignKey(
        Batch, verbose_name=_("培训批次"), null=True, blank=True, on_delete=models.PROTECT, related_name="sittings"
    )
    status = models.CharField(_("状态"), max_length=16, choices=SittingStatus.choices, default=SittingStatus.SCHEDULED)
    # An online sitting (在线考试): candidates sit it on their phones between opens_at and
    # closes_at, each for at most duration_minutes, on a paper drawn from the question bank by
    # the exam's PaperRule rows (exams.online); scored automatically into Result as a typed score.
    mode = models.CharField(_("考试方式"), max_length=8, choices=SittingMode.choices, default=SittingMode.PAPER)
    opens_at = models.DateTimeField(_("开考时间"), null=True, blank=True)
    closes_at = models.DateTimeField(_("截止时间"), null=True, blank=True)
    duration_minutes = models.PositiveSmallIntegerField(_("答题时长（分钟）"), null=True, blank=True)
    score_shown = models.CharField(
        _("成绩公布"), max_length=12, choices=ScoreShown.choices, default=ScoreShown.ON_SUBMIT
    )

    class Meta:
        verbose_name = _("考试场次")
        verbose_name_plural = _("考试场次")
        ordering = ["-held_on", "id"]
        indexes = [models.Index(fields=["held_on"], name="sitting_held_on")]
        constraints = [
            models.CheckConstraint(
                condition=Q(mode="paper")
                | (
                    Q(opens_at__isnull=False)
                    & Q(closes_at__isnull=False)
                    & Q(duration_minutes__gte=1)
                    & Q(closes_at__gt=F("opens_at"))
                ),
                name="sitting_online_has_window",
                violation_error_message=_("在线考试须有开考时间、晚于开考时间的截止时间和答题时长。"),
            ),
        ]

    def __str__(self):
        return f"{self.exam.title} {self.held_on:%Y-%m-%d}"


class Result(TimeStamped):
    """One candidate in one sitting. Absent is not a zero: no score, no attempt used."""

    sitting = models.ForeignKey(Sitting, verbose_name=_("场次"), on_delete=models.CASCADE, related_name="results")
    inspector = models.ForeignKey(
        Inspector, verbose_name=_("考生"), on_delete=models.PROTECT, related_name="exam_results"
    )
    exam = models.ForeignKey(Exam, verbose_name=_("考试"), on_delete=models.PROTECT, related_name="results")
    part_scores = models.JSONField(_("分项成绩"), default=dict, blank=True)
    score = models.DecimalField(_("总分"), **SCORE, null=True, blank=True)
    absent = models.BooleanField(_("缺考"), default=False)
    passed = models.BooleanField(_("合格"), null=True, blank=True)
    attempt = models.PositiveSmallIntegerField(_("第几次考试"), null=True, blank=True)
    pass_mark = models.DecimalField(_("适用及格分"), **SCORE, null=True, blank=True)

    class Meta:
        verbose_name = _("考试成绩")
        verbose_name_plural = _("考试成绩")
        ordering = ["sitting", "inspector__name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sitting", "inspector"],
                name="result_once_per_sitting",
                violation_error_message=_("该考生在本场次已有成绩。"),
            ),
            models.UniqueConstraint(
                fields=["exam", "inspector", "attempt"],
                condition=Q(attempt__isnull=False),
                name="result_unique_attempt",
                violation_error_message=_("该考生本次考试的第几次考试已有成绩。"),
            ),
            models.CheckConstraint(
                condition=(Q(absent=True) & Q(score__isnull=True) & Q(attempt__isnull=True))
                | (Q(absent=False) & Q(score__isnull=False) & Q(attempt__isnull=False)),
                name="result_absent_has_no_score",
                violation_error_message=_("缺考的考生不能有分数；参加考试的考生必须有分数。"),
            ),
            models.CheckConstraint(
                condition=Q(score__gte=0) | Q(score__isnull=True),
                name="result_score_non_negative",
                violation_error_message=_("分数不能为负数。"),
            ),
        ]
        indexes = [models.Index(fields=["inspector", "exam"], name="result_inspector_exam")]

    def __str__(self):
        return f"{self.inspector.name} {self.sitting}"


class ResultChange(models.Model):
    """History of a recorded score: old and new value, who and when (bulk paths included)."""

    result = models.ForeignKey(Result, on_delete=models.CASCADE, related_name="changes")
    old_score = models.DecimalField(_("原总分"), **SCORE, null=True, blank=True)
    new_score = models.DecimalField(_("新总分"), **SCORE, null=True, blank=True)
    old_absent = models.BooleanField(_("原缺考"), null=True, blank=True)
    new_absent = models.BooleanField(_("新缺考"), default=False)
    old_parts = models.JSONField(_("原分项"), null=True, blank=True)
    new_parts = models.JSONField(_("新分项"), default=dict, blank=True)
    source = models.CharField(_("来源"), max_length=32, default="entry")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), null=True, blank=True, on_delete=models.SET_NULL
    )
    at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("成绩变更记录")
        verbose_name_plural = _("成绩变更记录")
        ordering = ["at", "id"]

    def __str__(self):
        old, new = (plain_number(v) if v is not None else "-" for v in (self.old_score, self.new_score))
        return f"{old} → {new}"


class ExamEvent(models.Model):
    """Audit row of an exam or a sitting: created, changed (old and new values), status moves."""

    class Kind(models.TextChoices):
        EXAM_CREATED = "exam_created", _("创建考试")
        EXAM_CHANGED = "exam_changed", _("修改考试")
        SITTING_CREATED = "sitting_created", _("创建场次")
        SITTING_CHANGED = "sitting_changed", _("修改场次")
        SITTING_STATUS = "sitting_status", _("场次状态变更")

    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="events")
    sitting = models.ForeignKey(Sitting, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("事件"), max_length=16, choices=Kind.choices)
    changes = models.JSONField(_("变更"), default=dict, blank=True)  # {field: [old, new]}
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), null=True, blank=True, on_delete=models.SET_NULL
    )
    at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("考试记录")
        verbose_name_plural = _("考试记录")
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.get_kind_display()} {timezone.localtime(self.at):%Y-%m-%d}"


class CertificateStatus(models.TextChoices):
    VALID = "valid", _("有效")
    SUSPENDED = "suspended", _("暂扣")
    REVOKED = "revoked", _("吊销")
    EXPIRED = "expired", _("过期")
    RETURNED = "returned", _("已收回")
    CANCELLED = "cancelled", _("已注销")


# A holder has at most one certificate in these states (enforced by a partial unique index).
HELD = (CertificateStatus.VALID, CertificateStatus.SUSPENDED)


class Certificate(TimeStamped):
    """行政执法证. Its status changes only through exams.services (one state machine)."""

    number = models.CharField(_("证号"), max_length=32, unique=True)
    holder = models.ForeignKey(
        Inspector, verbose_name=_("持证人"), on_delete=models.PROTECT, related_name="certificates"
    )
    region = models.ForeignKey(
        Region, verbose_name=_("发证地区"), on_delete=models.PROTECT, related_name="certificates"
    )
    issued_on = models.DateField(_("发证日期"))
    valid_until = models.DateField(_("有效期至"))
    status = models.CharField(
        _("状态"), max_length=16, choices=CertificateStatus.choices, default=CertificateStatus.VALID
    )
    source_result = models.OneToOneField(
        Result,
        verbose_name=_("取证成绩"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="certificate",
    )
    renewal_count = models.PositiveSmallIntegerField(_("换发次数"), default=0)
    # 补办 prints a new card under the same number; the cards before this edition are void.
    card_edition = models.PositiveSmallIntegerField(_("证卡版次"), default=1)

    class Meta:
        verbose_name = _("行政执法证")
        verbose_name_plural = _("行政执法证")
        ordering = ["-issued_on", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["holder"],
                condition=Q(status__in=["valid", "suspended"]),
                name="certificate_one_held_per_holder",
                violation_error_message=_("该人员已持有有效或暂扣中的执法证。"),
            ),
            models.CheckConstraint(
                condition=Q(valid_until__gt=F("issued_on")),
                name="certificate_valid_after_issue",
                violation_error_message=_("有效期至必须晚于发证日期。"),
            ),
        ]
        indexes = [
            models.Index(fields=["status", "valid_until"], name="certificate_status_expiry"),
            # The overview's expiring list: certificates in force in date order, read from the
            # index's head (50-70 ms -> under 1 ms at 1M enrollments, measured on PostgreSQL).
            models.Index(
                fields=["valid_until", "number"],
                condition=Q(status__in=["valid", "suspended"]),
                name="certificate_held_expiry",
            ),
        ]

    def __str__(self):
        return self.number


class CertificateEvent(models.Model):
    class Kind(models.TextChoices):
        ISSUED = "issued", _("发证")
        RENEWED = "renewed", _("换发")
        REVIEWED = "reviewed", _("年审")
        SUSPENDED = "suspended", _("暂扣")
        REINSTATED = "reinstated", _("恢复")
        REVOKED = "revoked", _("吊销")
        EXPIRED = "expired", _("过期")
        RETURNED = "returned", _("收回")
        REMINDED = "reminded", _("到期提醒")
        REPLACED = "replaced", _("补办")
        CHANGED = "changed", _("变更")
        CANCELLED = "cancelled", _("注销")
        # A card printed (exams.card, through services.certificate_cards_print); reports count these.
        CARD_PRINTED = "card_printed", _("制卡")

    certificate = models.ForeignKey(Certificate, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("事件"), max_length=16, choices=Kind.choices)
    reason = models.CharField(_("原因"), max_length=300, blank=True)
    from_status = models.CharField(_("原状态"), max_length=16, blank=True)
    to_status = models.CharField(_("新状态"), max_length=16, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), null=True, blank=True, on_delete=models.SET_NULL
    )
    at = models.DateTimeField(_("时间"), auto_now_add=True)
    # The application whose last approval made this change (None: a direct action).
    application = models.ForeignKey(
        "CertificateApplication",
        verbose_name=_("申请"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="certificate_events",
    )

    class Meta:
        verbose_name = _("证件记录")
        verbose_name_plural = _("证件记录")
        ordering = ["at", "id"]
        # The public register's changes (issued, cancelled, returned, revoked in 90 days).
        indexes = [models.Index(fields=["kind", "at"], name="certificate_event_kind_at")]

    def __str__(self):
        return f"{self.get_kind_display()} {timezone.localtime(self.at):%Y-%m-%d}"


class AnnualReview(TimeStamped):
    """年审 of one certificate for one year: hours against the policy, and the holder's status."""

    certificate = models.ForeignKey(Certificate, on_delete=models.CASCADE, related_name="reviews")
    year = models.PositiveSmallIntegerField(_("年度"))
    passed = models.BooleanField(_("通过"))
    hours = models.DecimalField(_("年度学时"), max_digits=7, decimal_places=1)
    required_hours = models.DecimalField(_("应修学时"), max_digits=7, decimal_places=1)
    note = models.CharField(_("说明"), max_length=300, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        verbose_name = _("年审记录")
        verbose_name_plural = _("年审记录")
        ordering = ["-year"]
        constraints = [
            models.UniqueConstraint(
                fields=["certificate", "year"],
                name="annual_review_once_per_year",
                violation_error_message=_("该证件本年度已年审。"),
            )
        ]

    def __str__(self):
        return f"{self.certificate} {self.year}"


class ExpiryReminder(models.Model):
    """One row per reminder sent (90/30/7 days before a given expiry date): sent once."""

    certificate = models.ForeignKey(Certificate, on_delete=models.CASCADE, related_name="reminders")
    days_before = models.PositiveSmallIntegerField()
    valid_until = models.DateField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["certificate", "days_before", "valid_until"], name="expiry_reminder_once")
        ]

    def __str__(self):
        return f"{self.certificate} -{self.days_before}d"


# --- applications (申请) -----------------------------------------------------------------------


class ApplicationKind(models.TextChoices):
    ISSUE = "issue", _("申领")  # first issue after passing the qualification exam
    REVIEW = "review", _("年审")
    RENEW = "renew", _("换证")
    REPLACE = "replace", _("补办")  # same number, a new card; the old card is void
    CHANGE = "change", _("变更")  # unit, region or sector
    CANCEL = "cancel", _("注销")  # transfer, retirement or dismissal


class ApplicationState(models.TextChoices):
    PENDING = "pending", _("审批中")  # waiting at ``level``
    RETURNED = "returned", _("已退回")  # closed by a level with a comment; apply again
    APPROVED = "approved", _("已办结")  # the last level approved; the certificate changed
    WITHDRAWN = "withdrawn", _("已撤回")


class ApplicationReason(models.TextChoices):
    LOST = "lost", _("遗失")
    DAMAGED = "damaged", _("损坏")
    TRANSFERRED = "transferred", _("调离")
    RETIRED = "retired", _("退休")
    DISMISSED = "dismissed", _("辞退")


# Approval chains an office may choose for a kind, from the first level to the last. Levels
# below the inspector's own region level are skipped (a city-level inspector has no county).
APPROVAL_CHAINS = [
    ("county,city,province", _("县 → 市 → 省")),
    ("city,province", _("市 → 省")),
    ("county,city", _("县 → 市")),
    ("county,province", _("县 → 省")),
    ("province", _("省")),
    ("city", _("市")),
    ("county", _("县")),
]
# The chain each kind starts with (the office changes them in the admin). Migration 0005 seeds
# them with a frozen copy; ``applications.approval_chains_ensure`` restores a missing one after
# every migrate and flush; ``applications.chain_for`` falls back to it.
DEFAULT_CHAINS = {
    "issue": "county,city,province",
    "review": "county,city",
    "renew": "county,city,province",
    "replace": "city,province",
    "change": "county,city,province",
    "cancel": "county,city",
}


class ApprovalChain(TimeStamped):
    """The levels an application of one kind passes, bottom up (editable in the admin; a data
    migration seeds one per kind). An application keeps the chain it started with."""

    kind = models.CharField(_("申请类别"), max_length=16, choices=ApplicationKind.choices, unique=True)
    levels = models.CharField(_("审批层级"), max_length=64, choices=APPROVAL_CHAINS)

    class Meta:
        verbose_name = _("审批流程")
        verbose_name_plural = _("审批流程")
        ordering = ["kind"]

    def __str__(self):
        return f"{self.get_kind_display()}：{self.get_levels_display()}"


class AnnualReviewWindow(TimeStamped):
    """年审 window of a year: applications from ``opens_on``; due by ``deadline``."""

    year = models.PositiveSmallIntegerField(_("年度"), unique=True)
    opens_on = models.DateField(_("开始日期"))
    deadline = models.DateField(_("截止日期"))

    class Meta:
        verbose_name = _("年审期限")
        verbose_name_plural = _("年审期限")
        ordering = ["-year"]
        constraints = [
            models.CheckConstraint(
                condition=Q(deadline__gte=F("opens_on")),
                name="annual_review_window_order",
                violation_error_message=_("截止日期不能早于开始日期。"),
            ),
        ]

    def __str__(self):
        return f"{self.year}"


class CertificateApplication(TimeStamped):
    """申请: a unit applies for one inspector; each level of ``levels`` approves or returns it;
    the last approval carries the change out through the certificate services."""

    kind = models.CharField(_("申请类别"), max_length=16, choices=ApplicationKind.choices)
    state = models.CharField(
        _("状态"), max_length=16, choices=ApplicationState.choices, default=ApplicationState.PENDING
    )
    inspector = models.ForeignKey(
        Inspector, verbose_name=_("执法人员"), on_delete=models.PROTECT, related_name="applications"
    )
    certificate = models.ForeignKey(
        Certificate,
        verbose_name=_("证件"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="applications",
    )  # None for 申领 until it is carried out
    source_result = models.ForeignKey(
        Result, verbose_name=_("取证成绩"), null=True, blank=True, on_delete=models.PROTECT, related_name="applications"
    )
    region = models.ForeignKey(
        Region, verbose_name=_("申请地区"), on_delete=models.PROTECT, related_name="applications"
    )  # the inspector's region when applying: whose levels approve
    levels = models.CharField(_("审批层级"), max_length=64)  # the chain when applying, "county,city,province"
    level = models.CharField(_("当前审批层级"), max_length=16, blank=True)  # blank once closed
    year = models.PositiveSmallIntegerField(_("年审年度"), null=True, blank=True)
    reason = models.CharField(_("事由"), max_length=16, choices=ApplicationReason.choices, blank=True)
    note = models.CharField(_("说明"), max_length=300, blank=True)
    new_region = models.ForeignKey(
        Region,
        verbose_name=_("变更后地区"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    new_sector = models.CharField(_("变更后行业"), max_length=32, blank=True)
    new_unit = models.CharField(_("变更后单位"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("申请人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    closed_at = models.DateTimeField(_("办结时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("证件申请")
        verbose_name_plural = _("证件申请")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["inspector"],
                condition=Q(state="pending"),
                name="application_one_open_per_inspector",
                violation_error_message=_("该人员已有审批中的申请。"),
            ),
            models.CheckConstraint(
                condition=Q(kind="issue") | Q(certificate__isnull=False),
                name="application_certificate_unless_issue",
                violation_error_message=_("除申领外，申请须指明证件。"),
            ),
            models.CheckConstraint(
                condition=Q(kind="review", year__isnull=False) | (~Q(kind="review") & Q(year__isnull=True)),
                name="application_year_for_review",
                violation_error_message=_("年审申请须指明年度。"),
            ),
            models.CheckConstraint(
                condition=(Q(state="pending") & ~Q(level="")) | (~Q(state="pending") & Q(level="")),
                name="application_level_while_pending",
                violation_error_message=_("审批中的申请须有当前审批层级。"),
            ),
        ]
        indexes = [
            models.Index(fields=["state", "level", "kind"], name="application_queue"),
            models.Index(fields=["kind", "year", "state"], name="application_kind_year"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.inspector.name}"

    @property
    def level_list(self) -> list[str]:
        return [lv for lv in self.levels.split(",") if lv]


class ApplicationEvent(models.Model):
    """One step of an application: who, when, at which level, with what comment."""

    class Kind(models.TextChoices):
        SUBMITTED = "submitted", _("提交")
        APPROVED = "approved", _("批准")
        RETURNED = "returned", _("退回")
        CARRIED_OUT = "carried_out", _("办结")
        WITHDRAWN = "withdrawn", _("撤回")

    application = models.ForeignKey(CertificateApplication, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("事件"), max_length=16, choices=Kind.choices)
    level = models.CharField(_("审批层级"), max_length=16, blank=True)
    comment = models.CharField(_("意见"), max_length=300, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), null=True, blank=True, on_delete=models.SET_NULL
    )
    at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("申请记录")
        verbose_name_plural = _("申请记录")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["application", "at"], name="application_event_at")]

    def __str__(self):
        return f"{self.get_kind_display()} {timezone.localtime(self.at):%Y-%m-%d}"


# --- question bank (题库) and online attempts --------------------------------------------------


class QuestionKind(models.TextChoices):
    SINGLE = "single", _("单选题")
    MULTIPLE = "multiple", _("多选题")
    TRUE_FALSE = "true_false", _("判断题")


class Difficulty(models.IntegerChoices):
    EASY = 1, _("易")
    MEDIUM = 2, _("中")
    HARD = 3, _("难")


class Question(TimeStamped):
    """A question of the bank as it reads now. Its content (stem, options, answer, explanation,
    kind, category, difficulty) changes only through exams.questions, which writes a new
    QuestionVersion for every content change: papers point at versions, so an edit never changes
    what a past candidate was asked. Options are a list of texts lettered A, B, C... by position;
    the answer is the letters of the right options in order ("A", "ACD"); a true/false question
    has the options 正确 / 错误."""

    region = models.ForeignKey(Region, verbose_name=_("所属地区"), on_delete=models.PROTECT, related_name="questions")
    kind = models.CharField(_("题型"), max_length=12, choices=QuestionKind.choices)
    stem = models.TextField(_("题干"))
    options = models.JSONField(_("选项"), default=list)
    answer = models.CharField(_("答案"), max_length=12)
    explanation = models.TextField(_("解析"), blank=True)
    category = models.CharField(_("分类"), max_length=64, help_text=_("考试科目或法律领域，组卷规则按它抽题。"))
    difficulty = models.PositiveSmallIntegerField(_("难度"), choices=Difficulty.choices, default=Difficulty.MEDIUM)
    active = models.BooleanField(_("启用"), default=True)
    version = models.PositiveIntegerField(_("版本"), default=1)
    # sha256 of the normalised stem and options: the same question twice in a region is a duplicate.
    digest = models.CharField(_("内容摘要"), max_length=64, editable=False)

    class Meta:
        verbose_name = _("试题")
        verbose_name_plural = _("题库")
        ordering = ["category", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["region", "digest"],
                name="question_unique_in_region",
                violation_error_message=_("本地区题库中已有相同的试题。"),
            ),
        ]
        indexes = [models.Index(fields=["region", "category", "difficulty", "active"], name="question_draw")]

    def __str__(self):
        stem = self.stem if len(self.stem) <= 40 else self.stem[:39] + "…"
        return f"{self.get_kind_display()} {stem}"


class QuestionVersion(models.Model):
    """What a question read at one version; never changed once written (papers point here)."""

    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField(_("版本"))
    kind = models.CharField(_("题型"), max_length=12, choices=QuestionKind.choices)
    stem = models.TextField(_("题干"))
    options = models.JSONField(_("选项"), default=list)
    answer = models.CharField(_("答案"), max_length=12)
    explanation = models.TextField(_("解析"), blank=True)
    category = models.CharField(_("分类"), max_length=64)
    difficulty = models.PositiveSmallIntegerField(_("难度"), choices=Difficulty.choices)
    at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("试题版本")
        verbose_name_plural = _("试题版本")
        ordering = ["question", "version"]
        constraints = [
            models.UniqueConstraint(fields=["question", "version"], name="question_version_unique"),
        ]

    def __str__(self):
        return f"{self.question_id} v{self.version}"


class QuestionEvent(ChangeEvent):
    class Kind(models.TextChoices):
        CREATED = "created", _("新增")
        CHANGED = "changed", _("修改")
        IMPORTED = "imported", _("导入")
        ACTIVATED = "activated", _("启用")
        DEACTIVATED = "deactivated", _("停用")

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("事件"), max_length=16, choices=Kind.choices)

    class Meta(ChangeEvent.Meta):
        verbose_name = _("试题记录")
        verbose_name_plural = _("试题记录")


class PaperRule(models.Model):
    """How a part of an exam's online paper is drawn: ``count`` active questions of the bank in
    ``category`` (and of ``difficulty``, or any), ``points`` each; or, with ``question`` set, that
    one question (a fixed paper is a part made only of such rows)."""

    part = models.ForeignKey(ExamPart, verbose_name=_("科目"), on_delete=models.CASCADE, related_name="paper_rules")
    category = models.CharField(_("分类"), max_length=64, blank=True)
    difficulty = models.PositiveSmallIntegerField(_("难度"), choices=Difficulty.choices, null=True, blank=True)
    kind = models.CharField(_("题型"), max_length=12, choices=QuestionKind.choices, blank=True)
    count = models.PositiveSmallIntegerField(_("题数"), default=1, validators=[MinValueValidator(1)])
    question = models.ForeignKey(
        Question, verbose_name=_("指定试题"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    points = models.DecimalField(_("每题分值"), **SCORE, validators=[MinValueValidator(Decimal("0.5"))])
    order = models.PositiveSmallIntegerField(_("顺序"), default=0)

    class Meta:
        verbose_name = _("组卷规则")
        verbose_name_plural = _("组卷规则")
        ordering = ["part", "order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(question__isnull=True) & ~Q(category="")) | (Q(question__isnull=False) & Q(count=1)),
                name="paper_rule_draw_or_fixed",
                violation_error_message=_("组卷规则须指定分类（随机抽题），或指定一道试题（固定试卷，题数为 1）。"),
            ),
            models.CheckConstraint(
                condition=Q(points__gt=0) & Q(count__gte=1),
                name="paper_rule_positive",
                violation_error_message=_("题数和每题分值必须大于 0。"),
            ),
        ]

    def __str__(self):
        what = self.category or str(self.question_id)
        return f"{what} × {self.count} × {plain_number(self.points)}"


class AttemptState(models.TextChoices):
    ACTIVE = "active", _("答题中")
    SUBMITTED = "submitted", _("已交卷")


class SubmittedBy(models.TextChoices):
    CANDIDATE = "candidate", _("考生交卷")
    TIMEOUT = "timeout", _("到时自动交卷")


class Attempt(TimeStamped):
    """One candidate's paper in an online sitting (or a practice paper: ``sitting`` empty,
    never counted). Drawn once at start from ``seed`` and fixed; ``deadline`` is the server's:
    the earlier of start + duration and the sitting's close."""

    sitting = models.ForeignKey(
        Sitting, verbose_name=_("场次"), null=True, blank=True, on_delete=models.PROTECT, related_name="attempts"
    )
    inspector = models.ForeignKey(Inspector, verbose_name=_("考生"), on_delete=models.PROTECT, related_name="attempts")
    practice = models.BooleanField(_("练习"), default=False)
    seed = models.BigIntegerField(_("抽题种子"))
    state = models.CharField(_("状态"), max_length=12, choices=AttemptState.choices, default=AttemptState.ACTIVE)
    started_at = models.DateTimeField(_("开始时间"))
    deadline = models.DateTimeField(_("截止时间"))
    submitted_at = models.DateTimeField(_("交卷时间"), null=True, blank=True)
    submitted_by = models.CharField(_("交卷方式"), max_length=12, choices=SubmittedBy.choices, blank=True)
    score = models.DecimalField(_("得分"), **SCORE, null=True, blank=True)
    part_scores = models.JSONField(_("分项得分"), default=dict, blank=True)
    result = models.OneToOneField(
        Result, verbose_name=_("成绩"), null=True, blank=True, on_delete=models.SET_NULL, related_name="online_attempt"
    )

    class Meta:
        verbose_name = _("在线答卷")
        verbose_name_plural = _("在线答卷")
        ordering = ["-started_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sitting", "inspector"],
                condition=Q(practice=False),
                name="attempt_once_per_sitting",
                violation_error_message=_("该考生在本场次已有答卷。"),
            ),
            models.UniqueConstraint(
                fields=["inspector"],
                condition=Q(practice=True, state="active"),
                name="attempt_one_active_practice",
                violation_error_message=_("已有一份正在进行的练习。"),
            ),
            models.CheckConstraint(
                condition=Q(practice=True, sitting__isnull=True) | Q(practice=False, sitting__isnull=False),
                name="attempt_practice_has_no_sitting",
                violation_error_message=_("练习不属于考试场次；正式答卷必须属于一个场次。"),
            ),
        ]
        indexes = [models.Index(fields=["state", "deadline"], name="attempt_due")]

    def __str__(self):
        return f"{self.inspector.name} {self.sitting or _('练习')}"


class AttemptItem(models.Model):
    """One question of an attempt's paper: the version asked, the order its options were shown
    in (``option_order``: original indexes in display order), its points, and the candidate's
    answer (original letters, saved as given). ``correct`` and ``awarded`` are set on scoring."""

    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField(_("题序"))
    part = models.ForeignKey(
        ExamPart, verbose_name=_("科目"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    version = models.ForeignKey(QuestionVersion, verbose_name=_("试题版本"), on_delete=models.PROTECT, related_name="+")
    option_order = models.JSONField(_("选项顺序"), default=list)
    points = models.DecimalField(_("分值"), **SCORE)
    answer = models.CharField(_("作答"), max_length=12, blank=True)
    answered_at = models.DateTimeField(_("作答时间"), null=True, blank=True)
    correct = models.BooleanField(_("正确"), null=True, blank=True)
    awarded = models.DecimalField(_("得分"), **SCORE, null=True, blank=True)

    class Meta:
        verbose_name = _("答卷试题")
        verbose_name_plural = _("答卷试题")
        ordering = ["attempt", "position"]
        constraints = [
            models.UniqueConstraint(fields=["attempt", "position"], name="attempt_item_position"),
        ]

    def __str__(self):
        return f"{self.attempt_id}#{self.position}"


class AttemptEvent(models.Model):
    class Kind(models.TextChoices):
        STARTED = "started", _("开始答题")
        SUBMITTED = "submitted", _("交卷")
        TIMED_OUT = "timed_out", _("到时自动交卷")
        SCORED = "scored", _("评分")

    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("事件"), max_length=16, choices=Kind.choices)
    detail = models.JSONField(_("详情"), default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), null=True, blank=True, on_delete=models.SET_NULL
    )
    at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("答卷记录")
        verbose_name_plural = _("答卷记录")
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.get_kind_display()} {timezone.localtime(self.at):%Y-%m-%d %H:%M}"
