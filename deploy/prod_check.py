"""`make prod-check`: the production stack on loopback, and a smoke journey through it.

PostgreSQL (a database of its own on 127.0.0.1:5432, dropped at the end), Redis (127.0.0.1:6379,
an empty database number of its own, flushed at the end), gunicorn with deploy/gunicorn.conf.py,
`flask worker` on Redis, and nginx with deploy/nginx/cadre.conf rendered for the check: the same
server blocks, with loopback ports, the paths of this checkout and of a temporary folder, and a
self-signed certificate made for the run in place of the real one, so that the TLS server block is
the one exercised (the app then sees https, as in production: Secure cookies, CSRF referrer
checks). nginx is installed through apt when missing.

The journey, through nginx: the HTTP → HTTPS redirect; a static file (served by nginx, gzip,
Cache-Control); a cadre logs in with a card and changes the initial password; the page's security
headers; a lesson video by Range (206 from nginx's internal location via X-Accel-Redirect); a
watch session with progress reports; an exam started and handed in; request size limits; the
client address from X-Forwarded-For; an administrator's background report export built by the
worker through Redis, downloaded and opened with openpyxl. Then a restore test: pg_dump of the
database, pg_restore into a new one, every table's row count and the triggers compared.

Each step prints its result and time; any failure ends the run with exit code 1 (after printing
the end of the server logs). Every process is stopped and the databases are dropped in any case.

    .venv/bin/python deploy/prod_check.py      (make prod-check)
    PROD_CHECK_KEEP=1 …                         keep the temporary folder (logs, rendered config)
"""
from __future__ import annotations

import gzip
import http.client
import importlib.util
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.dirname(sys.executable)
PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DBS = (12, 13, 14, 15)  # the first empty one is used (bench/report_screenshots.py uses 7)
COURSES = ("traditional-culture-and-governance", "civil-servant-ethics-etiquette")  # the two shortest
DEMO_PASSWORD = "Demo@2026"
NEW_PASSWORD = "Prod#Check2026"
SERVER_NAME = "learning.example.gov.cn"
MIB = 1024 * 1024


class CheckFailed(Exception):
    pass


def expect(cond, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


def log(msg: str) -> None:
    print(msg, flush=True)


class Steps:
    """Runs named steps, printing `ok`/`FAIL`, the time taken and a short result."""

    def __init__(self):
        self.started = time.perf_counter()
        self.count = 0

    def __call__(self, name: str, fn, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            log(f"  FAIL {time.perf_counter() - t0:5.1f}s  {name}: {type(exc).__name__}: {exc}")
            if not isinstance(exc, CheckFailed):
                traceback.print_exc()
            raise
        detail = result[1] if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str) else ""
        log(f"  ok   {time.perf_counter() - t0:5.1f}s  {name}{' — ' + detail if detail else ''}")
        self.count += 1
        return result[0] if detail else result


# --- infrastructure -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_http(port: int, proc: subprocess.Popen, name: str, timeout: float = 60, path: str = "/healthz",
              tls: ssl.SSLContext | None = None) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise CheckFailed(f"{name} exited with code {proc.returncode} while starting")
        try:
            conn = (http.client.HTTPSConnection("127.0.0.1", port, timeout=2, context=tls) if tls
                    else http.client.HTTPConnection("127.0.0.1", port, timeout=2))
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                conn.close()
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.2)
    raise CheckFailed(f"{name} did not answer 200 on {path} within {timeout:.0f} s")


def ensure_nginx() -> tuple[str, str]:
    """bench/run.py's ensure_nginx: apt-get install nginx-light when there is no nginx."""
    spec = importlib.util.spec_from_file_location("cadre_bench_run", os.path.join(ROOT, "bench", "run.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    had = shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")
    binary = bench.ensure_nginx()
    expect(binary, "nginx is missing and could not be installed (apt-get install nginx-light)")
    version = subprocess.run([binary, "-v"], capture_output=True, text=True).stderr.strip()
    return binary, f"{version}{'' if had else ' (installed now)'}"


def ensure_postgres() -> str:
    if not listening(PG_HOST, PG_PORT) and os.path.isdir("/etc/postgresql") and shutil.which("pg_ctlcluster"):
        versions = sorted(os.listdir("/etc/postgresql"))
        if versions:  # as .ci/run does
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[0], "main", "start"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            for _ in range(20):
                if listening(PG_HOST, PG_PORT):
                    break
                time.sleep(0.5)
    expect(listening(PG_HOST, PG_PORT), f"PostgreSQL is not listening on {PG_HOST}:{PG_PORT}")
    return pg_scalar("postgres", "SHOW server_version")


def pg_connect(dbname: str):
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname=dbname, autocommit=True)


def pg_scalar(dbname: str, sql: str, *params):
    with pg_connect(dbname) as conn:
        row = conn.execute(sql, params).fetchone()
        return row[0] if row else None


def pg_admin(sql: str) -> None:
    with pg_connect("postgres") as conn:
        conn.execute(sql)


def ensure_redis(st: "Stack") -> tuple[str, str]:
    """Redis on 127.0.0.1:6379 (the machine's); a server of our own on a free port if none runs."""
    import redis

    host, port, note = REDIS_HOST, REDIS_PORT, ""
    if not listening(host, port):
        binary = shutil.which("redis-server")
        if binary is None:
            apt_install("redis-server")
            binary = shutil.which("redis-server")
        expect(binary, "no Redis on 127.0.0.1:6379 and redis-server could not be installed")
        port = free_port()
        st.own_redis = True
        st.start("redis", [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                           "--dir", st.tmp], env=dict(os.environ))
        for _ in range(50):
            if listening(host, port):
                break
            time.sleep(0.1)
        note = " (a redis-server of our own: nothing listened on 6379)"
    for n in REDIS_DBS:
        client = redis.Redis(host=host, port=port, db=n)
        if client.dbsize() == 0:
            return f"redis://{host}:{port}/{n}", f"redis://{host}:{port}/{n}{note}"
    raise CheckFailed(f"Redis databases {REDIS_DBS} on {host}:{port} all hold keys; is another prod-check running?")


