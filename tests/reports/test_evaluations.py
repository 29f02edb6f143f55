"""评教 figures (training.evaluations, rolled up in reports.figures) read from every surface: the
API, the batch's admin page, the workbook's 评教 sheets and the overview page, stored and live."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from personnel.models import Region
from reports import figures, selectors, services, xlsx
from tests.factories import InspectorFactory, UserFactory
from tests.reports.conftest import open_book, table
from tests.training.factories import BatchFactory, CourseFactory, EnrollmentFactory
from training.evaluations import batch_evaluation_figures, evaluation_submit
from training.models import BatchStatus, EnrollmentStatus

S = EnrollmentStatus
ENDED = timezone.localdate() - dt.timedelta(days=5)
YEAR = (ENDED - dt.timedelta(days=1)).year

# (batch, region, course, scores of those who rated, completers who did not, no-shows)
PLAN = {
    "sjz": ("sjz", "C-A", [(5, 5, 4), (4, 3, 4), (3, 5, 2)], 1, 1),
    "changan": ("changan", "C-A", [(2, 3, 3)], 1, 0),
    "ts": ("ts", "C-B", [(5, 5, 5)], 0, 0),
    "province": ("province", "C-B", [], 2, 0),
}


@pytest.fixture
def rated(regions):
    """Four batches of the year ended five days ago, organised by 石家庄, 长安区, 唐山 and the
    province, rated as PLAN says (the participants live in 长安区, whoever organised)."""
    batches = {}
    n = 0
    for key, (region, course, scores, silent, absent) in PLAN.items():
        batch = BatchFactory(
            course=CourseFactory(code=course, title=f"课程{course}"),
            region=regions[region],
            starts_on=ENDED - dt.timedelta(days=1),
            ends_on=ENDED,
            status=BatchStatus.COMPLETED,
        )
        for content, trainer, organisation in scores:
            n += 1
            user = UserFactory(username=f"rater{n}")
            person = InspectorFactory(region=regions["changan"], user=user)
            enrollment = EnrollmentFactory(batch=batch, inspector=person, status=S.COMPLETED)
            evaluation_submit(
                enrollment=enrollment, actor=user, content=content, trainer=trainer, organisation=organisation
            )
        for _ in range(silent):
            EnrollmentFactory(batch=batch, inspector=InspectorFactory(region=regions["changan"]), status=S.COMPLETED)
        for _ in range(absent):
            EnrollmentFactory(batch=batch, inspector=InspectorFactory(region=regions["changan"]), status=S.NO_SHOW)
        batches[key] = batch
    return batches


def _scope(code: str) -> figures.Scope:
    return figures.Scope(region=Region.objects.get(code=code), year=YEAR)


def _plain(row: dict) -> tuple:
    return tuple(
        row[k] for k in ("completers", "evaluations", "response_rate", "content", "trainer", "organisation", "overall")
    )


def test_per_region_rolls_up_the_organisers(rated):
    rows = {row["label"]: row for row in figures.evaluations_by_region(_scope("130000"))}

    assert list(rows) == ["河北省本级", "石家庄市", "唐山市", "合计"]
    # 石家庄市 = its own batch and 长安区's: 6 completers, 4 evaluations
    assert _plain(rows["石家庄市"]) == (6, 4, 0.6667, 3.5, 4.0, 3.25, 3.58)
    assert _plain(rows["唐山市"]) == (1, 1, 1.0, 5.0, 5.0, 5.0, 5.0)
    assert _plain(rows["河北省本级"]) == (2, 0, 0.0, None, None, None, None)
    assert _plain(rows["合计"])[:3] == (9, 5, 0.5556)

    city = {row["label"]: row for row in figures.evaluations_by_region(_scope("130100"))}
    assert list(city) == ["石家庄市本级", "长安区", "桥西区", "合计"]
    assert _plain(city["长安区"]) == (2, 1, 0.5, 2.0, 3.0, 3.0, 2.67)
    assert _plain(city["桥西区"]) == (0, 0, None, None, None, None, None)
    assert _plain(city["合计"]) == _plain(rows["石家庄市"])


def test_the_same_figures_on_every_surface(rated, client, client_for, tmp_path, province_admin):
    batch = rated["sjz"]
    expected = batch_evaluation_figures(batch)
    assert _plain(expected) == (4, 3, 0.75, 4.0, 4.33, 3.33, 3.89)

    # the API
    api = client_for(province_admin).get(f"/api/v1/batches/{batch.pk}/evaluations/").json()["summary"]
    assert api == expected

    # the workbook: the batch's row, and the course's (its two batches: 石家庄's and 长安区's)
    path = tmp_path / "book.xlsx"
    xlsx.yearly_workbook(str(path), scope=_scope("130000"), actor=province_admin, include_detail=False)
    book = open_book(path)
    assert list(book["评教"].tables) == ["Evaluations"]
    by_batch = {(row["组织单位"], row["课程"]): row for row in table(book["评教"], "批次")}
    row = by_batch[("石家庄市", "课程C-A")]
    assert (
        row["结业人数"],
        row["评价份数"],
        row["参评率"],
        row["课程内容"],
        row["授课教师"],
        row["组织安排"],
        row["综合平均分"],
    ) == (
        4,
        3,
        0.75,
        4.0,
        4.33,
        3.33,
        3.89,
    )
    assert len(by_batch) == 4
    courses = {row["课程编号"]: row for row in table(book["评教(课程)"], "课程编号")}
    course_row = next(r for r in figures.evaluations_by_course(_scope("130000")) if r["code"] == "C-A")
    assert (courses["C-A"]["批次数"], courses["C-A"]["结业人数"], courses["C-A"]["评价份数"]) == (2, 6, 4)
    assert courses["C-A"]["综合平均分"] == course_row["overall"] == 3.58
    total = next(r for r in table(book["评教(课程)"], "课程编号") if r["课程"] == "合计")
    assert (total["结业人数"], total["评价份数"]) == (9, 5)

    # the batch's admin page
    province_admin.is_staff = True
    province_admin.save()
    client.force_login(province_admin)
    page = client.get(f"/admin/training/batch/{batch.pk}/change/").content.decode()
    assert "<td>4</td><td>3</td><td>75.0%</td><td>4.00</td><td>4.33</td><td>3.33</td><td>3.89</td>" in page


def _overview_row(client, label: str) -> str:
    page = client.get(reverse("reports:overview"), {"year": YEAR}).content.decode()
    section = page.split('id="evaluations"')[1].split("</section>")[0]
    return section.split(f"<td>{label}</td>")[1].split("</tr>")[0]


def test_the_overview_live_and_stored(rated, client, province_admin):
    province_admin.is_staff = True
    province_admin.save()
    client.force_login(province_admin)
    want = '<td class="num">6</td><td class="num">4</td><td class="num">66.7%</td><td class="num">3.50</td>'

    # not stored yet: counted now
    assert want in _overview_row(client, "石家庄市")

    # stored by the refresh, and read from there
    services.overview_figures_refresh(year=YEAR)
    stored = selectors.overview_report(scope=_scope("130000"))
    assert stored.evaluations is not None
    assert figures.evaluations_by_region(_scope("130000"), stored.evaluations) == figures.evaluations_by_region(
        _scope("130000")
    )
    assert want in _overview_row(client, "石家庄市")
    assert '<td class="num">9</td><td class="num">5</td><td class="num">55.6%</td>' in _overview_row(client, "合计")


def test_a_city_sees_its_own_organisers_only(rated, client, city_admin):
    city_admin.is_staff = True
    city_admin.save()
    client.force_login(city_admin)

    page = client.get(reverse("reports:overview"), {"year": YEAR}).content.decode()
    section = page.split('id="evaluations"')[1].split("</section>")[0]

    assert "唐山市" not in section and "河北省本级" not in section
    assert "<td>长安区</td>" in section


def test_figures_stored_before_evaluations_were_are_counted_now(rated):
    # given: a refresh, then its rows as a refresh before 评教 was stored left them
    from reports.models import OverviewRegionFigures

    services.overview_figures_refresh(year=YEAR)
    OverviewRegionFigures.objects.update(evaluations={})

    # when
    overview = selectors.overview_report(scope=_scope("130000"))

    # then: not taken for zeros
    assert overview.evaluations is None
    rows = figures.evaluations_by_region(_scope("130000"), overview.evaluations)
    assert rows[-1]["evaluations"] == 5
