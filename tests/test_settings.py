"""Settings: debug off unless asked for, embedded defaults, the switch to real services,
production mode, Celery names, and the commands that ask for debug (`make run`).

Settings are read from the environment once, at import, so everything that depends on
the environment runs in a fresh interpreter with a clean, explicit environment.
"""

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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
    "DB_OPTIONS": {
        k: v for k, v in settings.DATABASES["default"].get("OPTIONS", {}).items()
        if k in ("server_side_binding", "prepare_threshold")
    },
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
    "SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
    "CSRF_COOKIE_SECURE": settings.CSRF_COOKIE_SECURE,
    "SECURE_HSTS_SECONDS": settings.SECURE_HSTS_SECONDS,
    "SECRET_KEY_IS_DEV": settings.SECRET_KEY.startswith("dev-insecure-"),
    "SECRET_KEY_FROM_ENVIRONMENT": settings.SECRET_KEY_FROM_ENVIRONMENT,
    "SECRET_KEY_HASH": hash(settings.SECRET_KEY),
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


# --- Debug off unless asked for ------------------------------------------------------


def test_without_any_environment_debug_is_off_and_only_serving_refuses():
    # given: nothing set, as on a server where DJANGO_DEBUG and the key were forgotten
    # when
    check = run_python(["manage.py", "check"])
    migrations = run_python(["manage.py", "makemigrations", "--check", "--dry-run"])
    deploy = run_python(["manage.py", "check", "--deploy"])
    serve = run_python(["-c", "import config.wsgi"])

    # then: maintenance commands run; serving and the deployment check refuse, saying what to do
    assert check.returncode == 0, check.stderr
    assert migrations.returncode == 0, migrations.stderr
    assert deploy.returncode != 0
    assert "core.E001" in deploy.stderr and "DJANGO_SECRET_KEY is not set" in deploy.stderr
    assert serve.returncode != 0
    assert "ImproperlyConfigured" in serve.stderr
    assert "DJANGO_SECRET_KEY is not set" in serve.stderr
    assert "DJANGO_DEBUG=1" in serve.stderr


def test_without_a_key_the_stand_in_is_never_the_development_key():
    # given / when: two processes with debug off and no key
    first, second = dump_settings(), dump_settings()
    # then: a one-off key each, not the fixed development one
    assert first["DEBUG"] is False
    assert first["SECRET_KEY_IS_DEV"] is False and first["SECRET_KEY_FROM_ENVIRONMENT"] is False
    assert first["SECRET_KEY_HASH"] != second["SECRET_KEY_HASH"]


def test_gunicorns_entry_point_refuses_to_start_without_a_secret_key():
    # given: the application gunicorn loads, in a deployment that set no key
    # when
    proc = run_python(["-c", "import config.wsgi"], DJANGO_ALLOWED_HOSTS="training.example.gov.cn")

    # then
    assert proc.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in proc.stderr


def test_debug_is_off_by_default_and_the_hardening_on():
    # given: a deployment that set its key but not DJANGO_DEBUG
    values = dump_settings(DJANGO_SECRET_KEY=secrets.token_urlsafe(64))

    # then
    assert values["DEBUG"] is False
    assert values["SECRET_KEY_IS_DEV"] is False
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] > 0


@pytest.mark.parametrize("value", ["", "0", "false", "off", "no"])
def test_only_an_explicit_yes_turns_debug_on(value):
    values = dump_settings(DJANGO_DEBUG=value, DJANGO_SECRET_KEY=secrets.token_urlsafe(64))

    assert values["DEBUG"] is False
    assert values["SECURE_SSL_REDIRECT"] is True


