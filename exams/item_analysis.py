"""试题分析 (item analysis) for the office: how each question of an online exam worked and how
the candidates scored, per exam part and in total, for one sitting or for an exam across all
its sittings; and the same figures as an xlsx workbook.

Only submitted attempts of online sittings count (never practice, never one still being
answered). The definitions (答对率 p, 区分度 D by the upper and lower 27 %, the score bins) are
written out in docs/definitions.md (试题分析); each is one function here.

The figures come from a fixed number of queries whatever the size of the exam: the attempts
(one), the items grouped by question version, answer, correctness and score group (one), the
part sums per attempt (one), the versions asked (one) and the exam's parts (one).
"""

from __future__ import annotations

import io
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Sum, Value, When
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.text import plain_number

from .models import (
    Attempt,
    AttemptItem,
    AttemptState,
    Difficulty,
    Exam,
    QuestionKind,
    QuestionVersion,
    Sitting,
    SittingMode,
)

# The share of candidates in each of the upper and the lower score group (Kelley's 27 %).
GROUP_SHARE_PERCENT = 27
BINS = 10  # score bins of 10 % of the maximum each
UPPER, MIDDLE, LOWER = 1, 0, -1
ONE_PLACE = Decimal("0.1")


# --- the definitions ------------------------------------------------------------------------------


