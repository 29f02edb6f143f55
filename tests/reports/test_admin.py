"""The reports admin: the export page, the scoped read-only list of past jobs with
download links, and the box on the admin index."""

import io
import re

import openpyxl
import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from reports.models import ExportJob, ExportStatus
from tests.factories import InspectorFactory, UserFactory

pytestmark = pytest.mark.usefixtures("eager_celery")

NEW = "/admin/reports/exportjob/new/"
LIST = "/admin/reports/exportjob/"


@pytest.fixture
def admin_as(client):
    def _as(user):
        client.force_login(user)
        return client

    return _as


@pytest.fixture
def submit(admin_as, django_capture_on_commit_callbacks):
    """Submit the export form as ``user``; the job runs once the request commits."""

    def _submit(user, **fields):
        data = {"kind": "yearly_totals", "year": 2024, "region": "130100", "include_detail": "on", **fields}
        with django_capture_on_commit_callbacks(execute=True):
            return admin_as(user).post(NEW, data)

    return _submit


def options(html: str, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}".*?</select>', html, re.S).group(0)
    return re.findall(r'<option value="([^"]*)"', select)


def test_the_export_page_offers_the_admins_own_regions_and_last_year(admin_as, city_admin):
    # when
    response = admin_as(city_admin).get(NEW)

    # then: 石家庄 and its counties, 石家庄 chosen; last year; detail on
    assert response.status_code == 200
    html = response.content.decode()
    assert options(html, "region") == ["130100", "130102", "130104"]
    assert '<option value="130100" selected>' in html
    assert f'name="year" value="{timezone.localdate().year - 1}"' in html
    assert re.search(r'name="include_detail"[^>]*checked', html)


def test_submitting_queues_the_job_and_lists_it_with_a_download_link(admin_as, submit, city_admin, regions):
    # given
    InspectorFactory(region=regions["changan"], name="张三")

    # when
    response = submit(city_admin, region="130102")

    # then: on the job's page with a message, the job done, its link downloads the file
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{LIST}{job.pk}/change/"
    assert (job.requested_by, job.region.code, job.status) == (city_admin, "130102", ExportStatus.DONE)
    page = admin_as(city_admin).get(response["Location"]).content.decode()
    assert "已提交导出任务" in page
    link = reverse("export-job-download", kwargs={"pk": job.pk})
    assert f'href="{link}"' in page
    assert f'href="{link}"' in admin_as(city_admin).get(LIST).content.decode()
    got = admin_as(city_admin).get(link)  # the session is enough for the API
    assert got.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(b"".join(got.streaming_content)))
    assert "汇总" in book.sheetnames


def test_a_region_outside_the_scope_is_refused_on_the_form(submit, city_admin):
    # when: a tampered form names 唐山
    response = submit(city_admin, region="130200")

    # then
    assert response.status_code == 200
    assert response.context["form"].errors["region"]
    assert not ExportJob.objects.exists()


def test_a_year_out_of_range_is_shown_on_the_form(submit, city_admin):
    # when
    response = submit(city_admin, year=1990)

    # then: the service's refusal lands on the year field
    assert response.status_code == 200
    assert response.context["form"].errors["year"] == ["年度超出范围。"]
    assert not ExportJob.objects.exists()


def test_the_list_is_scoped_and_read_only(admin_as, submit, city_admin, other_city_admin):
    # given: a job of each city
    submit(city_admin, region="130100", kind="roster")
    submit(other_city_admin, region="130200", kind="roster")
    mine, theirs = ExportJob.objects.get(region__code="130100"), ExportJob.objects.get(region__code="130200")
    client = admin_as(city_admin)

    # when
    page = client.get(LIST).content.decode()

    # then: only 石家庄's job; no add, no edit
    assert f"/api/v1/exports/{mine.pk}/download/" in page
    assert f"/api/v1/exports/{theirs.pk}/download/" not in page
    assert f'href="{NEW}"' in page  # the export page stands in for "add"
    assert client.get(f"{LIST}add/").status_code == 403
    detail = client.get(f"{LIST}{mine.pk}/change/")
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    assert client.get(f"{LIST}{theirs.pk}/change/").status_code == 302  # admin's "not found": back to the index


def test_only_region_admins_get_to_the_export_page(client, admin_as, inspector_user):
    # given: an inspector, and a staff account bound to no region
    staff = UserFactory(username="staff_only", is_staff=True)

    # when / then
    assert admin_as(inspector_user).get(NEW).status_code == 302  # to the admin login
    assert admin_as(staff).get(NEW).status_code == 403


