"""The yearly totals workbook, written to a file and read back with openpyxl, against the
known years of ``conftest.known`` and an independent count of every figure."""

import datetime as dt
from collections import Counter

import pytest

from exams import services as exams
from personnel.models import Region, Sector
from reports import figures, xlsx
from tests.factories import InspectorFactory
from tests.reports.conftest import FORMULA_NAME, P, Y, all_cells, count_by_hand, open_book, table
from training.models import Enrollment


def write(tmp_path, *, code="130000", year=Y, actor=None, include_detail=True, name="book.xlsx"):
    """The yearly workbook for a region code and year, written to a file and opened again."""
    path = tmp_path / name
    scope = figures.Scope(region=Region.objects.get(code=code), year=year)
    xlsx.yearly_workbook(str(path), scope=scope, actor=actor, include_detail=include_detail)
    return open_book(path)


def summary(book) -> dict:
    return {row["指标"]: row for row in table(book["汇总"], "指标")}


def assert_figures(rows: dict, column: str, expected: dict, keys=None) -> None:
    """Each figure's cell in ``column`` equals the expected count; a rate is stored as its
    0.0% format shows it, to 3 decimals of the fraction, exactly."""
    for key in keys or [k for k, _label, _kind in figures.SUMMARY_FIGURES]:
        label = figures.LABELS[key]
        got, want = rows[label][column], expected[key]
        if want is None:
            assert got is None, label
        elif figures.KINDS[key] == "pct":
            assert got == round(want, 3), f"{label}: {got} != {want}"
        else:
            assert got == pytest.approx(want, abs=1e-4), f"{label}: {got} != {want}"


