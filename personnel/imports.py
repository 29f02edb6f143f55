"""Roster import from .xlsx / .xls / .csv: validate every row, then upsert all or nothing.

Column layout (first row that holds 姓名 and 身份证号 is the header; English accepted):

| 列 | 中文表头 | English | 必填 | 说明 |
|----|----------|---------|------|------|
| 姓名 | 姓名 | name | 是 | |
| 身份证号 | 身份证号 / 身份证号码 | national_id | 是 | 18位，校验位正确；请以文本格式保存 |
| 所属地区 | 所属地区 / 地区代码 / 地区 | region | 是 | 6位行政区划代码，或唯一的地区名称 |
| 行业 | 行业 | sector | 是 | 煤矿、非煤矿山、危险化学品（危化）、工商贸（工贸） |
| 职务 | 职务 | position | 否 | |
| 手机 | 手机 / 手机号 | phone | 否 | |
| 状态 | 状态 | status | 否 | 在岗、休假、调离、退休；新人员默认在岗 |
| 入职日期 | 入职日期 | hired_on | 否 | 日期单元格，或 2019-03-01 / 2019/3/1 / 2019年3月1日 |

A blank optional cell leaves an existing inspector's value unchanged. A 序号 column is ignored.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import diff, plain
from core.uploads import (
    HEADER_SCAN_ROWS,
    CellValueError,
    RowError,
    UploadError,
    cell_text,
    column_letter,
    locate_header,
    read_rows,
    text_value,
)

from . import access, idcard
from .models import Inspector, InspectorEvent, InspectorStatus, Region
from .services import INSPECTOR_FIELDS, PERSONAL, national_id_not_here_message
from .vocab import sector_from_text, status_from_text


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    aliases: tuple[str, ...]
    required: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("name", "姓名", ("姓名", "name", "full name"), required=True),
    Column(
        "national_id",
        "身份证号",
        ("身份证号", "身份证号码", "公民身份号码", "national_id", "national id", "id number"),
        True,
    ),
    Column(
        "region",
        "所属地区",
        ("所属地区", "地区代码", "地区", "所属地区代码", "region", "region_code", "region code"),
        True,
    ),
    Column("sector", "行业", ("行业", "所属行业", "sector"), required=True),
    Column("position", "职务", ("职务", "职位", "position")),
    Column("phone", "手机", ("手机", "手机号", "手机号码", "联系电话", "phone", "mobile")),
    Column("status", "状态", ("状态", "人员状态", "status")),
    Column("hired_on", "入职日期", ("入职日期", "入职时间", "hired_on", "hired on", "hire date")),
)
_ALIAS_TO_KEY = {alias.lower(): col.key for col in COLUMNS for alias in col.aliases}
_LABEL = {col.key: col.label for col in COLUMNS}
_PHONE = re.compile(r"^[0-9+\-() ]{5,20}$")
_UPDATE_FIELDS = ["name", "region", "sector", "position", "phone", "status", "hired_on", "updated_at"]


@dataclass
class ImportResult:
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    dry_run: bool = False
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "total": self.total,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": [e.as_dict() for e in self.errors],
        }


@dataclass
class _Row:
    number: int
    values: dict


def _locate_header(rows: Iterator[list], errors: list[RowError]) -> tuple[int, dict[int, str]] | None:
    """Find the header among the first rows (a title row may sit above it)."""
    return locate_header(
        rows,
        errors,
        columns=COLUMNS,
        aliases=_ALIAS_TO_KEY,
        anchors=("name", "national_id"),
        not_found=_("未找到表头：前%(n)d行中没有同时包含“姓名”和“身份证号”的行。") % {"n": HEADER_SCAN_ROWS},
    )


# --- validating ----------------------------------------------------------------------


class _RegionIndex:
    def __init__(self):
        self.by_code: dict[str, Region] = {}
        self.by_name: dict[str, list[Region]] = {}
        for region in Region.objects.all().only("id", "code", "name", "path", "level", "parent_id"):
            self.by_code[region.code] = region
            self.by_name.setdefault(region.name, []).append(region)

    def resolve(self, text: str) -> tuple[Region | None, str]:
        if re.fullmatch(r"\d{6}", text):
            region = self.by_code.get(text)
            return region, "" if region else _("行政区划代码“%(t)s”不存在") % {"t": text}
        candidates = self.by_name.get(text, [])
        if len(candidates) == 1:
            return candidates[0], ""
        if len(candidates) > 1:
            return None, _("地区名称“%(t)s”不唯一，请填写6位行政区划代码") % {"t": text}
        return None, _("未知地区“%(t)s”") % {"t": text}


def _parse_date(value) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        # An Excel serial number in a cell not formatted as a date.
        if 1 <= value < 2958466:
            return dt.date(1899, 12, 30) + dt.timedelta(days=int(value))
        raise ValueError
    text = cell_text(value)
    match = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?", text) or re.fullmatch(
        r"(\d{4})(\d{2})(\d{2})", text
    )
    if not match:
        raise ValueError
    return dt.date(int(match[1]), int(match[2]), int(match[3]))


def _validate(
    rows: Iterable[list],
    header_row: int,
    mapping: dict[int, str],
    scope: access.Scope,
    errors: list[RowError],
) -> tuple[list[_Row], int]:
    regions = _RegionIndex()
    columns = {key: f"{column_letter(i)} {_LABEL[key]}" for i, key in mapping.items()}
    first_row_of: dict[str, int] = {}
    valid: list[_Row] = []
    max_rows = settings.ROSTER_IMPORT_MAX_ROWS
    count = 0
    for offset, row in enumerate(rows, start=1):
        number = header_row + offset
        raw = {key: (row[i] if i < len(row) else None) for i, key in mapping.items()}
        if all(cell_text(v) == "" for v in raw.values()):
            continue
        count += 1
        if count > max_rows:
            errors.append(RowError(number, "", _("行数超过上限 %(n)d 行，请分批导入") % {"n": max_rows}))
            break
        row_errors: list[RowError] = []

        def fail(key, message, number=number, row_errors=row_errors):
            row_errors.append(RowError(number, columns[key], message))

        values: dict = {}
        for key, value in raw.items():
            # NUL and other control characters (also _x0000_ once decoded) are the cell's
            # error; the cell is then read as blank so it is not blamed twice.
            if isinstance(value, str):
                try:
                    text_value(value)
                except CellValueError as exc:
                    fail(key, exc.message)
                    raw[key] = None
        refused = {e.column for e in row_errors}
        for col in COLUMNS:
            required = col.key in columns and col.required and columns[col.key] not in refused
            if required and cell_text(raw.get(col.key)) == "":
                fail(col.key, _("必填项为空"))

        name = cell_text(raw.get("name"))
        if name:
            if len(name) > 64:
                fail("name", _("姓名过长（最多64个字符）"))
            values["name"] = name

        id_raw = raw.get("national_id")
        if isinstance(id_raw, float | int) and not isinstance(id_raw, bool) and len(cell_text(id_raw)) >= 15:
            fail("national_id", _("身份证号被保存为数字，已丢失精度；请将该列设为文本格式后重新录入"))
        elif cell_text(id_raw):
            try:
                parsed = idcard.parse(id_raw)
            except idcard.IdNumberError as exc:
                fail("national_id", str(exc))
            else:
                values["national_id"] = parsed.value
                values["gender"] = parsed.gender
                values["birth_date"] = parsed.birth_date
                previous = first_row_of.setdefault(parsed.value, number)
                if previous != number:
                    fail("national_id", _("身份证号与第%(r)d行重复") % {"r": previous})

        region_text = cell_text(raw.get("region"))
        if region_text:
            region, message = regions.resolve(region_text)
            if region is None:
                fail("region", message)
            elif not scope.covers_path(region.path):
                fail("region", _("地区“%(r)s”不在您的管辖范围内") % {"r": region.name})
            else:
                values["region"] = region

        sector_text = cell_text(raw.get("sector"))
        if sector_text:
            sector = sector_from_text(sector_text)
            if sector is None:
                fail("sector", _("未知行业“%(t)s”（可用：煤矿、非煤矿山、危险化学品、工商贸）") % {"t": sector_text})
            values["sector"] = sector

        if "position" in columns:
            position = cell_text(raw.get("position"))
            if len(position) > 64:
                fail("position", _("职务过长（最多64个字符）"))
            elif position:
                values["position"] = position

        if "phone" in columns:
            phone = cell_text(raw.get("phone"))
            if phone and not _PHONE.fullmatch(phone):
                fail("phone", _("手机号码格式不正确"))
            elif phone:
                values["phone"] = phone

        if "status" in columns:
            status_text = cell_text(raw.get("status"))
            if status_text:
                status = status_from_text(status_text)
                if status is None:
                    fail("status", _("未知状态“%(t)s”（可用：在岗、休假、调离、退休）") % {"t": status_text})
                values["status"] = status

        if "hired_on" in columns:
            hired = raw.get("hired_on")
            if cell_text(hired):
                try:
                    values["hired_on"] = _parse_date(hired)
                except (ValueError, OverflowError):
                    fail("hired_on", _("“%(t)s”不是有效日期") % {"t": cell_text(hired)})

        if row_errors:
            errors.extend(row_errors)
        else:
            valid.append(_Row(number, values))
    if count == 0 and not errors:
        errors.append(RowError(header_row + 1, "", _("表头下没有任何数据行")))
    return valid, count


# --- writing ---------------------------------------------------------------------------


def _existing(ids: list[str]) -> dict[str, Inspector]:
    found: dict[str, Inspector] = {}
    chunk = 5000
    for start in range(0, len(ids), chunk):
        # Only the columns the import compares or writes; the region's path comes from
        # the path map the caller already has, not from a join per row.
        qs = Inspector.objects.filter(national_id__in=ids[start : start + chunk]).only(
            "id", "national_id", "region_id", *(f for f in _UPDATE_FIELDS if f not in ("region", "updated_at"))
        )
        found.update({i.national_id: i for i in qs})
    return found


def roster_import(*, actor, data: bytes, filename: str, dry_run: bool = False) -> ImportResult:
    """Validate every row of a roster file; if all are good (and not a dry run),
    create or update the inspectors by ID number in one transaction. Otherwise write
    nothing and return every problem by row and column."""
    result = ImportResult(dry_run=dry_run)
    scope = access.scope_for(actor)
    if not scope.is_admin:
        result.errors.append(RowError(0, "", _("只有管理员可以导入名册。")))
        return result
    if len(data) > settings.ROSTER_IMPORT_MAX_BYTES:
        result.errors.append(
            RowError(0, "", _("文件过大（上限 %(n)d MB）") % {"n": settings.ROSTER_IMPORT_MAX_BYTES >> 20})
        )
        return result
    try:
        # The reader may refuse the file while rows are read (a stray cell past the limits,
        # a damaged part): that is an error of the file, with its row and column.
        rows = read_rows(data, filename)
        located = _locate_header(rows, result.errors)
        if located is None or result.errors:
            return result
        header_row, mapping = located
        valid, result.total = _validate(rows, header_row, mapping, scope, result.errors)
    except UploadError as exc:
        result.errors.append(exc.as_row_error())
        return result
    if result.errors:
        return result

    with transaction.atomic():
        existing = _existing([r.values["national_id"] for r in valid])
        region_paths, region_codes = {}, {}
        for region_id, path, code in Region.objects.values_list("id", "path", "code"):
            region_paths[region_id], region_codes[region_id] = path, code
        columns = {key: f"{column_letter(i)} {_LABEL[key]}" for i, key in mapping.items()}
        now = timezone.now()
        to_create: list[Inspector] = []
        to_update: list[Inspector] = []
        changes_of: dict[str, dict] = {}  # by ID number: the event row's {field: [old, new]}
        for row in valid:
            current = existing.get(row.values["national_id"])
            if current is None:
                values = {"status": InspectorStatus.ACTIVE, **row.values}
                to_create.append(Inspector(**values))
                after = {k: plain(v) for k, v in values.items() if k in INSPECTOR_FIELDS}
                changes_of[values["national_id"]] = diff({}, after, mask=PERSONAL)
                continue
            if not scope.covers_path(region_paths.get(current.region_id, "")):
                result.errors.append(RowError(row.number, columns["national_id"], national_id_not_here_message()))
                continue
            before: dict = {}
            after: dict = {}
            for key, value in row.values.items():
                if key in ("national_id", "gender", "birth_date"):
                    continue
                if key == "region":
                    if current.region_id != value.id:
                        before[key], after[key] = region_codes.get(current.region_id), value.code
                        current.region = value
                elif getattr(current, key) != value:
                    before[key], after[key] = plain(getattr(current, key)), plain(value)
                    setattr(current, key, value)
            if after:
                current.updated_at = now
                to_update.append(current)
                changes_of[current.national_id] = diff(before, after, mask=PERSONAL)
            else:
                result.unchanged += 1
        if result.errors:
            result.unchanged = 0
            return result
        result.created = len(to_create)
        result.updated = len(to_update)
        if dry_run:
            return result
        try:
            with transaction.atomic():
                Inspector.objects.bulk_create(to_create, batch_size=2000)
                if to_update:
                    Inspector.objects.bulk_update(to_update, _UPDATE_FIELDS, batch_size=1000)
                _write_events(actor=actor, created=to_create, updated=to_update, changes_of=changes_of)
        except IntegrityError:
            # Another import registered one of these ID numbers meanwhile; nothing was kept.
            result.created = result.updated = 0
            result.errors.append(RowError(0, "", _("导入期间有人登记了相同的身份证号，未写入任何数据，请重新导入。")))
    return result


def _write_events(*, actor, created: list[Inspector], updated: list[Inspector], changes_of: dict[str, dict]) -> None:
    """One event row per inspector created or changed, in one bulk insert (per 2,000 rows)."""
    if created and created[0].pk is None:
        # Backends that do not return ids from bulk inserts: read them back in one query per chunk.
        ids = {}
        numbers = [i.national_id for i in created]
        for start in range(0, len(numbers), 5000):
            chunk = numbers[start : start + 5000]
            ids.update(Inspector.objects.filter(national_id__in=chunk).values_list("national_id", "id"))
        for inspector in created:
            inspector.pk = inspector.id = ids[inspector.national_id]
    actor_id = getattr(actor, "pk", None)
    Kind = InspectorEvent.Kind
    events = [
        InspectorEvent(inspector_id=i.pk, kind=kind, changes=changes_of[i.national_id], actor_id=actor_id)
        for kind, inspectors in ((Kind.IMPORTED, created), (Kind.IMPORT_CHANGED, updated))
        for i in inspectors
    ]
    InspectorEvent.objects.bulk_create(events, batch_size=2000)
