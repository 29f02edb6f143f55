"""The enrollment detail as CSV (export kind ``enrollment_detail``, the command's
``--detail-csv``), read back with the csv module against the known years of
``conftest.known`` and an independent list of the year's enrollments."""

import csv
import datetime as dt
import io
import re
from collections import Counter
from urllib.parse import quote

import pytest
from django.core.management import CommandError

from personnel.models import Region, Sector
from reports import detail_csv, figures, xlsx
from reports.models import ExportJob, ExportKind, ExportStatus
from tests.factories import UserFactory
from tests.reports.conftest import FORMULA_NAME, Y, build_known, open_book, table
from tests.reports.test_commands import run
from training.models import Enrollment, EnrollmentStatus

URL = "/api/v1/exports/"
BOM = b"\xef\xbb\xbf"
HEADERS = [
    "年度",
    "批次",
    "课程",
    "组织单位",
    "开始日期",
    "结束日期",
    "姓名",
    "身份证号",
    "所属地区",
    "行业",
    "状态",
    "认定学时",
]


def read_csv(data: bytes) -> list[list[str]]:
    """The file's lines (the header first), decoded as Excel would with the BOM."""
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def write(tmp_path, *, code: str, year: int = Y, progress=None) -> bytes:
    path = tmp_path / f"{code}.csv"
    scope = figures.Scope(region=Region.objects.get(code=code), year=year)
    detail_csv.write_file(path, scope=scope, **({"progress": progress} if progress else {}))
    return path.read_bytes()


def by_hand(*, year: int, path: str) -> list[list[str]]:
    """Every enrollment of ``year`` of inspectors under ``path``, in Python over all rows, as
    the CSV should show it (formula-looking names quoted)."""
    out = []
    for e in Enrollment.objects.select_related("batch__course", "batch__region", "inspector__region"):
        person = e.inspector
        if e.batch.year != year or not person.region.path.startswith(path):
            continue
        nid = person.national_id
        name = "'" + person.name if person.name.startswith("=") else person.name
        out.append(
            [
                str(e.batch.year),
                str(e.batch.number),
                e.batch.course.title,
                e.batch.region.name,
                e.batch.starts_on.strftime("%Y-%m-%d"),
                e.batch.ends_on.strftime("%Y-%m-%d"),
                name,
                nid[:4] + "*" * 10 + nid[-4:],
                person.region.name,
                str(Sector(person.sector).label),
                str(EnrollmentStatus(e.status).label),
                f"{e.hours_credited:.1f}",
            ]
        )
    return out