def apt_install(package: str) -> None:
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=False, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", package], check=False, env=env, stdout=subprocess.DEVNULL)


def make_certificate(tmp: str) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1, standing in for the real one of the TLS block."""
    cert, key = os.path.join(tmp, "tls-cert.pem"), os.path.join(tmp, "tls-key.pem")
    openssl = shutil.which("openssl")
    expect(openssl, "openssl is missing (Debian package openssl)")
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def env_example_keys() -> tuple[dict, str]:
    """deploy/cadre.env.example must load in production as written, and each of its commented
    CADRE_ lines must load too when uncommented (config.py refuses unknown CADRE_ keys)."""
    sys.path.insert(0, ROOT)
    import config

    active, commented = {}, {}
    for line in open(os.path.join(ROOT, "deploy", "cadre.env.example"), encoding="utf-8"):
        m = re.match(r"^(#)?([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if not m:
            continue
        hash_, key, value = m.groups()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        (commented if hash_ else active)[key] = value
    try:
        loaded = config.load(None, active)
        for key, value in commented.items():
            if key.startswith("CADRE_"):
                config.load(None, {**active, key: value})
    except (config.ConfigError, ValueError) as exc:
        raise CheckFailed(f"deploy/cadre.env.example: {exc}")
    expect(loaded["ENV_NAME"] == "production", "the example does not select CADRE_ENV=production")
    for key in ("SECRET_KEY", "DATABASE_URL", "CADRE_JOBS_BACKEND", "CADRE_REDIS_URL", "CADRE_MEDIA_ROOT",
                "CADRE_MEDIA_ACCEL"):
        expect(key in active, f"deploy/cadre.env.example does not set {key}")
    n = sum(1 for k in {**active, **commented} if k.startswith("CADRE_") and k != "CADRE_ENV")
    return active, f"{n} CADRE_ keys, all known to config.py; loads as production"


# --- nginx configuration ------------------------------------------------------------------------------

def render_nginx(tmp: str, ports: dict, media: str, cert: str, key: str, worker_connections: int = 512) -> str:
    """deploy/nginx/cadre.conf with the check's ports, paths and certificate; a main nginx.conf
    like Debian's around it. Each substitution must hit, so that a change of the site's shape
    fails here instead of silently checking something else. `worker_connections` per nginx process
    (2 processes): each idle keep-alive client connection holds one, and each request to gunicorn
    one more (bench/load_bench.py raises it for thousands of watchers)."""
    site = open(os.path.join(ROOT, "deploy", "nginx", "cadre.conf"), encoding="utf-8").read()
    snippet = open(os.path.join(ROOT, "deploy", "nginx-media.conf"), encoding="utf-8").read()

    def sub(text: str, pattern: str, repl: str, count: int, what: str) -> str:
        new, n = re.subn(pattern, repl, text, flags=re.M)
        expect(n == count, f"rendering {what}: expected {count} match(es) of {pattern!r}, found {n}")
        return new

    snippet = sub(snippet, r"alias /srv/cadre/media/;", f"alias {media}/;", 1, "nginx-media.conf")
    with open(os.path.join(tmp, "nginx-media.conf"), "w") as fh:
        fh.write(snippet)
    site = sub(site, r"include /srv/cadre/app/deploy/nginx-media\.conf;", f"include {tmp}/nginx-media.conf;", 1,
               "cadre.conf")
    site = sub(site, r"alias /srv/cadre/app/app/static/;", f"alias {ROOT}/app/static/;", 1, "cadre.conf")
    site = sub(site, r"server 127\.0\.0\.1:8000;", f"server 127.0.0.1:{ports['app']};", 1, "cadre.conf")
    site = sub(site, r"^(\s*)listen 80;", rf"\1listen 127.0.0.1:{ports['http']};", 1, "cadre.conf")
    site = sub(site, r"^(\s*)listen 443 ssl http2;", rf"\1listen 127.0.0.1:{ports['https']} ssl http2;", 1,
               "cadre.conf")
    site = sub(site, r"^\s*listen \[::\]:\d+[^;]*;\n", "", 2, "cadre.conf")
    site = sub(site, r"ssl_certificate\s+/etc/ssl/cadre/fullchain\.pem;", f"ssl_certificate {cert};", 1, "cadre.conf")
    site = sub(site, r"ssl_certificate_key\s+/etc/ssl/cadre/privkey\.pem;", f"ssl_certificate_key {key};", 1,
               "cadre.conf")
    site = sub(site, r"/var/log/nginx/", f"{tmp}/", 4, "cadre.conf")
    site = sub(site, r"root /var/www/acme;", f"root {tmp}/acme;", 1, "cadre.conf")
    directives = "\n".join(line for line in site.splitlines() if not line.lstrip().startswith("#"))
    expect("/srv/cadre" not in directives and "/etc/ssl/cadre" not in directives,
           "cadre.conf names a path that the check does not know how to render")
    with open(os.path.join(tmp, "cadre.conf"), "w") as fh:
        fh.write(site)
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(tmp, f"nginx-{name}"), exist_ok=True)
    main = os.path.join(tmp, "nginx.conf")
    with open(main, "w") as fh:
        fh.write(f"""# rendered by deploy/prod_check.py: Debian's nginx.conf reduced to what the site relies on
{'user root;' if os.geteuid() == 0 else ''}
worker_processes 2;
{f'worker_rlimit_nofile {2 * worker_connections + 64};' if worker_connections > 512 else ''}
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections {worker_connections}; }}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    gzip on;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    include {tmp}/cadre.conf;
}}
""")
    return main


# --- HTTP client ----------------------------------------------------------------------------------------

class Response:
    def __init__(self, r: http.client.HTTPResponse, body: bytes):
        self.status = r.status
        self.headers = r.msg
        self.body = body

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def all(self, name: str) -> list[str]:
        return self.headers.get_all(name) or []

    def json(self):
        return json.loads(self.body)

    def text(self, n: int = 300) -> str:
        return self.body[:n].decode("utf-8", "replace")


class Browser:
    """Cookies, the CSRF token and a same-origin Referer, as the site's own pages send them."""

    def __init__(self, port: int, tls: ssl.SSLContext | None, user_agent: str = "cadre-prod-check"):
        self.port, self.tls = port, tls
        self.origin = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []
        self.csrf: str | None = None
        self.user_agent = user_agent

    def request(self, method: str, path: str, body=None, headers: dict | None = None,
                content_type: str | None = None) -> Response:
        conn = (http.client.HTTPSConnection("127.0.0.1", self.port, timeout=60, context=self.tls) if self.tls
                else http.client.HTTPConnection("127.0.0.1", self.port, timeout=60))
        h = {"User-Agent": self.user_agent, "Accept-Language": "zh-CN"}
        data = body
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if content_type:
            h["Content-Type"] = content_type
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method not in ("GET", "HEAD"):
            h["Referer"] = self.origin + "/"
            if self.csrf:
                h["X-CSRFToken"] = self.csrf
        h.update(headers or {})
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read()
        finally:
            conn.close()
        for cookie in r.msg.get_all("Set-Cookie") or []:
            self.set_cookie_headers.append(cookie)
            name, _eq, rest = cookie.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return Response(r, raw)

    def ok(self, status: int, method: str, path: str, body=None, **kw) -> Response:
        r = self.request(method, path, body, **kw)
        expect(r.status == status, f"{method} {path}: expected {status}, got {r.status}: {r.text()}")
        return r

    def login(self, login: str, password: str) -> dict:
        out = self.ok(200, "POST", "/api/v1/auth/login", {"login": login, "password": password}).json()
        self.csrf = out["csrf_token"]
        return out