def test_make_run_asks_for_debug_and_a_deployments_worker_does_not():
    # given: make's dry run prints the commands a target would run, without running them
    make = shutil.which("make")
    assert make, "make is needed: `make run` and `make test` are the README's two commands"

    # when
    run = subprocess.run(
        [make, "-n", "run"], cwd=BASE_DIR, env=clean_env(), capture_output=True, text=True, timeout=60, check=False
    )
    worker = subprocess.run(
        [make, "-n", "worker"], cwd=BASE_DIR, env=clean_env(), capture_output=True, text=True, timeout=60, check=False
    )

    # then: migrate, seed_demo and runserver run with DJANGO_DEBUG=1 ...
    assert run.returncode == 0, run.stderr
    commands = [line for line in run.stdout.splitlines() if "manage.py" in line]
    for needed in ("manage.py migrate", "manage.py seed_demo", "manage.py runserver"):
        line = next((c for c in commands if needed in c), None)
        assert line is not None, f"`make run` does not run {needed}: {run.stdout}"
        assert line.startswith("DJANGO_DEBUG=1 "), line
    # ... and the Celery worker reads the environment as the deployment sets it
    assert worker.returncode == 0, worker.stderr
    assert "celery" in worker.stdout
    assert "DJANGO_DEBUG" not in worker.stdout


def test_the_test_run_reads_the_settings_as_make_run_does():
    # tests/settings.py: debug on while the settings are read (no HTTPS redirect for the
    # test client), then pytest-django runs each test with DEBUG off
    assert os.environ["DJANGO_DEBUG"] == "1"
    assert settings.SECURE_SSL_REDIRECT is False
    assert settings.DEBUG is False


# --- Embedded defaults and the switch to real services -------------------------------


def test_embedded_defaults_with_debug_asked_for():
    values = dump_settings(DJANGO_DEBUG="1")

    assert values["DEBUG"] is True
    assert values["SECRET_KEY_IS_DEV"] is True
    assert values["SECURE_SSL_REDIRECT"] is False
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
        DJANGO_DEBUG="1",
        DATABASE_URL="postgresql://postgres@db.internal:5432/training",
        CELERY_BROKER_URL="redis://cache.internal:6379/0",
    )

    assert values["ENGINE"] == "django.db.backends.postgresql"
    assert values["NAME"] == "training"
    assert values["HOST"] == "db.internal"
    assert values["CELERY_TASK_ALWAYS_EAGER"] is False
    assert values["app_always_eager"] is False
    assert values["app_broker_url"] == "redis://cache.internal:6379/0"


def test_postgresql_prepares_statements_unless_told_not_to():
    """Server-side binding with psycopg's prepare threshold on PostgreSQL by default;
    DATABASE_PREPARED_STATEMENTS=0 (a pooler that drops prepared statements) turns both off,
    and SQLite never gets them."""
    url = "postgresql://postgres@db.internal:5432/training"
    assert dump_settings(DJANGO_DEBUG="1", DATABASE_URL=url)["DB_OPTIONS"] == {
        "server_side_binding": True,
        "prepare_threshold": 5,
    }
    off = dump_settings(DJANGO_DEBUG="1", DATABASE_URL=url, DATABASE_PREPARED_STATEMENTS="0")
    assert off["DB_OPTIONS"] == {}
    assert dump_settings(DJANGO_DEBUG="1")["DB_OPTIONS"] == {}


def test_rabbitmq_broker_is_accepted_as_is():
    broker = "amqp://guest:guest@mq.internal:5672//"
    values = dump_settings(DJANGO_DEBUG="1", CELERY_BROKER_URL=broker)

    assert values["app_broker_url"] == broker
    assert values["app_always_eager"] is False


def test_an_empty_broker_url_counts_as_unset():
    values = dump_settings(DJANGO_DEBUG="1", CELERY_BROKER_URL="")

    assert values["CELERY_BROKER_URL"] == "memory://"
    assert values["CELERY_TASK_ALWAYS_EAGER"] is True


# --- Production mode -----------------------------------------------------------------


def test_production_refuses_to_serve_without_a_secret_key():
    proc = run_python(["-c", "import config.wsgi"], DJANGO_DEBUG="0")

    assert proc.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in proc.stderr


def test_production_passes_check_deploy():
    proc = run_python(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS="training.example.gov.cn",
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no issues" in proc.stdout
