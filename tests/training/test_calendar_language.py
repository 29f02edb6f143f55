"""The calendar feed (/calendar/<token>.ics) in one language per request: the request's
(language cookie or Accept-Language), else zh-hans; every fixed string of the feed in it."""

import re

import pytest
from django.conf import settings
from django.test import Client
from icalendar import Calendar

from tests.training.factories import BatchFactory, EnrollmentFactory
from training.models import EnrollmentStatus

CALENDAR = "/api/v1/me/calendar/"
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


@pytest.fixture
def feed_path(client_for, inspector_user, batch, course, regions):
    """The inspector's feed, with one batch enrolled and one waitlisted."""
    me = inspector_user.inspector
    EnrollmentFactory(batch=batch, inspector=me)
    other = BatchFactory(course=course, region=regions["sjz"])
    EnrollmentFactory(batch=other, inspector=me, status=EnrollmentStatus.WAITLISTED, waitlist_position=1)
    return client_for(inspector_user).get(CALENDAR).json()["path"]


def texts(response, data: list[str]) -> list[str]:
    """The feed's calendar name, summaries and descriptions, with the data (names, titles,
    places as entered) taken out: what is left is the feed's own wording."""
    cal = Calendar.from_ical(response.content)
    found = [str(cal["x-wr-calname"])]
    for event in cal.walk("VEVENT"):
        found += [str(event["summary"]), str(event["description"])]
    for value in sorted(data, key=len, reverse=True):
        found = [text.replace(value, "") for text in found]
    return found


def data_of(inspector_user, batch, regions) -> list[str]:
    return [inspector_user.inspector.name, batch.course.title, batch.region.name, regions["sjz"].name]


def test_the_feed_is_all_english_when_the_request_asks_for_english(feed_path, inspector_user, batch, regions):
    # given: a calendar app that sends Accept-Language: en
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    # when
    response = client.get(feed_path)
    # then: no Chinese wording anywhere but in the data
    assert response.status_code == 200
    assert response["Content-Language"] == "en"
    wording = texts(response, data_of(inspector_user, batch, regions))
    assert [text for text in wording if CJK.search(text)] == []
    joined = "\n".join(wording)
    assert "Training schedule of" in joined
    assert "(Waitlisted)" in joined
    assert "Organizer: " in joined and "status: " in joined


def test_the_language_cookie_chooses_the_feed_language(feed_path, inspector_user, batch, regions):
    # given: the language cookie set to English, the header asking for Chinese
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    # when
    response = client.get(feed_path)
    # then: the cookie wins; a cache keeps one copy per language
    wording = texts(response, data_of(inspector_user, batch, regions))
    assert [text for text in wording if CJK.search(text)] == []
    vary = {v.strip() for v in response["Vary"].split(",")}
    assert {"Accept-Language", "Cookie"} <= vary


def test_the_feed_is_all_chinese_by_default(feed_path, inspector_user, batch, regions):
    # given: a calendar app that says nothing of its language
    client = Client()
    # when
    response = client.get(feed_path)
    # then: zh-hans wording, no English label among it
    assert response["Content-Language"] == "zh-hans"
    joined = "\n".join(texts(response, data_of(inspector_user, batch, regions)))
    assert "的培训安排" in joined
    assert "（候补）" in joined
    assert "组织单位：" in joined and "状态：已报名" in joined and "状态：候补" in joined
    assert not re.search(r"Waitlisted|Enrolled|Organizer|Batch", joined)