# --- the stack ----------------------------------------------------------------------------------------

class Stack:
    """The processes, database, Redis database and temporary folder of one run on loopback
    (`name` names the database and the folder: bench/load_bench.py uses a stack of its own)."""

    def __init__(self, name: str = "prodcheck"):
        self.tmp = tempfile.mkdtemp(prefix=f"cadre-{name}-")
        self.procs: list[tuple[str, subprocess.Popen, int]] = []
        self.db = f"cadre_{name}_{os.getpid()}"
        self.restore_db = f"{self.db}_restore"
        self.db_created = False
        self.redis_url: str | None = None
        self.nginx_conf: str | None = None
        self.own_redis = False
        self.env: dict[str, str] = {}
        self.ports: dict[str, int] = {}
        self.tls: ssl.SSLContext | None = None

    def path(self, *parts) -> str:
        return os.path.join(self.tmp, *parts)

    def flask(self, *args, timeout: float = 300) -> str:
        p = subprocess.run([os.path.join(VENV_BIN, "flask"), *args], cwd=ROOT, env=self.env, capture_output=True,
                           text=True, timeout=timeout)
        if p.returncode != 0:
            raise CheckFailed(f"flask {' '.join(args)} exited {p.returncode}: {(p.stderr or p.stdout)[-1500:]}")
        return p.stdout

    def start(self, name: str, argv: list[str], stop_signal=signal.SIGTERM, env: dict | None = None) -> subprocess.Popen:
        out = open(self.path(f"{name}.log"), "w")
        p = subprocess.Popen(argv, cwd=ROOT, env=env or self.env, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs.append((name, p, stop_signal))
        return p

    def stop_all(self) -> list[str]:
        """Stop in reverse order (nginx, worker, gunicorn): graceful signal, then SIGKILL after 40 s."""
        notes = []
        for name, p, sig in reversed(self.procs):
            if p.poll() is None:
                try:
                    p.send_signal(sig)
                    p.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    notes.append(f"{name} did not stop within 40 s: killed")
                    p.kill()
                    p.wait()
            # children left behind (gunicorn workers, ffmpeg) die with their process group
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            notes.append(f"{name} exited {p.returncode}")
        self.procs.clear()
        return notes

    def drop(self) -> None:
        for name in (self.restore_db, self.db):
            try:
                pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:  # noqa: BLE001
                log(f"  (could not drop the database {name}: {exc})")
        if self.redis_url and not self.own_redis:
            try:
                import redis

                redis.Redis.from_url(self.redis_url).flushdb()
            except Exception as exc:  # noqa: BLE001
                log(f"  (could not flush {self.redis_url}: {exc})")

    def tail_logs(self) -> None:
        for name in ("gunicorn", "worker", "nginx", "nginx-error", "cadre.error"):
            path = self.path(f"{name}.log")
            if os.path.exists(path) and os.path.getsize(path):
                lines = open(path, encoding="utf-8", errors="replace").read().splitlines()[-25:]
                log(f"  --- last lines of {name}.log ---")
                for line in lines:
                    log(f"    {line}")


# --- steps ------------------------------------------------------------------------------------------------

def prepare_env(st: Stack, example: dict, extra: dict | None = None) -> str:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("CADRE_", "GUNICORN_", "FLASK_")) and k not in ("DATABASE_URL", "SECRET_KEY",
                                                                                  "WEB_CONCURRENCY")}
    st.ports = {"app": free_port(), "https": free_port(), "http": free_port()}
    env = dict(base)
    env.update({k: v for k, v in example.items()})  # the example's values, then the check's own
    env.update({
        "CADRE_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATABASE_URL": f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{st.db}",
        "CADRE_JOBS_BACKEND": "redis",
        "CADRE_REDIS_URL": st.redis_url,
        "CADRE_RATELIMIT_STORAGE_URI": st.redis_url,  # the run's own Redis database, flushed after it
        "CADRE_MEDIA_ROOT": st.path("media"),
        "CADRE_MEDIA_ACCEL": "nginx",
        "CADRE_SEARCH_INDEX_DIR": st.path("search-index"),
        "FLASK_APP": "wsgi.py",
        "GUNICORN_BIND": f"127.0.0.1:{st.ports['app']}",
        "GUNICORN_ACCESS_LOG": st.path("gunicorn-access.log"),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra or {})
    st.env = env
    return f"app :{st.ports['app']}, nginx https :{st.ports['https']}, http :{st.ports['http']}"


def seed(st: Stack) -> dict:
    st.flask("db", "upgrade")
    out = st.flask("demo", "--cadres", "40")
    admin = re.search(r"\s(admin)\s+" + re.escape(DEMO_PASSWORD), out)
    expect(admin, f"flask demo printed no admin login: {out[-500:]}")
    packages = st.path("courses")
    os.makedirs(packages)
    for name in ("categories.toml", "schema"):
        src = os.path.join(ROOT, "courses", name)
        (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, os.path.join(packages, name))
    for code in COURSES:
        shutil.copytree(os.path.join(ROOT, "courses", code), os.path.join(packages, code))
    imported = st.flask("courses", "import", packages).strip().splitlines()[-1]
    exams = st.flask("demo-exams").strip().splitlines()[-1]
    # A cadre whose demo history completed a course (the exam opens only then; watching a whole
    # course in real time would take minutes), with an active card.
    row = None
    with pg_connect(st.db) as conn:
        row = conn.execute(
            "SELECT c.number, cp.course_id FROM course_progress cp "
            "JOIN study_cards c ON c.user_id = cp.user_id AND c.state = 'active' "
            "JOIN users u ON u.id = cp.user_id "
            "WHERE cp.completed_at IS NOT NULL AND u.role = 'cadre' ORDER BY cp.user_id, cp.course_id LIMIT 1").fetchone()
    expect(row, "the demo data has no cadre with a completed course")
    return {"card": row[0], "course_id": row[1], "detail": f"{imported}; {exams}"}


def start_services(st: Stack, nginx_bin: str, worker_connections: int = 512) -> str:
    gunicorn = st.start("gunicorn", [os.path.join(VENV_BIN, "gunicorn"), "--config", "deploy/gunicorn.conf.py",
                                     "wsgi:app"], stop_signal=signal.SIGTERM)
    wait_http(st.ports["app"], gunicorn, "gunicorn")
    worker = st.start("worker", [os.path.join(VENV_BIN, "flask"), "worker"], stop_signal=signal.SIGINT)
    cert, key = make_certificate(st.tmp)
    os.makedirs(st.path("acme"), exist_ok=True)
    conf = st.nginx_conf = render_nginx(st.tmp, st.ports, st.path("media"), cert, key, worker_connections)
    test = subprocess.run([nginx_bin, "-t", "-q", "-c", conf, "-p", st.tmp, "-e", st.path("nginx-error.log")],
                          capture_output=True, text=True)
    expect(test.returncode == 0, f"nginx -t refused the rendered site: {test.stderr.strip()}")
    nginx = st.start("nginx", [nginx_bin, "-c", conf, "-p", st.tmp, "-e", st.path("nginx-error.log")],
                     stop_signal=signal.SIGQUIT)
    st.tls = ssl.create_default_context(cafile=cert)
    wait_http(st.ports["https"], nginx, "nginx", tls=st.tls)
    time.sleep(0.5)
    expect(worker.poll() is None, f"flask worker exited with code {worker.returncode}")
    workers = len(re.findall(r"Booting worker", open(st.path("gunicorn.log")).read()))
    return f"gunicorn gthread ({workers} workers), flask worker on Redis, nginx with TLS; config in {st.tmp}"


def check_redirect(st: Stack):
    conn = http.client.HTTPConnection("127.0.0.1", st.ports["http"], timeout=10)
    conn.request("GET", "/courses/?q=x", headers={"Host": SERVER_NAME})
    r = conn.getresponse()
    r.read()
    loc = r.getheader("Location")
    expect(r.status == 301 and loc == f"https://{SERVER_NAME}/courses/?q=x", f"got {r.status} Location {loc}")
    return None, f"301 → {loc}"


def check_static(st: Stack, b: Browser):
    r = b.ok(200, "GET", "/static/css/app.css", headers={"Accept-Encoding": "gzip"})
    expect(r.header("Content-Encoding") == "gzip", f"app.css not gzipped (Content-Encoding {r.header('Content-Encoding')})")
    expect((r.header("Content-Type") or "").startswith("text/css"), f"Content-Type {r.header('Content-Type')}")
    cc = r.header("Cache-Control") or ""
    expect("max-age=604800" in cc, f"Cache-Control {cc!r}")
    expect("Accept-Encoding" in (r.header("Vary") or ""), "no Vary: Accept-Encoding")
    original = open(os.path.join(ROOT, "app", "static", "css", "app.css"), "rb").read()
    expect(gzip.decompress(r.body) == original, "the gunzipped body is not app/static/css/app.css")
    expect(r.header("Strict-Transport-Security") and r.header("X-Content-Type-Options") == "nosniff",
           "security headers missing on a static file")
    js = b.ok(200, "GET", "/static/js/player.js")  # no Accept-Encoding: plain
    expect(js.header("Content-Encoding") is None and len(js.body) == os.path.getsize(
        os.path.join(ROOT, "app", "static", "js", "player.js")), "player.js without gzip differs")
    return None, f"app.css {len(original)} → {len(r.body)} bytes gzip, Cache-Control: {cc}"


def check_cadre_login(st: Stack, b: Browser, card: str):
    out = b.login(card, DEMO_PASSWORD)
    expect(out["must_change_password"] is True, "a fresh card should have to change its password")
    cookie = next((c for c in b.set_cookie_headers if c.startswith("cadre_session=")), "")
    flags = {f.strip().lower() for f in cookie.split(";")[1:]}
    expect({"secure", "httponly"} <= flags and "samesite=lax" in flags, f"session cookie flags: {cookie}")
    blocked = b.request("GET", "/api/v1/courses")
    expect(blocked.status == 403, f"before the password change the API should answer 403, got {blocked.status}")
    b.ok(204, "POST", "/api/v1/me/password", {"old_password": DEMO_PASSWORD, "new_password": NEW_PASSWORD})
    me = b.ok(200, "GET", "/api/v1/me").json()
    expect(me["must_change_password"] is False and me["role"] == "cadre", f"getMe: {me}")
    return None, f"card {card[:4]}…{card[-4:]} logged in, password changed; cookie Secure, HttpOnly, SameSite=Lax"


def check_csrf_referrer(st: Stack, b: Browser):
    """Over HTTPS Flask-WTF also wants a same-origin Referer on CSRF-protected calls: the app must
    see https (X-Forwarded-Proto) and the host with its port (Host $http_host) for that to work."""
    r = b.request("POST", "/api/v1/me/password", {"old_password": "x", "new_password": "y"},
                  headers={"Referer": "https://evil.example/"})
    expect(r.status == 400, f"a cross-origin Referer should be refused over HTTPS, got {r.status}")
    return None, "cross-origin Referer refused, same-origin accepted: the app sees https and the port"


def check_page_headers(st: Stack, b: Browser):
    r = b.ok(200, "GET", "/")
    expect((r.header("Content-Type") or "").startswith("text/html"), f"Content-Type {r.header('Content-Type')}")
    for name in ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options",
                 "Strict-Transport-Security"):
        expect(len(r.all(name)) == 1, f"{name} sent {len(r.all(name))} times on a page")
    expect("max-age=" in r.header("Strict-Transport-Security"), "HSTS without max-age")
    expect(r.header("Server") == "nginx", f"Server: {r.header('Server')} (server_tokens off expected)")
    return None, "CSP, X-Frame-Options, nosniff, Referrer-Policy, HSTS once each; Server: nginx"