class TestKnownYears:
    """The known years of ``conftest.known``, built once for the class."""

    def test_every_summary_total_equals_an_independent_count(self, tmp_path, known, province_admin):
        # given: the known years
        # when
        rows = summary(write(tmp_path, actor=province_admin))

        # then: this year and last year, every figure
        assert_figures(rows, f"{Y}年", count_by_hand(year=Y, path="130000/"))
        assert_figures(rows, f"{P}年", count_by_hand(year=P, path="130000/"))
        # and the design of the known year holds (the independent count is not vacuous)
        assert rows["培训人次"][f"{Y}年"] == 9
        assert rows["结业人次"][f"{Y}年"] == 8
        assert rows["举办批次"][f"{Y}年"] == 3
        assert rows["学时达标人数"][f"{Y}年"] == 4
        # 参考人次 counts who sat (A and C the course exam, E and F the qualification exam);
        # D was absent: 缺考, not a candidate who sat (the 分批次 sheet's 参考人次 says the same)
        assert (rows["参考人次"][f"{Y}年"], rows["缺考人次"][f"{Y}年"]) == (4, 1)
        assert rows["新发执法证"][f"{Y}年"] == 3
        assert (rows["暂扣执法证"][f"{Y}年"], rows["吊销执法证"][f"{Y}年"], rows["过期执法证"][f"{Y}年"]) == (1, 1, 1)
        assert rows["年末有效执法证"][f"{Y}年"] == 2  # A's (2023) and E's; F's suspended, D's revoked, C's expired
        assert rows["年末有效执法证"][f"{P}年"] == 2  # A's and C's

    def test_person_times_differ_from_persons_when_someone_took_two_batches(self, tmp_path, known, province_admin):
        # given: A completed batch 1 and batch 2 in the year
        a = known["people"]["A"]
        assert Enrollment.objects.filter(inspector=a, batch__year=Y, status="completed").count() == 2

        # when
        rows = summary(write(tmp_path, actor=province_admin))

        # then
        assert rows["培训人次"][f"{Y}年"] == 9
        assert rows["培训人数"][f"{Y}年"] == 7

    def test_year_on_year_change_and_a_zero_previous_year(self, tmp_path, known, province_admin):
        # given: 3 person-times in 2023, 9 in 2024; no no-shows and nobody meeting the hours in 2023
        # when
        rows = summary(write(tmp_path, actor=province_admin))

        # then: (9 - 3) / 3
        assert rows["培训人次"]["同比"] == pytest.approx(2.0)
        assert rows["培训人数"]["同比"] == round((7 - 3) / 3, 3)
        assert rows["累计学时"]["同比"] == round((6 * 16 + 2 * 24 - 3 * 16) / (3 * 16), 3)
        # a zero previous year: blank, with a note
        for label in ("缺席人次", "学时达标人数"):
            assert rows[label][f"{P}年"] == 0
            assert rows[label]["同比"] is None
            assert "上年为0" in rows[label]["说明"]
        # a rate's change is the difference in percentage points (88.9% against 100.0%)
        assert rows["结业率"]["同比"] == round((8 / 9 - 1.0) * 100, 1) == -11.1
        assert rows["结业率"]["说明"] == "百分点差"

    def test_a_city_scope_counts_and_lists_only_its_own_people(self, tmp_path, known, city_admin):
        # given: 唐山's people E (路南区) and F (唐山市本级) sat in the province's batch 1
        outsiders = {known["people"]["E"].name, known["people"]["F"].name}

        # when: 石家庄's workbook
        book = write(tmp_path, code="130100", actor=city_admin)

        # then: totals count only 石家庄's people
        rows = summary(book)
        assert_figures(rows, f"{Y}年", count_by_hand(year=Y, path="130000/130100/"))
        assert_figures(rows, f"{P}年", count_by_hand(year=P, path="130000/130100/"))
        assert rows["培训人次"][f"{Y}年"] == 6
        # and nobody from 唐山 appears on any sheet
        names = {c.value for c in all_cells(book) if isinstance(c.value, str)}
        assert not names & outsiders
        assert {r["姓名"] for r in table(book["学时达标"], "姓名")} == {
            "张一",
            "李二",
            "王三",
            "赵四",
            FORMULA_NAME,
            "周七",
        }
        assert {r["所属地区"] for r in table(book["明细"], "年度")} <= {"长安区", "桥西区", "石家庄市"}
        # its counties ranked (桥西 all completed, 长安 2 of 3), then the city's own office (D)
        assert [(r["排名"], r["地区"]) for r in table(book["分地区"], "排名")] == [
            (1, "桥西区"),
            (2, "长安区"),
            (None, "石家庄市本级"),
        ]

    def test_a_city_scope_counts_only_its_own_candidates_in_a_shared_batch(self, tmp_path, known, other_city_admin):
        # given: batch 1 (province) had 唐山's E and F, whose exam only 石家庄's people sat
        # when: 唐山's workbook
        rows = table(write(tmp_path, code="130200", actor=other_city_admin)["分批次"], "批次")

        # then: batch 1 shows 唐山's two enrollees and none of 石家庄's candidates
        b1 = next(r for r in rows if r["组织单位"] == "河北省")
        assert (b1["报名人次"], b1["结业"], b1["参考人次"], b1["考试合格率"]) == (2, 2, 0, None)

    def test_by_sector_has_the_four_sectors_with_their_own_figures(self, tmp_path, known, province_admin):
        # when
        rows = table(write(tmp_path, actor=province_admin)["分行业"], "行业")

        # then: one row per sector, in order, each matching the count for that sector
        assert [r["行业"] for r in rows] == [str(s.label) for s in Sector]
        for sector, row in zip(Sector, rows, strict=True):
            expected = count_by_hand(year=Y, path="130000/", sector=sector.value)
            for key in figures.GROUP_FIGURES:
                want = expected[key]
                got = row[figures.LABELS[key]]
                if want is None or figures.KINDS[key] != "pct":
                    assert got == (None if want is None else pytest.approx(want, abs=1e-4)), (sector, key)
                else:
                    assert got == round(want, 3), (sector, key)
        # coverage of the three systems: coal's active A, B, E; A and E completed the course
        coal = rows[0]
        assert coal["三项全部·已培训人数"] == 2
        assert coal["三项全部·覆盖率"] == 0.667  # 66.7 (the selector's percent) / 100, stored as shown

    def test_by_region_ranks_the_cities_with_their_counties_under_them(self, tmp_path, known, province_admin):
        # when
        rows = table(write(tmp_path, actor=province_admin)["分地区"], "排名")

        # then: 唐山 (completion 100%) before 石家庄 (5 of 6), each followed by its own office and counties
        assert [(r["排名"], r["地区"]) for r in rows] == [
            (1, "唐山市"),
            (None, "唐山市本级"),
            (None, "路南区"),
            (2, "石家庄市"),
            (None, "石家庄市本级"),
            (None, "长安区"),
            (None, "桥西区"),
        ]
        by_name = {r["地区"]: r for r in rows}
        for name, code in (("唐山市", "130200"), ("路南区", "130202"), ("石家庄市", "130100"), ("长安区", "130102")):
            expected = count_by_hand(year=Y, path=Region.objects.get(code=code).path)
            for key in ("person_times", "persons", "completions", "no_shows", "inspectors", "hours_met", "candidates"):
                assert by_name[name][figures.LABELS[key]] == expected[key], (name, key)
        assert by_name["石家庄市"]["结业率"] == round(5 / 6, 3)
        assert by_name["石家庄市本级"]["培训人次"] == 1  # D

    def test_by_region_rows_add_up_with_the_scopes_own_office(self, tmp_path, known, regions, province_admin):
        # given: someone on the province's own staff, in no city
        InspectorFactory(name="省厅一", region=regions["province"], sector=Sector.COAL)

        # when
        book = write(tmp_path, actor=province_admin)

        # then: a last, unranked 河北省本级 row; the cities and it add up to the summary
        rows = table(book["分地区"], "排名")
        assert (rows[-1]["排名"], rows[-1]["地区"], rows[-1]["级别"]) == (None, "河北省本级", "本级")
        top = [r for r in rows if r["地区"] in ("唐山市", "石家庄市", "河北省本级")]
        assert sum(r["在岗执法人员"] for r in top) == summary(book)["在岗执法人员"][f"{Y}年"] == 8

    def test_by_batch_counts_each_batch_of_the_year(self, tmp_path, known, province_admin):
        # when
        rows = table(write(tmp_path, actor=province_admin)["分批次"], "批次")

        # then: batches 1-3 by start date; the cancelled batch 4 is left out
        got = [
            (r["组织单位"], r["报名人次"], r["结业"], r["缺席"], r["候补"], r["参考人次"], r["考试合格率"])
            for r in rows
        ]
        # B's place on batch 2's waitlist: kept, or cancelled when the batch completed
        waiting = Enrollment.objects.filter(batch=known["batches"]["b2"], status="waitlisted").count()
        assert got == [
            ("河北省", 7, 6, 1, 0, 2, pytest.approx(0.5)),
            ("石家庄市", 1, 1, 0, waiting, 0, None),
            ("唐山市", 1, 1, 0, 0, 0, None),
        ]
        assert rows[0]["专题"] == "三项制度（全部）"
        assert rows[1]["行业"] == "煤矿"
        assert isinstance(rows[0]["开始日期"], dt.datetime)
        assert rows[0]["开始日期"].date() == dt.date(Y, 3, 4)

    def test_hours_sheet_lists_everyone_with_masked_id_numbers(self, tmp_path, known, province_admin):
        # when
        book = write(tmp_path, actor=province_admin)
        rows = {r["姓名"]: r for r in table(book["学时达标"], "姓名")}

        # then: every inspector in scope (the retired one too), hours against the policy
        assert set(rows) == {p.name for p in known["people"].values()}
        a = rows["张一"]
        assert (a[f"{Y}年学时"], a["应修学时"], a["是否达标"]) == (40, 16, "达标")
        assert (rows["孙六"][f"{Y}年学时"], rows["孙六"]["应修学时"], rows["孙六"]["是否达标"]) == (40, 60, "未达标")
        for person in known["people"].values():
            shown = rows[person.name]["身份证号"]
            assert shown == person.national_id[:4] + "*" * 10 + person.national_id[-4:]
        # and no full ID number appears in any cell of any sheet
        full = {p.national_id for p in known["people"].values()}
        assert not [c.coordinate for c in all_cells(book) if isinstance(c.value, str) and c.value in full]
        assert not [c.coordinate for c in all_cells(book) if any(n in str(c.value) for n in full)]

    def test_a_name_starting_with_equals_stays_text(self, tmp_path, known, province_admin):
        # given: an inspector named =HYPERLINK("x")
        # when
        book = write(tmp_path, actor=province_admin)

        # then: wherever the name is written it is a string, never a formula
        cells = [c for c in all_cells(book) if isinstance(c.value, str) and c.value.startswith("=")]
        assert {c.parent.title for c in cells} == {"学时达标", "明细"}
        assert all(c.value == FORMULA_NAME and c.data_type == "s" for c in cells)

    def test_detail_lists_every_enrollment_of_the_year(self, tmp_path, known, province_admin):
        # when
        rows = table(write(tmp_path, actor=province_admin)["明细"], "年度")

        # then: every row, whatever its status, the cancelled batch's too
        assert len(rows) == Enrollment.objects.filter(batch__year=Y).count() == 12
        in_db = Counter(
            xlsx.ENROLLMENT_LABELS[s] for s in Enrollment.objects.filter(batch__year=Y).values_list("status", flat=True)
        )
        assert Counter(r["状态"] for r in rows) == in_db
        assert (in_db["已结业"], in_db["缺席"]) == (8, 1)
        assert isinstance(rows[0]["开始日期"], dt.datetime)

    def test_detail_continues_on_further_sheets_past_the_row_limit(self, tmp_path, known, province_admin, monkeypatch):
        # given: sheets of 6 rows (title, header, four enrollments)
        monkeypatch.setattr(xlsx, "EXCEL_MAX_ROWS", 6)

        # when
        book = write(tmp_path, actor=province_admin)

        # then: 12 enrollments on 明细, 明细(2), 明细(3), none lost, none over the limit
        detail = [ws for ws in book.worksheets if ws.title.startswith("明细")]
        assert [ws.title for ws in detail] == ["明细", "明细(2)", "明细(3)"]
        counts = [len(table(ws, "年度")) for ws in detail]
        assert counts == [4, 4, 4]
        assert all(ws.max_row <= 6 for ws in detail)
        assert "续2" in detail[2]["A1"].value

    def test_no_detail_leaves_the_detail_sheet_out(self, tmp_path, known, province_admin):
        # when
        book = write(tmp_path, actor=province_admin, include_detail=False)

        # then
        assert book.sheetnames == [
            "汇总",
            "分行业",
            "分地区",
            "分批次",
            "学时达标",
            "证件申请",
            "年审进度",
            "制卡",
            "评教",
            "评教(课程)",
            "_chart",
        ]

    def test_roster_lists_the_scope_with_certificate_status_and_hours(self, tmp_path, known):
        # given
        path = tmp_path / "roster.xlsx"
        scope = figures.Scope(region=Region.objects.get(code="130100"), year=Y)

        # when
        written = xlsx.roster_workbook(str(path), scope=scope)

        # then: 石家庄's six, each with the certificate held (else the latest) and this year's hours
        rows = {r["姓名"]: r for r in table(open_book(path)["名册"], "姓名")}
        assert written == len(rows) == 6
        assert rows["张一"]["证件状态"] == "有效" and rows["张一"][f"{Y}年学时"] == 40
        assert rows["赵四"]["证件状态"] == "吊销"
        assert rows["王三"]["证件状态"] == "过期"
        assert rows["李二"]["证件状态"] == "无证" and not rows["李二"]["执法证号"]
        assert rows[FORMULA_NAME]["姓名"] == FORMULA_NAME
        assert all("*" in r["身份证号"] for r in rows.values())