def test_the_admin_index_links_to_the_export_page_and_the_overview(admin_as, city_admin):
    # when
    page = admin_as(city_admin).get("/admin/").content.decode()

    # then
    assert 'id="reports-links"' in page
    assert f'href="{NEW}"' in page
    try:
        overview = reverse("reports:overview")
    except NoReverseMatch:  # the overview page is not there (yet): no link, no error
        overview = None
    if overview:
        assert f'href="{overview}"' in page


def test_the_index_box_is_not_shown_to_staff_without_a_region(admin_as, db):
    # when
    page = admin_as(UserFactory(username="staff_only", is_staff=True)).get("/admin/").content.decode()

    # then
    assert 'id="reports-links"' not in page


# --- the export page pre-filled from the overview's link -------------------------------------------


def selected(html: str, name: str) -> str | None:
    select = re.search(rf'<select name="{name}".*?</select>', html, re.S).group(0)
    chosen = re.search(r'<option value="([^"]*)" selected>', select)
    return chosen.group(1) if chosen else None


def test_the_export_page_takes_year_and_region_from_the_query(admin_as, city_admin):
    # when: the overview's link for 长安区 in 2023 (and a link naming the roster)
    html = admin_as(city_admin).get(NEW, {"year": 2023, "region": "130102"}).content.decode()
    roster = admin_as(city_admin).get(NEW, {"kind": "roster", "region": "130104"}).content.decode()

    # then: chosen, nothing to complain about
    assert selected(html, "region") == "130102"
    assert 'name="year" value="2023"' in html
    assert selected(html, "kind") == "yearly_totals"
    assert "errornote" not in html
    assert (selected(roster, "kind"), selected(roster, "region")) == ("roster", "130104")


@pytest.mark.parametrize(
    ("query", "note"),
    [
        ({"region": "130200"}, "不存在或不在您的管辖范围内"),  # 唐山: another city's
        ({"region": "999999"}, "不存在或不在您的管辖范围内"),  # no such region: the same words
        ({"region": "13\x000100"}, "不存在或不在您的管辖范围内"),
        ({"year": "abc"}, "年度必须是数字"),
        ({"year": "1990"}, "年度应在 2000"),
    ],
)
def test_a_bad_value_in_the_query_falls_back_to_the_default_with_a_note(admin_as, city_admin, query, note):
    # when
    response = admin_as(city_admin).get(NEW, query)

    # then: the page, not an error; the admin's own region and last year; a note says why
    assert response.status_code == 200
    html = response.content.decode()
    assert selected(html, "region") == "130100"
    assert f'name="year" value="{timezone.localdate().year - 1}"' in html
    assert note in html


# --- the job's page ------------------------------------------------------------------------------


def _job(user, region, status, **fields):
    return ExportJob.objects.create(
        kind="yearly_totals",
        params={"year": 2025, "region": region.code, "include_detail": False},
        region=region,
        requested_by=user,
        status=status,
        **fields,
    )


def test_the_job_page_states_the_parameters_in_words(admin_as, city_admin, regions):
    # given
    job = _job(city_admin, regions["sjz"], ExportStatus.DONE)

    # when
    html = admin_as(city_admin).get(f"{LIST}{job.pk}/change/").content.decode()

    # then: words with the labels, not the stored JSON
    assert "年度 2025，范围 石家庄市（130100），类型 年度统计汇总，不含报名明细" in html
    assert "include_detail" not in html and "{&quot;year" not in html


@pytest.mark.parametrize("status", [ExportStatus.QUEUED, ExportStatus.RUNNING])
def test_the_job_page_reloads_itself_while_the_job_works(admin_as, city_admin, regions, status):
    # given
    job = _job(city_admin, regions["sjz"], status, progress=40)

    # when
    html = admin_as(city_admin).get(f"{LIST}{job.pk}/change/").content.decode()

    # then: a reload every 3 seconds, and the progress so far
    assert '<meta http-equiv="refresh" content="3">' in html
    assert "40" in html and 'id="export-refreshing"' in html


@pytest.mark.parametrize("status", [ExportStatus.DONE, ExportStatus.FAILED])
def test_a_finished_job_page_stays_still(admin_as, city_admin, regions, status):
    # given
    job = _job(city_admin, regions["sjz"], status)

    # when
    html = admin_as(city_admin).get(f"{LIST}{job.pk}/change/").content.decode()

    # then
    assert 'http-equiv="refresh"' not in html
    assert 'id="export-refreshing"' not in html


def test_another_citys_job_page_is_not_shown(admin_as, city_admin, other_city_admin, regions):
    # given: a running job of 唐山
    job = _job(other_city_admin, regions["ts"], ExportStatus.RUNNING)

    # when
    response = admin_as(city_admin).get(f"{LIST}{job.pk}/change/")

    # then: the admin's "not found" (back to the index), no refresh loop
    assert response.status_code == 302
