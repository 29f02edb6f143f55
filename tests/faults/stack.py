"""The fault test's own services and processes: a PostgreSQL cluster it may restart, a Redis
it may freeze and kill, and the app on them (gunicorn, a Celery worker, beat).

Nothing here touches the machine's shared PostgreSQL (5432) or Redis (6379): the cluster is
made by ``initdb`` in a directory of its own and both listen on free loopback ports. Every
process is started in its own session and stopped by its process group.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import free_port, stop_process_group

BASE_DIR = Path(__file__).resolve().parent.parent.parent
PG_BIN = Path(os.environ.get("FAULTS_PG_BIN", "/usr/lib/postgresql/15/bin"))
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class StackError(RuntimeError):
    pass


def missing_binaries() -> list[str]:
    wanted = [PG_BIN / "initdb", PG_BIN / "pg_ctl", Path(REDIS_SERVER), Path(sys.executable).with_name("gunicorn")]
    return [str(p) for p in wanted if not p.exists()]


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its commands as the postgres user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Postgres:
    """A throwaway cluster: ``initdb`` into a directory under /tmp owned by postgres (pytest's
    own tmp_path is root-only), trust authentication on 127.0.0.1 and a free port."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="faults-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, user="postgres", group="postgres")
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-N", "-E", "UTF8"])

    def _run(self, cmd: list[str], timeout: float = 60) -> None:
        done = subprocess.run(_as_postgres(cmd), capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise StackError(
                f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{self.tail()}"
            )

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.dir} -h 127.0.0.1 -F -c max_connections=100"
        self._run(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", *extra, action]
        )

    def url(self, name: str = "faults") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        self._ctl("start")
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE faults")

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every connection is cut, the server is back when it returns."""
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._ctl("stop", "-m", "immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class Redis:
    """A redis-server without persistence on a free port; frozen with SIGSTOP (the socket stays
    open and nothing answers), killed with SIGKILL and started again empty on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.log = workdir / "redis.log"
        self.proc: subprocess.Popen | None = None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(lambda: port_open(self.port), 15, "redis-server to listen")

    def freeze(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)
            stop_process_group(self.proc, grace=5)


class Process:
    """A subprocess of the app with its log; stopped (or killed) by its process group."""

    def __init__(self, name: str, cmd: list[str], env: dict, log: Path) -> None:
        self.name, self.log = name, log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group (a Celery worker's main process and its pool at once)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            stop_process_group(self.proc, grace=10)
        else:  # the leader is gone: make sure nothing of its group is left
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def app_env(*, database_url: str, broker_url: str, cache_url: str, media_root: Path, **extra: str) -> dict:
    """The environment of every app process: a deployment's (debug off, a secret key), on the
    private services only. Nothing of the test run's own environment (its DATABASE_URL and
    broker, tests.settings, DJANGO_DEBUG=1) leaks in."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_MEDIA_ROOT=str(media_root),
        DJANGO_LOG_LEVEL="WARNING",
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        CACHE_URL=cache_url,
        PYTHONPATH=str(BASE_DIR),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def manage(args: list[str], env: dict, timeout: float = 300) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise StackError(f"manage.py {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done.stdout


def python_module(module: str, args: list[str], env: dict, timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise StackError(f"python -m {module} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done.stdout


def gunicorn(env: dict, port: int, log: Path, workers: int = 3) -> Process:
    binary = Path(sys.executable).with_name("gunicorn")
    return Process(
        "gunicorn",
        [
            str(binary),
            "config.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            f"--workers={workers}",
            "--timeout=30",
            "--graceful-timeout=5",
            "--log-level=warning",
            "--error-logfile=-",
        ],
        env,
        log,
    )


def celery_worker(env: dict, name: str, log: Path, queues: str, concurrency: int = 2) -> Process:
    return Process(
        name,
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "info",
            "-c",
            str(concurrency),
            "-Q",
            queues,
            "-n",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
        ],
        env,
        log,
    )


def celery_beat(env: dict, workdir: Path, log: Path) -> Process:
    return Process(
        "beat",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "-l",
            "info",
            "-s",
            str(workdir / "beat-schedule"),
            "--pidfile=",
        ],
        env,
        log,
    )
