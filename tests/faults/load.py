"""A small mixed load on the app under test, every request recorded.

A few threads, each one kind of traffic at its own pace (about 20 requests a second in all):
the public certificate check (page and API), the inspector's ``/me/`` (page with a session and
API with a token), token logins, enroll and cancel through the API, export creation and its
polling, a batch read, and ``/healthz``. Each request goes on a fresh connection with a timeout
and is recorded with when it started and ended (seconds since the load began), its status (None
when no answer came), content type, Retry-After and the start of its body.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

TIMEOUT = 10.0


@dataclass
class Record:
    name: str
    method: str
    path: str
    start: float
    end: float
    status: int | None
    content_type: str = ""
    retry_after: str | None = None
    body: bytes = b""
    error: str = ""

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def is_json(self) -> bool:
        return self.content_type.split(";")[0].strip() == "application/json"

    @property
    def definite(self) -> bool:
        """An answer that says what happened: not a lost connection, not a server error."""
        return self.status is not None and self.status < 500

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def describe(self) -> str:
        what = self.error or f"{self.status} {self.content_type} {self.body[:160]!r}"
        return f"{self.name} {self.method} {self.path} at {self.start:.2f}s took {self.seconds:.2f}s: {what}"


@dataclass
class Load:
    port: int
    world: dict
    seed: int = 18
    records: list[Record] = field(default_factory=list)
    export_jobs: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._t0 = time.monotonic()
        # What the answers say the batch holds: enrollment id -> inspector, for each 201 not
        # cancelled since; and the inspectors a request left in doubt (no answer, or a 5xx:
        # its transaction may or may not have committed).
        self.holding: dict[int, int] = {}
        self.unsure: set[int] = set()

    def now(self) -> float:
        return time.monotonic() - self._t0

    # --- one request --------------------------------------------------------------------------

    def request(
        self, name: str, method: str, path: str, *, headers=None, body: bytes | None = None, source: str = ""
    ) -> Record:
        """One request; ``source``: the loopback address to send it from (the rate limits count
        per client address)."""
        headers = {"Host": "127.0.0.1", **(headers or {})}
        start = self.now()
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=TIMEOUT, source_address=(source, 0) if source else None
        )
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            record = Record(
                name,
                method,
                path,
                start,
                self.now(),
                response.status,
                response.getheader("Content-Type", ""),
                response.getheader("Retry-After"),
                data[:2000],
            )
        except (OSError, http.client.HTTPException) as exc:
            record = Record(name, method, path, start, self.now(), None, error=f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()
        with self._lock:
            self.records.append(record)
        return record

    def admin_headers(self) -> dict:
        return {"Authorization": f"Token {self.world['admin_token']}"}

    # --- the kinds of traffic -----------------------------------------------------------------

    def _verify(self, rng: random.Random) -> None:
        # The public check comes from many clients (loopback addresses 127.0.1.1-80), each far
        # below VERIFY_RATE; probe_verify_limit is the one client that goes over it.
        number = rng.choice(self.world["certificates"])
        source = f"127.0.1.{rng.randrange(1, 81)}"
        if rng.random() < 0.5:
            self.request("verify_page", "GET", f"/verify/{number}/", source=source)
        else:
            self.request("verify_api", "GET", f"/api/v1/certificates/verify/{number}/", source=source)

    def probe_verify_limit(self, count: int, source: str, threads: int = 3) -> list[Record]:
        """``count`` verify calls from one client (``source``), a few at a time."""
        number = self.world["certificates"][0]
        path = f"/api/v1/certificates/verify/{number}/"
        out: list[Record] = []

        def send(n: int) -> None:
            for _ in range(n):
                out.append(self.request("verify_probe", "GET", path, source=source))

        workers = [
            threading.Thread(target=send, args=(count // threads + (i < count % threads),)) for i in range(threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return out

    def _me(self, rng: random.Random) -> None:
        if rng.random() < 0.5:
            self.request("me_page", "GET", "/me/", headers={"Cookie": self.world["session_cookie"]})
        else:
            self.request(
                "me_api", "GET", "/api/v1/me/", headers={"Authorization": f"Token {self.world['inspector_token']}"}
            )

    def _login(self, rng: random.Random) -> None:
        body = urlencode({"username": "ts_admin", "password": "demo-pass-2024", "name": "faults"}).encode()
        self.request(
            "login",
            "POST",
            "/api/v1/auth/token/",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=body,
        )

    def _enroll_or_cancel(self, rng: random.Random) -> None:
        headers = {**self.admin_headers(), "Content-Type": "application/json"}
        with self._lock:
            held = list(self.holding.items())
        if held and rng.random() < 0.35:
            enrollment, inspector = rng.choice(held)
            record = self.request(
                "cancel",
                "POST",
                f"/api/v1/enrollments/{enrollment}/cancel/",
                headers=headers,
                body=json.dumps({"reason": "故障演练"}).encode(),
            )
            with self._lock:
                if record.status == 200 or not record.definite:
                    self.holding.pop(enrollment, None)
                if not record.definite:
                    self.unsure.add(inspector)
            return
        inspector = rng.choice(self.world["inspectors"])
        record = self.request(
            "enroll",
            "POST",
            f"/api/v1/batches/{self.world['batch']}/enroll/",
            headers=headers,
            body=json.dumps({"inspector": inspector}).encode(),
        )
        body = record.json() if record.status == 201 else None
        with self._lock:
            if isinstance(body, dict) and body.get("id"):
                self.holding[body["id"]] = inspector
            elif not record.definite:
                self.unsure.add(inspector)

    def _batch(self, rng: random.Random) -> None:
        self.request("batch_read", "GET", f"/api/v1/batches/{self.world['batch']}/", headers=self.admin_headers())

    def _export(self, rng: random.Random) -> None:
        body = {"kind": "yearly_totals", "year": self.world["year"], "region": "", "include_detail": False}
        self.create_export(body)
        with self._lock:
            jobs = list(self.export_jobs)
        if jobs:
            self.request("export_poll", "GET", f"/api/v1/exports/{rng.choice(jobs)}/", headers=self.admin_headers())

    def create_export(self, body: dict | None = None) -> Record:
        body = body or {"kind": "yearly_totals", "year": self.world["year"], "region": "", "include_detail": False}
        record = self.request(
            "export_create",
            "POST",
            "/api/v1/exports/",
            headers={**self.admin_headers(), "Content-Type": "application/json"},
            body=json.dumps(body).encode(),
        )
        data = record.json() if record.status == 202 else None
        if isinstance(data, dict) and data.get("id"):
            with self._lock:
                self.export_jobs.append(data["id"])
        return record

    def _healthz(self, rng: random.Random) -> None:
        self.request("healthz", "GET", "/healthz")

    # --- running ------------------------------------------------------------------------------

    def _loop(self, action, interval: float, seed: int) -> None:
        rng = random.Random(seed)
        # Start at different moments so that the kinds do not all fire together.
        self._stop.wait(rng.random() * interval)
        while not self._stop.is_set():
            began = time.monotonic()
            action(rng)
            self._stop.wait(max(interval - (time.monotonic() - began), 0.02))

    def start(self) -> None:
        plan = [
            (self._verify, 0.2),
            (self._me, 0.15),
            (self._me, 0.3),
            (self._login, 5.0),
            (self._enroll_or_cancel, 0.4),
            (self._batch, 0.5),
            (self._export, 5.0),
            (self._healthz, 0.2),
        ]
        for i, (action, interval) in enumerate(plan):
            thread = threading.Thread(
                target=self._loop, args=(action, interval, self.seed * 100 + i), name=f"load-{i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=TIMEOUT + 5)
