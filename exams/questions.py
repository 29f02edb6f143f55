"""The question bank (题库): what a question may hold, who manages it, and every write to it.

- ``question_content_validate`` is the one check of a question's content: the service, the
  xlsx import (exams.question_imports) and the API all call it, so they refuse the same
  things with the same words;
- ``question_create`` / ``question_update`` / ``question_set_active`` write a question with its
  QuestionEvent in one transaction; a change of content also writes the next QuestionVersion
  (immutable: papers point at versions, so an edit never changes what a past candidate was
  asked); a change of ``active`` alone makes no version;
- ``question_digest`` is what makes two questions the same (one of them in a region's bank
  is refused as a duplicate, naming the other);
- ``question_list`` scopes the bank by region for an admin (an inspector sees none of it);
  ``drawable_questions(region)`` is what an online paper of an exam organised in ``region``
  may draw from: the active questions of that region and of every region above it (the
  province's bank serves every county);
- ``paper_rules_set`` writes an exam's PaperRule rows; ``paper_rule_shortfalls`` says which
  rules the bank cannot satisfy now.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from core.audit import diff
from core.errors import AccessDenied, Conflict, NotFound, ValidationFailed
from core.text import plain_number
from core.uploads import control_character
from personnel import access
from personnel.models import Region
from personnel.selectors import actor_manages_region, scope_filter

from .models import (
    Difficulty,
    Exam,
    ExamEvent,
    ExamPart,
    PaperRule,
    Question,
    QuestionEvent,
    QuestionKind,
    QuestionVersion,
)

# --- the content of a question -----------------------------------------------------------------

LETTERS = "ABCDEF"
MAX_OPTIONS = len(LETTERS)
STEM_MAX = 2000
OPTION_MAX = 500
EXPLANATION_MAX = 2000
CATEGORY_MAX = Question._meta.get_field("category").max_length
TRUE_FALSE_OPTIONS = ("正确", "错误")
# What people type for a true/false answer, besides A and B.
_TRUE = {"正确", "对", "是", "√", "✓", "✔", "T", "TRUE", "Y"}
_FALSE = {"错误", "错", "否", "×", "✗", "✘", "F", "FALSE", "N"}
_DIFFICULTY_WORDS = {"易": 1, "容易": 1, "简单": 1, "中": 2, "中等": 2, "一般": 2, "难": 3, "困难": 3, "较难": 3}
_ANSWER_SEPARATORS = re.compile(r"[\s,，、;；/|]+")

CONTENT_FIELDS = ("kind", "stem", "options", "answer", "explanation", "category", "difficulty")
QUESTION_FIELDS = (*CONTENT_FIELDS, "active")


@dataclass(frozen=True)
class QuestionContent:
    """A question's content as the bank keeps it: texts stripped, the answer as its letters in
    order ("A", "ACD"), options as a tuple of texts lettered by position."""

    kind: str
    stem: str
    options: tuple[str, ...]
    answer: str
    explanation: str
    category: str
    difficulty: int

    def values(self) -> dict:
        values = asdict(self)
        values["options"] = list(self.options)
        return values


@dataclass(frozen=True)
class Problem:
    """What is wrong with one field of a question's content; ``option`` is the index of the
    option it is about (the import names its column 选项A, 选项B, ...), else None."""

    field: str
    message: str
    option: int | None = None


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def answer_letters(text, *, option_count: int) -> str:
    """Answer letters as typed ("a, c", "CA", "A、C") as the bank keeps them ("AC"): capital,
    in order. Raises ValueError with a message for the person when a letter is not one of
    the options or is given twice. Says nothing of how many letters a kind needs."""
    raw = _ANSWER_SEPARATORS.sub("", unicodedata.normalize("NFKC", _text(text))).upper()
    if not raw:
        raise ValueError(_("答案为空"))
    allowed = LETTERS[:option_count]
    wrong = [ch for ch in raw if ch not in allowed]
    if wrong:
        if not allowed:
            raise ValueError(_("没有选项，无法作答"))
        raise ValueError(
            _("答案“%(a)s”中的“%(w)s”不是选项字母（可用 %(first)s 至 %(last)s）")
            % {"a": _text(text)[:20], "w": wrong[0], "first": allowed[0], "last": allowed[-1]}
        )
    repeated = [ch for ch, n in Counter(raw).items() if n > 1]
    if repeated:
        raise ValueError(_("答案中的“%(w)s”重复") % {"w": repeated[0]})
    return "".join(sorted(raw))


def difficulty_value(value) -> int | None:
    """1, 2 or 3 from a number or 易/中/难; None when it is none of them."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value) if value in (1, 2, 3) else None
    text = unicodedata.normalize("NFKC", _text(value))
    if text in ("1", "2", "3"):
        return int(text)
    return _DIFFICULTY_WORDS.get(text)


