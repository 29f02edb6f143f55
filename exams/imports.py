"""Score entry for one sitting: the grid (API and admin page) and the .xlsx/.csv import.

Both go through ``scores_save``: every row is checked first (scores, absences,
candidates, duplicates, and the attempt rules of the service), and only when all rows
are good are they written, in one call of ``services.results_record_many`` so each
change keeps its history row. Any error writes nothing.

File layout (the first of the first rows that holds 身份证号 or 证号 is the header):

| 表头 | English | 必填 | 说明 |
|------|---------|------|------|
| 身份证号 | national_id | 与证号二选一 | 18位，请以文本格式保存 |
| 证号 | certificate | 与身份证号二选一 | 行政执法证号，按持证人识别考生 |
| 姓名 | name | 否 | 填写时须与系统中的姓名一致（防止录错人） |
| 各科目名称 | | 是 | 每个科目一列，表头与科目名称相同，如“通用法律知识” |
| 缺考 | absent | 否 | 是/√/Y/1/缺考 为缺考；留空或“否”为参考 |
| 总分 | total | 否 | 填写时须等于各科之和 |

A 序号 column and a few descriptive columns (单位、所属地区、备注 …) are ignored.

``score_template`` writes this file for one sitting with its candidates filled in (a title
and a guide row above the header, which the import skips), so it uploads back as it is.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import xlsxwriter
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from core.errors import AccessDenied, DomainError
from core.text import plain_number
from core.uploads import (
    HEADER_SCAN_ROWS,
    IGNORED_HEADERS,
    CellValueError,
    RowError,
    UploadError,
    cell_text,
    column_letter,
    decimal_value,
    read_rows,
)
from personnel import idcard
from personnel.models import Inspector
from personnel.selectors import actor_manages_region, inspector_list

from . import numbers, rules, services
from .models import Certificate, ExamPart, Result, Sitting

# --- the shared check: grid rows and file rows alike -------------------------------------------


@dataclass
class Entry:
    """One candidate's row as typed. ``scores`` holds raw values by part id (a blank value
    is "not given"); ``inspector`` is None when the caller could not resolve it (and has
    reported why); ``absent`` is None when the caller could not read it."""

    inspector: Inspector | None
    scores: dict[str, Any]
    absent: bool | None
    label: str  # how messages name this row, e.g. "第5行"
    problems: list[tuple[str, str | None, str]] = field(default_factory=list)  # (field, part id, message)
    # found by the caller while reading the row; any of them keeps the whole lot from being written


@dataclass(frozen=True)
class EntryError:
    index: int  # position in the entries
    field: str  # "inspector", "absent" or "scores"
    part_id: str | None  # for "scores": the part the message is about
    message: str


@dataclass
class ScoresOutcome:
    errors: list[EntryError] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    absent: int = 0
    certificates: int = 0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def written(self) -> int:
        return self.created + self.updated


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


@dataclass
class GridRow:
    inspector: Inspector
    result: Result | None


def grid_read(*, sitting: Sitting, actor) -> tuple[list[ExamPart], list[GridRow]]:
    """The score grid of a sitting: its parts, and one row per candidate (the batch's
    completed inspectors and anyone already recorded) with their result, if any - only the
    candidates the actor may see NOW (one who has since moved out of the actor's region is
    left to an admin whose region holds them). Three queries whatever the size. The caller
    has fetched the sitting through its selector."""
    parts = list(sitting.exam.parts.all())
    results = {r.inspector_id: r for r in Result.objects.filter(sitting=sitting)}
    candidates = services.sitting_candidates(sitting=sitting).filter(pk__in=inspector_list(actor=actor).values("pk"))
    rows = [GridRow(p, results.get(p.pk)) for p in candidates]
    return parts, rows


def require_open_sitting(*, sitting: Sitting, actor) -> None:
    """The actor manages the exam's region and the sitting still takes scores
    (``rules.sitting_scores_refusal``), else raise."""
    if not actor_manages_region(actor=actor, region=sitting.exam.region):
        raise AccessDenied(_("无权录入该场次的成绩。"))
    refusal = rules.sitting_scores_refusal(sitting=sitting)
    if refusal is not None:
        raise refusal.error()


def candidate_pool(*, sitting: Sitting, actor) -> QuerySet[Inspector]:
    """Whom a row may name: the inspectors the actor may see now (the grid shows the same
    people). Whether the person is a candidate of this sitting is checked per row."""
    return inspector_list(actor=actor).select_related("region")


def scores_save(
    *, sitting: Sitting, actor, entries: list[Entry], source: str = "grid", dry_run: bool = False
) -> ScoresOutcome:
    """Check every entry; if all are good, record the changed ones in one go (unchanged rows
    are left alone). With ``dry_run`` the write is tried and rolled back, so the outcome
    (counts, certificates to issue, refusals) is what a real run would give.
    Raises AccessDenied / Conflict when the sitting as a whole takes no scores."""
    require_open_sitting(sitting=sitting, actor=actor)
    outcome = ScoresOutcome(dry_run=dry_run)
    rows, indexes = _check(sitting, entries, outcome)
    if not outcome.errors:
        _write(sitting, actor, rows, indexes, source, outcome)
    return outcome


def _write(sitting: Sitting, actor, rows: list[dict], indexes: list[int], source: str, outcome: ScoresOutcome) -> None:
    try:
        with transaction.atomic():
            results = services.results_record_many(sitting=sitting, actor=actor, rows=rows, source=source)
            outcome.certificates = Certificate.objects.filter(source_result__in=[r.pk for r in results]).count()
            if outcome.dry_run:
                transaction.set_rollback(True)
    except DomainError as exc:
        if exc.code in ("sitting_closed", "permission_denied"):
            raise
        # Someone changed the results since the check: the service checked every row again
        # under its locks and names each one it refuses.
        outcome.errors = _refused_rows(exc, indexes)
        outcome.created = outcome.updated = outcome.unchanged = outcome.absent = outcome.certificates = 0


def _refused_rows(exc: DomainError, indexes: list[int]) -> list[EntryError]:
    errors = [
        EntryError(indexes[int(position)], field_name, None, str(message))
        for position, by_field in (exc.fields.get("rows") or {}).items()
        for field_name, messages in by_field.items()
        for message in messages
    ]
    return errors or [EntryError(indexes[0] if indexes else 0, "inspector", None, exc.detail)]


def _check(sitting: Sitting, entries: list[Entry], outcome: ScoresOutcome) -> tuple[list[dict], list[int]]:
    exam = sitting.exam
    parts = list(exam.parts.all())
    part_ids = {str(p.pk) for p in parts}
    candidates = None
    if sitting.batch_id:
        candidates = set(services.sitting_candidates(sitting=sitting).values_list("pk", flat=True))
    people = {e.inspector.pk for e in entries if e.inspector is not None}
    previous = _previous_results(exam_id=exam.pk, inspector_ids=people)

    errors = outcome.errors
    first_index: dict[int, int] = {}
    rows: list[dict] = []
    indexes: list[int] = []
    for index, entry in enumerate(entries):
        count_before = len(errors)

        def fail(field_name, message, part_id=None, index=index):
            errors.append(EntryError(index, field_name, part_id, message))

        for field_name, part_id, message in entry.problems:
            fail(field_name, message, part_id)

        given = {str(k): v for k, v in entry.scores.items() if not _blank(v)}
        for key in sorted(set(given) - part_ids):
            fail("scores", _("“%(k)s”不是该考试的科目") % {"k": key}, key)
        clean: dict[str, Decimal] = {}
        for part in parts:
            key = str(part.pk)
            if key not in given:
                if entry.absent is False:
                    fail("scores", _("缺少“%(p)s”成绩（缺考请标记缺考）") % {"p": part.name}, key)
                continue
            if entry.absent:
                fail("scores", _("已标记缺考，不应再填写分数"), key)
                continue
            try:
                clean[key] = services.parse_score(given[key], maximum=part.max_score)
            except ValueError as exc:
                fail("scores", str(exc), key)

        inspector = entry.inspector
        if inspector is not None:
            if candidates is not None and inspector.pk not in candidates:
                fail("inspector", _("%(n)s 不是本场考试的考生（须为该培训批次的结业人员）") % {"n": inspector.name})
            first = first_index.setdefault(inspector.pk, index)
            if first != index:
                fail("inspector", _("与%(r)s是同一人，重复") % {"r": entries[first].label})

        if len(errors) > count_before or inspector is None or entry.absent is None:
            continue
        part_scores = {k: str(v) for k, v in clean.items()}
        total = None if entry.absent else rules.result_outcome(part_scores=clean, pass_mark=exam.pass_mark)[0]
        theirs = previous.get(inspector.pk, {})
        mine = theirs.get(sitting.pk)
        if rules.result_unchanged(mine=mine, total=total, absent=entry.absent, part_scores=part_scores):
            outcome.unchanged += 1
            continue
        refusal = rules.result_refusal(
            inspector_name=inspector.name,
            max_attempts=exam.max_attempts,
            absent=entry.absent,
            mine=mine,
            others=[p for where, p in theirs.items() if where != sitting.pk],
        )
        if refusal is not None:
            fail("inspector", refusal.message)
            continue
        if mine is None:
            outcome.created += 1
        else:
            outcome.updated += 1
        outcome.absent += bool(entry.absent)
        rows.append({"inspector": inspector, "scores": clean, "absent": entry.absent})
        indexes.append(index)
    return rows, indexes


def _previous_results(*, exam_id: int, inspector_ids: set[int]) -> dict[int, dict[int, rules.PriorResult]]:
    """Each person's results of this exam, by sitting."""
    found: dict[int, dict[int, rules.PriorResult]] = {}
    ids = sorted(inspector_ids)
    for start in range(0, len(ids), _CHUNK):
        qs = Result.objects.filter(exam_id=exam_id, inspector_id__in=ids[start : start + _CHUNK]).values_list(
            "inspector_id", "sitting_id", "score", "absent", "passed", "part_scores", "certificate__id"
        )
        for inspector_id, sitting_id, score, absent, passed, part_scores, cert in qs:
            previous = rules.PriorResult(sitting_id, score, absent, passed, part_scores, cert is not None)
            found.setdefault(inspector_id, {})[sitting_id] = previous
    return found


