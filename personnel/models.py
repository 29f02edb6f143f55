from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Concat, Substr
from django.utils.translation import gettext_lazy as _

from core.models import ChangeEvent, TimeStamped

from . import idcard


class Sector(models.TextChoices):
    COAL = "coal", _("煤矿")
    NON_COAL_MINE = "non_coal_mine", _("非煤矿山")
    HAZARDOUS_CHEMICALS = "hazardous_chemicals", _("危险化学品")
    INDUSTRY_TRADE = "industry_trade", _("工商贸")


class RegionLevel(models.TextChoices):
    PROVINCE = "province", _("省")
    CITY = "city", _("市")
    COUNTY = "county", _("县")


class Region(TimeStamped):
    """An administrative division. ``path`` is the materialized path of codes
    (``130000/130100/130102/``) so that a subtree is one indexed prefix query."""

    code = models.CharField(
        _("行政区划代码"),
        max_length=6,
        unique=True,
        validators=[RegexValidator(r"^\d{6}$", _("行政区划代码应为6位数字"))],
    )
    name = models.CharField(_("名称"), max_length=64)
    level = models.CharField(_("级别"), max_length=16, choices=RegionLevel.choices)
    parent = models.ForeignKey(
        "self", verbose_name=_("上级地区"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField(_("路径"), max_length=255, unique=True, editable=False)
    depth = models.PositiveSmallIntegerField(_("层级深度"), default=0, editable=False)

    class Meta:
        verbose_name = _("地区")
        verbose_name_plural = _("地区")
        ordering = ["path"]
        constraints = [
            models.CheckConstraint(
                condition=Q(parent__isnull=True, level="province") | Q(parent__isnull=False),
                name="region_root_is_province",
                violation_error_message=_("只有省级地区可以没有上级地区。"),
            ),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        old_path = None
        if self.pk:
            old_path = Region.objects.filter(pk=self.pk).values_list("path", flat=True).first()
        self.path = self.build_path()
        self.depth = self.path.count("/") - 1
        with transaction.atomic():
            super().save(*args, **kwargs)
            if old_path and old_path != self.path:
                # Moved or re-coded: every descendant's path follows in one UPDATE.
                Region.objects.filter(path__startswith=old_path).exclude(pk=self.pk).update(
                    path=Concat(Value(self.path), Substr("path", len(old_path) + 1)),
                    depth=F("depth") + (self.path.count("/") - old_path.count("/")),
                )

    def build_path(self) -> str:
        prefix = self.parent.path if self.parent_id else ""
        return f"{prefix}{self.code}/"

    def contains(self, other: "Region") -> bool:
        return other.path.startswith(self.path)


class InspectorStatus(models.TextChoices):
    ACTIVE = "active", _("在岗")
    ON_LEAVE = "on_leave", _("休假")
    TRANSFERRED = "transferred", _("调离")
    RETIRED = "retired", _("退休")


class Gender(models.TextChoices):
    MALE = "male", _("男")
    FEMALE = "female", _("女")


def validate_national_id(value):
    from django.core.exceptions import ValidationError

    try:
        idcard.parse(value)
    except idcard.IdNumberError as exc:
        raise ValidationError(str(exc), code="national_id") from None


class Inspector(TimeStamped):
    name = models.CharField(_("姓名"), max_length=64)
    national_id = models.CharField(_("身份证号"), max_length=18, unique=True, validators=[validate_national_id])
    gender = models.CharField(_("性别"), max_length=8, choices=Gender.choices, editable=False)
    birth_date = models.DateField(_("出生日期"), editable=False)
    region = models.ForeignKey(Region, verbose_name=_("所属地区"), on_delete=models.PROTECT, related_name="inspectors")
    sector = models.CharField(_("行业"), max_length=32, choices=Sector.choices)
    position = models.CharField(_("职务"), max_length=64, blank=True)
    # 工作单位 as printed on the card; blank means the region's enforcement body (display_unit).
    unit = models.CharField(_("工作单位"), max_length=64, blank=True)
    phone = models.CharField(
        _("手机"),
        max_length=20,
        blank=True,
        validators=[RegexValidator(r"^[0-9+\-() ]{5,20}$", _("手机号码格式不正确"))],
    )
    status = models.CharField(_("状态"), max_length=16, choices=InspectorStatus.choices, default=InspectorStatus.ACTIVE)
    hired_on = models.DateField(_("入职日期"), null=True, blank=True)
    # The card photo, normalised by personnel.photos (JPEG, 3:4, no EXIF); written only by
    # personnel.services.inspector_photo_set / inspector_photos_import.
    photo = models.ImageField(_("照片"), upload_to="photos/", blank=True, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("登录账号"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inspector",
    )

    class Meta:
        verbose_name = _("执法人员")
        verbose_name_plural = _("执法人员")
        ordering = ["region__path", "name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(national_id__regex=r"^\d{17}[\dX]$"),
                name="inspector_national_id_shape",
                violation_error_message=_("身份证号应为 18 位（前 17 位数字，末位数字或 X）。"),
            ),
        ]
        indexes = [
            models.Index(fields=["region", "sector", "status"], name="inspector_scope"),
            models.Index(fields=["sector", "status"], name="inspector_sector_status"),
        ]

    def __str__(self):
        return f"{self.name}（{idcard.mask(self.national_id)}）"

    def save(self, *args, **kwargs):
        self.derive_from_national_id()
        super().save(*args, **kwargs)

    def derive_from_national_id(self):
        parsed = idcard.parse(self.national_id)
        self.national_id = parsed.value
        self.gender = parsed.gender
        self.birth_date = parsed.birth_date

    @property
    def masked_national_id(self) -> str:
        return idcard.mask(self.national_id)

    @property
    def display_unit(self) -> str:
        return display_unit(self)


def display_unit(inspector: Inspector) -> str:
    """The 工作单位 shown for an inspector (card, register): their own when given, else the
    enforcement body of their region (``{region}应急管理局``)."""
    return inspector.unit or region_enforcement_body(inspector.region)


def region_enforcement_body(region: Region) -> str:
    """The enforcement body of a region, as printed for its inspectors and as the card's issuer:
    a province's 应急管理厅, a city's or county's 应急管理局."""
    if region.level == RegionLevel.PROVINCE:
        return _("%(region)s应急管理厅") % {"region": region.name}
    return _("%(region)s应急管理局") % {"region": region.name}


class RegionAdmin(TimeStamped):
    """Binds a login to the region it administers: that region and its subtree."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("账号"), on_delete=models.CASCADE, related_name="region_admin"
    )
    region = models.ForeignKey(Region, verbose_name=_("管辖地区"), on_delete=models.PROTECT, related_name="admins")

    class Meta:
        verbose_name = _("地区管理员")
        verbose_name_plural = _("地区管理员")

    def __str__(self):
        return f"{self.user} @ {self.region}"


class InspectorEvent(ChangeEvent):
    """What happened to an inspector's record, by whom: creation, every edit (also by a
    roster import) and a login linked, with the fields changed. Personal numbers (ID,
    mobile) are stored masked: the trail says that they changed, not what they are."""

    class Kind(models.TextChoices):
        CREATED = "created", _("登记")
        CHANGED = "changed", _("修改")
        IMPORTED = "imported", _("名册导入登记")
        IMPORT_CHANGED = "import_changed", _("名册导入修改")
        USER_LINKED = "user_linked", _("关联账号")
        PHOTO_SET = "photo_set", _("更新照片")

    inspector = models.ForeignKey(Inspector, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("事件"), max_length=16, choices=Kind.choices)

    class Meta(ChangeEvent.Meta):
        verbose_name = _("人员记录")
        verbose_name_plural = _("人员记录")


class RegionEvent(ChangeEvent):
    """What happened to a region, by whom: creation, edits (code, name, level, parent) and
    administrators bound to it or moved away from it."""

    class Kind(models.TextChoices):
        CREATED = "created", _("创建")
        CHANGED = "changed", _("修改")
        ADMIN_ASSIGNED = "admin_assigned", _("指定管理员")
        ADMIN_REMOVED = "admin_removed", _("移除管理员")

    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("事件"), max_length=16, choices=Kind.choices)

    class Meta(ChangeEvent.Meta):
        verbose_name = _("地区记录")
        verbose_name_plural = _("地区记录")
