import secrets
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.models import ChangeEvent, TimeStamped
from core.text import plain_number
from personnel.models import Inspector, Region, Sector


class Topic(models.TextChoices):
    PUBLICITY = "publicity", _("行政执法公示")
    PROCESS_RECORDING = "process_recording", _("执法全过程记录")
    LEGAL_REVIEW = "legal_review", _("重大执法决定法制审核")
    OTHER = "other", _("其他")


THREE_SYSTEMS = (Topic.PUBLICITY, Topic.PROCESS_RECORDING, Topic.LEGAL_REVIEW)


class Delivery(models.TextChoices):
    IN_PERSON = "in_person", _("面授")
    ONLINE = "online", _("网络")


class Course(TimeStamped):
    """A course; its topics are stored as flags so coverage is one GROUP BY."""

    code = models.CharField(_("课程编号"), max_length=32, unique=True)
    title = models.CharField(_("课程名称"), max_length=200)
    covers_publicity = models.BooleanField(_("行政执法公示"), default=False)
    covers_process_recording = models.BooleanField(_("执法全过程记录"), default=False)
    covers_legal_review = models.BooleanField(_("重大执法决定法制审核"), default=False)
    covers_other = models.BooleanField(_("其他"), default=False)
    hours = models.DecimalField(
        _("学时"), max_digits=5, decimal_places=1, validators=[MinValueValidator(Decimal("0.5"))]
    )
    delivery = models.CharField(_("授课方式"), max_length=16, choices=Delivery.choices, default=Delivery.IN_PERSON)
    description = models.TextField(_("课程简介"), blank=True)
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("课程")
        verbose_name_plural = _("课程")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(hours__gt=0),
                name="course_hours_positive",
                violation_error_message=_("学时必须大于 0。"),
            ),
            models.CheckConstraint(
                condition=Q(covers_publicity=True)
                | Q(covers_process_recording=True)
                | Q(covers_legal_review=True)
                | Q(covers_other=True),
                name="course_has_a_topic",
                violation_error_message=_("请至少勾选一个培训内容（公示、全过程记录、法制审核或其他）。"),
            ),
        ]

    def __str__(self):
        return f"{self.code} {self.title}"

    @property
    def topics(self) -> list[str]:
        return [t.value for t in Topic if getattr(self, f"covers_{t.value}")]

    @property
    def covers_three_systems(self) -> bool:
        return self.covers_publicity and self.covers_process_recording and self.covers_legal_review

    def set_topics(self, topics) -> None:
        chosen = set(topics)
        for t in Topic:
            setattr(self, f"covers_{t.value}", t.value in chosen)


class CourseEvent(ChangeEvent):
    """What happened to a course, by whom: creation and every edit, with the fields changed."""

    class Kind(models.TextChoices):
        CREATED = "created", _("创建")
        CHANGED = "changed", _("修改")

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("事件"), max_length=16, choices=Kind.choices)

    class Meta(ChangeEvent.Meta):
        verbose_name = _("课程记录")
        verbose_name_plural = _("课程记录")


class BatchStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    OPEN = "open", _("报名中")
    CLOSED = "closed", _("报名截止")
    COMPLETED = "completed", _("已结业")
    CANCELLED = "cancelled", _("已取消")