# --- the file import --------------------------------------------------------------------------

_ID = "national_id"
_CERT = "certificate"
_NAME = "name"
_ABSENT = "absent"
_TOTAL = "total"
_FIXED = {
    _ID: ("身份证号", ("身份证号", "身份证号码", "公民身份号码", "national_id", "national id", "id number")),
    _CERT: (
        "证号",
        ("证号", "执法证号", "证件号", "证件编号", "certificate", "certificate_number", "certificate number"),
    ),
    _NAME: ("姓名", ("姓名", "name")),
    _ABSENT: ("缺考", ("缺考", "是否缺考", "absent")),
    _TOTAL: ("总分", ("总分", "合计", "total")),
}
# Descriptive columns a score sheet often carries; they identify nobody and are ignored.
_INFO_HEADERS = {"单位", "工作单位", "所属地区", "地区", "行业", "职务", "准考证号", "考号", "备注", "remark"}
_SINGLE_PART_ALIASES = ("分数", "成绩", "score")
_CHUNK = 5000  # values per IN (...) query, well under SQLite's limit
_YES = {"是", "√", "✓", "✔", "y", "yes", "1", "缺考", "true"}
_NO = {"否", "n", "no", "0", "false"}


@dataclass
class ScoreImportResult:
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    absent: int = 0
    certificates: int = 0
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
            "absent": self.absent,
            "certificates": self.certificates,
            "errors": [e.as_dict() for e in self.errors],
        }