def kind_value(value) -> str | None:
    """A kind from its value (single) or its label (单选题, 单选)."""
    text = _text(value)
    for kind in QuestionKind:
        if text in (kind.value, str(kind.label), str(kind.label).removesuffix("题")):
            return kind.value
    return None


def _checked_text(problems, name: str, value, *, maximum: int, label: str, required: bool) -> str:
    text = _text(value)
    bad = control_character(text)
    if bad:
        problems.append(Problem(name, _("含有不可见的控制字符（%(c)s），请删除后重新填写") % {"c": bad}))
        return ""
    if required and not text:
        problems.append(Problem(name, _("%(f)s不能为空") % {"f": label}))
    elif len(text) > maximum:
        problems.append(Problem(name, _("%(f)s过长（最多%(n)d个字符）") % {"f": label, "n": maximum}))
    return text


def question_content_problems(
    *, kind, stem, options, answer, explanation="", category, difficulty
) -> tuple[QuestionContent, list[Problem]]:
    """Check a question's content (see question_content_validate) and return it as the bank
    keeps it with every problem found (none: it may be saved)."""
    problems: list[Problem] = []
    kind_ = kind_value(kind)
    if kind_ is None:
        problems.append(Problem("kind", _("未知题型“%(t)s”（可用：单选题、多选题、判断题）") % {"t": _text(kind)[:20]}))
    stem_ = _checked_text(problems, "stem", stem, maximum=STEM_MAX, label=_("题干"), required=True)
    explanation_ = _checked_text(
        problems, "explanation", explanation, maximum=EXPLANATION_MAX, label=_("解析"), required=False
    )
    category_ = _checked_text(problems, "category", category, maximum=CATEGORY_MAX, label=_("分类"), required=True)
    difficulty_ = difficulty_value(difficulty)
    if difficulty_ is None:
        problems.append(Problem("difficulty", _("难度应为 1、2、3（或 易、中、难）")))

    if options is None:
        options = []
    if isinstance(options, str) or not isinstance(options, Sequence):
        problems.append(Problem("options", _("选项应为文本的列表")))
        options = []
    texts: list[str] = []
    for index, option in enumerate(options):
        if not isinstance(option, str | int | float) or isinstance(option, bool):
            problems.append(Problem("options", _("选项应为文本"), index))
            texts.append("")
            continue
        texts.append(_text(option))
    while texts and not texts[-1]:
        texts.pop()  # blank trailing options (选项E, 选项F left empty) are no options
    if kind_ == QuestionKind.TRUE_FALSE and not texts:
        texts = list(TRUE_FALSE_OPTIONS)  # a true/false question may leave its options out
    if len(texts) > MAX_OPTIONS:
        problems.append(
            Problem("options", _("选项最多%(n)d个（A 至 %(l)s）") % {"n": MAX_OPTIONS, "l": LETTERS[-1]}, MAX_OPTIONS)
        )
        texts = texts[:MAX_OPTIONS]
    seen: dict[str, int] = {}
    for index, text in enumerate(texts):
        letter = LETTERS[index]
        if not text:
            problems.append(Problem("options", _("选项%(l)s为空，但后面还有选项") % {"l": letter}, index))
            continue
        bad = control_character(text)
        if bad:
            problems.append(
                Problem("options", _("含有不可见的控制字符（%(c)s），请删除后重新填写") % {"c": bad}, index)
            )
        elif len(text) > OPTION_MAX:
            problems.append(
                Problem("options", _("选项%(l)s过长（最多%(n)d个字符）") % {"l": letter, "n": OPTION_MAX}, index)
            )
        first = seen.setdefault(_normal(text), index)
        if first != index:
            problems.append(
                Problem("options", _("选项%(l)s与选项%(f)s相同") % {"l": letter, "f": LETTERS[first]}, index)
            )

    if kind_ == QuestionKind.TRUE_FALSE:
        if tuple(texts) != TRUE_FALSE_OPTIONS:
            problems.append(Problem("options", _("判断题的选项只能是“正确”“错误”（可留空）")))
        answer_ = _true_false_answer(answer)
        if answer_ is None:
            problems.append(Problem("answer", _("判断题的答案应为 A（正确）或 B（错误）")))
    else:
        minimum = 3 if kind_ == QuestionKind.MULTIPLE else 2
        if kind_ is not None and len(texts) < minimum:
            problems.append(
                Problem(
                    "options",
                    _("%(k)s至少需要%(n)d个选项") % {"k": QuestionKind(kind_).label, "n": minimum},
                    len(texts) if len(texts) < MAX_OPTIONS else None,
                )
            )
        answer_ = ""
        try:
            answer_ = answer_letters(answer, option_count=len(texts))
        except ValueError as exc:
            problems.append(Problem("answer", str(exc)))
        if answer_ and kind_ == QuestionKind.SINGLE and len(answer_) != 1:
            problems.append(Problem("answer", _("单选题只能有一个答案（填写了 %(a)s）") % {"a": answer_}))
        if answer_ and kind_ == QuestionKind.MULTIPLE and len(answer_) < 2:
            problems.append(Problem("answer", _("多选题至少有两个正确答案（填写了 %(a)s）") % {"a": answer_}))
    content = QuestionContent(
        kind=kind_ or "",
        stem=stem_,
        options=tuple(texts),
        answer=answer_ or "",
        explanation=explanation_,
        category=category_,
        difficulty=difficulty_ or 0,
    )
    return content, problems


