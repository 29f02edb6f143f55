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

    # then: back on the list with a message, the job done, its link downloads the file
    assert response.status_code == 302 and response["Location"] == LIST
    job = ExportJob.objects.get()
    assert (job.requested_by, job.region.code, job.status) == (city_admin, "130102", ExportStatus.DONE)
    page = admin_as(city_admin).get(LIST).content.decode()
    assert "已提交导出任务" in page
    link = reverse("export-job-download", kwargs={"pk": job.pk})
    assert f'href="{link}"' in page
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