def check_video(st: Stack, b: Browser, course_id: int):
    course = b.ok(200, "GET", f"/api/v1/courses/{course_id}").json()
    lesson = next(lesson for lesson in course["lessons"] if lesson["video_url"])
    url = urllib.parse.urlsplit(lesson["video_url"]).path
    with pg_connect(st.db) as conn:
        storage = conn.execute("SELECT v.storage_dir FROM lessons l JOIN video_assets v ON v.id = l.video_id "
                               "WHERE l.id = %s", (lesson["id"],)).fetchone()[0]
    path = os.path.join(st.path("media"), storage, "video.mp4")
    size = os.path.getsize(path)
    start, end = size // 3, size // 3 + 65535
    r = b.ok(206, "GET", url, headers={"Range": f"bytes={start}-{end}"})
    expect(r.header("Content-Range") == f"bytes {start}-{end}/{size}", f"Content-Range {r.header('Content-Range')}")
    expect(r.header("X-Accel-Redirect") is None, "X-Accel-Redirect leaked to the client")
    expect(r.header("Content-Type") == "video/mp4", f"Content-Type {r.header('Content-Type')}")
    with open(path, "rb") as fh:
        fh.seek(start)
        expect(r.body == fh.read(end - start + 1), "the range's bytes differ from the file's")
    # The app itself only answers with the redirect (no bytes): so the 206 above came from nginx.
    direct = Browser(st.ports["app"], None)
    direct.cookies = dict(b.cookies)
    d = direct.ok(200, "GET", url, headers={"Range": f"bytes={start}-{end}", "X-Forwarded-Proto": "https"})
    accel = d.header("X-Accel-Redirect") or ""
    expect(accel == f"/_protected_media/{storage}/video.mp4" and d.body == b"",
           f"gunicorn answered {d.status} X-Accel-Redirect {accel!r} with {len(d.body)} bytes")
    internal = b.request("GET", f"/_protected_media/{storage}/video.mp4")
    expect(internal.status == 404, f"/_protected_media/ reachable from outside: {internal.status}")
    anonymous = Browser(st.ports["https"], st.tls).request("GET", url, headers={"Range": "bytes=0-99"})
    expect(anonymous.status in (302, 401), f"a video without login: {anonymous.status}")
    return lesson["id"], (f"206 bytes {start}-{end}/{size} from nginx's internal location (gunicorn sent only "
                          f"X-Accel-Redirect); /_protected_media/ 404 from outside; no login → {anonymous.status}")