def group_size(candidates: int) -> int:
    """How many candidates form the upper group and, as many, the lower one: 27 % of the
    candidates rounded half up, never more than half of them (the groups do not overlap).
    0 (no discrimination) when fewer than two candidates."""
    size = (candidates * GROUP_SHARE_PERCENT + 50) // 100
    return min(size, candidates // 2)


def p_value(right: int, asked: int) -> float | None:
    """答对率 p: the share of the candidates asked a question who answered it right; an
    unanswered question counts as wrong. None when nobody was asked it."""
    return right / asked if asked else None


def discrimination(*, upper_right: int, upper_asked: int, lower_right: int, lower_asked: int) -> float | None:
    """区分度 D = p(upper) - p(lower): the 答对率 in the upper 27 % of candidates by total score
    minus that in the lower 27 %, each among the group's candidates asked the question (papers
    are drawn at random: not everyone is asked every question). None when either group has
    nobody asked it. From -1 to 1; 0.4 and above is good, below 0.2 poor (Ebel)."""
    if not upper_asked or not lower_asked:
        return None
    return upper_right / upper_asked - lower_right / lower_asked


def score_bin(score: Decimal, max_score: Decimal) -> int:
    """The bin of a score: 0 for [0, 10 %) of the maximum, 1 for [10 %, 20 %) ... 9 for
    [90 %, 100 %] (the maximum itself falls in the last bin)."""
    if max_score <= 0:
        return 0
    index = int(Decimal(score) * BINS // Decimal(max_score))
    return max(0, min(BINS - 1, index))


Edge = tuple[Decimal, int]  # (total score, attempt id) of the attempt at a group's edge


def group_edges(scores: list[tuple[int, Decimal]]) -> tuple[Edge, Edge] | None:
    """The edges of the upper and lower groups, given (attempt id, total score): the attempts
    ranked by score, a tie broken by the attempt id (the earlier ranks higher), so the same
    attempts always give the same groups. The upper group is every attempt ranked at or above
    the first edge, the lower every attempt at or below the second (``group_q``). None when
    there are no groups (fewer than two candidates)."""
    size = group_size(len(scores))
    if not size:
        return None
    ranked = sorted(scores, key=lambda row: (-row[1], row[0]))
    (upper_pk, upper_score), (lower_pk, lower_score) = ranked[size - 1], ranked[-size]
    return (upper_score, upper_pk), (lower_score, lower_pk)


def group_q(edges: tuple[Edge, Edge] | None, prefix: str = "") -> tuple[Q, Q]:
    """The upper and the lower group as two conditions on an attempt (``prefix`` leads to it
    from the rows asked about): a fixed size whatever the number of candidates."""
    if edges is None:
        return Q(pk__in=[]), Q(pk__in=[])
    (upper_score, upper_pk), (lower_score, lower_pk) = edges
    upper = Q(**{f"{prefix}score__gt": upper_score}) | Q(
        **{f"{prefix}score": upper_score, f"{prefix}pk__lte": upper_pk}
    )
    lower = Q(**{f"{prefix}score__lt": lower_score}) | Q(
        **{f"{prefix}score": lower_score, f"{prefix}pk__gte": lower_pk}
    )
    return upper, lower


def ranked_groups(scores: list[tuple[int, Decimal]]) -> tuple[set[int], set[int]]:
    """The upper and lower groups as sets of attempt ids (what ``group_q`` selects)."""
    edges = group_edges(scores)
    if edges is None:
        return set(), set()
    (upper_score, upper_pk), (lower_score, lower_pk) = edges
    upper = {pk for pk, s in scores if s > upper_score or (s == upper_score and pk <= upper_pk)}
    lower = {pk for pk, s in scores if s < lower_score or (s == lower_score and pk >= lower_pk)}
    return upper, lower


# --- the figures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionCount:
    letter: str
    text: str
    chosen: int  # candidates whose answer holds this option
    share: float | None  # of the candidates asked
    key: bool  # a right option


@dataclass(frozen=True)
class ItemRow:
    """One question of the bank, over every version of it that was asked."""

    question_id: int
    versions: tuple[int, ...]
    kind: str
    category: str
    difficulty: str
    stem: str
    answer: str
    asked: int
    right: int
    unanswered: int
    upper_asked: int
    upper_right: int
    lower_asked: int
    lower_right: int
    options: tuple[OptionCount, ...]

    @property
    def p(self) -> float | None:
        return p_value(self.right, self.asked)

    @property
    def d(self) -> float | None:
        return discrimination(
            upper_right=self.upper_right,
            upper_asked=self.upper_asked,
            lower_right=self.lower_right,
            lower_asked=self.lower_asked,
        )

    @property
    def versions_text(self) -> str:
        return "、".join(f"v{v}" for v in self.versions)


@dataclass(frozen=True)
class Bin:
    low: Decimal
    high: Decimal
    count: int
    last: bool

    @property
    def label(self) -> str:
        bracket = "]" if self.last else ")"
        return f"[{plain_number(self.low)}, {plain_number(self.high)}{bracket}"


@dataclass(frozen=True)
class Distribution:
    """Scores of the candidates in a part (or the total): count, mean, median, highest,
    lowest and the ten bins; for the total, the pass mark and how many reached it."""

    name: str
    max_score: Decimal
    n: int
    mean: Decimal | None
    median: Decimal | None
    high: Decimal | None
    low: Decimal | None
    bins: tuple[Bin, ...]
    pass_mark: Decimal | None = None
    passed: int | None = None

    @property
    def pass_rate(self) -> float | None:
        if self.passed is None or not self.n:
            return None
        return self.passed / self.n


@dataclass(frozen=True)
class ItemAnalysis:
    exam: Exam
    sittings: list[Sitting]
    sitting: Sitting | None  # one sitting, or None for the exam across its sittings
    attempts: int
    group_size: int
    items: list[ItemRow] = field(default_factory=list)
    parts: list[Distribution] = field(default_factory=list)
    total: Distribution | None = None


def _rounded(value: Decimal) -> Decimal:
    return value.quantize(ONE_PLACE, rounding=ROUND_HALF_UP)


def distribution(name: str, scores: list[Decimal], max_score: Decimal, pass_mark: Decimal | None = None):
    """The Distribution of ``scores`` against ``max_score`` (mean and median to one place)."""
    counts = [0] * BINS
    for score in scores:
        counts[score_bin(score, max_score)] += 1
    step = Decimal(max_score) / BINS
    bins = tuple(
        Bin(low=_rounded(step * i), high=_rounded(step * (i + 1)), count=counts[i], last=i == BINS - 1)
        for i in range(BINS)
    )
    return Distribution(
        name=name,
        max_score=Decimal(max_score),
        n=len(scores),
        mean=_rounded(sum(scores, Decimal(0)) / len(scores)) if scores else None,
        median=_rounded(Decimal(statistics.median(scores))) if scores else None,
        high=max(scores) if scores else None,
        low=min(scores) if scores else None,
        bins=bins,
        pass_mark=pass_mark,
        passed=sum(1 for s in scores if s >= pass_mark) if pass_mark is not None else None,
    )


def counted_attempts() -> QuerySet[Attempt]:
    """The attempts item analysis counts: submitted, not practice, of an online sitting."""
    return Attempt.objects.filter(
        practice=False, state=AttemptState.SUBMITTED, sitting__mode=SittingMode.ONLINE, score__isnull=False
    )


def sitting_item_analysis(*, sitting: Sitting) -> ItemAnalysis:
    """Item analysis of one sitting (the caller has checked the actor may see it)."""
    return _analyse(exam=sitting.exam, sittings=[sitting], sitting=sitting)


def exam_item_analysis(*, exam: Exam) -> ItemAnalysis:
    """Item analysis of an exam across all its online sittings."""
    sittings = list(exam.sittings.filter(mode=SittingMode.ONLINE).order_by("held_on", "id"))
    return _analyse(exam=exam, sittings=sittings, sitting=None)


def _analyse(*, exam: Exam, sittings: list[Sitting], sitting: Sitting | None) -> ItemAnalysis:
    attempts = counted_attempts().filter(sitting__in=[s.pk for s in sittings])
    scores = [(pk, Decimal(score)) for pk, score in attempts.values_list("pk", "score")]
    parts = list(exam.parts.order_by("order", "id"))
    items = AttemptItem.objects.filter(attempt__in=attempts)
    return ItemAnalysis(
        exam=exam,
        sittings=sittings,
        sitting=sitting,
        attempts=len(scores),
        group_size=group_size(len(scores)),
        items=_items(items, group_edges(scores)),
        parts=_parts(items, parts, [pk for pk, _s in scores]),
        total=distribution(
            _("总分"), [s for _pk, s in scores], sum((p.max_score for p in parts), Decimal(0)), exam.pass_mark
        ),
    )


def _items(items: QuerySet[AttemptItem], edges: tuple[Edge, Edge] | None) -> list[ItemRow]:
    upper, lower = group_q(edges, prefix="attempt__")
    group = Case(
        When(upper, then=Value(UPPER)),
        When(lower, then=Value(LOWER)),
        default=Value(MIDDLE),
        output_field=IntegerField(),
    )
    grouped = (
        items.annotate(group=group)
        .values("version_id", "answer", "group")
        .annotate(n=Count("id"), right=Count("id", filter=Q(correct=True)))
        .order_by()
    )
    by_version: dict[int, list[dict]] = defaultdict(list)
    for row in grouped:
        by_version[row["version_id"]].append(row)
    versions = {
        v.pk: v
        for v in QuestionVersion.objects.filter(pk__in=list(by_version)).only(
            "question_id", "version", "kind", "stem", "options", "answer", "category", "difficulty"
        )
    }
    by_question: dict[int, list[QuestionVersion]] = defaultdict(list)
    for version in versions.values():
        by_question[version.question_id].append(version)
    kinds, levels = dict(QuestionKind.choices), dict(Difficulty.choices)
    rows = []
    for question_id, asked_versions in by_question.items():
        asked_versions.sort(key=lambda v: v.version)
        latest = asked_versions[-1]
        counts = [row for v in asked_versions for row in by_version[v.pk]]
        asked = sum(r["n"] for r in counts)
        chosen: dict[str, int] = defaultdict(int)
        for r in counts:
            for letter in set(r["answer"]):
                chosen[letter] += r["n"]
        letters = [chr(ord("A") + i) for i in range(len(latest.options))]
        letters += sorted(set(chosen) - set(letters))  # an option only an older version had
        texts = dict(zip(letters, latest.options, strict=False))
        rows.append(
            ItemRow(
                question_id=question_id,
                versions=tuple(v.version for v in asked_versions),
                kind=str(kinds.get(latest.kind, latest.kind)),
                category=latest.category,
                difficulty=str(levels.get(latest.difficulty, latest.difficulty)),
                stem=latest.stem,
                answer=latest.answer,
                asked=asked,
                right=sum(r["right"] for r in counts),
                unanswered=sum(r["n"] for r in counts if not r["answer"]),
                upper_asked=sum(r["n"] for r in counts if r["group"] == UPPER),
                upper_right=sum(r["right"] for r in counts if r["group"] == UPPER),
                lower_asked=sum(r["n"] for r in counts if r["group"] == LOWER),
                lower_right=sum(r["right"] for r in counts if r["group"] == LOWER),
                options=tuple(
                    OptionCount(
                        letter=letter,
                        text=texts.get(letter, ""),
                        chosen=chosen.get(letter, 0),
                        share=chosen.get(letter, 0) / asked if asked else None,
                        key=letter in latest.answer,
                    )
                    for letter in letters
                ),
            )
        )
    # The category, then the hardest first: the questions to look at come to the top.
    rows.sort(key=lambda r: (r.category, r.p if r.p is not None else 2.0, r.question_id))
    return rows


def _parts(items: QuerySet[AttemptItem], parts, attempt_ids: list[int]) -> list[Distribution]:
    sums = items.filter(part__isnull=False).values("attempt_id", "part_id").annotate(s=Sum("awarded")).order_by()
    by_part: dict[int, dict[int, Decimal]] = defaultdict(dict)
    for row in sums:
        by_part[row["part_id"]][row["attempt_id"]] = Decimal(row["s"] or 0)
    # A candidate asked nothing in a part (or not scored there) has 0 in it.
    return [
        distribution(part.name, [by_part[part.pk].get(pk, Decimal(0)) for pk in attempt_ids], part.max_score)
        for part in parts
    ]


# --- the workbook ---------------------------------------------------------------------------------


def analysis_title(analysis: ItemAnalysis) -> str:
    if analysis.sitting is not None:
        return _("试题分析：%(s)s") % {"s": analysis.sitting}
    return _("试题分析：%(e)s（全部在线场次）") % {"e": analysis.exam.title}


def analysis_xlsx(analysis: ItemAnalysis) -> bytes:
    """The analysis as a workbook: 试题 (one row a question), 选项 (one row an option) and
    分数分布 (each part, then the total), in the house style of the yearly workbook
    (reports.xlsx.Book: frozen header row, A4 landscape, the scope in the footer)."""
    from reports.xlsx import Book  # the house formats; reports depends on exams, not back

    buffer = io.BytesIO()
    title = analysis_title(analysis)
    book = Book(buffer, scope_text=title, constant_memory=False)
    book.add_sheets(_("试题"), _("选项"), _("分数分布"))
    book.dec2 = book.wb.add_format({"num_format": "0.00", "align": "right"})  # 区分度, as the page shows it
    _items_sheet(book, analysis, title)
    _options_sheet(book, analysis, title)
    _distribution_sheet(book, analysis, title)
    book.close()
    return buffer.getvalue()


def _note(analysis: ItemAnalysis) -> str:
    return _("已交卷答卷 %(n)d 份；高分组、低分组各 %(g)d 人（按总分前后 27%%）。") % {
        "n": analysis.attempts,
        "g": analysis.group_size,
    }


ITEM_HEADERS = [
    (gettext_lazy("题号"), 8),
    (gettext_lazy("版本"), 8),
    (gettext_lazy("分类"), 16),
    (gettext_lazy("题型"), 8),
    (gettext_lazy("难度"), 6),
    (gettext_lazy("题干"), 48),
    (gettext_lazy("答案"), 8),
    (gettext_lazy("作答人数"), 10),
    (gettext_lazy("答对人数"), 10),
    (gettext_lazy("未作答"), 8),
    (gettext_lazy("答对率"), 9),
    (gettext_lazy("高分组答对率"), 12),
    (gettext_lazy("低分组答对率"), 12),
    (gettext_lazy("区分度"), 9),
]


def _items_sheet(book, analysis: ItemAnalysis, title: str) -> None:
    headers = [(str(label), width) for label, width in ITEM_HEADERS]
    ws, top = book.sheet(_("试题"), headers, title=title, note=_note(analysis))
    r = top
    for item in analysis.items:
        r += 1
        ws.write_number(r, 0, item.question_id, book.int)
        ws.write_string(r, 1, item.versions_text)
        ws.write_string(r, 2, item.category)
        ws.write_string(r, 3, item.kind)
        ws.write_string(r, 4, item.difficulty)
        ws.write_string(r, 5, item.stem)
        ws.write_string(r, 6, item.answer)
        book.number(ws, r, 7, item.asked)
        book.number(ws, r, 8, item.right)
        book.number(ws, r, 9, item.unanswered)
        book.rate(ws, r, 10, item.p)
        book.rate(ws, r, 11, p_value(item.upper_right, item.upper_asked))
        book.rate(ws, r, 12, p_value(item.lower_right, item.lower_asked))
        _decimal(book, ws, r, 13, item.d)


def _decimal(book, ws, row: int, col: int, value: float | None) -> None:
    """D as the page shows it: to two places."""
    if value is None:
        ws.write_blank(row, col, None, book.dec2)
    else:
        ws.write_number(row, col, round(value, 2), book.dec2)


OPTION_HEADERS = [
    (gettext_lazy("题号"), 8),
    (gettext_lazy("题干"), 40),
    (gettext_lazy("选项"), 6),
    (gettext_lazy("选项内容"), 36),
    (gettext_lazy("正确选项"), 9),
    (gettext_lazy("选择人数"), 10),
    (gettext_lazy("选择比例"), 10),
]


def _options_sheet(book, analysis: ItemAnalysis, title: str) -> None:
    headers = [(str(label), width) for label, width in OPTION_HEADERS]
    ws, top = book.sheet(_("选项"), headers, title=title, note=_("多选题的选择比例之和可超过 100%。"))
    r = top
    for item in analysis.items:
        for option in item.options:
            r += 1
            ws.write_number(r, 0, item.question_id, book.int)
            ws.write_string(r, 1, item.stem)
            ws.write_string(r, 2, option.letter)
            ws.write_string(r, 3, option.text)
            ws.write_string(r, 4, _("是") if option.key else "")
            book.number(ws, r, 5, option.chosen)
            book.rate(ws, r, 6, option.share)


def distribution_headers() -> list[str]:
    return [
        _("科目"),
        _("满分"),
        _("人数"),
        _("平均分"),
        _("中位数"),
        _("最高分"),
        _("最低分"),
        _("及格分"),
        _("及格人数"),
        _("及格率"),
    ]


def _distribution_sheet(book, analysis: ItemAnalysis, title: str) -> None:
    rows = [*analysis.parts, analysis.total]
    bin_labels = [_("第%(i)d段") % {"i": i + 1} for i in range(BINS)]
    headers = [(label, 10) for label in distribution_headers()] + [(label, 9) for label in bin_labels]
    headers[0] = (headers[0][0], 16)
    ws, top = book.sheet(
        _("分数分布"),
        headers,
        title=title,
        note=_("第1段至第10段：各占满分的 10%，含下限不含上限，第10段含满分。科目不设及格分。"),
    )
    r = top
    for dist in rows:
        r += 1
        ws.write_string(r, 0, dist.name)
        book.number(ws, r, 1, dist.max_score, "hours")
        book.number(ws, r, 2, dist.n)
        for col, value in enumerate((dist.mean, dist.median, dist.high, dist.low), start=3):
            book.number(ws, r, col, value, "hours")
        book.number(ws, r, 7, dist.pass_mark, "hours")
        book.number(ws, r, 8, dist.passed)
        book.rate(ws, r, 9, dist.pass_rate)
        for i, b in enumerate(dist.bins):
            book.number(ws, r, 10 + i, b.count)
    # The score range of each bin, under the table, part by part.
    r += 2
    ws.write_string(r, 0, _("各段分数范围"), book.bold)
    for dist in rows:
        r += 1
        ws.write_string(r, 0, dist.name)
        for i, b in enumerate(dist.bins):
            ws.write_string(r, 10 + i, b.label)
