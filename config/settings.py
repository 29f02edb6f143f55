"""One settings module, read from environment variables with embedded defaults.

With no environment at all it runs embedded: SQLite in the project folder, Celery
tasks executed eagerly in-process, e-mail printed to the console. DATABASE_URL and
CELERY_BROKER_URL switch to the real services; nothing else changes.

Debug is off unless DJANGO_DEBUG=1 asks for it (`make run` does); with debug off the
settings need DJANGO_SECRET_KEY and turn on the HTTPS hardening at the end of this file.
"""

import datetime as dt
import os
import secrets
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


# Debug only when asked for (DJANGO_DEBUG=1: `make run`, the test settings): a deployment
# that forgets the variable runs with debug off and the production hardening below on.
DEBUG = env_bool("DJANGO_DEBUG", False)

NO_KEY_MESSAGE = (
    "DJANGO_SECRET_KEY is not set. Debug is off (DJANGO_DEBUG is unset or 0), so this is run "
    "as a deployment, which needs its own secret key: set DJANGO_SECRET_KEY to a long random "
    "value (python3 -c 'import secrets; print(secrets.token_urlsafe(50))'). On a development "
    "machine use `make run`, or set DJANGO_DEBUG=1."
)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
SECRET_KEY_FROM_ENVIRONMENT = bool(SECRET_KEY)
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "dev-insecure-3f7c1e9a0b2d4c6e8f1a3b5c7d9e0f2a4b6c8d0e"  # noqa: S105
    else:
        # Maintenance commands (check, makemigrations, migrate) run without a key; nothing
        # signed with this one-off key outlives the process. Serving refuses to start
        # (config/wsgi.py, so gunicorn and runserver) and `check --deploy` fails (core.checks).
        SECRET_KEY = "unset-" + secrets.token_urlsafe(50)

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # Before django.contrib.admin: core/templates/admin/base_site.html (product name,
    # language switch, favicon, list layout) overrides the admin's own.
    "core",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "personnel",
    "training",
    "exams",
    "reports",
]

MIDDLEWARE = [
    # Under /api/ an exception a view lets through answers the JSON error body (500, or 503
    # with Retry-After when the database or the cache is unreachable), not Django's HTML page.
    "core.errors.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Every response (static files too) carries the Content-Security-Policy (core.csp).
    "core.csp.ContentSecurityPolicyMiddleware",
    # Static files from gunicorn itself (STATIC_ROOT, hashed names cached for years,
    # pre-compressed .gz), before sessions and the rest: a proxy may still serve /static/.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

# --- Login throttling: after AXES_FAILURE_LIMIT failed logins for one username from one
# address, that pair is locked out for AXES_COOLOFF_MINUTES (admin, pages and API token).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_SENSITIVE_PARAMETERS = ["password"]
AXES_VERBOSE = False

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "core.branding.branding",
            ],
        },
    },
]

# --- Database: SQLite file by default, DATABASE_URL for PostgreSQL.
DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
# A kept connection (DATABASE_CONN_MAX_AGE > 0) is tested before a request uses it, so a
# PostgreSQL restart costs a reconnect instead of one 500 per gunicorn worker.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = DATABASES["default"]["CONN_MAX_AGE"] != 0
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A server that does not answer (frozen, a dropped route) fails the connect after this
    # many seconds instead of holding a worker until TCP gives up.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 3))
    # Parameters bound on the server and statements prepared after their 5th use on a kept
    # connection: PostgreSQL parses and plans a statement the API sends on every call (the
    # token, the batch, the enrollment's) once per connection instead of every time. Django
    # leaves this off for poolers in transaction mode, which must then keep prepared
    # statements (PgBouncer 1.21+ with max_prepared_statements) or set
    # DATABASE_PREPARED_STATEMENTS=0: docs/operations.md.
    if env_bool("DATABASE_PREPARED_STATEMENTS", True):
        DATABASES["default"]["OPTIONS"].update(server_side_binding=True, prepare_threshold=5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Waiting on a lock beats failing on one when the dev server and a command overlap.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    # Writers take the database lock when their transaction starts, so two enrollments
    # into one batch queue up instead of both counting the same free seat.
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Language and time.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static files: `manage.py collectstatic` copies them into STATIC_ROOT; WhiteNoise
# (middleware above) serves them from there, under gunicorn alone or behind a proxy.
# With debug off the names carry a hash of the content (core/admin.3f9c2a1b7e0d.css, from
# the manifest collectstatic writes) and a .gz beside each: hashed files are sent with
# "Cache-Control: max-age=315360000, public, immutable", other files for 60 seconds. With
# debug on (`make run`, the tests) files are found in the apps as they are, no collectstatic.
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", BASE_DIR / "media"))

# Inspectors are not staff, so pages log in at /accounts/login/ (the admin keeps its own).
LOGIN_URL = "login"

# --- E-mail: console by default.
EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "training@example.gov.cn")