def check_watch(st: Stack, b: Browser, lesson_id: int):
    started = b.ok(201, "POST", f"/api/v1/lessons/{lesson_id}/watch-sessions").json()
    report = urllib.parse.urlsplit(started["report_url"]).path
    first = b.ok(200, "POST", report, {"seq": 1, "position": 1.0, "playing": True, "ranges": [[0.0, 1.0]]}).json()
    expect(first["accepted"] and first["credited"] > 0, f"first report not credited: {first}")
    time.sleep(1.0)
    second = b.ok(200, "POST", report, {"seq": 2, "position": 2.0, "playing": True, "ranges": [[1.0, 2.0]]}).json()
    expect(second["accepted"] and second["lesson_credited"] >= first["lesson_credited"], f"second report: {second}")
    again = b.ok(200, "POST", report, {"seq": 2, "position": 2.0, "playing": True, "ranges": [[1.0, 2.0]]}).json()
    expect(again["duplicate"] is True, f"a repeated sequence number should be a duplicate: {again}")
    progress = b.ok(200, "GET", f"/api/v1/lessons/{lesson_id}/progress").json()
    expect(progress["credited_seconds"] >= second["lesson_credited"] - 1e-6, f"getLessonProgress: {progress}")
    return None, (f"session {started['session_id'][:8]}…, reports credited {first['credited']:.1f} s + "
                  f"{second['credited']:.1f} s, repeat counted once; lesson credited {progress['credited_seconds']:.1f} s")


