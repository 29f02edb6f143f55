"""The export API: request a workbook, follow it, download it; who may see and download
which job; and the services behind the jobs (a failed run, takeover of a job whose worker
died, purge of old files). Times are frozen by passing ``now=``.

Tasks run eagerly (as on the embedded default). Outside a transactional test a job starts
only when the on-commit callbacks are run, so ``ask`` runs them after the request.
"""

import datetime as dt
import io
from urllib.parse import quote

import openpyxl
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.utils import timezone
from rest_framework.test import APIClient

from personnel import services as personnel
from personnel.models import RegionAdmin
from reports import services, xlsx
from reports.models import ExportJob, ExportKind, ExportStatus
from tests.factories import InspectorFactory

pytestmark = pytest.mark.usefixtures("eager_celery")

URL = "/api/v1/exports/"
ADMIN_LIST = "/admin/reports/exportjob/"
Y = 2024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def ask(client_for, django_capture_on_commit_callbacks):
    """POST an export request as ``user`` and let the worker run once the request commits."""

    def _ask(user, **body):
        body = {"kind": ExportKind.YEARLY_TOTALS, "year": Y, **body}
        with django_capture_on_commit_callbacks(execute=True):
            return client_for(user).post(URL, body, format="json")

    return _ask


def job_of(response) -> ExportJob:
    return ExportJob.objects.get(pk=response.data["id"])


def download(client, job_id):
    return client.get(f"{URL}{job_id}/download/")


def workbook_of(response) -> openpyxl.Workbook:
    # Reading the stream to its end closes the response the way a WSGI server would; an
    # extra close() would fire request_finished and close the test's database connection.
    content = b"".join(response.streaming_content)
    return openpyxl.load_workbook(io.BytesIO(content))


# --- requesting and downloading ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_job_is_done_when_the_post_returns_and_its_file_downloads(regions, city_admin, client_for):
    # given: someone to report on
    InspectorFactory(region=regions["changan"], name="张三")
    client = client_for(city_admin)

    # when: the request commits, the embedded worker runs the job at once
    response = client.post(URL, {"kind": "yearly_totals", "year": Y, "region": "130102"}, format="json")

    # then: 202 with the finished job
    assert response.status_code == 202, response.data
    body = response.data
    assert body["status"] == "done" and body["progress"] == 100 and body["error"] == ""
    assert body["kind"] == "yearly_totals" and body["region"] == "130102"
    assert body["params"] == {"year": Y, "region": "130102", "include_detail": True}
    assert body["finished_at"] is not None
    assert body["download_url"] == f"http://testserver{URL}{body['id']}/download/"
    assert response["Location"] == f"http://testserver{URL}{body['id']}/"

    # and the file downloads under its Chinese name, and opens
    got = download(client, body["id"])
    assert got.status_code == 200
    assert got["Content-Type"] == XLSX
    assert got["Content-Disposition"].startswith("attachment")
    assert quote(f"{Y}年长安区年度统计汇总.xlsx") in got["Content-Disposition"]
    book = workbook_of(got)
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
    assert [r[0] for r in book["学时达标"].iter_rows(min_row=3, values_only=True)] == ["张三"]


def test_a_client_asking_for_the_spreadsheet_type_gets_the_file_and_errors_as_json(
    regions, city_admin, ask, client_for
):
    # given
    job = job_of(ask(city_admin, kind="roster"))
    client = client_for(city_admin)

    # when
    found = client.get(f"{URL}{job.pk}/download/", HTTP_ACCEPT=XLSX)
    missing = client.get(f"{URL}999999/download/", HTTP_ACCEPT=XLSX)

    # then
    assert (found.status_code, found["Content-Type"]) == (200, XLSX)
    workbook_of(found)
    assert (missing.status_code, missing["Content-Type"]) == (404, "application/json")
    assert missing.json()["code"] == "not_found"