# --- Celery: eager in-process unless a broker is given.
# An empty CELERY_BROKER_URL counts as unset (Celery would read "" as amqp://localhost).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "memory://"
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "")
CELERY_TASK_ALWAYS_EAGER = not os.environ.get("CELERY_BROKER_URL")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 25 * 60)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A web request that publishes a task (an export job) must not hang on a broker that is down
# or frozen: connect within CELERY_BROKER_CONNECT_TIMEOUT, read within CELERY_BROKER_SOCKET_TIMEOUT,
# retry a failed publish once. (Celery's defaults: 4 s to connect, no read timeout, three retries
# two seconds apart.) Workers read their queues when the socket has data (kombu's event loop), so
# the short read timeout does not cut their one-second BRPOP polls: an idle worker and a worker
# under a Redis frozen for seconds were seen to run on without an error.
CELERY_BROKER_CONNECTION_TIMEOUT = float(os.environ.get("CELERY_BROKER_CONNECT_TIMEOUT", "0.5"))
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
    "socket_timeout": float(os.environ.get("CELERY_BROKER_SOCKET_TIMEOUT", "0.5")),
    "socket_keepalive": True,
    # A failed connect is tried once more at once: kombu would wait interval_start (2 s) first.
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.1,
    "interval_max": 0.1,
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
# How often the beat recomputes the overview's stored figures (see OVERVIEW_MAX_AGE_SECONDS).
OVERVIEW_REFRESH_SECONDS = env_int("OVERVIEW_REFRESH_SECONDS", 300)
CELERY_BEAT_SCHEDULE = {
    "training-batch-reminders": {
        "task": "training.tasks.send_batch_reminders",
        "schedule": crontab(hour=8, minute=0),
    },
    "exams-expire-certificates": {
        "task": "exams.tasks.expire_certificates",
        "schedule": crontab(hour=0, minute=5),
    },
    "reports-requeue-stale-exports": {
        "task": "reports.tasks.requeue_stale_exports",
        "schedule": 60.0,
    },
    "reports-purge-old-exports": {
        "task": "reports.tasks.purge_old_exports",
        "schedule": crontab(hour=3, minute=0),
    },
    # Online attempts past their deadline are submitted by the server (exams.online.attempts_sweep).
    "exams-sweep-attempts": {
        "task": "exams.tasks.sweep_attempts",
        "schedule": 60.0,
    },
    "exams-expiry-reminders": {
        "task": "exams.tasks.send_expiry_reminders",
        "schedule": crontab(hour=8, minute=30),
    },
    # The admins who must act on applications, and the annual review's amber and red cities.
    "exams-application-reminders": {
        "task": "exams.tasks.send_application_reminders",
        "schedule": crontab(hour=8, minute=45),
    },
    # The overview page's stored figures (reports.services.overview_figures_refresh).
    "reports-refresh-overview-figures": {
        "task": "reports.tasks.refresh_overview_figures",
        "schedule": float(OVERVIEW_REFRESH_SECONDS),
        "options": {"expires": OVERVIEW_REFRESH_SECONDS},
    },
    # /healthz reads when this last ran: beat sent it and a worker took it (core.health).
    "core-beat-heartbeat": {
        "task": "core.tasks.beat_heartbeat",
        "schedule": 60.0,
        "options": {"expires": 60},
    },
}
# /healthz reports a worker or beat "not seen" when its heartbeat is older than this.
HEALTH_HEARTBEAT_STALE_SECONDS = env_int("HEALTH_HEARTBEAT_STALE_SECONDS", 180)
# /healthz answers within this many seconds whatever is down; a check not done by then is
# reported down ("timeout"). Components whose failure makes it answer 503 (the others are
# reported, with status "degraded" and 200: the site still serves without them).
HEALTH_TIMEOUT_SECONDS = float(os.environ.get("HEALTH_TIMEOUT_SECONDS", "0.5"))
HEALTH_REQUIRED = env_list("HEALTH_REQUIRED", ["database"])

