"""Question bank import from .xlsx / .xls / .csv: every row checked, then all written or none.

The file is read by core.uploads (its limits, its refusals of hostile files); the first of
the first rows that holds 题型 and 题干 is the header (a title row and a guide row may sit
above it, as in ``question_template``). Every row is checked by the bank's one content check
(``exams.questions.question_content_validate``'s rules) and for duplicates within the file
and against the region's bank; each problem is reported by row and column, and any problem
writes nothing. Good files are written in three inserts (questions, their versions 1, their
导入 events) through ``questions.questions_import_write``.

| 表头 | English | 必填 | 说明 |
|------|---------|------|------|
| 题型 | kind | 是 | 单选题、多选题、判断题（或 单选/多选/判断） |
| 题干 | stem | 是 | 最多 2000 字 |
| 选项A … 选项F | option_a … option_f | 单选、多选是 | 依次填写，中间不留空；判断题可不填（即 正确/错误） |
| 答案 | answer | 是 | 单选一个字母（B）；多选两个以上（ACD，可写 A,C,D）；判断 正确/错误 或 A/B |
| 解析 | explanation | 否 | |
| 分类 | category | 是 | 考试科目或法律领域，组卷规则按它抽题 |
| 难度 | difficulty | 否 | 1/2/3 或 易/中/难；留空为 中 |
| 启用 | active | 否 | 是/否；留空为 是 |
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import xlsxwriter
from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.uploads import (
    HEADER_SCAN_ROWS,
    RowError,
    UploadError,
    cell_text,
    column_letter,
    locate_header,
    read_rows,
)
from personnel import access
from personnel.models import Region

from . import questions
from .models import Question, QuestionKind

MAX_ROWS = 10_000  # questions a file; a bank grows by chapters, not by the hundred thousand
_CHUNK = 2000  # digests per IN (...) query


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    aliases: tuple[str, ...]
    required: bool = False
    note: str = ""


_OPTION_KEYS = tuple(f"option_{letter.lower()}" for letter in questions.LETTERS)
COLUMNS: tuple[Column, ...] = (
    Column("kind", "题型", ("题型", "试题类型", "类型", "kind", "type"), True, "单选题、多选题、判断题"),
    Column("stem", "题干", ("题干", "题目", "试题", "stem", "question"), True, "最多 2000 字"),
    *(
        Column(
            key,
            f"选项{letter}",
            (f"选项{letter}", f"选项 {letter}", letter, key, f"option {letter.lower()}"),
            False,
            "判断题可不填" if letter == "A" else "",
        )
        for key, letter in zip(_OPTION_KEYS, questions.LETTERS, strict=True)
    ),
    Column("answer", "答案", ("答案", "正确答案", "参考答案", "answer"), True, "单选 B；多选 ACD；判断 正确/错误"),
    Column("explanation", "解析", ("解析", "答案解析", "试题解析", "explanation"), False, "可选"),
    Column("category", "分类", ("分类", "类别", "知识点", "category"), True, "考试科目或法律领域"),
    Column("difficulty", "难度", ("难度", "difficulty"), False, "1/2/3 或 易/中/难，留空为中"),
    Column("active", "启用", ("启用", "是否启用", "启用?", "启用？", "active"), False, "是/否，留空为是"),
)
_ALIAS_TO_KEY = {alias.lower(): col.key for col in COLUMNS for alias in col.aliases}
_LABEL = {col.key: col.label for col in COLUMNS}
_YES = {"是", "√", "✓", "✔", "y", "yes", "1", "true", "启用"}
_NO = {"否", "×", "✗", "n", "no", "0", "false", "停用"}


@dataclass
class QuestionImportResult:
    total: int = 0
    created: int = 0
    dry_run: bool = False
    region: Region | None = None
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict:
        # the shape of the other imports' answers (personnel.serializers.import_result_schemas):
        # a question is only ever added, so nothing is updated or left unchanged
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "total": self.total,
            "created": self.created,
            "updated": 0,
            "unchanged": 0,
            "errors": [e.as_dict() for e in self.errors],
        }


@dataclass
class _Row:
    number: int
    content: questions.QuestionContent
    active: bool
    digest: str


def _locate_header(rows: Iterator[list], errors: list[RowError]) -> tuple[int, dict[int, str]] | None:
    """The header among the first rows: a mapping of column index to key."""
    return locate_header(
        rows,
        errors,
        columns=COLUMNS,
        aliases=_ALIAS_TO_KEY,
        anchors=("kind", "stem"),
        not_found=_("未找到表头：前%(n)d行中没有同时包含“题型”和“题干”的行。") % {"n": HEADER_SCAN_ROWS},
    )


def _active(value) -> bool | None:
    if isinstance(value, bool):
        return value
    text = cell_text(value).lower()
    if text == "" or text in _YES:
        return True
    if text in _NO:
        return False
    return None


def _validate(
    rows: Iterator[list], header_row: int, mapping: dict[int, str], errors: list[RowError]
) -> tuple[list[_Row], int]:
    columns = {key: f"{column_letter(i)} {_LABEL[key]}" for i, key in mapping.items()}

    def column_of(problem: questions.Problem) -> str:
        if problem.field == "options":
            index = problem.option if problem.option is not None else 0
            key = _OPTION_KEYS[min(index, len(_OPTION_KEYS) - 1)]
            return columns.get(key) or columns.get("option_a") or columns["kind"]
        return columns.get(problem.field, "")

    valid: list[_Row] = []
    first_row_of: dict[str, int] = {}
    count = 0
    for offset, row in enumerate(rows, start=1):
        number = header_row + offset
        raw = {key: (row[i] if i < len(row) else None) for i, key in mapping.items()}
        if all(cell_text(v) == "" for v in raw.values()):
            continue
        count += 1
        if count > MAX_ROWS:
            errors.append(RowError(number, "", _("行数超过上限 %(n)d 行，请分批导入") % {"n": MAX_ROWS}))
            break
        row_errors: list[RowError] = []
        # Cells as text (a date typed as an option reads as 2021-09-01, 7.0 as 7)
        cells = {key: cell_text(value) for key, value in raw.items()}
        content, problems = questions.question_content_problems(
            kind=cells.get("kind"),
            stem=cells.get("stem"),
            options=[cells.get(key, "") for key in _OPTION_KEYS],
            answer=cells.get("answer"),
            explanation=cells.get("explanation", ""),
            category=cells.get("category"),
            difficulty=cells.get("difficulty") or 2,
        )
        for problem in problems:
            row_errors.append(RowError(number, column_of(problem), problem.message))
        active = _active(raw.get("active"))
        if active is None:
            row_errors.append(
                RowError(
                    number,
                    columns["active"],
                    _("无法识别“%(t)s”（填“是”或“否”，留空为是）") % {"t": cell_text(raw.get("active"))[:20]},
                )
            )
        digest = ""
        if content.stem:
            digest = questions.question_digest(stem=content.stem, options=content.options)
            first = first_row_of.setdefault(digest, number)
            if first != number:
                row_errors.append(RowError(number, columns["stem"], _("与第%(r)d行是同一道题，重复") % {"r": first}))
        if row_errors:
            errors.extend(row_errors)
        else:
            valid.append(_Row(number, content, bool(active), digest))
    if count == 0 and not errors:
        errors.append(RowError(header_row + 1, "", _("表头下没有任何数据行")))
    return valid, count


def _against_the_bank(valid: list[_Row], region: Region, stem_column: str, errors: list[RowError]) -> None:
    """A row whose question the region's bank already holds, named by the question's number."""
    digests = [r.digest for r in valid]
    existing: dict[str, Question] = {}
    for start in range(0, len(digests), _CHUNK):
        chunk = digests[start : start + _CHUNK]
        existing.update(
            {q.digest: q for q in Question.objects.filter(region=region, digest__in=chunk).only("id", "stem", "digest")}
        )
    for row in valid:
        found = existing.get(row.digest)
        if found is not None:
            errors.append(RowError(row.number, stem_column, questions.duplicate_message(found)))


def questions_import(
    *, actor, data: bytes, filename: str, region: Region | None = None, dry_run: bool = False
) -> QuestionImportResult:
    """Check every row of a question file for ``region``'s bank (default: the admin's own
    region); if all are good (and not a dry run) add them all, versions and events included.
    Otherwise write nothing and return every problem by row and column."""
    result = QuestionImportResult(dry_run=dry_run)
    scope = access.scope_for(actor)
    if not scope.is_admin:
        result.errors.append(RowError(0, "", _("只有管理员可以导入题库。")))
        return result
    if region is None:
        region = Region.objects.filter(pk=scope.region_id).first() if scope.region_id else None
        if region is None:
            result.errors.append(RowError(0, "", _("请选择导入到哪个地区的题库。")))
            return result
    try:
        questions.require_bank_admin(actor=actor, region=region)
    except DomainError as exc:
        result.errors.append(RowError(0, "", exc.detail))
        return result
    result.region = region
    if len(data) > settings.ROSTER_IMPORT_MAX_BYTES:
        result.errors.append(
            RowError(0, "", _("文件过大（上限 %(n)d MB）") % {"n": settings.ROSTER_IMPORT_MAX_BYTES >> 20})
        )
        return result
    try:
        # The reader may refuse the file while rows are read (a stray cell past the limits, a
        # damaged part): an error of the file, with its row and column.
        rows = read_rows(data, filename)
        located = _locate_header(rows, result.errors)
        if located is None or result.errors:
            return result
        header_row, mapping = located
        valid, result.total = _validate(rows, header_row, mapping, result.errors)
    except UploadError as exc:
        result.errors.append(exc.as_row_error())
        return result
    stem_column = next(f"{column_letter(i)} {_LABEL[k]}" for i, k in mapping.items() if k == "stem")
    _against_the_bank(valid, region, stem_column, result.errors)
    if result.errors:
        result.errors.sort(key=lambda e: (e.row, _column_index(e.column)))
        return result
    result.created = len(valid)
    if dry_run:
        return result
    try:
        questions.questions_import_write(actor=actor, region=region, rows=[(row.content, row.active) for row in valid])
    except DomainError as exc:
        result.created = 0
        result.errors.append(RowError(0, "", exc.detail))
    return result


def _column_index(column: str) -> int:
    letters = column.split(" ")[0] if column else ""
    n = 0
    for ch in letters:
        if not ("A" <= ch <= "Z"):
            return 0
        n = n * 26 + ord(ch) - 64
    return n


# --- the template -------------------------------------------------------------------------------


def question_template() -> bytes:
    """An empty question file as the import reads it: a title row, a guide row (what each
    column takes) and the header, with drop-down lists for 题型, 难度 and 启用."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_numbers": False})
    sheet = book.add_worksheet(_("题库"))
    bold = book.add_format({"bold": True, "bg_color": "#E8EEF4", "border": 1})
    guide = book.add_format({"italic": True, "font_color": "#555555", "text_wrap": True, "valign": "top"})
    text = book.add_format({"num_format": "@", "text_wrap": True, "valign": "top"})
    title = _("题库导入表（表头在第3行，从第4行起每行一道题；单选至少2个选项，多选至少3个选项、两个以上答案）")
    sheet.write_string(0, 0, title, book.add_format({"bold": True}))
    widths = {"stem": 48, "explanation": 36, "category": 18}
    for column, col in enumerate(COLUMNS):
        sheet.write_string(1, column, col.note, guide)
        sheet.write_string(2, column, col.label, bold)
        sheet.set_column(column, column, widths.get(col.key, 14 if col.key.startswith("option") else 10), text)
    last = 2 + MAX_ROWS
    lists = {
        "kind": [str(k.label) for k in QuestionKind],
        "difficulty": ["易", "中", "难"],
        "active": ["是", "否"],
    }
    for column, col in enumerate(COLUMNS):
        if col.key in lists:
            sheet.data_validation(
                3, column, last, column, {"validate": "list", "source": lists[col.key], "ignore_blank": True}
            )
    sheet.set_row(1, 30)
    sheet.freeze_panes(3, 0)
    book.close()
    return buffer.getvalue()