class TestKnownYears:
    """The known years, built once for the class."""

    def test_the_csv_holds_every_enrollment_of_the_year_in_scope(self, tmp_path, known):
        # given: 石家庄's enrollments of 2024, listed by hand
        expected = by_hand(year=Y, path="130000/130100/")

        # when
        lines = read_csv(write(tmp_path, code="130100"))

        # then: the sheet's headers, then one line per enrollment, none more, none lost
        assert lines[0] == HEADERS == [label for label, _width in xlsx.DETAIL_HEADERS]
        rows = lines[1:]
        assert len(rows) == len(expected) == 8
        assert Counter(map(tuple, rows)) == Counter(map(tuple, expected))
        # and a few rows read as a person would: A's second batch; B, waitlisted there, cancelled
        # when the batch completed; C in the cancelled batch, no hours
        by_key = {(r[6], r[1]): dict(zip(HEADERS, r, strict=True)) for r in rows}
        a2 = by_key[("张一", str(known["batches"]["b2"].number))]
        assert (a2["课程"], a2["组织单位"], a2["开始日期"], a2["结束日期"]) == (
            "安全生产执法业务培训",
            "石家庄市",
            "2024-06-03",
            "2024-06-04",
        )
        assert (a2["所属地区"], a2["行业"], a2["状态"], a2["认定学时"]) == ("长安区", "煤矿", "已结业", "24.0")
        assert re.fullmatch(r"\d{4}\*{10}[\dX]{4}", a2["身份证号"])
        assert by_key[("李二", str(known["batches"]["b2"].number))]["状态"] == "已取消"
        assert by_key[("王三", str(known["batches"]["b4"].number))]["认定学时"] == "0.0"

    def test_other_regions_and_years_are_left_out(self, tmp_path, known):
        # when
        rows = read_csv(write(tmp_path, code="130100"))[1:]

        # then: no 唐山 people (钱五, 孙六), no 2023 line; 唐山 alone has just its own
        assert {r[8] for r in rows} <= {"长安区", "桥西区", "石家庄市"}
        assert not {"钱五", "孙六"} & {r[6] for r in rows}
        assert {r[0] for r in rows} == {str(Y)}
        ts = read_csv(write(tmp_path, code="130200"))[1:]
        assert sorted(map(tuple, ts)) == sorted(map(tuple, by_hand(year=Y, path="130000/130200/")))
        assert {r[6] for r in ts} == {"钱五", "孙六"}

    def test_the_file_starts_with_a_bom_and_is_utf8(self, tmp_path, known):
        # when
        data = write(tmp_path, code="130000")

        # then: Excel sees UTF-8 (the BOM) and the Chinese headers after it
        assert data.startswith(BOM + "年度,批次,课程".encode())
        assert data.count(BOM) == 1
        assert data.endswith(b"\r\n")

    def test_a_name_that_looks_like_a_formula_is_quoted(self, tmp_path, known):
        # given: an inspector named =HYPERLINK("x")
        # when
        rows = read_csv(write(tmp_path, code="130000"))[1:]

        # then: the name comes back with a single quote in front, and no cell starts a formula
        names = [r[6] for r in rows]
        assert "'" + FORMULA_NAME in names and FORMULA_NAME not in names
        assert not [cell for r in rows for cell in r if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]

    def test_the_csv_shows_what_the_detail_sheet_shows(self, tmp_path, known, province_admin):
        # given: the province's workbook, its 明细 sheet
        path = tmp_path / "book.xlsx"
        scope = figures.Scope(region=Region.objects.get(code="130000"), year=Y)
        xlsx.yearly_workbook(str(path), scope=scope, actor=province_admin)
        sheet = table(open_book(path)["明细"], "年度")

        # when
        rows = read_csv(write(tmp_path, code="130000"))[1:]

        # then: the same rows in the same order, cell by cell (the sheet's dates and numbers as text)
        def shown(header, value):
            if isinstance(value, dt.datetime):
                return value.date().isoformat()
            if header == "认定学时":
                return f"{value:.1f}"
            if value == FORMULA_NAME:
                return "'" + value
            return str(value)

        assert [[shown(h, row[h]) for h in HEADERS] for row in sheet] == rows
        assert len(rows) == Enrollment.objects.filter(batch__year=Y).count() == 12

    def test_no_row_limit_and_progress_to_the_end(self, tmp_path, known, monkeypatch):
        # given: sheets of 6 rows, which split the 明细 sheet in three
        monkeypatch.setattr(xlsx, "EXCEL_MAX_ROWS", 6)
        seen = []

        # when
        rows = read_csv(write(tmp_path, code="130000", progress=lambda fraction, stage: seen.append(fraction)))

        # then: one file, every enrollment; the progress only goes forward and ends at 100%
        assert len(rows) == 1 + 12
        assert seen == sorted(seen) and seen[-1] == 1.0

    def test_an_empty_year_has_the_header_alone(self, tmp_path, known):
        # when
        lines = read_csv(write(tmp_path, code="130000", year=2019))

        # then
        assert lines == [HEADERS]

    def test_the_command_writes_the_csv(self, tmp_path, known):
        # given
        path = tmp_path / "out" / "sjz.csv"

        # when
        out, err = run("export_yearly_totals", "--year", str(Y), "--region", "130100", "--detail-csv", "-o", str(path))

        # then: the region's enrollments, a progress bar that ends, the count in the summary
        data = path.read_bytes()
        assert data.startswith(BOM)
        assert sorted(map(tuple, read_csv(data)[1:])) == sorted(map(tuple, by_hand(year=Y, path="130000/130100/")))
        assert "已导出" in out and "石家庄市 2024 年" in out and "enrollments 8" in out
        assert "100%" in err

    def test_the_command_refuses_csv_without_detail(self, tmp_path, known):
        # when / then: --no-detail and --detail-csv contradict each other
        with pytest.raises(CommandError, match="not allowed with argument"):
            run("export_yearly_totals", "--year", str(Y), "--no-detail", "--detail-csv", "-o", str(tmp_path / "x.csv"))
        assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+86 138", "'+86 138"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("张=三", "张=三"),
        ("", ""),
    ],
)
def test_text_a_spreadsheet_would_read_as_a_formula_is_quoted(text, written):
    assert detail_csv.safe_text(text) == written


@pytest.mark.services("db")
@pytest.mark.django_db(transaction=True)
def test_the_csv_is_the_same_read_in_a_reader_thread_or_inline(tmp_path, settings, regions):
    """On PostgreSQL, outside a transaction, the rows come from a reader thread."""
    # given: the known years, committed
    build_known(actor=UserFactory(username="report_builder", is_staff=True, is_superuser=True), regions=regions)
    threads = []
    real = detail_csv.Pipeline

    class Recorded(real):
        def __exit__(self, *exc_info):
            threads.append(self.parallel)
            return super().__exit__(*exc_info)

    # when: the same file both ways
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(detail_csv, "Pipeline", Recorded)
        parallel = write(tmp_path, code="130000")
        settings.REPORTS_PARALLEL_READS = False
        inline = write(tmp_path, code="130000")

    # then: byte for byte, every enrollment of the year
    assert threads == [True, False]
    assert parallel == inline
    assert len(read_csv(parallel)) == 1 + Enrollment.objects.filter(batch__year=Y).count() == 13


