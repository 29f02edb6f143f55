# Two commands for a fresh clone (only Python 3.11+ needed):
#   make run    virtualenv + install + migrate + demo data, then serve on 127.0.0.1:8000
#   make test   the test suite on SQLite, Celery eager
#
# Debug is off unless asked for: run, migrate, seed and lint ask for it (DJANGO_DEBUG=1, the
# embedded development key); worker and beat read the environment as a deployment sets it.
# The test run gets DJANGO_DEBUG=1 from its own settings module, tests/settings.py.
#
# VENV may be overridden (CI does: `make test VENV=/path/to/fresh/venv`).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.requirements.stamp
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
DEV_ENV := DJANGO_DEBUG=1

# The real services this machine runs; used by `make test-services`.
SERVICES_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
SERVICES_BROKER_URL ?= redis://127.0.0.1:6379/0

.PHONY: venv run migrate seed test lint test-services worker beat bench bench-export clean

venv: $(STAMP)

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (PYTHON=$(PYTHON))")'
	$(PYTHON) -m venv $(VENV)

# Reinstall only when requirements.txt changes (or the venv is new).
$(STAMP): requirements.txt | $(PY)
	$(PIP) install --quiet -r requirements.txt
	@touch $(STAMP)

migrate: venv
	$(DEV_ENV) $(PY) manage.py migrate --noinput

seed: migrate
	$(DEV_ENV) $(PY) manage.py seed_demo

run: seed
	$(DEV_ENV) $(PY) manage.py runserver $(HOST):$(PORT)

test: venv
	$(VENV)/bin/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(DEV_ENV) $(PY) manage.py check
	$(DEV_ENV) $(PY) manage.py makemigrations --check --dry-run

test-services: venv
	DATABASE_URL=$(SERVICES_DATABASE_URL) CELERY_BROKER_URL=$(SERVICES_BROKER_URL) REQUIRE_SERVICES=1 \
		$(VENV)/bin/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

worker: venv
	$(VENV)/bin/celery -A config worker -l info -Q celery,housekeeping

beat: venv
	$(VENV)/bin/celery -A config beat -l info

bench: venv
	$(PY) -m bench.roster_import

# The yearly workbook at 100k and 1M enrollments on PostgreSQL (database `bench`), against
# bare xlsxwriter; about 15 minutes here. BENCH_EXPORT_ARGS="--rows 100000" for a quick run.
BENCH_EXPORT_ARGS ?=
bench-export: venv
	$(PY) -m bench.export $(BENCH_EXPORT_ARGS)

# The overview page from its stored figures against the same page from scratch, on PostgreSQL
# (databases `bench_overview_100k`, `bench_overview_1m`, kept for --reuse), at 100k and 1M
# enrollments; checks the figures are equal; about 15 minutes here (seeding 1M about 4).
# BENCH_OVERVIEW_ARGS="--rows 100000 --reuse" for a quick run. Figures: bench/README.md.
BENCH_OVERVIEW_ARGS ?=
.PHONY: bench-overview
bench-overview: venv
	$(PY) -m bench.overview $(BENCH_OVERVIEW_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles bench/out
	find . -name __pycache__ -type d -not -path './.git/*' -prune -exec rm -rf {} +

# Load on gunicorn + PostgreSQL (database `bench_load`, seeded by seed_demo): /api/v1/me/ against
# the view it replaced (bench/me_before.py) and a bare Django view, the verify API against a bare
# view, driven by Debian's wrk (installed here when missing); prints issue 13's goals; about 4
# minutes. Its figures replace the previous ones in bench/README.md.
.PHONY: bench-load bench-enroll-storm
BENCH_LOAD_ARGS ?= --readme
bench-load: venv
	@command -v wrk >/dev/null 2>&1 || apt-get install -y -qq wrk || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(PY) -m bench.load $(BENCH_LOAD_ARGS)

# 1,000 concurrent enroll calls on a batch of 100 seats, three ways in one run (PostgreSQL, database
# `bench_enroll_storm`, created anew): over HTTP (gunicorn as docs/operations.md deploys it), the
# service called from 8 threads, and bare SQL from 8 threads (the peer); prints the rates, the
# ratios to bare SQL and the statements of the locked section; checks on every side 100 enrolled,
# 900 waitlisted in lock order, one event each, no 5xx. Its figures replace the previous ones in
# bench/README.md.
BENCH_ENROLL_STORM_ARGS ?= --readme
bench-enroll-storm: venv
	$(PY) -m bench.enroll_storm $(BENCH_ENROLL_STORM_ARGS)

# A 5,000-row qualification-exam score file imported on PostgreSQL (database `bench_scores`,
# created anew) through the bulk write and through the row-by-row write it replaced, in the
# same run; prints statements, seconds and the ratios (fails under 10x). BENCH_SCORES_ARGS="--rows 500" for a quick run.
.PHONY: bench-scores
BENCH_SCORES_ARGS ?=
bench-scores: venv
	$(PY) -m bench.scores $(BENCH_SCORES_ARGS)

# Bulk approval of 5,000 annual reviews against approving them one by one through the same
# service, in the same run, on a scratch PostgreSQL database (DATABASE_URL names the server);
# prints statements, seconds and the ratio; its figures replace the previous ones in
# bench/README.md. BENCH_APPLICATIONS_ARGS="--rows 500 --readme" for a quick run.
.PHONY: bench-applications
BENCH_APPLICATIONS_ARGS ?= --readme
bench-applications: venv
	$(PY) -m bench.applications $(BENCH_APPLICATIONS_ARGS)

# 2,000 candidates start one online sitting within a minute, each saves 50 answers one PUT at a
# time and submits, over HTTP on gunicorn + PostgreSQL (database `bench_online_exam`, created
# anew); the answer saves against a bare Django view saving one answer row (bench/bare_views.py),
# same run, same rows; checks every answer stored as sent and every result as recomputed, no 5xx;
# prints requests/s and p50/p95/p99 per phase and the ratio (goal 0.5). Its figures replace the
# previous ones in bench/README.md. BENCH_ONLINE_EXAM_ARGS="--candidates 200 --readme" for a quick run.
.PHONY: bench-online-exam
BENCH_ONLINE_EXAM_ARGS ?= --candidates 2000 --answers 50 --readme
bench-online-exam: venv
	$(PY) -m bench.online_exam $(BENCH_ONLINE_EXAM_ARGS)