def _true_false_answer(value) -> str | None:
    text = unicodedata.normalize("NFKC", _text(value)).upper()
    if text in ("A", *_TRUE):
        return "A"
    if text in ("B", *_FALSE):
        return "B"
    return None


def problems_as_fields(problems: Iterable[Problem]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for problem in problems:
        fields.setdefault(problem.field, []).append(problem.message)
    return fields


def question_content_validate(*, kind, stem, options, answer, explanation="", category, difficulty) -> QuestionContent:
    """The one check of a question's content, for the service, the import and the API:
    a known kind; a stem (at most STEM_MAX characters) and a category; a difficulty 1-3
    (or 易/中/难); options A.. at most F, none blank before a filled one, none twice, each
    at most OPTION_MAX characters; single choice: at least 2 options and exactly one answer
    letter; multiple choice: at least 3 options and at least 2 answer letters; true/false:
    the options 正确/错误 (filled in when left out) and the answer A or B (正确/对/√ and
    错误/错/× are read as A and B). Answer letters must be options, none twice; they are kept
    capital and in order. Returns the content as the bank keeps it; raises ValidationFailed
    with every problem by field."""
    content, problems = question_content_problems(
        kind=kind,
        stem=stem,
        options=options,
        answer=answer,
        explanation=explanation,
        category=category,
        difficulty=difficulty,
    )
    if problems:
        raise ValidationFailed(_("试题内容有误。"), code="invalid_question", fields=problems_as_fields(problems))
    return content


# --- sameness ------------------------------------------------------------------------------------


def _normal(text: str) -> str:
    """Text compared for sameness: full-width forms as ASCII, no spaces, case folded."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).casefold()


def question_digest(*, stem: str, options: Iterable[str]) -> str:
    """sha256 of the normalised stem and the normalised options in sorted order: the same
    question typed again (other spacing, full-width letters, options in another order) has
    the same digest, and a region's bank holds it once."""
    payload = json.dumps([_normal(stem), sorted(_normal(o) for o in options)], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def duplicate_message(existing: Question) -> str:
    return _("题库中已有相同的试题（编号 %(id)d：%(stem)s）") % {"id": existing.pk, "stem": _short(existing.stem)}


def _short(text: str, length: int = 30) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def _refuse_duplicate(*, region_id: int, digest: str, exclude: int | None = None) -> None:
    existing = Question.objects.filter(region_id=region_id, digest=digest).exclude(pk=exclude).first()
    if existing is not None:
        raise Conflict(
            duplicate_message(existing), code="duplicate_question", fields={"stem": [duplicate_message(existing)]}
        )


# --- scope -----------------------------------------------------------------------------------------


def require_bank_admin(*, actor, region: Region) -> None:
    """Only an admin of ``region`` (it or a region above it) manages its bank."""
    if actor is None:  # the system itself (the demo, a command)
        return
    if not actor_manages_region(actor=actor, region=region):
        raise AccessDenied(_("无权管理地区“%(r)s”的题库。") % {"r": region.name})


def question_list(*, actor, filters: dict | None = None) -> QuerySet[Question]:
    """Questions of the regions an admin administers (their subtree); nothing for anyone else
    (an inspector never sees the bank's answers). Filters: category, kind, difficulty,
    active, region (code: its subtree), search (stem, explanation, options)."""
    scope = access.scope_for(actor)
    qs = Question.objects.select_related("region")
    if not scope.is_admin:
        return qs.none()
    q = scope_filter(actor=actor, region_field="region")
    if q is not None:
        qs = qs.filter(q)
    filters = filters or {}
    for name in ("category", "kind", "difficulty"):
        if filters.get(name) not in (None, ""):
            qs = qs.filter(**{name: filters[name]})
    if filters.get("active") is not None:
        qs = qs.filter(active=filters["active"])
    if filters.get("region"):
        path = Region.objects.filter(code=filters["region"]).values_list("path", flat=True).first()
        qs = qs.filter(region__path__startswith=path) if path else qs.none()
    search = (filters.get("search") or "").strip()
    if search:
        qs = qs.filter(Q(stem__icontains=search) | Q(explanation__icontains=search) | Q(category__icontains=search))
    return qs


def question_get_for_actor(*, actor, question_id) -> Question:
    question = question_list(actor=actor).filter(pk=question_id).first()
    if question is None:
        raise NotFound()
    return question


def ancestor_paths(region: Region) -> list[str]:
    """The materialized paths of ``region`` and of every region above it."""
    codes = [c for c in region.path.split("/") if c]
    return ["".join(f"{c}/" for c in codes[: i + 1]) for i in range(len(codes))]


def drawable_questions(region: Region) -> QuerySet[Question]:
    """The questions an online paper of an exam organised in ``region`` may draw from: the
    active questions of that region's bank and of the banks of every region above it (the
    province's bank serves every county; a county's bank serves only that county)."""
    return Question.objects.filter(active=True, region__path__in=ancestor_paths(region))


# --- writes -------------------------------------------------------------------------------------


def _version_row(question: Question) -> QuestionVersion:
    return QuestionVersion(
        question=question,
        version=question.version,
        **{name: getattr(question, name) for name in CONTENT_FIELDS},
    )


def _plain_values(values: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()}


@transaction.atomic
def question_create(
    *,
    actor,
    region: Region,
    kind,
    stem,
    options,
    answer,
    explanation="",
    category,
    difficulty=Difficulty.MEDIUM,
    active: bool = True,
) -> Question:
    """A question in ``region``'s bank, its version 1 and its 新增 event. Refused: content
    that question_content_validate refuses (400), a duplicate in the region (409, naming it),
    an actor who does not administer the region (403)."""
    require_bank_admin(actor=actor, region=region)
    content = question_content_validate(
        kind=kind,
        stem=stem,
        options=options,
        answer=answer,
        explanation=explanation,
        category=category,
        difficulty=difficulty,
    )
    digest = question_digest(stem=content.stem, options=content.options)
    _refuse_duplicate(region_id=region.pk, digest=digest)
    question = Question(region=region, active=bool(active), version=1, digest=digest, **content.values())
    try:
        with transaction.atomic():
            question.save()
    except IntegrityError:  # the same question saved meanwhile by someone else
        _refuse_duplicate(region_id=region.pk, digest=digest)
        raise
    _version_row(question).save()
    after = {"region": region.code, **_plain_values(content.values()), "active": question.active}
    QuestionEvent.objects.create(
        question=question, kind=QuestionEvent.Kind.CREATED, changes=diff({}, after), actor_id=_actor_id(actor)
    )
    return question


@transaction.atomic
def question_update(*, question: Question, actor, **values) -> Question:
    """Change a question (``values``: any of QUESTION_FIELDS). A change of content makes the
    next version (the versions before stay as they were: papers point at them); ``active``
    alone makes none. One 修改 event with the fields changed; nothing when nothing changed."""
    unknown = set(values) - set(QUESTION_FIELDS)
    if unknown:
        raise TypeError(f"question_update: unknown fields {sorted(unknown)}")
    question = Question.objects.select_for_update(of=("self",)).select_related("region").get(pk=question.pk)
    require_bank_admin(actor=actor, region=question.region)
    current = {name: getattr(question, name) for name in CONTENT_FIELDS}
    merged = {**current, **{k: v for k, v in values.items() if k in CONTENT_FIELDS}}
    content = question_content_validate(**merged)
    new = _plain_values(content.values())
    before = {name: (list(current[name]) if name == "options" else current[name]) for name in CONTENT_FIELDS}
    changes = diff(before, new)
    active = bool(values["active"]) if "active" in values else question.active
    if active != question.active:
        changes["active"] = [question.active, active]
    if not changes:
        return question
    content_changed = any(name in changes for name in CONTENT_FIELDS)
    if content_changed:
        digest = question_digest(stem=content.stem, options=content.options)
        if digest != question.digest:
            _refuse_duplicate(region_id=question.region_id, digest=digest, exclude=question.pk)
            question.digest = digest
        for name, value in new.items():
            setattr(question, name, value)
        question.version += 1
        changes["version"] = [question.version - 1, question.version]
    question.active = active
    try:
        with transaction.atomic():
            question.save()
    except IntegrityError:
        _refuse_duplicate(region_id=question.region_id, digest=question.digest, exclude=question.pk)
        raise
    if content_changed:
        _version_row(question).save()
    QuestionEvent.objects.create(
        question=question, kind=QuestionEvent.Kind.CHANGED, changes=changes, actor_id=_actor_id(actor)
    )
    return question


@transaction.atomic
def question_set_active(*, questions: Iterable[Question], actor, active: bool) -> int:
    """Put questions in or out of use (启用/停用): papers draw only active ones; what was drawn
    stays. One event per question that changed, in one insert; returns how many changed.
    Refused as a whole when the actor does not administer one of them."""
    ids = [q.pk for q in questions]
    rows = list(Question.objects.select_for_update(of=("self",)).select_related("region").filter(pk__in=ids))
    for row in rows:
        require_bank_admin(actor=actor, region=row.region)
    changing = [row for row in rows if row.active != active]
    if not changing:
        return 0
    Question.objects.filter(pk__in=[row.pk for row in changing]).update(active=active)
    kind = QuestionEvent.Kind.ACTIVATED if active else QuestionEvent.Kind.DEACTIVATED
    QuestionEvent.objects.bulk_create(
        [
            QuestionEvent(question=row, kind=kind, changes={"active": [not active, active]}, actor_id=_actor_id(actor))
            for row in changing
        ]
    )
    return len(changing)


def questions_import_write(*, actor, region: Region, rows: list[tuple[QuestionContent, bool]]) -> list[Question]:
    """The import's write (exams.question_imports has checked every row, duplicates included):
    the questions, their versions 1 and their 导入 events in three inserts whatever the count.
    Raises Conflict when one of them was saved meanwhile (nothing is kept)."""
    require_bank_admin(actor=actor, region=region)
    questions = [
        Question(
            region=region,
            active=active,
            version=1,
            digest=question_digest(stem=content.stem, options=content.options),
            **content.values(),
        )
        for content, active in rows
    ]
    try:
        with transaction.atomic():
            Question.objects.bulk_create(questions, batch_size=1000)
            if questions and questions[0].pk is None:  # a backend that returns no ids
                ids = dict(
                    Question.objects.filter(region=region, digest__in=[q.digest for q in questions]).values_list(
                        "digest", "id"
                    )
                )
                for question in questions:
                    question.pk = question.id = ids[question.digest]
            QuestionVersion.objects.bulk_create([_version_row(q) for q in questions], batch_size=1000)
            actor_id = _actor_id(actor)
            QuestionEvent.objects.bulk_create(
                [
                    QuestionEvent(
                        question=q,
                        kind=QuestionEvent.Kind.IMPORTED,
                        changes=diff({}, {"region": region.code, **_plain_values(c.values()), "active": a}),
                        actor_id=actor_id,
                    )
                    for q, (c, a) in zip(questions, rows, strict=True)
                ],
                batch_size=1000,
            )
    except IntegrityError:
        raise Conflict(
            _("导入期间题库中加入了相同的试题，未写入任何数据，请重新导入。"), code="duplicate_question"
        ) from None
    return questions


def _actor_id(actor):
    return getattr(actor, "pk", None) if actor is not None else None


# --- paper rules (组卷规则) ---------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    """One PaperRule as given: draw ``count`` of category/difficulty/kind, or one ``question``."""

    part: ExamPart
    points: Decimal
    category: str = ""
    difficulty: int | None = None
    kind: str = ""
    count: int = 1
    question: Question | None = None

    def plain(self) -> list:
        return [
            self.part.name,
            self.category,
            self.difficulty,
            self.kind,
            self.count,
            self.question.pk if self.question else None,
            plain_number(Decimal(self.points)),
        ]


def _rule_matches(rule) -> Q:
    q = Q(category=rule.category)
    if rule.difficulty:
        q &= Q(difficulty=rule.difficulty)
    if rule.kind:
        q &= Q(kind=rule.kind)
    return q


def rule_label(rule) -> str:
    """How a message names a rule: 科目 · 分类 / 难度 / 题型 × n, or 科目 · 指定试题 n."""
    if rule.question is not None:
        return _("%(p)s · 指定试题 %(q)d") % {"p": rule.part.name, "q": rule.question.pk}
    bits = [rule.category]
    if rule.difficulty:
        bits.append(str(Difficulty(rule.difficulty).label))
    if rule.kind:
        bits.append(str(QuestionKind(rule.kind).label))
    return _("%(p)s · %(what)s × %(n)d") % {"p": rule.part.name, "what": "/".join(bits), "n": rule.count}


def paper_rule_shortfalls(*, exam: Exam, rules: Sequence | None = None) -> list[str]:
    """Why the exam's paper rules cannot make a paper now (empty: they can): a part whose
    rules do not add up to its full marks, a rule asking
    for more active questions than ``drawable_questions(exam.region)`` holds of its kind, a
    category whose rules together ask for more than it holds, a fixed question that is not
    active or not in the exam's banks. ``rules`` defaults to the saved ones."""
    if rules is None:
        rules = list(PaperRule.objects.filter(part__exam=exam).select_related("part", "question"))
    if not rules:
        return []
    pool = drawable_questions(exam.region)
    messages: list[str] = []
    for part in exam.parts.order_by("order", "id"):
        total = sum((Decimal(r.points) * r.count for r in rules if r.part.pk == part.pk), Decimal("0"))
        if total != part.max_score:
            messages.append(
                _("%(p)s：组卷规则合计 %(t)s 分，与满分 %(m)s 分不一致")
                % {"p": part.name, "t": plain_number(total), "m": plain_number(part.max_score)}
            )
    wanted: Counter = Counter()
    short: set[str] = set()
    for rule in rules:
        if rule.question is not None:
            if not pool.filter(pk=rule.question.pk).exists():
                messages.append(_("%(r)s：该试题已停用，或不在本考试可用的题库中") % {"r": rule_label(rule)})
            continue
        have = pool.filter(_rule_matches(rule)).count()
        wanted[rule.category] += rule.count
        if have < rule.count:
            short.add(rule.category)
            messages.append(_("%(r)s：题库中符合条件的启用试题只有 %(h)d 道") % {"r": rule_label(rule), "h": have})
    for category, count in wanted.items():
        have = pool.filter(category=category).count()
        if have < count and category not in short:
            # each rule alone is satisfied, but they draw from the same questions
            messages.append(
                _("分类“%(c)s”的规则共需 %(w)d 道，题库中只有 %(h)d 道启用试题")
                % {"c": category, "w": count, "h": have}
            )
    return messages


@transaction.atomic
def paper_rules_set(*, exam: Exam, actor, rules: list[RuleSpec]) -> list[PaperRule]:
    """Replace the exam's paper rules (组卷规则) with ``rules``, in order, and record the change
    as a 修改考试 event (old and new rules). Every rule's part must be the exam's; a fixed
    question must be one its papers may draw. Papers already drawn keep their questions."""
    exam = Exam.objects.select_for_update(of=("self",)).select_related("region").get(pk=exam.pk)
    if actor is not None and not actor_manages_region(actor=actor, region=exam.region):
        raise AccessDenied(_("无权管理地区“%(r)s”的考试与证件。") % {"r": exam.region.name})
    parts = {p.pk for p in exam.parts.all()}
    fields: dict[str, list[str]] = {}
    for index, rule in enumerate(rules):
        if rule.part.pk not in parts:
            fields.setdefault("rules", []).append(_("第%(i)d条规则的科目不属于本考试") % {"i": index + 1})
        if rule.question is not None:
            if not drawable_questions(exam.region).filter(pk=rule.question.pk).exists():
                fields.setdefault("rules", []).append(
                    _("第%(i)d条规则的指定试题已停用，或不在本考试可用的题库中") % {"i": index + 1}
                )
        elif not rule.category:
            fields.setdefault("rules", []).append(_("第%(i)d条规则须指定分类或指定试题") % {"i": index + 1})
        if rule.count < 1 or (rule.question is not None and rule.count != 1):
            fields.setdefault("rules", []).append(_("第%(i)d条规则的题数不正确") % {"i": index + 1})
        if rule.points is None or Decimal(rule.points) <= 0:
            fields.setdefault("rules", []).append(_("第%(i)d条规则的每题分值必须大于 0") % {"i": index + 1})
    if fields:
        raise ValidationFailed(_("组卷规则有误。"), fields=fields)
    current = list(PaperRule.objects.filter(part__exam=exam).select_related("part", "question"))
    old = [RuleSpec(r.part, r.points, r.category, r.difficulty, r.kind, r.count, r.question).plain() for r in current]
    new = [rule.plain() for rule in rules]
    if old == new:
        return current
    PaperRule.objects.filter(part__exam=exam).delete()
    saved = PaperRule.objects.bulk_create(
        [
            PaperRule(
                part=rule.part,
                category="" if rule.question is not None else rule.category,
                difficulty=rule.difficulty or None,
                kind=rule.kind or "",
                count=1 if rule.question is not None else rule.count,
                question=rule.question,
                points=rule.points,
                order=index,
            )
            for index, rule in enumerate(rules)
        ]
    )
    ExamEvent.objects.create(
        exam=exam, kind=ExamEvent.Kind.EXAM_CHANGED, changes={"paper_rules": [old, new]}, actor_id=_actor_id(actor)
    )
    return saved
