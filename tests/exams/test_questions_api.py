"""/api/v1/questions/: admins of a region read and write its bank (and below); an inspector is
refused everything (the bank holds the answers); refusals have their reasons."""

from exams.models import Question, QuestionVersion
from exams.questions import question_create


def body(**overrides) -> dict:
    values = {
        "kind": "single",
        "stem": "《行政处罚法》规定，违法行为在几年内未被发现的，不再给予行政处罚？",
        "options": ["一年", "二年", "三年", "五年"],
        "answer": "b",
        "category": "行政处罚法",
        "difficulty": 2,
    }
    return {**values, **overrides}


def make(admin, region, stem="题干"):
    return question_create(
        actor=admin, region=region, kind="true_false", stem=stem, options=[], answer="A", category="分类", difficulty=1
    )


def test_an_admin_creates_in_their_own_region_by_default(client_for, regions, city_admin):
    response = client_for(city_admin).post("/api/v1/questions/", body(), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["region"], data["answer"], data["version"], data["kind_display"]) == ("130100", "B", 1, "单选题")


def test_bad_content_is_a_400_by_field_and_a_duplicate_a_409_naming_the_first(client_for, regions, province_admin):
    client = client_for(province_admin)
    bad = client.post("/api/v1/questions/", body(answer="AB", options=["一年"]), format="json")
    assert bad.status_code == 400
    assert set(bad.json()["fields"]) == {"options", "answer"}
    first = client.post("/api/v1/questions/", body(), format="json").json()
    again = client.post("/api/v1/questions/", body(options=["五年", "三年", "二年", "一年"]), format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "duplicate_question" and f"编号 {first['id']}" in again.json()["detail"]


def test_patch_makes_a_version_and_the_versions_are_listed(client_for, regions, province_admin):
    client = client_for(province_admin)
    created = client.post("/api/v1/questions/", body(), format="json").json()
    url = f"/api/v1/questions/{created['id']}/"
    assert client.patch(url, {"active": False}, format="json").json()["version"] == 1
    changed = client.patch(url, {"answer": "C"}, format="json")
    assert changed.status_code == 200 and changed.json()["version"] == 2
    versions = client.get(url + "versions/").json()
    assert [(v["version"], v["answer"]) for v in versions] == [(1, "B"), (2, "C")]
    assert QuestionVersion.objects.count() == 2


def test_list_filters_and_scope(client_for, regions, province_admin, city_admin, other_city_admin):
    make(province_admin, regions["province"], "省题")
    sjz = make(province_admin, regions["sjz"], "市题")
    make(province_admin, regions["changan"], "县题")
    client = client_for(city_admin)
    listed = client.get("/api/v1/questions/").json()
    assert {q["stem"] for q in listed["results"]} == {"市题", "县题"} and listed["count"] == 2
    assert client.get("/api/v1/questions/", {"region": "130102"}).json()["count"] == 1
    assert client.get("/api/v1/questions/", {"search": "市"}).json()["count"] == 1
    assert client.get("/api/v1/questions/", {"active": "false"}).json()["count"] == 0
    assert client.get("/api/v1/questions/", {"kind": "single"}).json()["count"] == 0
    assert client.get("/api/v1/questions/", {"difficulty": 9}).status_code == 400
    # another city's admin: not found, neither to read nor to change
    other = client_for(other_city_admin)
    assert other.get(f"/api/v1/questions/{sjz.pk}/").status_code == 404
    assert other.patch(f"/api/v1/questions/{sjz.pk}/", {"active": False}, format="json").status_code == 404
    # nor may a city admin add to the province's bank
    refused = client.post("/api/v1/questions/", body(region="130000"), format="json")
    assert refused.status_code == 403
    assert Question.objects.count() == 3


def test_an_inspector_is_refused_every_question_endpoint(client_for, regions, province_admin, inspector_user):
    question = make(province_admin, regions["changan"])
    client = client_for(inspector_user)
    for response in (
        client.get("/api/v1/questions/"),
        client.get(f"/api/v1/questions/{question.pk}/"),
        client.get(f"/api/v1/questions/{question.pk}/versions/"),
        client.get("/api/v1/questions/999999/"),
        client.post("/api/v1/questions/", body(), format="json"),
        client.patch(f"/api/v1/questions/{question.pk}/", {"answer": "B"}, format="json"),
    ):
        assert response.status_code == 403
        assert "A" not in str(response.json().get("answer", ""))


def test_anonymous_is_challenged_and_a_huge_id_is_not_found(api_client, client_for, regions, province_admin):
    assert api_client.get("/api/v1/questions/").status_code == 401
    assert client_for(province_admin).get(f"/api/v1/questions/{'9' * 30}/").status_code == 404