def test_a_roster_without_a_region_covers_the_admins_own_region(regions, city_admin, ask, client_for):
    # given
    InspectorFactory(region=regions["qiaoxi"], name="李四")
    InspectorFactory(region=regions["lunan"], name="唐山人")

    # when
    response = ask(city_admin, kind="roster", include_detail=False)

    # then: 石家庄's roster
    assert response.status_code == 202, response.data
    job = job_of(response)
    assert (job.region.code, job.status, job.filename) == (
        "130100",
        ExportStatus.DONE,
        f"{Y}年石家庄市执法人员名册.xlsx",
    )
    book = workbook_of(download(client_for(city_admin), job.pk))
    assert [r[0] for r in book["名册"].iter_rows(min_row=3, values_only=True)] == ["李四"]


def test_the_status_shows_the_job_and_its_download_link_once_done(regions, city_admin, ask, client_for):
    # given
    job = job_of(ask(city_admin))

    # when
    body = client_for(city_admin).get(f"{URL}{job.pk}/").data

    # then
    assert (body["status"], body["progress"], body["stage"]) == ("done", 100, "")
    assert body["download_url"].endswith(f"{URL}{job.pk}/download/")


def test_an_inspector_may_not_request_an_export(inspector_user, client_for):
    # when
    response = client_for(inspector_user).post(URL, {"kind": "yearly_totals", "year": Y}, format="json")

    # then
    assert response.status_code == 403
    assert response.data["code"] == "permission_denied"
    assert not ExportJob.objects.exists()


def test_another_citys_region_gets_the_same_answer_as_an_unknown_code(regions, city_admin, client_for):
    # when: 石家庄's admin names 唐山, then a code that does not exist
    client = client_for(city_admin)
    theirs = client.post(URL, {"kind": "yearly_totals", "year": Y, "region": "130200"}, format="json")
    unknown = client.post(URL, {"kind": "yearly_totals", "year": Y, "region": "139999"}, format="json")

    # then: 400 both, worded alike (only the code echoed differs); nothing queued
    assert theirs.status_code == unknown.status_code == 400
    assert theirs.data["code"] == unknown.data["code"] == "invalid"
    assert theirs.data["fields"] == unknown.data["fields"] == {"region": ["地区不存在或超出管辖范围。"]}
    assert theirs.data["detail"].replace("130200", "X") == unknown.data["detail"].replace("139999", "X")
    assert not ExportJob.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "yearly_totals", "year": 1999}, "year"),
        ({"kind": "everything", "year": Y}, "kind"),
        ({"kind": "yearly_totals"}, "year"),
    ],
)
def test_a_bad_kind_or_year_is_refused(regions, province_admin, client_for, body, field):
    # when
    response = client_for(province_admin).post(URL, body, format="json")

    # then
    assert response.status_code == 400
    assert field in response.data["fields"]
    assert not ExportJob.objects.exists()


# --- who sees and downloads which job -------------------------------------------------------------


@pytest.fixture
def jobs(regions, city_admin, other_city_admin, county_admin, ask):
    """One roster job each (the quickest kind): 石家庄's admin for 石家庄, 长安's admin for 长安,
    唐山's admin for 唐山."""
    return {
        "sjz": job_of(ask(city_admin, kind="roster")),
        "changan": job_of(ask(county_admin, kind="roster")),
        "ts": job_of(ask(other_city_admin, kind="roster")),
    }


def ids(response) -> set[int]:
    return {row["id"] for row in response.data["results"]}


def test_the_list_holds_own_jobs_and_those_inside_the_admins_region(
    jobs, province_admin, city_admin, county_admin, inspector_user, client_for
):
    # when / then
    assert ids(client_for(province_admin).get(URL)) == {j.pk for j in jobs.values()}
    assert ids(client_for(city_admin).get(URL)) == {jobs["sjz"].pk, jobs["changan"].pk}
    assert ids(client_for(county_admin).get(URL)) == {jobs["changan"].pk}
    assert ids(client_for(inspector_user).get(URL)) == set()


def test_admins_of_a_region_containing_the_scope_may_download(jobs, province_admin, city_admin, client_for):
    # when: the province and 石家庄 download 长安's job
    for user in (province_admin, city_admin):
        response = download(client_for(user), jobs["changan"].pk)

        # then
        assert response.status_code == 200
        workbook_of(response)