def expected_headers(sitting: Sitting) -> list[tuple[str, str]]:
    """(header, note) pairs for the upload page and the error messages."""
    parts = [(p.name, _("满分 %(m)s") % {"m": plain_number(p.max_score)}) for p in sitting.exam.parts.all()]
    return [
        (_FIXED[_ID][0], _("与证号二选一")),
        (_FIXED[_CERT][0], _("与身份证号二选一")),
        (_FIXED[_NAME][0], _("可选，须与系统一致")),
        *parts,
        (_FIXED[_ABSENT][0], _("可选：是/√ 为缺考")),
        (_FIXED[_TOTAL][0], _("可选，须等于各科之和")),
    ]


def _header_keys(parts: list[ExamPart]) -> dict[str, str]:
    keys = {alias.lower(): key for key, (_label, aliases) in _FIXED.items() for alias in aliases}
    if len(parts) == 1:
        keys.update(dict.fromkeys(_SINGLE_PART_ALIASES, f"part:{parts[0].pk}"))
    keys.update({p.name.strip().lower(): f"part:{p.pk}" for p in parts})  # a part named 总分 wins
    return keys


def _locate_header(
    rows: Iterator[list], parts: list[ExamPart], errors: list[RowError]
) -> tuple[int, dict[int, str], dict[str, str]] | None:
    """The header among the first rows (a title row may sit above it): mapping of column
    index to key, and each key's column as "letter header" for messages."""
    keys = _header_keys(parts)
    accepted = "、".join([_FIXED[_ID][0], _FIXED[_CERT][0], _FIXED[_NAME][0], *(p.name for p in parts), "缺考", "总分"])
    for row_number in range(1, HEADER_SCAN_ROWS + 1):
        row = next(rows, None)
        if row is None:
            break
        found = {keys.get(cell_text(v).lower()) for v in row}
        if _ID not in found and _CERT not in found:
            continue
        mapping: dict[int, str] = {}
        columns: dict[str, str] = {}
        for i, value in enumerate(row):
            header = cell_text(value)
            lowered = header.lower()
            if not header or lowered in IGNORED_HEADERS or lowered in _INFO_HEADERS:
                continue
            key = keys.get(lowered)
            column = f"{column_letter(i)} {header}"
            if key is None:
                errors.append(RowError(row_number, column, _("无法识别的表头（可用：%(a)s）") % {"a": accepted}))
            elif key in columns:
                errors.append(
                    RowError(row_number, column, _("表头重复（与%(c)s列相同）") % {"c": columns[key].split()[0]})
                )
            else:
                mapping[i] = key
                columns[key] = column
        for part in parts:
            if f"part:{part.pk}" not in columns:
                errors.append(RowError(row_number, part.name, _("缺少科目列“%(p)s”") % {"p": part.name}))
        return row_number, mapping, columns
    errors.append(
        RowError(1, "", _("未找到表头：前%(n)d行中没有包含“身份证号”或“证号”的行。") % {"n": HEADER_SCAN_ROWS})
    )
    return None


