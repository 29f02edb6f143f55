"""Settings: embedded defaults, the switch to real services, production mode, Celery names.

Settings are read from the environment once, at import, so everything that depends on
the environment runs in a fresh interpreter with a clean, explicit environment.
"""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from celery.app.defaults import NAMESPACES, flatten
from django.conf import settings

from config.celery import app as celery_app

BASE_DIR = Path(__file__).resolve().parent.parent

DUMP_SETTINGS = """
import json
import django
django.setup()
from django.conf import settings
from config.celery import app
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "ENGINE": settings.DATABASES["default"]["ENGINE"],
    "NAME": str(settings.DATABASES["default"]["NAME"]),
    "HOST": settings.DATABASES["default"].get("HOST", ""),
    "EMAIL_BACKEND": settings.EMAIL_BACKEND,
    "LANGUAGE_CODE": settings.LANGUAGE_CODE,
    "LANGUAGES": [code for code, _ in settings.LANGUAGES],
    "MIDDLEWARE": settings.MIDDLEWARE,
    "TIME_ZONE": settings.TIME_ZONE,
    "USE_TZ": settings.USE_TZ,
    "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    "CELERY_TASK_ALWAYS_EAGER": settings.CELERY_TASK_ALWAYS_EAGER,
    "app_broker_url": app.conf.broker_url,
    "app_always_eager": app.conf.task_always_eager,
}))
"""


def clean_env(**extra: str) -> dict[str, str]:
    """Only what a Python process needs to run, plus ``extra``: no DJANGO_*, DATABASE_URL, CELERY_*."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"}
    for name in ("HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"):
        if name in os.environ:
            env[name] = os.environ[name]
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env.update(extra)
    return env


def run_python(args: list[str], **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=clean_env(**extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def dump_settings(**extra: str) -> dict:
    proc = run_python(["-c", DUMP_SETTINGS], **extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- Celery names -------------------------------------------------------------------


def test_every_celery_setting_is_one_celery_knows():
    known = {name for name, _option in flatten(NAMESPACES)}
    ours = [name for name in dir(settings) if name.startswith("CELERY_")]
    assert ours, "no CELERY_* settings found"
    unknown = [name for name in ours if name.removeprefix("CELERY_").lower() not in known]
    assert unknown == [], f"Celery does not know these settings (typo?): {unknown}"


def test_celery_app_reads_the_celery_namespace():
    conf = celery_app.conf
    assert conf.task_serializer == "json"
    assert conf.result_serializer == "json"
    assert list(conf.accept_content) == ["json"]
    assert conf.timezone == settings.TIME_ZONE
    assert conf.task_time_limit == settings.CELERY_TASK_TIME_LIMIT
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit
    assert "config.ping" in celery_app.tasks


# --- Embedded defaults and the switch to real services -------------------------------


def test_embedded_defaults_without_any_environment():
    values = dump_settings()

    assert values["DEBUG"] is True
    assert values["ENGINE"] == "django.db.backends.sqlite3"
    assert Path(values["NAME"]) == BASE_DIR / "db.sqlite3"
    assert values["CELERY_TASK_ALWAYS_EAGER"] is True
    assert values["app_always_eager"] is True
    assert values["CELERY_BROKER_URL"] == "memory://"
    assert values["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert values["LANGUAGE_CODE"] == "zh-hans"
    assert {"zh-hans", "en"} <= set(values["LANGUAGES"])
    assert "django.middleware.locale.LocaleMiddleware" in values["MIDDLEWARE"]
    assert values["TIME_ZONE"] == "Asia/Shanghai"
    assert values["USE_TZ"] is True


def test_database_url_and_broker_url_switch_to_the_real_services():
    values = dump_settings(
        DATABASE_URL="postgresql://postgres@db.internal:5432/training",
        CELERY_BROKER_URL="redis://cache.internal:6379/0",
    )

    assert values["ENGINE"] == "django.db.backends.postgresql"
    assert values["NAME"] == "training"
    assert values["HOST"] == "db.internal"
    assert values["CELERY_TASK_ALWAYS_EAGER"] is False
    assert values["app_always_eager"] is False
    assert values["app_broker_url"] == "redis://cache.internal:6379/0"


def test_rabbitmq_broker_is_accepted_as_is():
    broker = "amqp://guest:guest@mq.internal:5672//"
    values = dump_settings(CELERY_BROKER_URL=broker)

    assert values["app_broker_url"] == broker
    assert values["app_always_eager"] is False


def test_an_empty_broker_url_counts_as_unset():
    values = dump_settings(CELERY_BROKER_URL="")

    assert values["CELERY_BROKER_URL"] == "memory://"
    assert values["CELERY_TASK_ALWAYS_EAGER"] is True


# --- Production mode -----------------------------------------------------------------


def test_production_refuses_to_start_without_a_secret_key():
    proc = run_python(["manage.py", "check"], DJANGO_DEBUG="0")

    assert proc.returncode != 0
    assert "DJANGO_SECRET_KEY" in proc.stderr


def test_production_passes_check_deploy():
    proc = run_python(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS="training.example.gov.cn",
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no issues" in proc.stdout