def test_others_get_the_same_404_as_for_an_unknown_job(
    jobs, city_admin, county_admin, other_city_admin, inspector_user, client_for
):
    # given: what an unknown job looks like
    unknown = client_for(city_admin).get(f"{URL}999999/download/")
    assert unknown.status_code == 404

    # when / then: 唐山's job for 石家庄; 石家庄's (a wider scope) for 长安; anything for an inspector
    for user, job in (
        (city_admin, jobs["ts"]),
        (other_city_admin, jobs["sjz"]),
        (county_admin, jobs["sjz"]),
        (inspector_user, jobs["changan"]),
    ):
        client = client_for(user)
        for url in (f"{URL}{job.pk}/", f"{URL}{job.pk}/download/"):
            response = client.get(url)
            assert (response.status_code, response.data) == (404, unknown.data), (user.username, url)


def test_anonymous_callers_are_refused(jobs):
    # when
    response = APIClient().get(f"{URL}{jobs['sjz'].pk}/download/")

    # then
    assert response.status_code == 401


# --- after the role changed: rights follow the role held now ------------------------------------------


def moved_to(user, region, superuser):
    """The superuser moves the admin's binding to another region (personnel.services)."""
    personnel.region_admin_assign(user=user, region=region, actor=superuser)


def binding_removed(user, superuser):
    personnel.region_admin_remove(binding=RegionAdmin.objects.get(user=user), actor=superuser)


def now_as(user) -> APIClient:
    """A client for the user as the database has them now (a request loads its user afresh)."""
    client = APIClient()
    client.force_authenticate(user=get_user_model().objects.get(pk=user.pk))
    return client


def assert_hidden(client, job, unknown):
    for url in (f"{URL}{job.pk}/", f"{URL}{job.pk}/download/"):
        response = client.get(url)
        assert (response.status_code, response.data) == (404, unknown.data), url
    assert job.pk not in ids(client.get(URL))


@pytest.fixture
def sjz_job(city_admin, ask):
    """A finished roster of 石家庄, made by 石家庄's admin ('sjz_admin'), downloadable by them."""
    job = job_of(ask(city_admin, kind="roster"))
    assert download(now_as(city_admin), job.pk).status_code == 200
    return job


def test_a_requester_moved_to_another_city_no_longer_gets_their_job(regions, sjz_job, city_admin, superuser, ask):
    # given: 石家庄's admin is moved to 唐山, where a job of 唐山 is waiting
    moved_to(city_admin, regions["ts"], superuser)
    ts_job = job_of(ask(get_user_model().objects.get(pk=city_admin.pk), kind="roster"))
    client = now_as(city_admin)
    unknown = client.get(f"{URL}999999/download/")

    # when / then: their 石家庄 job answers like one that does not exist, in list, detail and download
    assert_hidden(client, sjz_job, unknown)
    # and what their new region holds is theirs
    assert ids(client.get(URL)) == {ts_job.pk}
    assert download(client, ts_job.pk).status_code == 200


def test_a_requester_whose_binding_was_removed_gets_nothing(regions, sjz_job, city_admin, superuser):
    # given
    binding_removed(city_admin, superuser)
    client = now_as(city_admin)
    unknown = client.get(f"{URL}999999/download/")

    # when / then
    assert_hidden(client, sjz_job, unknown)
    assert ids(client.get(URL)) == set()


def test_an_inspector_who_was_an_admin_gets_nothing(regions, sjz_job, city_admin, superuser):
    # given: the admin role taken away, the login now an inspector's
    binding_removed(city_admin, superuser)
    inspector = InspectorFactory(region=regions["changan"])
    personnel.inspector_link_user(inspector=inspector, user=city_admin, actor=superuser)
    client = now_as(city_admin)
    unknown = client.get(f"{URL}999999/download/")

    # when / then
    assert_hidden(client, sjz_job, unknown)


def test_a_requester_moved_down_to_a_county_keeps_only_what_the_county_covers(regions, city_admin, superuser, ask):
    # given: 石家庄's admin made a job of 石家庄 and one of 长安区, then was moved to 长安区
    whole = job_of(ask(city_admin, kind="roster"))
    county = job_of(ask(city_admin, kind="roster", region="130102"))
    moved_to(city_admin, regions["changan"], superuser)
    client = now_as(city_admin)

    # when / then
    assert ids(client.get(URL)) == {county.pk}
    assert download(client, county.pk).status_code == 200
    assert download(client, whole.pk).status_code == 404


