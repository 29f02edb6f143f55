"""What the browser tests share: Debian's Chromium (no downloaded browser) and its launch
arguments, the fixture that skips a browser test when Chromium or Playwright is missing (and
fails it instead under REQUIRE_SERVICES=1, as in CI), and where screenshots go."""

import importlib.util
import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _missing() -> str | None:
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing (pip install -r requirements.txt)"
    return None


@pytest.fixture
def chromium_available() -> dict:
    """Skip unless Chromium and Playwright are here (fail under REQUIRE_SERVICES=1); gives the
    keyword arguments of ``playwright.chromium.launch``."""
    reason = _missing()
    if reason is not None:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return {"executable_path": CHROMIUM, "args": LAUNCH_ARGS}


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    # E2E_SCREENSHOT_DIR keeps the pictures somewhere a person can look at them (CI keeps
    # them as artifacts); otherwise they go to the test's tmp_path.
    path = Path(os.environ.get("E2E_SCREENSHOT_DIR") or tmp_path)
    path.mkdir(parents=True, exist_ok=True)
    return path
