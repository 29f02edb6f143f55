"""A real Celery worker (not eager) executes a task sent through the broker.

Runs only when CELERY_BROKER_URL names a broker (Redis or RabbitMQ); under
REQUIRE_SERVICES=1 (CI) a missing broker is a failure, not a skip.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings

BASE_DIR = Path(__file__).resolve().parent.parent
REPLY_TIMEOUT = 60  # seconds: worker start-up plus one round trip
SHUTDOWN_TIMEOUT = 30


def _stop(worker: subprocess.Popen) -> int:
    """Warm shutdown (SIGTERM), then SIGKILL the whole process group if it hangs."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
    return worker.returncode


@pytest.mark.services("broker")
def test_real_worker_answers_ping_through_the_broker(tmp_path):
    broker = os.environ["CELERY_BROKER_URL"]
    # The RPC backend sends the result back over the broker itself, so the test needs
    # no result store and works the same on Redis and RabbitMQ.
    backend = "rpc://"
    # A queue and node name of our own: another worker on the same broker (a developer's
    # `make worker`, a parallel CI run) cannot take the task and answer in our place.
    tag = uuid.uuid4().hex[:12]
    queue = f"test-ping-{tag}"
    log_path = tmp_path / "worker.log"

    # given: settings were imported with a broker, so nothing runs in-process
    assert settings.CELERY_TASK_ALWAYS_EAGER is False

    env = {**os.environ, "CELERY_BROKER_URL": broker, "CELERY_RESULT_BACKEND": backend, "PYTHONUNBUFFERED": "1"}
    client = Celery("ping-client", broker=broker, backend=backend)
    client.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_always_eager=False,
        broker_connection_retry_on_startup=True,
    )

    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "-c",
                "1",
                "-l",
                "info",
                "-Q",
                queue,
                "-n",
                f"test-{tag}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            # when: the task is published to the broker, not run here
            started = time.monotonic()
            result = client.send_task("config.ping", queue=queue)

            # then: the worker process picks it up and answers
            try:
                reply = result.get(timeout=REPLY_TIMEOUT)
            except Exception as exc:
                pytest.fail(f"no reply from the worker ({exc!r}); worker log:\n{log_path.read_text(errors='replace')}")
            assert reply == "pong"
            assert result.status == "SUCCESS"
            assert time.monotonic() - started < REPLY_TIMEOUT
            assert worker.poll() is None, "the worker exited early"

            returncode = _stop(worker)
            assert returncode == 0, f"worker did not shut down cleanly ({returncode}):\n{log_path.read_text()}"
            assert "config.ping" in log_path.read_text(errors="replace")
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)
            client.close()
