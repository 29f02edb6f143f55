"""What every benchmark shares: the failure exit, Django set-up, benchmark databases,
fake people with valid ID numbers, measuring, the machine, gunicorn, bench/README.md.

A benchmark module keeps only what it measures; everything here is used by two or more:

- ``BenchError`` and ``run_main(main)``: a benchmark whose figures would mean nothing raises
  ``BenchError``; ``run_main`` prints ``BENCHMARK FAILED: ...`` and exits 1.
- Databases: ``scratch_database`` (a throwaway SQLite file, or a ``bench_<name>_<pid>``
  database on the DATABASE_URL server, dropped afterwards) for in-process benchmarks;
  ``database_url`` / ``ensure_database`` / ``drop_database`` / ``fresh_database`` for a
  named PostgreSQL benchmark database (never ``test``, ``postgres`` or a template).
- ``django_setup``: the project's settings in this process, with DEBUG off (no query log)
  and a throwaway secret key when none is given.
- ``REGIONS`` / ``make_regions``, ``national_ids``, ``person_name``, ``active_inspectors``: a
  region tree and people whose ID numbers pass ``personnel.idcard`` (check digit, birth date).
- ``Measure`` (wall clock, CPU, peak RSS growth), ``count_queries``, ``versions``, ``machine``.
- ``gunicorn`` and the process-group, HTTP and environment helpers of the server benchmarks.
- ``write_readme_figures``: a benchmark's latest figures replace its previous ones in
  bench/README.md (the dated history lives in git log).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import http.client
import os
import platform
import random
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
OUT_DIR = BASE_DIR / "bench" / "out"
README = BASE_DIR / "bench" / "README.md"
FORBIDDEN_DATABASES = {"test", "postgres", "template0", "template1"}
SERVER_DB_SCHEMES = ("postgres://", "postgresql://", "pgsql://", "postgis://", "mysql://")


class BenchError(RuntimeError):
    """Something is wrong with the set-up or the results: the figures would mean nothing."""


def run_main(main: Callable[[], int]) -> None:
    """Run a benchmark's ``main`` and exit with its code; ``BenchError`` exits 1 with
    ``BENCHMARK FAILED: <why>`` on stderr."""
    try:
        code = main()
    except BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        code = 1
    sys.exit(code)


# --- Django and databases -------------------------------------------------------------------------


def bench_env(**extra: str) -> dict:
    """This process's environment for a benchmark: a throwaway secret key when none is set
    (settings refuse to start without one while DEBUG is off), then ``extra``."""
    env = dict(os.environ)
    if not env.get("DJANGO_SECRET_KEY"):
        env["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
    env.update(extra)
    return env


def django_setup(*, database_url: str | None = None, env: dict | None = None) -> None:
    """Set Django up in this process: ``env`` (default: ``bench_env()``) is applied to
    os.environ first, DATABASE_URL set when given. DEBUG is forced off: with it on every
    cursor keeps its queries, which no worker does."""
    os.environ.update(bench_env() if env is None else env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    if str(BASE_DIR) not in sys.path:
        sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()
    from django.conf import settings

    settings.DEBUG = False


def scratch_database(tmpdir: str, *, name: str = "bench") -> tuple[str, Callable[[], None]]:
    """Set Django up on a throwaway, migrated database; return its description and a teardown.

    A SQLite file in ``tmpdir``, or, when DATABASE_URL names a database server, a database
    ``bench_<name>_<pid>`` created on that server and dropped by the teardown: the database
    DATABASE_URL names is never written to."""
    server = os.environ.get("DATABASE_URL", "").startswith(SERVER_DB_SCHEMES)
    django_setup(database_url=None if server else f"sqlite:///{tmpdir}/bench.sqlite3")

    from django.core.management import call_command
    from django.db import connection

    if server:
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"bench_{name}_{os.getpid()}"
        original_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)

        def teardown() -> None:
            connection.creation.destroy_test_db(original_name, verbosity=0)

    else:
        call_command("migrate", verbosity=0)

        def teardown() -> None:
            connection.close()

    return f"{connection.vendor} {connection.settings_dict['NAME']}", teardown


def database_url(url: str | None, default: str) -> str:
    """``url``, else DATABASE_URL, else ``default``: a PostgreSQL database of the benchmark's
    own (BenchError for another engine or for test/postgres/template databases)."""
    url = url or os.environ.get("DATABASE_URL") or default
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise BenchError(f"DATABASE_URL must name a PostgreSQL database, not {url!r}")
    name = parts.path.lstrip("/")
    if not name or name in FORBIDDEN_DATABASES:
        raise BenchError(
            f"refusing to use database {name!r}: pick a scratch database such as {default.rsplit('/')[-1]}"
        )
    return url


def _admin_conninfo(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or name in FORBIDDEN_DATABASES:
        raise BenchError(f"refusing to create or drop database {name!r}")
    return urlunsplit(parts._replace(path="/postgres")), name


def ensure_database(url: str, *, fresh: bool = False) -> bool:
    """Create the database if missing (``fresh``: drop it first). True if created."""
    import psycopg
    from psycopg import sql

    admin_url, name = _admin_conninfo(url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None
        if exists and fresh:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = False
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return not exists


def drop_database(url: str) -> None:
    """Drop the database if it exists (connections to it are closed by force)."""
    import psycopg
    from psycopg import sql

    admin_url, name = _admin_conninfo(url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def fresh_database(url: str, *, keep: bool = False) -> Iterator[str]:
    """A PostgreSQL benchmark database created anew, dropped afterwards unless ``keep``."""
    ensure_database(url, fresh=True)
    try:
        yield url
    finally:
        if not keep:
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
            drop_database(url)


# --- fake people ----------------------------------------------------------------------------------

# code, name, level, parent code
REGIONS = (
    ("130000", "河北省", "province", None),
    ("130100", "石家庄市", "city", "130000"),
    ("130200", "唐山市", "city", "130000"),
    ("130300", "秦皇岛市", "city", "130000"),
    ("130102", "长安区", "county", "130100"),
    ("130104", "桥西区", "county", "130100"),
    ("130105", "新华区", "county", "130100"),
    ("130202", "路南区", "county", "130200"),
    ("130203", "路北区", "county", "130200"),
    ("130302", "海港区", "county", "130300"),
)
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华玉兰建国志红亮"


def make_regions(regions: Sequence[tuple] = REGIONS) -> dict:
    """Save the region tree (``(code, name, level, parent code)`` rows, parents first);
    return the regions by code."""
    from personnel.models import Region

    by_code: dict = {}
    for code, name, level, parent in regions:
        region = Region(code=code, name=name, level=level, parent=by_code.get(parent))
        region.save()  # computes the path
        by_code[code] = region
    return by_code


def national_id(region_code: str, birth: dt.date, sequence: int) -> str:
    """The valid 18-character ID number of that region, birth date and sequence (0-999)."""
    from personnel import idcard

    return idcard.make(f"{region_code}{birth:%Y%m%d}{sequence:03d}")


def national_ids(
    rng: random.Random,
    region_codes: Sequence[str],
    *,
    born_from: dt.date = dt.date(1962, 1, 1),
    years: int = 38,
) -> Iterator[tuple[str, dt.date, str]]:
    """Endless distinct valid ID numbers: ``(region code, birth date, ID number)``, the
    region drawn from ``region_codes``, the birth date within ``years`` of ``born_from``."""
    seen: set[str] = set()
    while True:
        region = rng.choice(region_codes)
        birth = born_from + dt.timedelta(days=rng.randrange(years * 365))
        sequence = rng.randrange(1000)
        key = f"{region}{birth:%Y%m%d}{sequence:03d}"
        if key in seen:
            continue
        seen.add(key)
        yield region, birth, national_id(region, birth, sequence)


def person_name(rng: random.Random) -> str:
    """A Chinese name of two or three characters."""
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def active_inspectors(rng: random.Random, regions: dict, count: int, **born) -> list:
    """``count`` unsaved active inspectors of mixed sectors in ``regions`` (by code), with
    distinct valid ID numbers and the gender and birth date those numbers give; ``born``:
    ``born_from`` and ``years`` of ``national_ids``."""
    from personnel import idcard
    from personnel.models import Inspector, Sector

    sectors = [s.value for s in Sector]
    people = national_ids(rng, sorted(regions), **born)
    rows = []
    for _ in range(count):
        code, _birth, number = next(people)
        parsed = idcard.parse(number)
        rows.append(
            Inspector(
                name=person_name(rng),
                national_id=parsed.value,
                gender=parsed.gender,
                birth_date=parsed.birth_date,
                region=regions[code],
                sector=rng.choice(sectors),
                status="active",
            )
        )
    return rows


# --- measuring ------------------------------------------------------------------------------------


def proc_status_kb(key: str) -> int | None:
    """A ``/proc/self/status`` figure in kB (VmRSS, VmHWM), or None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Linux lets a process reset its own peak RSS (VmHWM) by writing 5 to clear_refs."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