class Batch(TimeStamped):
    """One delivery (期/批次) of a course, e.g. 2019年第1批, organised by a region."""

    course = models.ForeignKey(Course, verbose_name=_("课程"), on_delete=models.PROTECT, related_name="batches")
    year = models.PositiveSmallIntegerField(_("年度"))
    number = models.PositiveSmallIntegerField(_("批次"))
    sector = models.CharField(
        _("面向行业"), max_length=32, choices=Sector.choices, blank=True, help_text=_("留空为综合")
    )
    region = models.ForeignKey(Region, verbose_name=_("组织单位"), on_delete=models.PROTECT, related_name="batches")
    starts_on = models.DateField(_("开始日期"))
    ends_on = models.DateField(_("结束日期"))
    place = models.CharField(_("地点"), max_length=200, blank=True)
    capacity = models.PositiveIntegerField(_("名额"), validators=[MinValueValidator(1)])
    enrollment_deadline = models.DateField(_("报名截止日期"))
    status = models.CharField(_("状态"), max_length=16, choices=BatchStatus.choices, default=BatchStatus.DRAFT)

    class Meta:
        verbose_name = _("培训批次")
        verbose_name_plural = _("培训批次")
        ordering = ["-year", "region__path", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["region", "year", "number"],
                name="batch_unique_number_per_region_year",
                violation_error_message=_("该组织单位本年度已有同一批次号，请换一个批次号或留空自动编号。"),
            ),
            models.CheckConstraint(
                condition=Q(ends_on__gte=F("starts_on")),
                name="batch_ends_after_start",
                violation_error_message=_("结束日期不能早于开始日期。"),
            ),
            models.CheckConstraint(
                condition=Q(capacity__gte=1),
                name="batch_capacity_positive",
                violation_error_message=_("名额至少为 1。"),
            ),
            models.CheckConstraint(
                condition=Q(enrollment_deadline__lte=F("ends_on")),
                name="batch_deadline_before_end",
                violation_error_message=_("报名截止日期不能晚于结束日期。"),
            ),
        ]
        indexes = [models.Index(fields=["year", "status"], name="batch_year_status")]

    def __str__(self):
        return self.display_name

    @property
    def days(self) -> int:
        return (self.ends_on - self.starts_on).days + 1

    @property
    def label(self) -> str:
        # Year and number may be blank on an admin form (the service fills them in); a form
        # shown again with its errors still needs a title.
        return _("%(year)s年第%(number)s批") % {"year": self.year or "", "number": self.number or ""}

    @property
    def display_name(self) -> str:
        """What a person reads wherever batches are listed together (a dropdown, the
        enrollment list, the calendar, a reminder): the number, the organiser and the course,
        "2025年第1批 · 石家庄市 · 行政执法三项制度专题培训". The many cities each run the same
        course as their 第1批, so the number and course alone do not tell them apart.
        Callers load ``region`` and ``course`` with the batch (the selectors do)."""
        parts = [str(self.label)]
        if self.region_id:
            parts.append(self.region.name)
        if self.course_id:
            parts.append(self.course.title)
        return " · ".join(parts)


class EnrollmentStatus(models.TextChoices):
    ENROLLED = "enrolled", _("已报名")
    WAITLISTED = "waitlisted", _("候补")
    CANCELLED = "cancelled", _("已取消")
    COMPLETED = "completed", _("已结业")
    NO_SHOW = "no_show", _("缺席")


# Statuses that hold (or wait for) a place, and so block a second batch on the same dates.
ACTIVE_ENROLLMENT = (EnrollmentStatus.ENROLLED, EnrollmentStatus.WAITLISTED)


class Enrollment(TimeStamped):
    batch = models.ForeignKey(Batch, verbose_name=_("批次"), on_delete=models.CASCADE, related_name="enrollments")
    inspector = models.ForeignKey(
        Inspector, verbose_name=_("执法人员"), on_delete=models.PROTECT, related_name="enrollments"
    )
    status = models.CharField(_("状态"), max_length=16, choices=EnrollmentStatus.choices)
    waitlist_position = models.PositiveIntegerField(_("候补序号"), null=True, blank=True)
    hours_credited = models.DecimalField(_("认定学时"), max_digits=5, decimal_places=1, default=Decimal("0"))
    completed_on = models.DateField(_("结业日期"), null=True, blank=True)
    override_reason = models.CharField(_("结业特批理由"), max_length=200, blank=True)
    reminder_sent_at = models.DateTimeField(_("提醒发送时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("报名")
        verbose_name_plural = _("报名")
        ordering = ["batch", "status", "waitlist_position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "inspector"], name="enrollment_once_per_batch"),
            models.UniqueConstraint(
                fields=["batch", "waitlist_position"],
                condition=Q(waitlist_position__isnull=False),
                name="enrollment_unique_waitlist_position",
            ),
            models.CheckConstraint(
                condition=Q(status="waitlisted", waitlist_position__isnull=False)
                | (~Q(status="waitlisted") & Q(waitlist_position__isnull=True)),
                name="enrollment_waitlist_has_position",
            ),
            models.CheckConstraint(
                condition=Q(status="completed") | Q(hours_credited=0), name="enrollment_hours_only_when_completed"
            ),
        ]
        indexes = [
            models.Index(fields=["batch", "status"], name="enrollment_batch_status"),
            models.Index(fields=["inspector", "status"], name="enrollment_inspector_status"),
        ]

    def __str__(self):
        # The change page's title and the breadcrumbs: who, in which batch (with its organiser).
        return f"{self.inspector.name} · {self.batch}"


class EnrollmentEvent(models.Model):
    """What happened to an enrollment, by whom: the audit trail of every write."""

    class Kind(models.TextChoices):
        ENROLLED = "enrolled", _("报名")
        WAITLISTED = "waitlisted", _("进入候补")
        PROMOTED = "promoted", _("候补转正")
        CANCELLED = "cancelled", _("取消")
        COMPLETED = "completed", _("结业")
        NO_SHOW = "no_show", _("缺席")
        REPLACED = "replaced", _("替换")
        MOVED = "moved", _("转班")
        UNCOMPLETED = "uncompleted", _("撤销结业")
        REMINDED = "reminded", _("已提醒")
        REMINDER_FAILED = "remind_failed", _("提醒发送失败")

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("事件"), max_length=16, choices=Kind.choices)
    reason = models.CharField(_("原因"), max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), null=True, blank=True, on_delete=models.SET_NULL
    )
    at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("报名记录")
        verbose_name_plural = _("报名记录")
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.get_kind_display()} {timezone.localtime(self.at):%Y-%m-%d %H:%M}"