def test_the_admin_list_and_pages_follow_the_role_held_now(regions, sjz_job, city_admin, superuser, client):
    # given: the job is on 石家庄's admin list with its download link
    client.force_login(city_admin)
    change = f"/admin/reports/exportjob/{sjz_job.pk}/change/"
    link = f"{URL}{sjz_job.pk}/download/"
    assert client.get(ADMIN_LIST).context["cl"].result_count == 1
    assert client.get(change).status_code == 200

    # when: moved to 唐山
    moved_to(city_admin, regions["ts"], superuser)

    # then: not listed, its page answers "does not exist" (like a missing job), no download
    listed = client.get(ADMIN_LIST)
    assert listed.status_code == 200
    assert sjz_job.pk not in [job.pk for job in listed.context["cl"].result_list]
    assert link not in listed.content.decode()
    missing = client.get("/admin/reports/exportjob/999999/change/")
    assert (client.get(change).status_code, missing.status_code) == (302, 302)
    assert client.get(link).status_code == 404

    # when: the binding is removed altogether (the login stays, and stays staff)
    binding_removed(city_admin, superuser)

    # then: no export list at all, and still no file
    assert client.get(ADMIN_LIST).status_code == 403
    assert client.get(link).status_code == 404


def test_a_job_queued_by_someone_who_lost_the_region_is_not_built(regions, city_admin, superuser, client_for):
    # given: queued by 石家庄's admin, who is moved to 唐山 before the worker starts
    response = client_for(city_admin).post(URL, {"kind": "roster", "year": Y}, format="json")
    job = job_of(response)
    moved_to(city_admin, regions["ts"], superuser)

    # when
    services.export_job_run(job_id=job.pk)

    # then: failed with the reason, and no file was made
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED
    assert job.error == "申请人已不再管辖该地区，未生成导出文件。"
    assert not job.file


# --- not ready --------------------------------------------------------------------------------------


def test_a_job_not_yet_run_is_not_ready(regions, city_admin, client_for):
    # given: queued, its transaction not yet committed (the worker has not started)
    response = client_for(city_admin).post(URL, {"kind": "yearly_totals", "year": Y}, format="json")
    assert response.status_code == 202
    assert (response.data["status"], response.data["download_url"]) == ("queued", None)

    # when
    got = download(client_for(city_admin), response.data["id"])

    # then
    assert got.status_code == 409
    assert got.data["code"] == "not_ready"


def test_a_failed_job_records_its_error_and_is_not_ready(regions, city_admin, ask, client_for, monkeypatch):
    # given: the workbook writer breaks
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(xlsx, "yearly_workbook", broken)

    # when
    job = job_of(ask(city_admin))

    # then
    assert job.status == ExportStatus.FAILED
    assert job.error == "RuntimeError: disk full"
    assert not job.file
    body = client_for(city_admin).get(f"{URL}{job.pk}/").data
    assert (body["status"], body["error"], body["download_url"]) == ("failed", "RuntimeError: disk full", None)
    assert download(client_for(city_admin), job.pk).data["code"] == "not_ready"


# --- purge, requeue, rerun ------------------------------------------------------------------------


def test_purge_deletes_files_past_the_retention_and_keeps_the_job(regions, city_admin, ask, client_for):
    # given: a finished job
    job = job_of(ask(city_admin))
    name = job.file.name
    assert default_storage.exists(name)
    retention = dt.timedelta(days=settings.EXPORT_RETENTION_DAYS)

    # when: a day before the retention ends, then a day after
    before = services.export_jobs_purge(now=job.finished_at + retention - dt.timedelta(days=1))
    after = services.export_jobs_purge(now=job.finished_at + retention + dt.timedelta(days=1))

    # then: the file is gone, the job stays as history, its download is not ready
    assert (before, after) == (0, 1)
    assert not default_storage.exists(name)
    job.refresh_from_db()
    assert (job.status, job.file.name, job.stage) == (ExportStatus.DONE, "", "expired")
    body = client_for(city_admin).get(f"{URL}{job.pk}/").data
    assert body["download_url"] is None
    response = download(client_for(city_admin), job.pk)
    assert (response.status_code, response.data["code"]) == (409, "not_ready")