# --- REST framework.
REST_FRAMEWORK = {
    # The token class first: DRF answers an anonymous call with the first class's challenge,
    # so 401 + "WWW-Authenticate: Token" (session first would make it a bare 403). Session
    # auth stays for the browsable API and the admin's pages.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.errors.exception_handler",
    # Reverse proxies in front of the app. Unset: the client address is REMOTE_ADDR and a
    # client's own X-Forwarded-For is not believed (per-client rate limits depend on it).
    # 0 (the default) trusts no proxy: a client's own X-Forwarded-For is never believed.
    "NUM_PROXIES": env_int("DJANGO_NUM_PROXIES", 0),
    # Token logins per client address (django-axes also locks a username after failures).
    "DEFAULT_THROTTLE_RATES": {"login": os.environ.get("LOGIN_RATE", "10/min")},
}

# --- API tokens (core.tokens): a fixed lifetime from login, not extended by use. 12 hours
# covers a working day with overtime from one morning login, and a key left behind on a
# shared office machine or in a script's log is dead by the next morning.
API_TOKEN_TTL = dt.timedelta(minutes=env_int("API_TOKEN_TTL_MINUTES", 12 * 60))
# Live tokens per user (one per device or client); a new login beyond it revokes the oldest.
API_TOKEN_MAX_PER_USER = env_int("API_TOKEN_MAX_PER_USER", 10)
# Read with the token's user in the same query (select_related paths from the user): what
# personnel.access.scope_for needs (role and region), so a token call reads no more for it.
API_TOKEN_USER_RELATED = ("region_admin__region", "inspector")

# --- Cache: per-process memory by default; CACHE_URL (redis://...) shares rate-limit
# counters between gunicorn workers and hosts, which a real deployment wants.
# Short socket timeouts and no retries (redis-py's default is 5 s, retried): a frozen or
# stopped Redis costs a request CACHE_SOCKET_TIMEOUT at most, and the rate limits then count
# in the process for a while (core.throttles) instead of waiting on it again.
CACHE_SOCKET_TIMEOUT = float(os.environ.get("CACHE_SOCKET_TIMEOUT", "0.3"))
if os.environ.get("CACHE_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["CACHE_URL"],
            "OPTIONS": {"socket_connect_timeout": CACHE_SOCKET_TIMEOUT, "socket_timeout": CACHE_SOCKET_TIMEOUT},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "default"}}