class BatchEvent(ChangeEvent):
    """What happened to a batch, by whom: its creation, every edit and every status move,
    with the fields changed (old and new values)."""

    class Kind(models.TextChoices):
        CREATED = "created", _("创建")
        CHANGED = "changed", _("修改")
        OPENED = "opened", _("开放报名")
        CLOSED = "closed", _("截止报名")
        COMPLETED = "completed", _("结业")
        CANCELLED = "cancelled", _("取消")
        UNCOMPLETED = "uncompleted", _("撤销结业")

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("事件"), max_length=16, choices=Kind.choices)
    reason = models.CharField(_("原因"), max_length=200, blank=True)

    class Meta(ChangeEvent.Meta):
        verbose_name = _("批次记录")
        verbose_name_plural = _("批次记录")


class AttendanceSource(models.TextChoices):
    OFFICE = "office", _("培训机构登记")
    CHECKIN = "checkin", _("扫码签到")


class Attendance(TimeStamped):
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="attendance")
    day = models.DateField(_("日期"))
    present = models.BooleanField(_("出勤"), default=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # How it was recorded: by the office (the grid, the API) or by the inspector scanning the
    # day's QR code (training.checkin); a scan never overwrites an office's record.
    source = models.CharField(
        _("登记方式"), max_length=8, choices=AttendanceSource.choices, default=AttendanceSource.OFFICE
    )

    class Meta:
        verbose_name = _("考勤")
        verbose_name_plural = _("考勤")
        constraints = [models.UniqueConstraint(fields=["enrollment", "day"], name="attendance_once_per_day")]

    def __str__(self):
        return f"{self.day} {'出勤' if self.present else '缺勤'}"


class AttendanceEvent(ChangeEvent):
    """Who recorded or changed a day's attendance, when, from what to what: the office's
    marks (the grid, the API) and the inspector's own scans. Only a write that changes the
    record leaves one (marking the same again, a repeat scan: none). ``changes`` is
    ``{"present": [old, new]}`` (old None: the day's first record)."""

    class Kind(models.TextChoices):
        PRESENT = "present", _("登记出勤")
        ABSENT = "absent", _("登记缺勤")
        CHECKED_IN = "checked_in", _("扫码签到")

    attendance = models.ForeignKey(Attendance, verbose_name=_("考勤"), on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("事件"), max_length=16, choices=Kind.choices)
    source = models.CharField(_("登记方式"), max_length=8, choices=AttendanceSource.choices)

    class Meta(ChangeEvent.Meta):
        verbose_name = _("考勤记录")
        verbose_name_plural = _("考勤记录")

    @property
    def old_present(self) -> bool | None:
        return (self.changes.get("present") or [None, None])[0]

    @property
    def new_present(self) -> bool | None:
        return (self.changes.get("present") or [None, None])[1]


class HoursPolicy(TimeStamped):
    """Required training hours a year for inspectors of a region and everything under it
    (the nearest ancestor's policy applies; none at all means settings.TRAINING_REQUIRED_HOURS)."""

    region = models.ForeignKey(Region, verbose_name=_("地区"), on_delete=models.CASCADE, related_name="hours_policies")
    year = models.PositiveSmallIntegerField(_("年度"))
    required_hours = models.DecimalField(
        _("年度应修学时"), max_digits=5, decimal_places=1, validators=[MinValueValidator(Decimal("0"))]
    )

    class Meta:
        verbose_name = _("学时要求")
        verbose_name_plural = _("学时要求")
        ordering = ["-year", "region__path"]
        constraints = [
            models.UniqueConstraint(fields=["region", "year"], name="hours_policy_once_per_region_year"),
            models.CheckConstraint(condition=Q(required_hours__gte=0), name="hours_policy_non_negative"),
        ]

    def __str__(self):
        return _("%(region)s %(year)s年度：%(hours)s 学时") % {
            "region": self.region,
            "year": self.year,
            "hours": plain_number(self.required_hours),
        }


class HoursPolicyEvent(models.Model):
    """Who set (or removed) the required hours of a region for a year, when, from what to
    what: the annual review suspends by these figures, so every change is kept."""

    class Kind(models.TextChoices):
        SET = "set", _("设定")
        DELETED = "deleted", _("删除")

    # The region and year, not only the policy: the history outlives a deleted policy.
    policy = models.ForeignKey(
        HoursPolicy, verbose_name=_("学时要求"), null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    region = models.ForeignKey(Region, verbose_name=_("地区"), on_delete=models.CASCADE, related_name="+")
    year = models.PositiveSmallIntegerField(_("年度"))
    kind = models.CharField(_("事件"), max_length=16, choices=Kind.choices)
    old_hours = models.DecimalField(_("原学时"), max_digits=5, decimal_places=1, null=True, blank=True)
    new_hours = models.DecimalField(_("新学时"), max_digits=5, decimal_places=1, null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), null=True, blank=True, on_delete=models.SET_NULL
    )
    at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("学时要求记录")
        verbose_name_plural = _("学时要求记录")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["region", "year"], name="hours_policy_event_region_year")]

    def __str__(self):
        return f"{self.region} {self.year}: {self.old_hours} -> {self.new_hours}"

    @property
    def changes(self) -> dict[str, list]:
        """As the other event rows say it: ``{field: [old, new]}``."""
        plain = [None if h is None else str(h) for h in (self.old_hours, self.new_hours)]
        return {"required_hours": plain}


