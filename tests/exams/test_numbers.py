"""Certificate numbers: the check character catches every single mistyped character and
every swap of two neighbours; the printed and full-width forms read back the same."""

import pytest

from exams import numbers

SAMPLES = [
    numbers.make(province_prefix="13", year=2025, serial=123),
    numbers.make(province_prefix="13", year=2019, serial=1),
    numbers.make(province_prefix="13", year=2024, serial=999_999),
    numbers.make(province_prefix="13", year=2023, serial=40_871),
]
ALPHABET = "0123456789X"


def single_changes(number: str):
    """Every number that differs from ``number`` in exactly one character."""
    for i, old in enumerate(number):
        for new in ALPHABET:
            if new != old:
                yield number[:i] + new + number[i + 1 :]


def adjacent_swaps(number: str):
    for i in range(len(number) - 1):
        if number[i] != number[i + 1]:
            yield number[:i] + number[i + 1] + number[i] + number[i + 2 :]


def test_make_lays_out_province_year_serial_and_check_character():
    # when
    number = numbers.make(province_prefix="130000", year=2025, serial=123)
    # then
    assert number[:12] == "132025000123"
    assert len(number) == 13
    assert number[-1] == numbers.check_char("132025000123")
    assert numbers.serial_of(number) == 123


@pytest.mark.parametrize("number", SAMPLES)
def test_make_and_is_valid_round_trip(number):
    assert numbers.is_valid(number)
    assert numbers.normalize(number) == number


def test_a_check_character_of_ten_is_written_x():
    # given: the first serial whose check value is 10
    number = next(
        n for n in (numbers.make(province_prefix="13", year=2025, serial=s) for s in range(1, 100)) if n[-1] == "X"
    )
    # then
    assert numbers.is_valid(number)
    assert numbers.is_valid(number[:-1] + "x")


@pytest.mark.parametrize("number", SAMPLES)
def test_every_single_character_change_is_caught(number):
    # when
    changed = list(single_changes(number))
    # then
    assert len(changed) == 13 * 10
    assert [n for n in changed if numbers.is_valid(n)] == []


@pytest.mark.parametrize("number", SAMPLES)
def test_every_swap_of_two_neighbours_is_caught(number):
    # when
    swapped = list(adjacent_swaps(number))
    # then
    assert swapped
    assert [n for n in swapped if numbers.is_valid(n)] == []


def test_the_check_character_catches_changes_over_many_numbers():
    # given: a spread of serials over two years (a broader net than the samples above)
    many = [numbers.make(province_prefix="13", year=y, serial=s) for y in (2024, 2025) for s in range(1, 5000, 37)]
    # then
    for number in many:
        assert numbers.is_valid(number)
        assert not any(numbers.is_valid(n) for n in single_changes(number))
        assert not any(numbers.is_valid(n) for n in adjacent_swaps(number))


def test_normalize_reads_the_printed_form():
    number = numbers.make(province_prefix="13", year=2025, serial=123)
    # when
    printed = f"冀应急执字第{number}号"
    # then
    assert numbers.normalize(printed) == number
    assert numbers.is_valid(printed)


def test_normalize_reads_full_width_digits_spaces_and_hyphens():
    number = numbers.make(province_prefix="13", year=2025, serial=123)
    full_width = number.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    # then
    assert numbers.normalize(full_width) == number
    assert numbers.normalize(f"冀应急执字第 {full_width} 号") == number
    assert numbers.normalize(f" {number[:2]} {number[2:6]}-{number[6:12]}-{number[12]} ") == number


def test_normalize_upper_cases_the_x():
    number = next(
        n for n in (numbers.make(province_prefix="13", year=2025, serial=s) for s in range(1, 100)) if n[-1] == "X"
    )
    # then
    assert numbers.normalize(number[:-1] + "x") == number
    assert numbers.normalize(number[:-1] + "ｘ") == number


@pytest.mark.parametrize(
    "raw",
    [None, "", "   ", "冀应急执字第号", "132025000123", "13202500012345", "1320250001A33", "X320250001233", "abc"],
)
def test_is_valid_refuses_what_is_not_a_number_of_this_shape(raw):
    assert not numbers.is_valid(raw)


def test_the_example_in_the_module_docstring_is_a_valid_number():
    # given: the printed example a reader would try first
    doc = numbers.__doc__
    start = doc.index("冀应急执字第")
    printed = doc[start : doc.index("号", start) + 1]
    # then
    assert numbers.is_valid(printed), printed
