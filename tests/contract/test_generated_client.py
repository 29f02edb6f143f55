"""A typed client generated from the served schema works against a live server.

openapi-python-client (pinned in requirements.txt) generates a package from ``/api/schema/``
into a temporary folder; every module of it must import, and a day's flow goes through it:
token login, a page of inspectors, a batch created, an inspector enrolled, scores entered on
a sitting's grid, an export created and its file downloaded, a certificate verified with no
login. Every response is the generated model the schema promised (not ``parsed=None``).
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib
import io
import json
import os
import pkgutil
import subprocess
import sys
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from exams import services as exams
from exams.models import ExamKind
from personnel.models import Region, RegionLevel
from tests.factories import InspectorFactory, RegionAdminFactory, RegionFactory, UserFactory
from training import services as training
from training.models import Topic

PASSWORD = "pass-Word-123"  # tests.factories.UserFactory


def _generate(schema: dict, where: Path) -> str:
    """Run the generator as a user would (its own process, the venv's executable)."""
    (where / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = where / "generated"
    command = [str(bin_dir / "openapi-python-client"), "generate", "--path", str(where / "schema.json")]
    # --meta none: the bare package (no pyproject), written where --output-path says
    command += ["--output-path", str(out / "inspector_training_api_client"), "--meta", "none"]
    run = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr
    return str(out)


@pytest.fixture
def eager_celery():
    """The export runs in-process whatever broker the environment names (no worker here)."""
    from config.celery import app

    before = {"task_always_eager": app.conf.task_always_eager, "task_eager_propagates": app.conf.task_eager_propagates}
    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(before)


@pytest.fixture
def world(transactional_db, settings, tmp_path, eager_celery):
    settings.MEDIA_ROOT = tmp_path / "media"
    province = RegionFactory(code="130000", name="河北省", level=RegionLevel.PROVINCE)
    city = RegionFactory(code="130100", name="石家庄市", level=RegionLevel.CITY, parent=province)
    county = RegionFactory(code="130102", name="长安区", level=RegionLevel.COUNTY, parent=city)
    admin = RegionAdminFactory(user__username="prov", region=province).user
    people = [InspectorFactory(name=f"检查员{i}", region=county) for i in range(3)]
    me = InspectorFactory(name="张晓明", region=county, user=UserFactory(username="inspector1"))
    course = training.course_save(
        actor=admin,
        data={"code": "F-1", "title": "三项制度", "topics": [Topic.PUBLICITY], "hours": Decimal("8")},
    )
    exam = exams.exam_create(
        actor=admin,
        title="年度考核",
        kind=ExamKind.ANNUAL,
        region=province,
        parts=[("通用", Decimal("40")), ("专门", Decimal("60"))],
    )
    sitting = exams.sitting_create(actor=admin, exam=exam, held_on=dt.date.today(), place="考点")
    certificate = exams.certificate_issue(holder=people[0], region=county, actor=admin, issued_on=dt.date.today())
    return {
        "admin": admin,
        "me": me,
        "course": course,
        "parts": list(exam.parts.order_by("order")),
        "sitting": sitting,
        "certificate": certificate,
        "province": province,
    }


def test_a_generated_client_imports_and_runs_the_flow(world, live_server, tmp_path, client):
    # given: a client generated from the schema the server serves
    schema = client.get("/api/schema/?format=json").json()
    sys.path.insert(0, _generate(schema, tmp_path))
    try:
        package = importlib.import_module("inspector_training_api_client")
        modules = [info.name for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
        for name in modules:
            importlib.import_module(name)
        _flow(world, live_server.url, package.__name__)
    finally:
        sys.path.pop(0)
        for name in [m for m in sys.modules if m.startswith("inspector_training_api_client")]:
            del sys.modules[name]
    assert len(modules) > 100


def _flow(world, base_url: str, pkg: str) -> None:
    def api(name):
        return importlib.import_module(f"{pkg}.api.v1.{name}")

    models = importlib.import_module(f"{pkg}.models")
    client_mod = importlib.import_module(pkg)

    # when: token login, anonymously
    anonymous = client_mod.Client(base_url=base_url)
    login = api("v1_auth_token_create").sync_detailed(
        client=anonymous, body=models.LoginRequest(username="prov", password=PASSWORD, name="contract")
    )
    # then
    assert login.status_code == 201 or login.status_code == 200, login.content
    assert isinstance(login.parsed, models.IssuedToken)
    authed = client_mod.AuthenticatedClient(base_url=base_url, token=login.parsed.token, prefix="Token")

    # a wrong password is the documented error envelope
    refused = api("v1_auth_token_create").sync_detailed(
        client=anonymous, body=models.LoginRequest(username="prov", password="wrong")
    )
    assert refused.status_code == 400
    assert isinstance(refused.parsed, models.ErrorEnvelope) and refused.parsed.code

    # inspectors, page by page
    first = api("v1_inspectors_list").sync_detailed(client=authed, page=1)
    assert isinstance(first.parsed, models.PaginatedInspectorOutputList), first.content
    assert first.parsed.count == 4 and len(first.parsed.results) == 4

    # a batch created, an inspector enrolled
    start = dt.date.today() + dt.timedelta(days=30)
    batch = api("v1_batches_create").sync_detailed(
        client=authed,
        body=models.BatchInputRequest(
            course=world["course"].code,
            region=world["province"].code,
            starts_on=start,
            ends_on=start + dt.timedelta(days=1),
            enrollment_deadline=start - dt.timedelta(days=5),
            capacity=3,
            status=models.BatchInputStatusEnum.OPEN,
        ),
    )
    assert isinstance(batch.parsed, models.BatchOutput), batch.content
    enrolled = api("v1_batches_enroll_create").sync_detailed(
        batch.parsed.id, client=authed, body=models.EnrollInputRequest(inspector=world["me"].pk)
    )
    assert isinstance(enrolled.parsed, models.EnrollmentOutput), enrolled.content
    again = api("v1_batches_enroll_create").sync_detailed(
        batch.parsed.id, client=authed, body=models.EnrollInputRequest(inspector=world["me"].pk)
    )
    assert again.status_code in (400, 409) and isinstance(again.parsed, models.ErrorEnvelope), again.content

    # scores entered on the sitting's grid
    sitting = world["sitting"]
    scores = models.GridRowInputRequestScores.from_dict({str(p.pk): "30" for p in world["parts"]})
    saved = api("v1_sittings_results_update").sync_detailed(
        sitting.pk, client=authed, body=[models.GridRowInputRequest(inspector=world["me"].pk, scores=scores)]
    )
    assert isinstance(saved.parsed, models.GridSaved), saved.content
    grid = api("v1_sittings_results_retrieve").sync_detailed(sitting.pk, client=authed)
    assert isinstance(grid.parsed, models.Grid), grid.content
    listed = api("v1_sittings_retrieve").sync_detailed(sitting.pk, client=authed)
    assert isinstance(listed.parsed, models.SittingOutput) and listed.parsed.batch is None, listed.content

    # an export created (run at once in tests) and its file downloaded as bytes
    job = api("v1_exports_create").sync_detailed(
        client=authed,
        body=models.ExportJobInputRequest(kind=models.ExportJobInputKindEnum.ROSTER, year=dt.date.today().year),
    )
    assert isinstance(job.parsed, models.ExportJob), job.content
    download = api("v1_exports_download_retrieve").sync_detailed(job.parsed.id, client=authed)
    assert download.status_code == 200, download.content
    data = download.parsed.payload.read()
    assert isinstance(data, bytes) and zipfile.is_zipfile(io.BytesIO(data))

    # a certificate verified with no login
    number = world["certificate"].number
    verify = importlib.import_module(f"{pkg}.api.certificates.certificates_verify")
    checked = verify.sync_detailed(number, client=anonymous)
    assert isinstance(checked.parsed, models.Verify), checked.content
    missing = api("v1_batches_retrieve").sync_detailed(999999, client=authed)
    assert missing.status_code == 404 and isinstance(missing.parsed, models.ErrorEnvelope)
    unauthenticated = api("v1_batches_list").sync_detailed(client=client_mod.AuthenticatedClient(base_url, "x"))
    assert unauthenticated.status_code == 401 and isinstance(unauthenticated.parsed, models.ErrorEnvelope)


def test_the_client_example_in_the_docs_works_as_written(world, live_server, tmp_path, client, capsys):
    # given: the docs' demo login, and their example with this server's address
    city = Region.objects.get(code="130100")  # the world's 石家庄市: its county's four and one more
    user = RegionAdminFactory(user__username="sjz_admin", region=city).user
    user.set_password("demo-pass-2024")
    user.save()
    InspectorFactory(name="王秀英", region=city)
    docs = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    section = docs.split("## Generated clients", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert 'base = "http://127.0.0.1:8000"' in example
    example = example.replace('base = "http://127.0.0.1:8000"', f'base = "{live_server.url}"')
    sys.path.insert(0, _generate(client.get("/api/schema/?format=json").json(), tmp_path))

    # when
    try:
        exec(compile(example, "docs/api.md", "exec"), {})  # noqa: S102 - the docs' own example
    finally:
        sys.path.pop(0)
        for name in [m for m in sys.modules if m.startswith("inspector_training_api_client")]:
            del sys.modules[name]

    # then
    count, names = capsys.readouterr().out.strip().split(" ", 1)
    assert (int(count), sorted(ast.literal_eval(names))) == (
        5,
        sorted(["王秀英", "张晓明", "检查员0", "检查员1", "检查员2"]),
    )