@dataclass
class _FileRow:
    number: int
    raw: dict[str, Any]
    national_id: str = ""
    certificate: str = ""


def _read_absent(value) -> bool | None:
    text = cell_text(value).lower()
    if text == "" or text in _NO:
        return False
    if text in _YES:
        return True
    return None


def _identify(
    file_rows: list[_FileRow], columns: dict[str, str], pool: QuerySet[Inspector], errors: list[RowError]
) -> dict[int, Inspector]:
    """Resolve each row's 身份证号 / 证号 to an inspector the actor may name, in two queries."""

    def fail(row, key, message):
        errors.append(RowError(row.number, columns[key], message))

    id_column = _ID if _ID in columns else _CERT
    for row in file_rows:
        nid_raw, cert_raw = row.raw.get(_ID), row.raw.get(_CERT)
        if isinstance(nid_raw, float | int) and not isinstance(nid_raw, bool) and len(cell_text(nid_raw)) >= 15:
            fail(row, _ID, _("身份证号被保存为数字，已丢失精度；请将该列设为文本格式后重新录入"))
        elif cell_text(nid_raw):
            try:
                row.national_id = idcard.parse(nid_raw).value
            except idcard.IdNumberError as exc:
                fail(row, _ID, str(exc))
        if cell_text(cert_raw):
            number = numbers.normalize(cert_raw)
            if numbers.is_valid(number):
                row.certificate = number
            else:
                fail(row, _CERT, _("证号“%(c)s”格式或校验位不正确") % {"c": cell_text(cert_raw)[:40]})
        if not cell_text(nid_raw) and not cell_text(cert_raw):
            fail(row, id_column, _("身份证号和证号都为空"))

    national_ids = sorted({r.national_id for r in file_rows if r.national_id})
    cert_numbers = sorted({r.certificate for r in file_rows if r.certificate})
    holder_of: dict[str, int] = {}
    people: list[Inspector] = []
    for start in range(0, max(len(national_ids), len(cert_numbers)), _CHUNK):
        chunk = cert_numbers[start : start + _CHUNK]
        holders = dict(Certificate.objects.filter(number__in=chunk).values_list("number", "holder_id"))
        holder_of.update(holders)
        people += pool.filter(Q(national_id__in=national_ids[start : start + _CHUNK]) | Q(pk__in=holders.values()))
    by_nid = {p.national_id: p for p in people}
    by_pk = {p.pk: p for p in people}

    found: dict[int, Inspector] = {}
    for row in file_rows:
        by_id = by_nid.get(row.national_id) if row.national_id else None
        by_cert = by_pk.get(holder_of.get(row.certificate)) if row.certificate else None
        if row.national_id and by_id is None:
            fail(row, _ID, _("未找到身份证号为 %(i)s 的执法人员（或不在您的管辖范围内）") % {"i": row.national_id})
        if row.certificate and by_cert is None:
            fail(row, _CERT, _("未找到证号为 %(c)s 的持证人（或不在您的管辖范围内）") % {"c": row.certificate})
        if by_id is not None and by_cert is not None and by_id.pk != by_cert.pk:
            fail(
                row,
                _CERT,
                _("证号的持证人（%(a)s）与身份证号对应的人员（%(b)s）不是同一人")
                % {"a": by_cert.name, "b": by_id.name},
            )
            continue
        person = by_id or by_cert
        if person is None:
            continue
        name = cell_text(row.raw.get(_NAME))
        if name and name != person.name:
            fail(row, _NAME, _("姓名“%(n)s”与系统中的“%(s)s”不一致") % {"n": name, "s": person.name})
            continue
        found[row.number] = person
    return found


