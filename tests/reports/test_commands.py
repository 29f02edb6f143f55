"""The export commands on the known years, and the demo data read back through the workbook."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from personnel import demo
from tests.reports.conftest import FORMULA_NAME, P, Y, count_by_hand, open_book, table
from tests.reports.test_workbook import assert_figures, summary


def run(command, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


class TestOnTheKnownYears:
    """The known years of ``conftest.known``, built once for the class."""

    def test_export_yearly_totals_writes_the_whole_province(self, known, tmp_path):
        # given
        path = tmp_path / "out" / "2024.xlsx"

        # when
        out, err = run("export_yearly_totals", "--year", str(Y), "-o", str(path))

        # then: every sheet, figures equal to the independent count, a progress bar that ends
        book = open_book(path)
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
        assert_figures(rows, f"{Y}年", count_by_hand(year=Y, path="130000/"))
        assert_figures(rows, f"{P}年", count_by_hand(year=P, path="130000/"))
        assert "已导出" in out and "河北省 2024 年" in out
        assert "完成" in err and "100%" in err

    def test_a_region_and_no_detail(self, known, tmp_path):
        # given
        path = tmp_path / "sjz.xlsx"

        # when
        run("export_yearly_totals", "--year", str(Y), "--region", "130100", "--no-detail", "-o", str(path))

        # then
        book = open_book(path)
        assert "明细" not in book.sheetnames
        assert_figures(summary(book), f"{Y}年", count_by_hand(year=Y, path="130000/130100/"))

    def test_acting_as_a_city_admin_keeps_to_their_region(self, known, city_admin, tmp_path):
        # when / then: 石家庄's admin asking for 唐山 is refused, as for an unknown code
        with pytest.raises(CommandError, match="不存在或不在您的管辖范围内"):
            run(
                "export_yearly_totals",
                "--year",
                str(Y),
                "--region",
                "130200",
                "--as-user",
                "sjz_admin",
                "-o",
                str(tmp_path / "x.xlsx"),
            )
        with pytest.raises(CommandError, match="不存在或不在您的管辖范围内"):
            run("export_yearly_totals", "--year", str(Y), "--region", "139999", "-o", str(tmp_path / "x.xlsx"))
        with pytest.raises(CommandError, match="账号不存在"):
            run("export_roster", "--as-user", "nobody", "-o", str(tmp_path / "x.xlsx"))
        assert not (tmp_path / "x.xlsx").exists()

    def test_export_roster_writes_the_regions_inspectors(self, known, tmp_path):
        # given
        path = tmp_path / "roster.xlsx"

        # when
        out, _err = run("export_roster", "--year", str(Y), "--region", "130100", "-o", str(path))

        # then: 石家庄's six, the retired one included
        rows = table(open_book(path)["名册"], "姓名")
        assert {r["姓名"] for r in rows} == {"张一", "李二", "王三", "赵四", FORMULA_NAME, "周七"}
        assert "6 人" in out


def test_the_demo_year_read_back_matches_the_database(db, tmp_path, monkeypatch):
    """A reduced check of the demo: the report year seeded by ``seed_demo`` (300 inspectors,
    and without the exams step, which alone takes half a minute here; exam and certificate
    figures are checked on the known years) gives a 汇总 whose figures are the database's."""
    # given
    monkeypatch.setattr(demo, "STEPS", [(name, step) for name, step in demo.STEPS if name != "exams"])
    call_command("seed_demo", inspectors=300, stdout=io.StringIO())
    report_year = timezone.localdate().year - 1
    path = tmp_path / "demo.xlsx"

    # when
    run("export_yearly_totals", "--year", str(report_year), "--no-detail", "-o", str(path))

    # then: the headline shape (people took several batches; the three systems were taught)
    rows = summary(open_book(path))
    this_year = f"{report_year}年"
    assert rows["培训人次"][this_year] > rows["培训人数"][this_year] > 0
    assert rows["“三项制度”培训人次"][this_year] >= 1
    assert rows["培训人次"][this_year] > rows["培训人次"][f"{report_year - 1}年"]  # the demo grows
    # and every figure, both years, equals the independent count
    assert_figures(rows, this_year, count_by_hand(year=report_year, path="130000/"))
    assert_figures(rows, f"{report_year - 1}年", count_by_hand(year=report_year - 1, path="130000/"))
