"""An export whose worker dies mid-job is picked up again by another worker and finishes.

Needs a real broker and PostgreSQL (the worker process and the test share the test
database); under REQUIRE_SERVICES=1 (CI) their absence fails the test.
"""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import openpyxl
import pytest
from django.db import connection

from personnel.models import RegionLevel
from reports import services
from reports.models import ExportJob, ExportKind, ExportStatus
from tests.factories import InspectorFactory, RegionAdminFactory, RegionFactory

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def _worker(queue: str, tag: str, log_path: Path, **extra_env) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        # the worker must see the test database that pytest-django created
        "DATABASE_URL": f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }
    log = log_path.open("ab")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "-c",
            "1",
            "-l",
            "info",
            "-Q",
            queue,
            "-n",
            f"{tag}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _kill(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)


def _wait(predicate, timeout: float, what: str, log_path: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}; worker log:\n{log_path.read_text(errors='replace')[-4000:]}")


@pytest.mark.services("db", "broker")
@pytest.mark.django_db(transaction=True)
def test_export_survives_a_killed_worker(settings, tmp_path):
    # given: a little data, an admin, and an export job on a queue of our own
    province = RegionFactory(code="130000", name="河北省", level=RegionLevel.PROVINCE)
    city = RegionFactory(code="130100", name="石家庄市", level=RegionLevel.CITY, parent=province)
    InspectorFactory.create_batch(5, region=city)
    admin = RegionAdminFactory(user__username="prov", region=province).user
    queue = f"test-export-{uuid.uuid4().hex[:10]}"
    settings.EXPORT_QUEUE = queue
    settings.EXPORT_STALE_SECONDS = 3
    settings.MEDIA_ROOT = str(tmp_path / "media")
    log_path = tmp_path / "workers.log"
    slow = {"EXPORT_STEP_DELAY_SECONDS": "1", "EXPORT_STALE_SECONDS": "3", "DJANGO_MEDIA_ROOT": settings.MEDIA_ROOT}

    first = _worker(queue, f"first-{queue}", log_path, **slow)
    second = None
    try:
        job = services.export_job_create(
            actor=admin, kind=ExportKind.YEARLY_TOTALS, year=dt.date.today().year - 1, include_detail=True
        )

        # when: the first worker is killed while the job is running
        _wait(
            lambda: ExportJob.objects.filter(pk=job.pk, status=ExportStatus.RUNNING, progress__gt=0).exists(),
            90,
            "the first worker to start the job",
            log_path,
        )
        _kill(first)
        assert ExportJob.objects.get(pk=job.pk).status == ExportStatus.RUNNING

        # and another worker comes up, and the beat sweep (run here) finds the job stale
        second = _worker(
            queue, f"second-{queue}", log_path, EXPORT_STALE_SECONDS="3", DJANGO_MEDIA_ROOT=settings.MEDIA_ROOT
        )
        time.sleep(settings.EXPORT_STALE_SECONDS + 1)
        assert services.export_jobs_requeue_stale() == 1

        # then: the job completes, was run twice, and its file opens
        done = _wait(
            lambda: ExportJob.objects.filter(pk=job.pk, status=ExportStatus.DONE).first(),
            90,
            "the second worker to finish the job",
            log_path,
        )
        assert done.attempts == 2
        assert done.progress == 100
        with done.file.open("rb") as handle:
            workbook = openpyxl.load_workbook(handle, read_only=True)
            assert workbook.sheetnames[:2] == ["汇总", "分行业"]
    finally:
        _kill(first)
        if second is not None:
            _kill(second)