SPECTACULAR_SETTINGS = {
    # ASCII title: generators derive a package name from it (the Chinese name is below).
    "TITLE": "Inspector Training API",
    "DESCRIPTION": "执法人员培训与持证管理 API. Enforcement-inspector training, examination and certification.",
    # 3.1: a nullable reference is `oneOf: [{$ref}, {type: "null"}]`, which validates.
    "OAS_VERSION": "3.1.0",
    # JSON-only bodies, binary downloads, integer ids, ASCII names, documented errors.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.schema.postprocess_schema",
    ],
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "status"; name each choice set after its model so the schema
    # is stable (otherwise drf-spectacular invents hashed names like Status5afEnum).
    "ENUM_NAME_OVERRIDES": {
        "CertificateStatusEnum": "exams.models.CertificateStatus",
        "ExamKindEnum": "exams.models.ExamKind",
        "SittingStatusEnum": "exams.models.SittingStatus",
        "InspectorStatusEnum": "personnel.models.InspectorStatus",
        "BatchStatusEnum": "training.models.BatchStatus",
        "EnrollmentStatusEnum": "training.models.EnrollmentStatus",
        "SectorEnum": "personnel.models.Sector",
        "ApplicationKindEnum": "exams.models.ApplicationKind",
        "ApplicationStateEnum": "exams.models.ApplicationState",
        "ApplicationEventKindEnum": "exams.models.ApplicationEvent.Kind",
        "QuestionKindEnum": "exams.models.QuestionKind",
        "AttemptStateEnum": "exams.models.AttemptState",
    },
}