def test_a_job_whose_message_was_lost_is_queued_again_once_stale(regions, city_admin, client_for):
    # given: a job whose start never came (its commit callbacks never ran)
    job = job_of(client_for(city_admin).post(URL, {"kind": "yearly_totals", "year": Y}, format="json"))
    stale = dt.timedelta(seconds=settings.EXPORT_STALE_SECONDS)

    # when: before it counts as stale, then after
    early = services.export_jobs_requeue_stale(now=job.created_at + stale - dt.timedelta(seconds=1))
    job.refresh_from_db()
    status_then = job.status
    late = services.export_jobs_requeue_stale(now=job.created_at + stale + dt.timedelta(seconds=1))

    # then: handed to a worker once, and it finished
    assert (early, status_then, late) == (0, ExportStatus.QUEUED, 1)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.progress) == (ExportStatus.DONE, 1, 100)


def test_a_running_job_whose_worker_died_is_taken_over_and_finishes(regions, city_admin, client_for):
    # given: a job a worker claimed and then stopped reporting on an hour ago
    job = job_of(client_for(city_admin).post(URL, {"kind": "yearly_totals", "year": Y}, format="json"))
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportStatus.RUNNING, attempts=1, progress=45, heartbeat_at=an_hour_ago, started_at=an_hour_ago
    )

    # when
    requeued = services.export_jobs_requeue_stale(now=timezone.now())

    # then: a second attempt finished it and the file opens
    assert requeued == 1
    job.refresh_from_db()
    assert (job.status, job.attempts, job.progress) == (ExportStatus.DONE, 2, 100)
    workbook_of(download(client_for(city_admin), job.pk))


def test_a_running_job_with_a_live_worker_is_left_alone(regions, city_admin, client_for):
    # given: a worker reported a moment ago
    job = job_of(client_for(city_admin).post(URL, {"kind": "yearly_totals", "year": Y}, format="json"))
    now = timezone.now()
    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.RUNNING, attempts=1, heartbeat_at=now)

    # when
    requeued = services.export_jobs_requeue_stale(now=now)
    rerun = services.export_job_run(job_id=job.pk)

    # then: not requeued, and a second delivery of its message backs off
    assert requeued == 0
    assert rerun == services.BUSY
    job.refresh_from_db()
    assert (job.status, job.attempts) == (ExportStatus.RUNNING, 1)


def test_running_a_finished_job_again_changes_nothing(regions, city_admin, ask):
    # given
    job = job_of(ask(city_admin))
    name, finished = job.file.name, job.finished_at

    # when: its message is delivered again (acks_late after a crash)
    again = services.export_job_run(job_id=job.pk)

    # then
    assert again is None
    job.refresh_from_db()
    assert (job.file.name, job.finished_at, job.attempts) == (name, finished, 1)


def test_a_queued_job_is_sent_again_once_per_stale_period_not_every_sweep(regions, city_admin, client_for, monkeypatch):
    # given: a job still waiting on a slow queue (the sends are recorded, not run)
    sent = []
    monkeypatch.setattr(services, "dispatch", sent.append)
    job = job_of(client_for(city_admin).post(URL, {"kind": "yearly_totals", "year": Y}, format="json"))
    stale = dt.timedelta(seconds=settings.EXPORT_STALE_SECONDS)
    late = job.created_at + stale + dt.timedelta(seconds=1)
    # when: the sweep runs every minute
    counts = [services.export_jobs_requeue_stale(now=late + dt.timedelta(seconds=60 * i)) for i in range(3)]
    # then: sent when it became stale, and not again until a stale period later
    # (the creation's own send is a commit callback, which never runs inside a test transaction)
    assert counts[0] == 1
    assert counts[1] == (1 if settings.EXPORT_STALE_SECONDS < 60 else 0)
    assert sent.count(job.pk) == sum(counts)