@dataclass
class Measure:
    """Wall-clock seconds, CPU seconds and peak RSS growth (MB) of the block it wraps."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process only: a database server's work is not in it
    peak_rss_delta_mb: float | None = None
    _start: float = 0.0
    _cpu_start: float = 0.0
    _rss_before: int | None = None
    _peak_resettable: bool = False

    def __enter__(self) -> Measure:
        gc.collect()
        self._peak_resettable = reset_peak_rss()
        if self._peak_resettable:
            self._rss_before = proc_status_kb("VmRSS")
        else:  # high-water mark of the whole process: only a new peak shows up
            self._rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self._cpu_start = time.process_time()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start
        self.cpu_seconds = time.process_time() - self._cpu_start
        peak = proc_status_kb("VmHWM") if self._peak_resettable else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if peak is not None and self._rss_before is not None:
            self.peak_rss_delta_mb = round(max(peak - self._rss_before, 0) / 1024, 1)


@contextlib.contextmanager
def count_queries(counter: dict, key: str = "queries"):
    """Add to ``counter[key]`` every statement sent on the default connection (no query log
    needed: DEBUG stays off)."""
    from django.db import connection

    counter.setdefault(key, 0)

    def wrapper(execute, sql, params, many, context):
        counter[key] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield counter


def versions(*packages: str) -> dict:
    """Python's version and each installed package's (None where missing)."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict = {"python": platform.python_version()}
    for package in packages:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def load_average() -> list[float] | None:
    """Other work on the machine skews wall-clock figures: record how busy it was."""
    try:
        return [round(load, 2) for load in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict:
    """The machine, the load at start and the versions in use (the server ones when Django
    is set up: PostgreSQL, gunicorn)."""
    load = load_average() or [None, None]
    info = {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_at_start": load[:2],
    }
    with contextlib.suppress(Exception):
        import django
        import psycopg

        info["django"] = django.get_version()
        info["psycopg"] = psycopg.__version__
    with contextlib.suppress(Exception):
        import rest_framework

        info["djangorestframework"] = rest_framework.VERSION
    with contextlib.suppress(Exception):
        info["gunicorn"] = subprocess.run(
            [str(Path(sys.executable).with_name("gunicorn")), "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    with contextlib.suppress(Exception):
        from django.db import connection

        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version")
                info["postgresql"] = cursor.fetchone()[0]
    return info


# --- subprocesses and the server benchmarks -------------------------------------------------------


def manage(args: list[str], *, env: dict, timeout: int = 900) -> str:
    """Run ``manage.py`` with the given environment; its output, or BenchError."""
    done = subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"manage.py {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done.stdout


def command_env(url: str, **extra: str) -> dict:
    """The environment of a management command run against the benchmark database."""
    env = {k: v for k, v in bench_env().items() if k not in ("DJANGO_SETTINGS_MODULE", "CELERY_BROKER_URL")}
    env.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="config.settings", **extra)
    return env


def server_env(url: str, *, settings_module: str = "config.settings", cache_url: str | None, **extra: str) -> dict:
    """A production-like environment: DEBUG off, a secret key, one allowed host, no HTTPS
    redirect (plain HTTP on loopback), persistent database connections."""
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "CACHE_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DATABASE_URL=url,
        DATABASE_CONN_MAX_AGE="600",
        DJANGO_LOG_LEVEL="WARNING",
        PYTHONPATH=str(BASE_DIR),
    )
    if cache_url:
        env["CACHE_URL"] = cache_url
    env.update(extra)
    return env


def http_request(
    base_url: str,
    method: str,
    path: str,
    *,
    headers: dict | None = None,
    body: bytes | None = None,
    timeout: float = 30,
) -> tuple[int, bytes]:
    """One request on a fresh connection (loopback only): (status, body)."""
    parts = urlsplit(base_url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise BenchError(f"refusing to send traffic to {parts.hostname}: loopback only")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def http_get(base_url: str, path: str, *, headers: dict | None = None, timeout: float = 30) -> tuple[int, bytes]:
    return http_request(base_url, "GET", path, headers=headers, timeout=timeout)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen
    base_url: str
    log_path: Path

    def worker_pids(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    stat = (entry / "stat").read_text()
                    fields = stat[stat.rindex(")") + 2 :].split()
                    if int(fields[1]) == self.proc.pid:  # ppid
                        pids.append(int(entry.name))
        return pids

    def cpu_seconds(self) -> float:
        """User + system CPU time of the master and its live workers so far."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in [self.proc.pid, *self.worker_pids()]:
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{pid}/stat").read_text()
                fields = stat[stat.rindex(")") + 2 :].split()
                total += int(fields[11]) + int(fields[12])
        return total / tick


def stop_process_group(proc: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM the process group, SIGKILL whatever is left after ``grace`` seconds."""
    pgid = proc.pid  # started with start_new_session=True: its own group, id = its pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


@contextlib.contextmanager
def gunicorn(env: dict, *, workers: int, worker_class: str, threads: int, log_path: Path, ready_timeout: float = 60):
    """gunicorn on 127.0.0.1 and a free port, in its own process group; stopped on exit."""
    binary = Path(sys.executable).with_name("gunicorn")
    if not binary.exists():
        raise BenchError(f"{binary} is missing: pip install -r requirements.txt")
    port = free_port()
    cmd = [
        str(binary),
        "config.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        f"--worker-class={worker_class}",
        f"--threads={threads}",
        "--timeout=60",
        "--graceful-timeout=5",
        "--backlog=2048",
        "--log-level=warning",
        "--error-logfile=-",
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            cmd, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            server = Server(proc=proc, base_url=f"http://127.0.0.1:{port}", log_path=log_path)
            deadline = time.monotonic() + ready_timeout
            while True:
                if proc.poll() is not None:
                    raise BenchError(f"gunicorn exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
                with contextlib.suppress(OSError):
                    if http_get(server.base_url, "/healthz", timeout=5)[0] == 200:
                        break
                if time.monotonic() > deadline:
                    raise BenchError(f"gunicorn not ready after {ready_timeout:.0f} s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.3)
            yield server
        finally:
            stop_process_group(proc)


def install_signal_handlers() -> None:
    """Turn SIGTERM and SIGHUP into SystemExit, so that ``finally`` blocks stop servers and
    drop databases."""

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


# --- bench/README.md ------------------------------------------------------------------------------


def readme_markers(name: str) -> tuple[str, str]:
    return f"<!-- {name} figures: begin -->", f"<!-- {name} figures: end -->"


def write_readme_figures(name: str, block: str, readme: Path = README) -> None:
    """Put ``block`` between the benchmark's markers in bench/README.md, in place of the
    figures there (re-read now: others edit the file); at the end when the markers are
    missing. Older figures stay in git log."""
    begin, end = readme_markers(name)
    text = readme.read_text(encoding="utf-8") if readme.exists() else "# Benchmarks\n"
    section = f"{begin}\n{block.strip()}\n{end}"
    start, stop = text.find(begin), text.find(end)
    if start != -1 and stop > start:
        text = text[:start] + section + text[stop + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    readme.write_text(text, encoding="utf-8")
