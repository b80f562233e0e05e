"""gunicorn settings of the production web process: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

Read by deploy/systemd/cadre-web.service and by `make prod-check`. Every knob an operator may turn
comes from the environment (the same /etc/cadre/cadre.env as the application), with the default
written here. The names are GUNICORN_* on purpose, not CADRE_*: the application refuses to start
when it sees a CADRE_ variable it does not know (config.py), and the web process and `flask worker`
share one environment file.

    GUNICORN_BIND          127.0.0.1:8000   where nginx reaches us (host:port or unix:/run/cadre-web/web.sock)
    GUNICORN_WORKERS       2                processes; WEB_CONCURRENCY is honoured too
    GUNICORN_THREADS       4                threads per process
    GUNICORN_TIMEOUT       60               seconds a silent worker may live before it is killed
    GUNICORN_MAX_REQUESTS  2000             a worker is replaced after this many requests (±10 %)
    FORWARDED_ALLOW_IPS    127.0.0.1,::1    proxies whose X-Forwarded-* headers are believed
    GUNICORN_ACCESS_LOG    -                "-" = stderr (the journal); a path, or "" for none
    GUNICORN_CONTROL_SOCKET                 the `gunicornc` control socket; default
                                            $RUNTIME_DIRECTORY/gunicorn.ctl under systemd, else none

Worker model: gthread, 2 processes × 4 threads (as `make run`). Nearly every request of this
application waits on PostgreSQL (server-side sessions, login throttles, progress reports, exams,
reports), and argon2 hashing runs outside the GIL: a thread that waits leaves the process free to
serve another request, and nginx's keep-alive connections to gunicorn stay open between requests.
A `sync` worker idles through each wait and closes the connection after every answer. Measured on
this 2-core machine with PostgreSQL on loopback (docs/deploy.md, deploy/bench_worker_model.py):
gthread 2×4 and sync 2 were even within noise, and sync 5 ("2 × cores + 1") did fewer progress
reports with a worse p99 and 2.3 × the memory; the waits that favour gthread come with a database
on another machine, which loopback cannot show. Database connections: at most pool_size +
max_overflow per process (CADRE_SQLALCHEMY_ENGINE_OPTIONS), in practice one per busy thread.
"""
from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


bind = [os.environ.get("GUNICORN_BIND", "").strip() or "127.0.0.1:8000"]
worker_class = "gthread"
workers = _int("GUNICORN_WORKERS", _int("WEB_CONCURRENCY", 2))
threads = _int("GUNICORN_THREADS", 4)

# A gthread worker's heartbeat comes from its main loop, not from the request threads, so this is
# the time a hung process (not a slow request) may stay before the master kills it. The slowest
# pages (a city's unit report: ~3 s on 50,000 cadres) stay well under it; exports run in the worker.
timeout = _int("GUNICORN_TIMEOUT", 60)
# On SIGTERM (systemctl stop/restart) requests in flight get this long to finish: an exam being
# handed in or a progress report is never cut in the middle by a normal restart.
graceful_timeout = 30
# nginx keeps idle upstream connections for 60 s (keepalive_timeout in deploy/nginx/cadre.conf);
# gunicorn keeps them a little longer, so that nginx never reuses a connection that gunicorn has
# just closed (a POST on such a connection is not retried by nginx: the user would see a 502).
keepalive = 75

# Replace each worker after a number of requests, the jitter spreading the restarts so that both
# workers never restart at once: bounds any slow growth of memory (Whoosh readers, jieba caches).
# Not too often: at 400 watchers (40 req/s, bench/load_bench.py) 2,000 requests recycled each
# worker every 40-70 s, and each new worker spends ~2 s loading the app and jieba's dictionary.
max_requests = _int("GUNICORN_MAX_REQUESTS", 20000)
max_requests_jitter = max(1, max_requests // 10) if max_requests else 0

# Behind nginx: believe X-Forwarded-Proto (so that the app builds https:// URLs and its Secure
# cookies match) only from the local proxy. The client's address is taken from X-Forwarded-For by
# ProxyFix below, from the same trusted proxies only.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "").strip() or "127.0.0.1,::1"
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
proxy_hops = 1  # nginx only; not a gunicorn setting, used below

# Logs go to stderr, that is the journal under systemd (journalctl -u cadre-web). The access log
# leaves out query strings and the Referer: search boxes (the cadre list's 姓名/身份证号 filter)
# carry ID numbers there, and ID numbers must never reach a log. %(h)s is the client's address
# (after ProxyFix), %(M)s the time the request took in milliseconds.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
errorlog = "-"
loglevel = "info"

# The heartbeat file of each worker on tmpfs: a busy or slow disk cannot make the master think a
# healthy worker hung (/dev/shm exists on every Linux; systemd's PrivateTmp does not hide it).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# The application is imported in each worker after the fork (no preload): each process opens its
# own database connections and Redis client, and `systemctl reload cadre-web` (SIGHUP) starts
# workers on the new code one by one while the old ones finish their requests.
preload_app = False
proc_name = "cadre-web"

# The control socket of `gunicornc -s /run/cadre-web/gunicorn.ctl -c "show workers"`: in the
# unit's RuntimeDirectory. gunicorn's own default (~/.gunicorn/gunicorn.ctl) is shared by every
# gunicorn of the user, and a new one removes the socket of the one already running; so without
# systemd (make prod-check, a second instance by hand) there is none unless asked for.
_control = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
if not _control and os.environ.get("RUNTIME_DIRECTORY"):
    _control = os.path.join(os.environ["RUNTIME_DIRECTORY"].split(":")[0], "gunicorn.ctl")
if _control:
    control_socket = _control
else:
    control_socket_disable = True


def post_worker_init(worker):
    """Take the client's address from nginx's X-Forwarded-For (one trusted hop).

    Without it every request would come from 127.0.0.1: the per-address login limit
    (LOGIN_IP_MAX_FAILURES) would lock the whole city out after 50 wrong passwords anywhere, and the
    audit log would record nginx's address. Only requests arriving from FORWARDED_ALLOW_IPS are
    rewritten, so a client that reaches gunicorn directly cannot choose its address.
    """
    import ipaddress

    from werkzeug.middleware.proxy_fix import ProxyFix

    entries = [e.strip() for e in forwarded_allow_ips.split(",") if e.strip()]
    trust_all = "*" in entries
    networks = [ipaddress.ip_network(e, strict=False) for e in entries if e != "*"]
    fixed = ProxyFix(worker.wsgi, x_for=proxy_hops, x_proto=proxy_hops)
    direct = worker.wsgi

    def trusted(environ) -> bool:
        if trust_all or "REMOTE_PORT" not in environ:  # a unix socket: only local processes reach it
            return True
        try:
            addr = ipaddress.ip_address(environ.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        return any(addr in net for net in networks)

    def app(environ, start_response):
        return (fixed if trusted(environ) else direct)(environ, start_response)

    worker.wsgi = app

    # Before the first request: the search's dictionary (otherwise the first search of each new
    # worker waits ~1.4 s for it).
    from app.search.engine import warm_up

    warm_up()