def check_exam(st: Stack, b: Browser, course_id: int):
    status = b.ok(200, "GET", f"/api/v1/courses/{course_id}/exam").json()
    expect(status["can_start"], f"exam status: {status}")
    r = b.request("POST", f"/api/v1/courses/{course_id}/exam/attempts")
    expect(r.status in (200, 201), f"startExamAttempt: {r.status} {r.text()}")
    attempt = r.json()
    expect(attempt["state"] == "open" and attempt["questions"], f"attempt: {attempt}")
    for q in attempt["questions"]:
        expect(not q.get("answer") and "explanation" not in q, "an open attempt carries answers")
    answers = {}
    for q in attempt["questions"]:
        keys = [o["key"] for o in q.get("options") or []]
        answers[str(q["position"])] = keys[0] if keys else "T"
    b.ok(200, "PUT", f"/api/v1/exam-attempts/{attempt['id']}/answers", {"answers": dict(list(answers.items())[:2])})
    done = b.ok(200, "POST", f"/api/v1/exam-attempts/{attempt['id']}/submit", {"answers": answers}).json()
    expect(done["state"] == "closed" and done["score"] is not None and not done["late"], f"submitted: {done}")
    again = b.ok(200, "POST", f"/api/v1/exam-attempts/{attempt['id']}/submit", {"answers": answers}).json()
    expect(again["score"] == done["score"], "a repeated hand-in changed the score")
    return None, (f"attempt {attempt['number']} of course {course_id}: {len(answers)} questions, score "
                  f"{done['score']:g}, {'passed' if done['passed'] else 'not passed'}; a repeat hand-in keeps it")


def check_limits(st: Stack, b: Browser):
    big = b"x" * (3 * MIB)
    r = b.request("POST", "/api/v1/me/password", big, content_type="application/json")
    expect(r.status == 413, f"3 MiB to a JSON route should be 413 from nginx, got {r.status}")
    boundary = "cadreprodcheck"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n检查\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../paper.pdf\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode() + b"\x00" * (5 * MIB) + f"\r\n--{boundary}--\r\n".encode()
    r = b.request("POST", "/api/v1/papers", body, content_type=f"multipart/form-data; boundary={boundary}")
    expect(r.status in (400, 422) and (r.header("Content-Type") or "").startswith("application/problem+json"),
           f"5 MiB paper upload: nginx should pass it and the app refuse the content; got {r.status} {r.text(200)}")
    r = b.request("POST", "/api/v1/papers", body + b"\x00" * (17 * MIB),
                  content_type=f"multipart/form-data; boundary={boundary}")
    expect(r.status == 413, f"22 MiB to the paper route should be 413, got {r.status}")
    return None, "3 MiB JSON → 413; 5 MiB paper reaches the app (refused by content); 22 MiB paper → 413"


def check_client_address(st: Stack):
    """gunicorn (ProxyFix in deploy/gunicorn.conf.py) takes the client from X-Forwarded-For sent by a
    trusted proxy; through nginx a client cannot choose it (nginx appends the real address)."""
    conn = http.client.HTTPConnection("127.0.0.1", st.ports["app"], timeout=10)
    conn.request("GET", "/healthz", headers={"X-Forwarded-For": "203.0.113.7", "User-Agent": "prodcheck-xff-direct"})
    conn.getresponse().read()
    b = Browser(st.ports["https"], st.tls, user_agent="prodcheck-xff-nginx")
    b.ok(200, "GET", "/healthz", headers={"X-Forwarded-For": "198.51.100.9"})
    time.sleep(0.3)
    lines = open(st.path("gunicorn-access.log"), encoding="utf-8").read().splitlines()
    direct = [line for line in lines if "prodcheck-xff-direct" in line]
    proxied = [line for line in lines if "prodcheck-xff-nginx" in line]
    expect(direct and direct[-1].startswith("203.0.113.7 "), f"direct with X-Forwarded-For: {direct[-1:]}")
    expect(proxied and proxied[-1].startswith("127.0.0.1 "), f"spoofed through nginx: {proxied[-1:]}")
    return None, "X-Forwarded-For from the trusted proxy is the client; a client's own is not believed"


def run_export(admin: Browser, kind: str) -> dict:
    """createReportExport (XLSX), followed with getReportExport until the worker has built it."""
    created = admin.ok(202, "POST", "/api/v1/reports/exports", {"kind": kind, "format": "xlsx"}).json()
    t0 = time.time()
    state = created
    while state["state"] in ("queued", "running") and time.time() - t0 < 90:
        time.sleep(0.3)
        state = admin.ok(200, "GET", f"/api/v1/reports/exports/{created['id']}").json()
    expect(state["state"] == "done", f"export {created['id']} ended {state['state']}: {state.get('error')}")
    return state