# --- without the known years ------------------------------------------------------------------


def test_a_certificate_recorded_after_the_year_counts_as_valid_at_that_year_end(tmp_path, regions, province_admin):
    # given: a certificate issued (backdated) on 1 June 2024, its issue event recorded today
    holder = InspectorFactory(region=regions["changan"], name="补录")
    exams.certificate_issue(holder=holder, region=regions["sjz"], actor=province_admin, issued_on=dt.date(Y, 6, 1))

    # when
    rows = summary(write(tmp_path, actor=province_admin))

    # then: issued in 2024 and valid at its end
    assert rows["新发执法证"][f"{Y}年"] == 1
    assert rows["年末有效执法证"][f"{Y}年"] == 1
    assert rows["年末有效执法证"][f"{P}年"] == 0


def test_an_empty_scope_still_writes_every_sheet(tmp_path, regions, province_admin):
    # given: no data at all
    # when
    book = write(tmp_path, actor=province_admin)

    # then
    assert book.sheetnames == [
        "汇总",
        "分行业",
        "分地区",
        "分批次",
        "学时达标",
        "证件申请",
        "年审进度",
        "制卡",
        "评教",
        "评教(课程)",
        "明细",
        "_chart",
    ]
    rows = summary(book)
    assert rows["培训人次"][f"{Y}年"] == 0
    assert rows["结业率"][f"{Y}年"] is None
    assert rows["培训人次"]["同比"] is None
