import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# The sweeps (requeue of stuck exports, purge, temporary files) have a queue of their own, so
# that they never wait behind the exports they rescue; `make worker` consumes both.
HOUSEKEEPING_QUEUE = "housekeeping"

app = Celery("inspector_training")
# Every Celery setting lives in Django settings under the CELERY_ prefix (the routes below
# are defaults a CELERY_TASK_ROUTES there would replace).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.add_defaults(
    {
        "task_routes": {
            "reports.tasks.requeue_stale_exports": {"queue": HOUSEKEEPING_QUEUE},
            "reports.tasks.purge_old_exports": {"queue": HOUSEKEEPING_QUEUE},
            # The beat's heartbeat must not wait behind long exports: /healthz would call beat
            # missing while it runs.
            "core.tasks.beat_heartbeat": {"queue": HOUSEKEEPING_QUEUE},
        }
    }
)


@app.task(name="config.ping")
def ping():
    """Round-trip check used by health checks and the worker test."""
    return "pong"
