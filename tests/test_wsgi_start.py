"""gunicorn's entry point imports the URLconf, and with it the views, as a worker starts: a
worker's first request does not pay for those imports (about 0.25 s of CPU)."""

from __future__ import annotations

import secrets

from tests.test_settings import run_python

PROBE = (
    "import sys; import config.wsgi; "
    "print(all(name in sys.modules for name in ('config.urls', 'training.api', 'exams.api', 'rest_framework.views')))"
)


def test_the_wsgi_module_imports_the_urlconf_and_the_views():
    proc = run_python(
        ["-c", PROBE],
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS="training.example.gov.cn",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "True"


def test_without_a_key_the_refusal_comes_before_the_imports():
    proc = run_python(["-c", PROBE], DJANGO_DEBUG="0")
    assert proc.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in proc.stderr
