"""Only tests marked ``browser`` may start Chromium (tests/conftest.py): CI's SQLite pass
deselects them and the services pass runs them, so an unmarked one would run twice."""

import pytest


def test_an_unmarked_test_cannot_open_playwright():
    sync_api = pytest.importorskip("playwright.sync_api")
    with pytest.raises(pytest.fail.Exception, match=r"mark it @pytest\.mark\.browser"):
        sync_api.sync_playwright()


@pytest.mark.browser
def test_a_marked_test_gets_the_real_playwright():
    sync_api = pytest.importorskip("playwright.sync_api")
    assert sync_api.sync_playwright.__module__ == "playwright.sync_api"