# --- the export job ---------------------------------------------------------------------------------


@pytest.fixture
def ask(client_for, django_capture_on_commit_callbacks):
    """POST an export request as ``user`` and let the worker run once the request commits."""

    def _ask(user, **body):
        body = {"kind": ExportKind.ENROLLMENT_DETAIL, "year": Y, **body}
        with django_capture_on_commit_callbacks(execute=True):
            return client_for(user).post(URL, body, format="json")

    return _ask


def content_of(response) -> bytes:
    # Read to the end, as in test_exports_api (no extra close()).
    return b"".join(response.streaming_content)


@pytest.mark.usefixtures("eager_celery")
class TestTheExportJob:
    """The API and the admin page on the known years."""

    def test_the_api_runs_the_job_and_the_requester_downloads_the_csv(self, known, city_admin, ask, client_for):
        # when: 石家庄's admin asks without naming a region
        response = ask(city_admin)

        # then: 202; the job, once the request committed, done and named after the year and the region
        assert response.status_code == 202, response.data
        body = client_for(city_admin).get(f"{URL}{response.data['id']}/").data
        assert (body["kind"], body["status"], body["progress"], body["region"]) == (
            "enrollment_detail",
            "done",
            100,
            "130100",
        )
        assert body["filename"] == f"{Y}年石家庄市报名明细.csv"
        assert body["download_url"].endswith(f"{URL}{body['id']}/download/")

        # and the download is the CSV, as text/csv in UTF-8
        got = client_for(city_admin).get(f"{URL}{body['id']}/download/")
        assert got.status_code == 200
        assert got["Content-Type"] == "text/csv; charset=utf-8"
        assert quote(f"{Y}年石家庄市报名明细.csv") in got["Content-Disposition"]
        data = content_of(got)
        assert data.startswith(BOM)
        assert sorted(map(tuple, read_csv(data)[1:])) == sorted(map(tuple, by_hand(year=Y, path="130000/130100/")))

    def test_another_city_admin_gets_404_and_an_inspector_403(
        self, known, city_admin, other_city_admin, inspector_user, ask, client_for
    ):
        # given
        job = ExportJob.objects.get(pk=ask(city_admin).data["id"])

        # when
        theirs = client_for(other_city_admin).get(f"{URL}{job.pk}/download/")
        status = client_for(other_city_admin).get(f"{URL}{job.pk}/")
        refused = ask(inspector_user)
        elsewhere = ask(city_admin, region="130200")

        # then: 唐山's admin sees nothing; an inspector may not export; 唐山 is outside 石家庄
        assert (theirs.status_code, status.status_code) == (404, 404)
        assert refused.status_code == 403
        assert elsewhere.status_code == 400 and elsewhere.data["fields"] == {"region": ["地区不存在或超出管辖范围。"]}
        assert ExportJob.objects.count() == 1

    def test_running_a_finished_job_again_changes_nothing(self, known, city_admin, ask):
        # given
        job = ExportJob.objects.get(pk=ask(city_admin).data["id"])
        name, finished = job.file.name, job.finished_at
        assert name.endswith(".csv")

        # when: its message is delivered again
        from reports import services

        again = services.export_job_run(job_id=job.pk)

        # then
        assert again is None
        job.refresh_from_db()
        assert (job.status, job.file.name, job.finished_at, job.attempts) == (ExportStatus.DONE, name, finished, 1)

    def test_the_admin_page_offers_the_csv_and_recommends_it(
        self, known, city_admin, client, django_capture_on_commit_callbacks
    ):
        # given
        client.force_login(city_admin)

        # when
        page = client.get("/admin/reports/exportjob/new/").content.decode()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/admin/reports/exportjob/new/", {"kind": "enrollment_detail", "year": Y, "region": "130102"}
            )

        # then: the kind is offered, the hint is there, and the job ran for 长安区
        assert '<option value="enrollment_detail">报名明细（CSV）</option>' in page
        assert "报名明细（CSV）”导出明细" in page
        assert response.status_code == 302
        job = ExportJob.objects.get()
        assert (job.kind, job.region.code, job.status) == ("enrollment_detail", "130102", ExportStatus.DONE)
        assert job.filename == f"{Y}年长安区报名明细.csv"
