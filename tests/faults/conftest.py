"""Fault tests: the real application under gunicorn on a database of the test's own (a SQLite file,
or a PostgreSQL database of its own when DATABASE_URL names PostgreSQL), killed, starved of its
database or of disk, and checked from the database afterwards.

Everything started here is stopped in a finally (the server's whole process group, the TCP proxy,
the databases), whatever the test did."""
from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql"))


def _pg_base() -> str:
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", os.environ["DATABASE_URL"])


def _pg_admin():
    return create_engine(_pg_base().rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")


@contextmanager
def own_database(tmp_path: Path, label: str):
    """A database for one test: a SQLite file under tmp_path, or `<DATABASE_URL's db>_<worker>_<label>`
    on PostgreSQL (created here, dropped at the end with whatever is still connected to it)."""
    if not is_postgres():
        yield f"sqlite:///{tmp_path / (label + '.sqlite3')}"
        return
    base = _pg_base()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"{base.rsplit('/', 1)[1]}_{worker}_{label}"[:63]
    admin = _pg_admin()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(url: str, media: Path, **spec) -> dict:
    """Migrate and seed the database in a subprocess (tests/faults/seed.py); its JSON answer."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CADRE_") and k != "DATABASE_URL"}
    arg = json.dumps({"url": url, "media": str(media), **spec})
    done = subprocess.run([sys.executable, "-m", "tests.faults.seed", arg], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


class Server:
    """The application under gunicorn (deploy/gunicorn.conf.py: gthread, 2 processes × 4 threads)
    in a process group of its own, so that `kill -9` takes the master and every worker at once."""

    def __init__(self, tmp: Path, db_url: str, media: Path, *, workers: int = 2, threads: int = 4, **extra_env):
        self.tmp, self.port = tmp, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "gunicorn.log"
        self.proc: subprocess.Popen | None = None
        self.dead: list[int] = []  # process groups of earlier runs (checked gone at the end)
        self.starts = 0
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CADRE_", "GUNICORN_", "PYTEST_")) and k not in ("DATABASE_URL", "WEB_CONCURRENCY")}
        env.update({"CADRE_ENV": "development", "DATABASE_URL": db_url, "CADRE_JOBS_BACKEND": "immediate",
                    "CADRE_MEDIA_ROOT": str(media), "CADRE_SEARCH_INDEX_DIR": str(tmp / "index"),
                    "GUNICORN_BIND": f"127.0.0.1:{self.port}", "GUNICORN_WORKERS": str(workers),
                    "GUNICORN_THREADS": str(threads), "GUNICORN_ACCESS_LOG": "", "GUNICORN_MAX_REQUESTS": "0",
                    # the still-studying check never comes up in these tests
                    "CADRE_LEARNING_CHECK_MIN_MINUTES": "10000", "CADRE_LEARNING_CHECK_MAX_MINUTES": "10000"})
        env.update({k: str(v) for k, v in extra_env.items()})
        self.env = env

    def start(self, timeout: float = 30) -> None:
        assert self.proc is None
        out = open(self.log, "ab")
        self.proc = subprocess.Popen([GUNICORN, "--config", "deploy/gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                                     env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        self.starts += 1
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"gunicorn did not answer within {timeout} s:\n{self.tail()}")

    def pids(self) -> list[int]:
        """The master and its workers (the process group)."""
        if self.proc is None:
            return []
        out = subprocess.run(["pgrep", "-g", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def kill9(self) -> int:
        """SIGKILL to the whole process group (master and workers at once); how many processes died.
        Their listening socket dies with them, so a new server can start on the port at once."""
        assert self.proc is not None
        victims = self.pids()
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.dead.append(self.proc.pid)
        self.proc = None
        return len(victims)

    def _reap(self, pgid: int) -> None:
        # the workers were children of the master: once it is gone they are re-parented and reaped
        # by init; wait until none of the group is left
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True).returncode != 0:
                return
            time.sleep(0.05)
        raise RuntimeError(f"processes of group {pgid} are still alive")

    def stop(self) -> None:
        """Stop the server (SIGTERM, SIGKILL after 3 s) and make sure no process of any of its runs is left."""
        if self.proc is not None:
            pgid = self.proc.pid
            try:
                os.killpg(pgid, signal.SIGTERM)
                self.proc.wait(timeout=3)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
            self.dead.append(pgid)
            self.proc = None
        for pgid in self.dead:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap(pgid)

    def tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-n:]
        except OSError:
            return ""


@contextmanager
def running(server: Server):
    try:
        server.start()
        yield server
    finally:
        server.stop()


class TcpProxy:
    """A TCP relay between the application and PostgreSQL that the test can take down: `down()`
    closes the listening socket (new connections are refused) and every relayed connection (the
    server's sessions see "server closed the connection unexpectedly"); `up()` listens again on the
    same port."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connections = 0

    def up(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self._listener = s
        self._stop.clear()
        self._thread = threading.Thread(target=self._accept, args=(s,), daemon=True)
        self._thread.start()

    def down(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                r, _w, _x = select.select([listener], [], [], 0.1)
                if not r:
                    continue
                client, _addr = listener.accept()
            except (OSError, ValueError):
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self.connections += 1
            with self._lock:
                self._conns.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        pair = {a: b, b: a}
        try:
            while not self._stop.is_set():
                r, _w, _x = select.select([a, b], [], [], 0.2)
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        raise OSError("closed")
                    pair[s].sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._conns.discard(a)
                self._conns.discard(b)
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass


@contextmanager
def proxied(url: str):
    """(proxy, the URL through it) for a PostgreSQL URL; the proxy is taken down at the end."""
    m = re.match(r"^(postgresql\+psycopg://[^@/]*@?)([^:/]+)(?::(\d+))?(/.*)$", url)
    assert m, url
    proxy = TcpProxy((m.group(2), int(m.group(3) or 5432)))
    proxy.up()
    try:
        yield proxy, f"{m.group(1)}127.0.0.1:{proxy.port}{m.group(4)}"
    finally:
        proxy.down()


class Api:
    """A cadre's or admin's HTTP client against the live server (JSON API, CSRF header)."""

    def __init__(self, base: str):
        self.base = base
        self.s = requests.Session()
        self.csrf: str | None = None

    def login(self, login: str, password: str) -> requests.Response:
        r = self.s.post(self.base + "/api/v1/auth/login", json={"login": login, "password": password}, timeout=30)
        if r.status_code == 200:
            self.csrf = r.json()["csrf_token"]
        return r

    def request(self, method: str, path: str, **kw) -> requests.Response:
        headers = kw.pop("headers", {})
        if self.csrf and method != "GET":
            headers["X-CSRFToken"] = self.csrf
        kw.setdefault("timeout", 30)
        return self.s.request(method, self.base + path, headers=headers, **kw)


@pytest.fixture
def engine_for():
    """engine_for(url): a plain SQLAlchemy engine on a test's own database (disposed at the end)."""
    engines = []

    def make(url: str):
        e = create_engine(url)
        engines.append(e)
        return e

    yield make
    for e in engines:
        e.dispose()