def check_export(st: Stack, admin: Browser):
    out = admin.login("admin", DEMO_PASSWORD)
    expect(out["user"]["role"] == "orgadmin", f"admin login: {out['user']['role']}")
    t0 = time.time()
    state = run_export(admin, "unit")
    waited = time.time() - t0
    f = admin.ok(200, "GET", urllib.parse.urlsplit(state["download_url"]).path)
    expect("spreadsheetml" in (f.header("Content-Type") or ""), f"Content-Type {f.header('Content-Type')}")
    expect("no-store" in (f.header("Cache-Control") or ""), f"Cache-Control {f.header('Cache-Control')}")
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(f.body), read_only=True)
    rows = sum(1 for ws in wb.worksheets for row in ws.iter_rows(values_only=True) if any(v is not None for v in row))
    expect(rows > 1, "the export has no rows")
    # In Redis mode the web process only queues: the job's result in Redis says the worker ran it.
    import redis

    results = redis.Redis.from_url(st.redis_url).hlen("huey.results.cadre")
    expect(results >= 1, "no job result in Redis: who built the export?")
    other = Browser(st.ports["https"], st.tls)
    other.login("wb_admin", DEMO_PASSWORD)
    expect(other.request("GET", urllib.parse.urlsplit(state["download_url"]).path).status == 404,
           "another administrator could download the export")
    return None, (f"unit report export done by the Redis worker in {waited:.1f} s; {len(f.body)} bytes, "
                  f"{len(wb.worksheets)} sheets / {rows} rows in openpyxl; owner-only download")


def check_scale_out(st: Stack, nginx_bin: str, conf: str):
    """A second gunicorn instance (what a second web machine runs) against the same PostgreSQL and
    Redis, added to nginx's upstream by a reload with no request lost: requests are shared between
    the two, a session made on one is good on the other, and an export requested through one
    instance, built by the worker, downloads through either."""
    port2 = free_port()
    env2 = {**st.env, "GUNICORN_BIND": f"127.0.0.1:{port2}", "GUNICORN_ACCESS_LOG": st.path("gunicorn2-access.log")}
    second = st.start("gunicorn2", [os.path.join(VENV_BIN, "gunicorn"), "--config", "deploy/gunicorn.conf.py",
                                    "wsgi:app"], stop_signal=signal.SIGTERM, env=env2)
    wait_http(port2, second, "second gunicorn", path="/readyz")
    site_path = os.path.join(st.tmp, "cadre.conf")   # the rendered site, included by `conf`
    site = open(site_path, encoding="utf-8").read()
    line = f"server 127.0.0.1:{st.ports['app']};"
    expect(site.count(line) == 1, "the rendered upstream has no single server line")
    open(site_path, "w", encoding="utf-8").write(site.replace(line, f"{line}\n    server 127.0.0.1:{port2};"))
    reload = subprocess.run([nginx_bin, "-s", "reload", "-c", conf, "-p", st.tmp, "-e", st.path("nginx-error.log")],
                            capture_output=True, text=True)
    expect(reload.returncode == 0, f"nginx -s reload: {reload.stderr.strip()}")

    def served() -> tuple[int, int]:
        counts = []
        for name in ("gunicorn-access.log", "gunicorn2-access.log"):
            try:
                counts.append(sum(1 for _ in open(st.path(name), encoding="utf-8")))
            except FileNotFoundError:
                counts.append(0)
        return counts[0], counts[1]

    # nginx's old workers finish their requests and the new ones use both servers
    deadline = time.time() + 20
    cadre = Browser(st.ports["https"], st.tls)
    while served()[1] == 0 and time.time() < deadline:
        cadre.ok(200, "GET", "/readyz")
    before = served()
    expect(before[1] > 0, "the second instance got no request through nginx after the reload")
    admin = Browser(st.ports["https"], st.tls)
    me = admin.login("admin", DEMO_PASSWORD)["user"]["id"]
    for _ in range(20):
        expect(admin.ok(200, "GET", "/api/v1/me").json()["id"] == me, "the session changed between instances")
    after = served()
    share = (after[0] - before[0], after[1] - before[1])
    expect(min(share) >= 5, f"20 requests of one session were not shared by both instances: {share}")
    state = run_export(admin, "course")
    download = urllib.parse.urlsplit(state["download_url"]).path
    sizes = {len(admin.ok(200, "GET", download).body) for _ in range(6)}
    expect(len(sizes) == 1 and sizes != {0}, f"the export's downloads differ: {sizes}")
    # the file the worker wrote was served by each instance (their access logs name the download)
    by = [sum(download in line for line in open(st.path(name), encoding="utf-8"))
          for name in ("gunicorn-access.log", "gunicorn2-access.log")]
    expect(min(by) >= 1, f"the export was not downloaded through both instances: {by}")
    for port in (st.ports["app"], port2):   # each instance is ready on its own (database and queue)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/readyz")
        ready = conn.getresponse()
        body = json.loads(ready.read())
        expect(ready.status == 200 and body == {"ok": True, "database": "ok", "queue": "ok"}, f":{port} /readyz {body}")
    return None, (f"second instance :{port2} added by nginx reload; one admin session's 20 requests served "
                  f"{share[0]} / {share[1]}; an export built by the worker downloaded through both ({by[0]} / {by[1]}); /readyz ok on both")


def check_logs(st: Stack):
    lines = []
    for name in ("gunicorn-access.log", "gunicorn2-access.log"):
        if os.path.exists(st.path(name)):
            lines += open(st.path(name), encoding="utf-8").read().splitlines()
    expect(lines, "the gunicorn access log is empty")
    errors = [line for line in lines if re.search(r'" 5\d\d ', line)]
    expect(not errors, f"5xx answers from gunicorn: {errors[:3]}")
    static = [line for line in lines if "/static/" in line]
    expect(not static, f"static files reached gunicorn: {static[:2]}")
    leaked = [line for line in lines if "?" in line.split('"')[1]]
    expect(not leaked, f"query strings in the access log: {leaked[:2]}")
    tracebacks = sum(open(st.path(name), encoding="utf-8", errors="replace").read().count("Traceback")
                     for name in ("gunicorn.log", "gunicorn2.log") if os.path.exists(st.path(name)))
    expect(tracebacks == 0, f"{tracebacks} traceback(s) in the gunicorn log")
    return None, f"{len(lines)} requests reached gunicorn, no 5xx, no static file, no query string, no traceback"


