import datetime as dt

import pytest

from personnel import idcard

# A real-format example: the checksum character of 11010519491231002 is X.
VALID = "11010519491231002X"


def test_known_checksum_is_accepted():
    # when
    parsed = idcard.parse(VALID)
    # then
    assert parsed.value == VALID
    assert parsed.birth_date == dt.date(1949, 12, 31)
    assert parsed.gender == "female"  # 17th digit 2 is even
    assert parsed.region_code == "110105"


def test_lower_case_x_full_width_and_spaces_are_normalised():
    assert idcard.parse(" 11010519491231002x ").value == VALID
    assert idcard.parse("１１０１０５１９４９１２３１００２Ｘ").value == VALID


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "为空"),
        ("11010519491231002", "18位"),
        ("110105194912310021", "校验位"),
        ("11010519491331002X", "出生日期"),
        ("1101051949123100AX", "前17位"),
        ("11010519491231002Y", "第18位"),
        ("11010529991231002X", "出生日期"),
    ],
)
def test_bad_numbers_are_refused_with_a_reason(raw, reason):
    with pytest.raises(idcard.IdNumberError) as exc:
        idcard.parse(raw)
    assert reason in str(exc.value)


def test_make_produces_a_valid_number():
    for first17 in ("13010219850315001", "13020219900101123", "13000019700707777"):
        assert idcard.is_valid(idcard.make(first17))


def test_mask_keeps_four_and_four():
    assert idcard.mask("13010219850315123X") == "1301**********123X"
    assert idcard.mask("") == ""