# --- Domain settings (policy, editable per deployment).
# Yearly training hours an inspector must complete where no region policy says otherwise
# (national outline: 60; a province may set its own per year in the admin).
TRAINING_REQUIRED_HOURS = env_int("TRAINING_REQUIRED_HOURS", 60)
# E-mail reminders go to enrolled inspectors this many days before a batch starts.
TRAINING_REMINDER_DAYS_BEFORE = env_int("TRAINING_REMINDER_DAYS_BEFORE", 3)
# An enforcement certificate is valid this many years from issue (3 to 6 by province; 5 here),
# and may be renewed this many days before it runs out.
CERTIFICATE_VALIDITY_YEARS = env_int("CERTIFICATE_VALIDITY_YEARS", 5)
CERTIFICATE_RENEWAL_WINDOW_DAYS = env_int("CERTIFICATE_RENEWAL_WINDOW_DAYS", 90)
# What a passed qualification exam does: "application" opens a 申领 application that the levels
# approve (exams.applications), "issue" issues the certificate at once (the behaviour before).
CERTIFICATE_ON_PASS = os.environ.get("CERTIFICATE_ON_PASS", "application")
# Finished export files are deleted after this many days (a beat task); a running export
# whose worker has not reported for EXPORT_STALE_SECONDS is handed to another worker.
EXPORT_RETENTION_DAYS = env_int("EXPORT_RETENTION_DAYS", 30)
EXPORT_STALE_SECONDS = env_int("EXPORT_STALE_SECONDS", 120)
# The Celery queue export jobs go to (a deployment may give exports their own workers).
EXPORT_QUEUE = os.environ.get("EXPORT_QUEUE", "celery")
# The overview page shows stored figures (refreshed by the beat every OVERVIEW_REFRESH_SECONDS)
# with the time they were computed; older than OVERVIEW_MAX_AGE_SECONDS it says so and asks for
# a refresh (docs/operations.md).
OVERVIEW_MAX_AGE_SECONDS = env_int("OVERVIEW_MAX_AGE_SECONDS", 600)
# An export's temporary file lives in EXPORT_TMP_DIR (empty: the system's temporary folder)
# until it is done; leftovers of killed runs older than EXPORT_TMP_MAX_AGE_HOURS are swept.
# A job claimed EXPORT_MAX_ATTEMPTS times without finishing is marked failed.
EXPORT_TMP_DIR = os.environ.get("EXPORT_TMP_DIR", "")
EXPORT_TMP_MAX_AGE_HOURS = env_int("EXPORT_TMP_MAX_AGE_HOURS", 6)
EXPORT_MAX_ATTEMPTS = env_int("EXPORT_MAX_ATTEMPTS", 5)
# On PostgreSQL an export's reads run in threads beside the writing, each on its own
# connection (up to five per running export), in one shared read-only snapshot, with these
# settings for their transactions: JIT compiles each big aggregate for seconds and saves
# nothing here, and sorts of a million rows spill to disk at the default 4 MB work_mem.
REPORTS_PARALLEL_READS = env_bool("REPORTS_PARALLEL_READS", True)
REPORTS_DB_SESSION = {"jit": "off", "work_mem": os.environ.get("REPORTS_WORK_MEM", "64MB")}
# Test hook for the worker-death test only: sleep this long at each progress step.
EXPORT_STEP_DELAY_SECONDS = float(os.environ.get("EXPORT_STEP_DELAY_SECONDS", "0"))
# Public certificate check (/verify/ and its API): lookups per client, page and API together.
VERIFY_RATE = os.environ.get("VERIFY_RATE", "30/min")
# Absolute base of links that leave the site (the QR code on a certificate); empty: the
# host of the current request.
SITE_URL = os.environ.get("SITE_URL", "")
# QR sign-in (training.checkin): the local hours in which scans are taken, from the first up to
# (not including) the second ("7-21": 07:00-20:59), and typed 6-digit codes per signed-in user.
CHECKIN_HOURS = tuple(int(h) for h in os.environ.get("CHECKIN_HOURS", "7-21").split("-", 1))
CHECKIN_CODE_RATE = os.environ.get("CHECKIN_CODE_RATE", "10/min")
ROSTER_IMPORT_MAX_ROWS = env_int("ROSTER_IMPORT_MAX_ROWS", 200_000)
ROSTER_IMPORT_MAX_BYTES = env_int("ROSTER_IMPORT_MAX_BYTES", 50 * 1024 * 1024)
# Every upload (core.uploads): what a file may hold before it is refused unread. The sheet is
# read as a stream, so memory follows the held parts (shared strings), not the sheet's size.
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 50 * 1024 * 1024)  # the file as sent
UPLOAD_MAX_ROWS = env_int("UPLOAD_MAX_ROWS", ROSTER_IMPORT_MAX_ROWS + 1_000)  # sheet rows, header included
UPLOAD_MAX_COLUMNS = env_int("UPLOAD_MAX_COLUMNS", 100)
UPLOAD_MAX_CELL_CHARS = env_int("UPLOAD_MAX_CELL_CHARS", 32_767)  # Excel's own limit
UPLOAD_MAX_UNPACKED_BYTES = env_int("UPLOAD_MAX_UNPACKED_BYTES", 300 * 1024 * 1024)  # all parts of an .xlsx
UPLOAD_MAX_PART_BYTES = env_int("UPLOAD_MAX_PART_BYTES", 150 * 1024 * 1024)  # any one part, unpacked
UPLOAD_MAX_SHARED_STRINGS_BYTES = env_int("UPLOAD_MAX_SHARED_STRINGS_BYTES", 64 * 1024 * 1024)  # held in memory
UPLOAD_MAX_ZIP_MEMBERS = env_int("UPLOAD_MAX_ZIP_MEMBERS", 1_000)
UPLOAD_MAX_COMPRESSION_RATIO = env_int("UPLOAD_MAX_COMPRESSION_RATIO", 200)  # parts over 1 MB unpacked
UPLOAD_MAX_XLS_BYTES = env_int("UPLOAD_MAX_XLS_BYTES", 16 * 1024 * 1024)  # old .xls is read whole
UPLOAD_MAX_XLS_CELLS = env_int("UPLOAD_MAX_XLS_CELLS", 2_000_000)  # its used area, rows x columns
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- Production hardening: on whenever DEBUG is off, so also when DJANGO_DEBUG is forgotten.
# DJANGO_SECURE_SSL_REDIRECT=0 only where the proxy redirects to HTTPS itself (or on loopback).
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "core.logfilters.RedactPersonalData"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    # Django's default "django" logger has a console handler of its own; drop it so that
    # django.* lines go through root once instead of printing twice.
    "loggers": {"django": {"handlers": [], "propagate": True}},
}