def _new_token() -> str:
    return secrets.token_urlsafe(24)


class CalendarToken(TimeStamped):
    """The secret in an inspector's calendar URL; rotating it revokes old subscriptions."""

    inspector = models.OneToOneField(Inspector, on_delete=models.CASCADE, related_name="calendar_token")
    token = models.CharField(max_length=64, unique=True, default=_new_token)

    class Meta:
        verbose_name = _("日历订阅")
        verbose_name_plural = _("日历订阅")

    def __str__(self):
        return str(self.inspector)


class Evaluation(TimeStamped):
    """评教: one participant's rating of a batch they completed, given once (1-5 on content,
    trainer and organisation, and a comment). Written only through training.evaluations."""

    enrollment = models.OneToOneField(
        Enrollment, verbose_name=_("报名"), on_delete=models.CASCADE, related_name="evaluation"
    )
    batch = models.ForeignKey(Batch, verbose_name=_("批次"), on_delete=models.CASCADE, related_name="evaluations")
    content = models.PositiveSmallIntegerField(_("课程内容"), validators=[MinValueValidator(1), MaxValueValidator(5)])
    trainer = models.PositiveSmallIntegerField(_("授课教师"), validators=[MinValueValidator(1), MaxValueValidator(5)])
    organisation = models.PositiveSmallIntegerField(
        _("组织安排"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    comment = models.TextField(_("意见建议"), max_length=1000, blank=True)

    class Meta:
        verbose_name = _("评教")
        verbose_name_plural = _("评教")
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(content__gte=1, content__lte=5)
                & Q(trainer__gte=1, trainer__lte=5)
                & Q(organisation__gte=1, organisation__lte=5),
                name="evaluation_scores_1_to_5",
                violation_error_message=_("评分须为 1 至 5 分。"),
            ),
        ]

    def __str__(self):
        return f"{self.batch} {self.content}/{self.trainer}/{self.organisation}"


class EvaluationEvent(ChangeEvent):
    """The act of rating (评教), as every write leaves its row: which evaluation, by whom,
    when, and the scores given (``{field: [None, score]}``). An evaluation is never changed,
    so submitting is its only event. Anonymous like the rating: no page shows these rows."""

    class Kind(models.TextChoices):
        SUBMITTED = "submitted", _("提交评价")

    evaluation = models.ForeignKey(Evaluation, verbose_name=_("评教"), on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("事件"), max_length=16, choices=Kind.choices)

    class Meta(ChangeEvent.Meta):
        verbose_name = _("评教记录")
        verbose_name_plural = _("评教记录")