def scores_import(*, sitting: Sitting, actor, data: bytes, filename: str, dry_run: bool = False) -> ScoreImportResult:
    """Validate every row of a score file for one sitting; if all are good (and not a dry
    run), record them through the service in one go, history rows included (source
    "import"). Otherwise write nothing and return every bad cell by row and column."""
    result = ScoreImportResult(dry_run=dry_run)
    try:
        require_open_sitting(sitting=sitting, actor=actor)
    except DomainError as exc:
        result.errors.append(RowError(0, "", exc.detail))
        return result
    if len(data) > settings.ROSTER_IMPORT_MAX_BYTES:
        result.errors.append(
            RowError(0, "", _("文件过大（上限 %(n)d MB）") % {"n": settings.ROSTER_IMPORT_MAX_BYTES >> 20})
        )
        return result
    parts = list(sitting.exam.parts.all())
    try:
        rows = read_rows(data, filename)
        located = _locate_header(rows, parts, result.errors)
        if located is None or result.errors:
            return result
        header_row, mapping, columns = located
        file_rows = _file_rows(rows, header_row, mapping, result)
    except UploadError as exc:
        result.errors.append(exc.as_row_error())
        return result
    if result.errors:
        return result
    if not file_rows:
        result.errors.append(RowError(header_row + 1, "", _("表头下没有任何数据行")))
        return result

    pool = candidate_pool(sitting=sitting, actor=actor)
    people = _identify(file_rows, columns, pool, result.errors)
    entries: list[Entry] = []
    for row in file_rows:
        absent = _read_absent(row.raw.get(_ABSENT))
        if absent is None:
            result.errors.append(
                RowError(
                    row.number,
                    columns[_ABSENT],
                    _("无法识别“%(t)s”（缺考填“是”或“√”，否则留空）") % {"t": cell_text(row.raw.get(_ABSENT))[:20]},
                )
            )
        _check_total(row, parts, columns, absent, result.errors)
        scores = {str(p.pk): cell_text(row.raw.get(f"part:{p.pk}")) for p in parts}
        label = _("第%(row)d行") % {"row": row.number}
        entries.append(Entry(inspector=people.get(row.number), scores=scores, absent=absent, label=label))

    # Cell problems found so far are reported together with the checks of the rows.
    outcome = ScoresOutcome(dry_run=dry_run)
    rows_to_write, indexes = _check(sitting, entries, outcome)
    result.errors = _in_sheet_order(result.errors + [_to_row_error(e, file_rows, columns) for e in outcome.errors])
    if result.errors:
        return result
    try:
        _write(sitting, actor, rows_to_write, indexes, "import", outcome)
    except DomainError as exc:
        result.errors.append(RowError(0, "", exc.detail))
        return result
    if not outcome.ok:
        result.errors = _in_sheet_order([_to_row_error(e, file_rows, columns) for e in outcome.errors])
        return result
    result.created, result.updated, result.unchanged = outcome.created, outcome.updated, outcome.unchanged
    result.absent, result.certificates = outcome.absent, outcome.certificates
    return result


def _file_rows(rows: Iterator[list], header_row: int, mapping: dict[int, str], result: ScoreImportResult):
    file_rows: list[_FileRow] = []
    max_rows = settings.ROSTER_IMPORT_MAX_ROWS
    for offset, row in enumerate(rows, start=1):
        number = header_row + offset
        raw = {key: (row[i] if i < len(row) else None) for i, key in mapping.items()}
        if all(cell_text(v) == "" for v in raw.values()):
            continue
        if len(file_rows) >= max_rows:
            result.errors.append(RowError(number, "", _("行数超过上限 %(n)d 行，请分批导入") % {"n": max_rows}))
            break
        file_rows.append(_FileRow(number, raw))
    result.total = len(file_rows)
    return file_rows


