"""Property tests for everything that parses what people type or upload: ID numbers,
certificate numbers, scores, roster files and score files. Whatever the input (random
bytes, wrong types, huge cells, formula-looking strings, full-width digits, trailing
spaces), the answer is a correct parse or a clear error, never an exception."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exams import numbers
from exams.imports import scores_import
from exams.services import parse_score
from personnel import idcard
from personnel.imports import roster_import
from personnel.models import Inspector
from tests.exams.factories import ExamFactory, SittingFactory
from tests.personnel.test_roster_import import HEADER, csv_bytes, xlsx

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
FILES = settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))

FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
awkward_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789Xx ", max_size=25),
    st.text(alphabet="０１２３４５６７８９Ｘ", max_size=20),
    st.sampled_from(["=1+1", '=HYPERLINK("http://x")', "+cmd", "-1", "@SUM(A1)", " 13 ", "\t\n", "\x00"]),
    st.text(min_size=2000, max_size=5000),
)
any_value = st.one_of(
    awkward_text,
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.decimals(allow_nan=True),
)


# --- ID numbers -------------------------------------------------------------------------------


@FUZZ
@given(any_value)
def test_id_parse_never_raises_anything_but_its_own_error(raw):
    try:
        parsed = idcard.parse(raw)
    except idcard.IdNumberError as exc:
        assert str(exc)  # a reason a person can read
    else:
        assert idcard.is_valid(parsed.value)
        assert len(parsed.value) == 18


@FUZZ
@given(
    st.from_regex(r"\A[0-9]{6}(19[5-9][0-9]|200[0-9])(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])[0-9]{3}\Z"),
    st.sampled_from(["", " ", "  "]),
)
def test_a_valid_number_parses_however_it_is_typed(first17, pad):
    number = idcard.make(first17)
    for typed in (number, number.lower(), number.translate(FULLWIDTH), pad + number + pad):
        assert idcard.parse(typed).value == number


# --- certificate numbers and scores -------------------------------------------------------------


@FUZZ
@given(any_value)
def test_certificate_number_checks_never_raise(raw):
    result = numbers.is_valid(raw)
    assert isinstance(result, bool)
    if result:
        assert numbers.is_valid(numbers.normalize(raw))


@FUZZ
@given(any_value)
def test_parse_score_is_a_number_in_range_or_a_value_error(raw):
    try:
        value = parse_score(raw, maximum=Decimal("60"))
    except ValueError as exc:
        assert str(exc)
    else:
        assert Decimal("0") <= value <= Decimal("60")


# --- whole files --------------------------------------------------------------------------------


@pytest.mark.django_db
@FILES
@given(st.binary(max_size=3000), st.sampled_from(["r.xlsx", "r.csv", "r.xls", "r.bin", ""]))
def test_random_bytes_as_a_roster_are_a_clear_error(superuser_in_db, data, filename):
    result = roster_import(actor=superuser_in_db, data=data, filename=filename)
    if not result.ok:
        assert all(str(e) for e in result.errors)
    assert Inspector.objects.count() == 0 or result.ok


roster_cell = st.one_of(awkward_text, st.integers(min_value=-(10**20), max_value=10**20), st.none())


@pytest.mark.django_db
@FILES
@given(st.lists(st.lists(roster_cell, min_size=8, max_size=8), min_size=1, max_size=6), st.booleans())
def test_rosters_with_awkward_cells_never_crash_and_write_all_or_nothing(superuser_in_db, rows, as_csv):
    before = Inspector.objects.count()
    data = csv_bytes(rows) if as_csv else xlsx(rows)
    result = roster_import(actor=superuser_in_db, data=data, filename="r.csv" if as_csv else "r.xlsx")
    if result.ok:
        assert Inspector.objects.count() == before + result.created
    else:
        assert Inspector.objects.count() == before
        for error in result.errors:
            assert error.row >= 0 and error.message


@pytest.mark.django_db
@FILES
@given(
    st.lists(
        st.tuples(awkward_text, awkward_text, any_value.filter(lambda v: not isinstance(v, Decimal)), awkward_text),
        min_size=1,
        max_size=5,
    )
)
def test_score_files_with_awkward_cells_never_crash(superuser_in_db, exam_sitting, rows):
    general, specialist = (p.name for p in exam_sitting.exam.parts.all())
    header = ["身份证号", general, specialist, "缺考"]
    table = [[a, b, c, d] for a, b, c, d in rows]
    result = scores_import(
        sitting=exam_sitting, actor=superuser_in_db, data=xlsx(table, header=header), filename="s.xlsx"
    )
    assert result.errors or result.ok


@pytest.fixture
def superuser_in_db(db, django_user_model):
    return django_user_model.objects.create(username="fuzz-root", is_superuser=True, is_staff=True)


@pytest.fixture
def exam_sitting(regions):
    return SittingFactory(exam=ExamFactory(region=regions["province"]))


def test_header_constant_is_the_documented_layout():
    assert HEADER[:4] == ["姓名", "身份证号", "所属地区", "行业"]