def check_restore(st: Stack):
    dump = st.path("cadre.dump")
    subprocess.run(["pg_dump", "-h", PG_HOST, "-p", str(PG_PORT), "-U", "postgres", "--format=custom",
                    "--file", dump, st.db], check=True, capture_output=True)
    pg_admin(f'CREATE DATABASE "{st.restore_db}"')
    p = subprocess.run(["pg_restore", "-h", PG_HOST, "-p", str(PG_PORT), "-U", "postgres", "--no-owner",
                        "--exit-on-error", "--dbname", st.restore_db, dump], capture_output=True, text=True)
    expect(p.returncode == 0, f"pg_restore: {p.stderr[-800:]}")

    def counts(db: str) -> dict:
        with pg_connect(db) as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
            out = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
            out["(triggers)"] = conn.execute("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal").fetchone()[0]
            out["(indexes)"] = conn.execute("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'").fetchone()[0]
            return out

    a, b = counts(st.db), counts(st.restore_db)
    diff = {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
    expect(not diff, f"restored database differs: {diff}")
    env = dict(st.env, DATABASE_URL=f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{st.restore_db}")
    p = subprocess.run([os.path.join(VENV_BIN, "flask"), "db", "current"], cwd=ROOT, env=env, capture_output=True,
                       text=True)
    expect(p.returncode == 0 and "(head)" in p.stdout, f"flask db current on the restore: {p.stdout} {p.stderr[-300:]}")
    rows = sum(v for k, v in a.items() if not k.startswith("("))
    return None, (f"pg_dump -Fc ({os.path.getsize(dump) // 1024} KiB) → pg_restore: {len(a) - 2} tables, {rows} rows, "
                  f"{a['(triggers)']} triggers, {a['(indexes)']} indexes equal; migrations at head")


# --- main -----------------------------------------------------------------------------------------------

def create_database(st: Stack):
    pg_admin(f'DROP DATABASE IF EXISTS "{st.db}" WITH (FORCE)')
    pg_admin(f'CREATE DATABASE "{st.db}"')
    st.db_created = True
    return None, st.db


def redis_step(st: Stack):
    st.redis_url, detail = ensure_redis(st)
    return None, detail


def bring_up(step: Steps, st: Stack, seed_fn=None, extra_env: dict | None = None,
             worker_connections: int = 512) -> tuple[dict, str]:
    """nginx, PostgreSQL, a database, Redis, the environment, the seed and the services, each a
    step; returns (what seed_fn returned, the nginx binary). The caller stops `st` in any case
    (see main). bench/load_bench.py brings up the same stack with a seed of its own."""
    nginx_bin = step("nginx", ensure_nginx)
    step("PostgreSQL", lambda: (None, f"{PG_HOST}:{PG_PORT}, server {ensure_postgres()}"))
    step("database", create_database, st)
    step("Redis", redis_step, st)
    example = step("deploy/cadre.env.example", env_example_keys)
    step("environment", lambda: (None, prepare_env(st, example, extra_env)))
    seed_fn = seed_fn or seed
    seeded = step("flask db upgrade, demo, courses import, demo-exams" if seed_fn is seed else "seed",
                  lambda: (lambda s: (s, s["detail"]))(seed_fn(st)))
    step("start the stack", lambda: (None, start_services(st, nginx_bin, worker_connections)))
    return seeded, nginx_bin


def tear_down(st: Stack, failed: bool, keep: bool = False) -> bool:
    """Stop every process, drop the databases, flush Redis, remove the folder; True if all went well."""
    if failed:
        st.tail_logs()
    notes = st.stop_all()
    bad = [n for n in notes if "killed" in n]
    log(f"  {'ok  ' if not bad else 'FAIL'}         stopped: {', '.join(notes) or 'nothing was running'}")
    if st.db_created:
        st.drop()
        log(f"  ok           dropped {st.db}{' and ' + st.restore_db}, flushed {st.redis_url}")
    if keep:
        log(f"  (kept {st.tmp})")
    else:
        shutil.rmtree(st.tmp, ignore_errors=True)
    return not bad


def main() -> int:
    log("make prod-check: PostgreSQL + Redis + gunicorn + flask worker + nginx on loopback, a smoke journey through nginx")
    step = Steps()
    st = Stack()
    failed = False
    # A CI timeout or `kill` still stops the servers (they run in sessions of their own) and drops
    # the databases: SystemExit goes through the `finally` below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        seeded, _nginx = bring_up(step, st)

        b = Browser(st.ports["https"], st.tls)
        step("HTTP → HTTPS redirect", check_redirect, st)
        step("health through nginx", lambda: (b.ok(200, "GET", "/healthz"), "200 /healthz"))
        step("static file by nginx (gzip, cache)", check_static, st, b)
        step("cadre login with a card, password change", check_cadre_login, st, b, seeded["card"])
        step("CSRF referrer over HTTPS", check_csrf_referrer, st, b)
        step("security headers on a page", check_page_headers, st, b)
        lesson_id = step("video by Range through X-Accel-Redirect", check_video, st, b, seeded["course_id"])
        step("watch session and progress reports", check_watch, st, b, lesson_id)
        step("exam started and handed in", check_exam, st, b, seeded["course_id"])
        step("request size limits", check_limits, st, b)
        step("client address behind nginx", check_client_address, st)
        step("report export through the Redis worker", check_export, st, Browser(st.ports["https"], st.tls))
        step("scale out: a second gunicorn instance", check_scale_out, st, _nginx, st.nginx_conf)
        step("server logs", check_logs, st)
        step("backup and restore (pg_dump / pg_restore)", check_restore, st)
    except Exception:  # noqa: BLE001 — printed by Steps
        failed = True
    finally:
        failed = not tear_down(st, failed, keep=bool(os.environ.get("PROD_CHECK_KEEP"))) or failed
    total = time.perf_counter() - step.started
    log(f"prod-check: {'FAILED' if failed else 'all steps passed'} in {total:.0f} s")
    log(f"prod-check: {step.count} passed, {1 if failed else 0} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