def _check_total(row: _FileRow, parts, columns, absent, errors: list[RowError]) -> None:
    text = cell_text(row.raw.get(_TOTAL))
    if not text:
        return
    if absent:
        errors.append(RowError(row.number, columns[_TOTAL], _("已标记缺考，不应再填写分数")))
        return
    try:
        total = decimal_value(row.raw.get(_TOTAL))
    except CellValueError as exc:  # sNaN, Infinity, 4E+1, a control character...
        errors.append(RowError(row.number, columns[_TOTAL], exc.message))
        return
    try:
        parts_sum = sum((decimal_value(row.raw.get(f"part:{p.pk}")) or Decimal("0") for p in parts), Decimal("0"))
    except CellValueError:
        return  # a bad part score is reported in its own cell
    if total != parts_sum:
        errors.append(
            RowError(
                row.number,
                columns[_TOTAL],
                _("总分 %(t)s 与各科之和 %(s)s 不一致") % {"t": plain_number(total), "s": plain_number(parts_sum)},
            )
        )


def _to_row_error(error: EntryError, file_rows: list[_FileRow], columns: dict[str, str]) -> RowError:
    row = file_rows[error.index]
    if error.field == "scores" and error.part_id and f"part:{error.part_id}" in columns:
        column = columns[f"part:{error.part_id}"]
    elif error.field == "absent" and _ABSENT in columns:
        column = columns[_ABSENT]
    elif error.field == "scores":
        column = ""
    else:
        column = columns[_ID] if row.national_id or _CERT not in columns else columns[_CERT]
    return RowError(row.number, column, error.message)


def _in_sheet_order(errors: list[RowError]) -> list[RowError]:
    def column_index(e: RowError) -> int:
        letters = e.column.split(" ")[0] if e.column else ""
        n = 0
        for ch in letters:
            if not ("A" <= ch <= "Z"):
                return 0
            n = n * 26 + ord(ch) - 64
        return n

    return sorted(errors, key=lambda e: (e.row, column_index(e)))


# --- the score template: the import file of one sitting with its candidates filled in -------


def score_template(*, sitting: Sitting, actor) -> bytes:
    """The score file of ``sitting`` as the import reads it: a title row, a guide row (what
    each column takes) and the header (the columns of ``expected_headers``), then one row per
    candidate the actor sees on the grid (the batch's completed inspectors and anyone with a
    result), with the ID number and name filled in, and any result already recorded (so
    uploading it back changes nothing for them)."""
    parts, candidates = grid_read(sitting=sitting, actor=actor)
    headers = expected_headers(sitting)
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_numbers": False})
    sheet = book.add_worksheet(_("成绩"))
    bold = book.add_format({"bold": True, "bg_color": "#E8EEF4", "border": 1})
    guide = book.add_format({"italic": True, "font_color": "#555555", "text_wrap": True, "valign": "top"})
    text = book.add_format({"num_format": "@"})
    title = _("%(exam)s %(day)s 成绩导入表（表头在第3行；身份证号请保持文本格式）") % {
        "exam": sitting.exam.title,
        "day": sitting.held_on.isoformat(),
    }
    sheet.write_string(0, 0, title, book.add_format({"bold": True}))
    for column, (header, note) in enumerate(headers):
        sheet.write_string(1, column, str(note), guide)
        sheet.write_string(2, column, str(header), bold)
        sheet.set_column(column, column, 22 if column == 0 else 14, text if column < 3 else None)
    first_part = 3  # 身份证号, 证号, 姓名, then one column per part, 缺考, 总分
    for offset, candidate in enumerate(candidates):
        row = 3 + offset
        sheet.write_string(row, 0, candidate.inspector.national_id, text)
        sheet.write_string(row, 2, candidate.inspector.name, text)
        result = candidate.result
        if result is None:
            continue
        if result.absent:
            sheet.write_string(row, first_part + len(parts), _("是"))
            continue
        for i, part in enumerate(parts):
            score = (result.part_scores or {}).get(str(part.pk))
            if score not in (None, ""):
                sheet.write_number(row, first_part + i, float(Decimal(str(score))))  # General: 40, 35.5
    sheet.freeze_panes(3, 0)
    book.close()
    return buffer.getvalue()
