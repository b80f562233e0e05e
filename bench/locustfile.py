"""The load scenario of bench/load_bench.py: cadres watching, browsing and taking exams.

Three user classes, each a cadre of its own logged in once with its card number (argon2 at the
production cost: done before anything is measured, a few logins at a time):

    Watcher     opens a lesson page, starts a watch session (startWatchSession), reads the first
                256 KiB of the video by Range (the app's access check, then nginx's X-Accel-Redirect),
                then reports progress (reportWatchProgress) every `report_interval` seconds — the
                interval the server hands out (CADRE_LEARNING_REPORT_SECONDS, 15 s by default) —
                with seq + 1 and the range really played since the last report at 1× speed; at the
                lesson's end an "end" report and the next lesson. A still-studying check in an
                answer pauses playing: the picture is fetched, a few seconds pass (a person reading
                it) and the right number is sent (answerStudyCheck); the number is read from the
                database, as a person reads it from the picture.
    Browser     catalogue pages: 首页, 课程中心, a category, a course, a search, 我的学习; 5–15 s
                between pages; recordActivity once a minute, as app.js does.
    ExamTaker   the exam page of a completed course, startExamAttempt, the exam page, one answer
                saved every 5–15 s (saveExamAnswers, as exam.js does per change), getExamAttempt
                once a minute (exam.js's sync), submitExamAttempt, the result page; again after
                10–30 s.

bench/load_bench.py drives these classes through locust's library API (`python bench/locustfile.py
CONFIG.json`: users spawned in steps, percentiles per step window). With locust's own runner:

    LOAD_CONFIG=config.json .venv/bin/locust -f bench/locustfile.py --headless -u 100 -r 5 -t 2m

where config.json is what load_bench.py writes (host, cadre cards, password, lessons, courses, the
database to read check answers from).
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
from itertools import count

import gevent
from gevent.lock import Semaphore
from locust import FastHttpUser, constant, events, task

CONFIG: dict = {}
_NEXT_CADRE: dict[str, count] = {}
_LOGIN_GATE = Semaphore(4)   # concurrent logins: argon2 at production cost is ~0.1 s of CPU each
_DB_GATE = Semaphore(1)
_db = None
STATE = {"logged_in": 0, "login_failed": 0, "checks": 0, "checks_right": 0, "checks_wrong": 0, "sessions": 0, "reports": 0,
         "lessons_ended": 0, "attempts": 0, "submitted": 0, "pages": 0}


def load_config(path: str | None = None) -> dict:
    path = path or os.environ.get("LOAD_CONFIG")
    if path and not CONFIG:
        with open(path, encoding="utf-8") as fh:
            CONFIG.update(json.load(fh))
    return CONFIG


def check_answer(key: str) -> int | None:
    """The number shown in a check's picture (what a person reads off it)."""
    global _db
    import psycopg

    with _DB_GATE:
        if _db is None:
            _db = psycopg.connect(CONFIG["db_dsn"], autocommit=True)
        row = _db.execute("SELECT answer FROM study_checks WHERE key = %s", (key,)).fetchone()
    return row[0] if row else None


class CadreUser(FastHttpUser):
    abstract = True
    wait_time = constant(0)       # each task paces itself (report interval, think time)
    network_timeout = 60.0
    connection_timeout = 30.0
    concurrency = 2               # a browser tab: one connection, rarely two

    def on_start(self):
        cfg = load_config()
        kind = type(self).__name__
        pool = cfg["cadres_by_class"][kind]  # a cadre of its own: one watch session per cadre at a time
        self.card = pool[next(_NEXT_CADRE.setdefault(kind, count())) % len(pool)]
        self.csrf = None
        with _LOGIN_GATE:
            with self.client.post("/api/v1/auth/login", json={"login": self.card, "password": cfg["password"]},
                                  name="login", catch_response=True) as r:
                if r.status_code != 200:
                    STATE["login_failed"] += 1
                    r.failure(f"login {r.status_code}: {r.text[:200] if r.text else ''}")
                    raise gevent.GreenletExit
                self.csrf = r.json()["csrf_token"]
        STATE["logged_in"] += 1

    def write(self, method: str, path: str, body, name: str, expect: tuple = (200,)):
        """A JSON call with the CSRF header and a same-origin Referer (what the site's pages send);
        anything but `expect` is a failure. Returns the parsed body (or None)."""
        headers = {"X-CSRFToken": self.csrf or "", "Referer": self.host + "/"}
        with self.client.request(method, path, json=body, headers=headers, name=name, catch_response=True) as r:
            if r.status_code not in expect:
                r.failure(f"{r.status_code}: {(r.text or '')[:300]}")
                return None
            try:
                return r.json() if r.content else {}
            except ValueError:
                r.failure("not JSON")
                return None

    def page(self, path: str, name: str, expect: int = 200):
        with self.client.get(path, name=name, catch_response=True) as r:
            if r.status_code != expect:
                r.failure(f"{r.status_code}: {(r.text or '')[:200]}")
            STATE["pages"] += 1
            return r


if os.environ.get("LOAD_CONFIG"):  # under locust's own runner
    CadreUser.host = load_config()["host"]


class Watcher(CadreUser):
    weight = 8

    @task
    def watch(self):
        cfg = CONFIG
        interval = float(cfg.get("report_interval", 15))
        gevent.sleep(random.uniform(0, interval))  # arrivals spread over one interval
        course_id, lessons = random.choice(cfg["watch_courses"])
        index = random.randrange(len(lessons))
        while True:
            lesson = lessons[index % len(lessons)]
            self.page(f"/courses/{course_id}/lessons/{lesson['id']}", "page: lesson")
            started = self.write("POST", f"/api/v1/lessons/{lesson['id']}/watch-sessions", {}, "startWatchSession",
                                 expect=(201,))
            if started is None:
                gevent.sleep(interval)
                continue
            STATE["sessions"] += 1
            interval = float(started["report_interval"])
            report = "/" + started["report_url"].split("/", 3)[3] if "://" in started["report_url"] \
                else started["report_url"]
            with self.client.get(lesson["video_url"], headers={"Range": "bytes=0-262143"},
                                 name="video range (X-Accel-Redirect)", catch_response=True) as r:
                if r.status_code != 206:
                    r.failure(f"{r.status_code}")
            duration = float(started["duration"])
            pos = float(started["resume_position"])
            if pos >= duration - 1:
                pos = 0.0
            seq, last = 0, time.time()
            ended = False
            while not ended:
                gevent.sleep(max(0.0, interval - (time.time() - last)))
                t = time.time()
                new = min(duration, pos + (t - last))
                ended = new >= duration
                seq += 1
                body = {"seq": seq, "position": round(new, 2), "playing": True, "ranges": [[round(pos, 2), round(new, 2)]],
                        "event": "end" if ended else "tick"}
                out = self.write("POST", report, body, "reportWatchProgress")
                if out is None:
                    break  # the player stops on an error; start again after a while
                STATE["reports"] += 1
                pos, last = new, t
                check = out.get("check")
                if check and not ended:
                    self.answer_check(check)
                    last = time.time()  # the video was paused while the check was open
            if ended:
                STATE["lessons_ended"] += 1
                index += 1
            else:
                gevent.sleep(interval)

    def answer_check(self, check: dict) -> None:
        STATE["checks"] += 1
        with self.client.get("/" + check["image_url"].split("/", 3)[3] if "://" in check["image_url"]
                             else check["image_url"], name="getStudyCheckImage", catch_response=True) as r:
            if r.status_code != 200 or not (r.content or b"").startswith(b"\x89PNG"):
                r.failure(f"{r.status_code}")
        gevent.sleep(random.uniform(2, 6))
        answer = check_answer(check["id"])
        out = self.write("POST", f"/api/v1/study-checks/{check['id']}/answer", {"answer": answer},
                         "answerStudyCheck")
        if out is not None:
            STATE["checks_right" if out.get("ok") else "checks_wrong"] += 1


class Browser(CadreUser):
    weight = 1

    @task
    def browse(self):
        cfg = CONFIG
        next_ping = time.time() + 60
        while True:
            gevent.sleep(random.uniform(5, 15))
            kind = random.choices(["home", "catalogue", "category", "course", "search", "learning"],
                                  weights=[1, 2, 2, 3, 2, 1])[0]
            if kind == "home":
                self.page("/", "page: home")
            elif kind == "catalogue":
                self.page("/courses/", "page: catalogue")
            elif kind == "category":
                self.page(f"/courses/category/{random.choice(cfg['category_ids'])}", "page: category")
            elif kind == "course":
                self.page(f"/courses/{random.choice(cfg['course_ids'])}", "page: course")
            elif kind == "search":
                self.page(f"/courses/search?q={random.choice(cfg['search_terms'])}", "page: search")
            else:
                self.page("/learning/", "page: my learning")
            if time.time() >= next_ping:
                self.write("POST", "/api/v1/me/activity", None, "recordActivity", expect=(204,))
                next_ping = time.time() + 60


class ExamTaker(CadreUser):
    weight = 1

    @task
    def sit(self):
        cfg = CONFIG
        gevent.sleep(random.uniform(0, 15))
        while True:
            course_id = random.choice(cfg["exam_courses"])
            self.page(f"/exams/courses/{course_id}", "page: exam start")
            attempt = self.write("POST", f"/api/v1/courses/{course_id}/exam/attempts", {}, "startExamAttempt",
                                 expect=(200, 201))
            if attempt is None:
                gevent.sleep(30)
                continue
            STATE["attempts"] += 1
            self.page(f"/exams/attempts/{attempt['id']}", "page: exam")
            answers: dict[str, str] = {}
            synced = time.time()
            for q in attempt["questions"]:
                gevent.sleep(random.uniform(5, 15))
                keys = [o["key"] for o in q.get("options") or []]
                answers[str(q["position"])] = random.choice(keys) if keys else random.choice("TF")
                saved = self.write("PUT", f"/api/v1/exam-attempts/{attempt['id']}/answers",
                                   {"answers": {str(q["position"]): answers[str(q["position"])]}}, "saveExamAnswers")
                if saved is None:
                    break
                if time.time() - synced >= 60:
                    with self.client.get(f"/api/v1/exam-attempts/{attempt['id']}", name="getExamAttempt",
                                         catch_response=True) as r:
                        if r.status_code != 200:
                            r.failure(f"{r.status_code}")
                    synced = time.time()
            gevent.sleep(random.uniform(3, 8))
            done = self.write("POST", f"/api/v1/exam-attempts/{attempt['id']}/submit", {"answers": answers},
                              "submitExamAttempt")
            if done is not None:
                STATE["submitted"] += 1
            self.page(f"/exams/attempts/{attempt['id']}", "page: exam result")
            gevent.sleep(random.uniform(10, 30))


# --- the step driver (bench/load_bench.py runs `python bench/locustfile.py CONFIG.json`) --------------

def _cpu_sampler(groups: dict[str, list[int]], totals: dict[str, float], stop: list) -> None:
    """Every second, add up CPU seconds per process group (gunicorn with its workers, nginx with
    its workers, postgres: every backend of the server, the job worker, this generator); a
    process that ended since the last sample loses at most a second of its time."""
    import psutil

    seen: dict[int, float] = {}
    me = os.getpid()

    def members(name: str, pids: list[int]):
        if name == "postgres":
            return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]
        out = []
        for pid in pids:
            try:
                p = psutil.Process(pid)
                out.append(p)
                out.extend(p.children(recursive=True))
            except psutil.Error:
                pass
        return out

    while not stop:
        for name, pids in {**groups, "generator": [me]}.items():
            for p in members(name, pids):
                try:
                    t = p.cpu_times()
                except psutil.Error:
                    continue
                used = t.user + t.system
                key = p.pid
                prev = seen.get(key)
                seen[key] = used
                if prev is not None and used >= prev:
                    totals[name] = totals.get(name, 0.0) + used - prev
                elif prev is None:
                    totals.setdefault(name, 0.0)
        totals["_machine"] = sum(psutil.cpu_times()[:3])  # user + nice + system, all cores
        gevent.sleep(1.0)


def _percentile(values: list[float], p: float) -> float:
    import math

    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))] if s else 0.0


def drive(config_path: str) -> int:
    import resource

    import psutil
    from locust.env import Environment

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cfg = load_config(config_path)
    CadreUser.host = cfg["host"]
    env = Environment(user_classes=[Watcher, Browser, ExamTaker], host=cfg["host"], events=events)
    runner = env.create_local_runner()
    records: list[tuple[float, str, float, bool]] = []
    errors: dict[str, int] = {}
    error_samples: list[str] = []

    def on_request(request_type, name, response_time, response_length, exception=None, start_time=None, **_kw):
        records.append((start_time or time.time(), name, response_time, exception is None))
        if exception is not None:
            key = f"{request_type} {name}"
            errors[key] = errors.get(key, 0) + 1
            if len(error_samples) < 20:
                error_samples.append(f"{key}: {str(exception)[:300]}")

    def on_user_error(user_instance, exception, tb, **_kw):
        key = f"exception in {type(user_instance).__name__}"
        errors[key] = errors.get(key, 0) + 1
        if len(error_samples) < 20:
            error_samples.append(f"{key}: {type(exception).__name__}: {str(exception)[:300]}")

    env.events.request.add_listener(on_request)
    env.events.user_error.add_listener(on_user_error)
    cpu_totals: dict[str, float] = {}
    stop: list = []
    sampler = gevent.spawn(_cpu_sampler, cfg.get("pids", {}), cpu_totals, stop)
    group = runner.user_greenlets
    users = {"Watcher": 0, "Browser": 0, "ExamTaker": 0}
    classes = {"Watcher": Watcher, "Browser": Browser, "ExamTaker": ExamTaker}
    steps_out = []
    started = time.time()
    budget = float(cfg.get("budget_seconds", 1e9))
    mix = cfg["mix"]  # users of each class per watcher

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    for i, watchers in enumerate(cfg["steps"]):
        want = {"Watcher": watchers, "Browser": max(1, round(watchers * mix["Browser"])),
                "ExamTaker": max(1, round(watchers * mix["ExamTaker"]))}
        new = sum(max(0, want[k] - users[k]) for k in want)
        # Expected time of this step: logins (~0.17 s each on this machine), settling, holding.
        expected = new * cfg.get("login_seconds", 0.17) + cfg["settle"] + cfg["hold"]
        if i and time.time() - started + expected > budget:
            say(f"  (load: step {watchers} left out: the run's budget of {budget:.0f} s would be exceeded)")
            break
        t0 = time.time()
        target = STATE["logged_in"] + STATE["login_failed"] + new
        for k, n in want.items():
            for _ in range(max(0, n - users[k])):
                classes[k](env).start(group)
                users[k] += 1
        while STATE["logged_in"] + STATE["login_failed"] < target and time.time() - t0 < 600:
            gevent.sleep(0.2)
        login_s = time.time() - t0
        gevent.sleep(cfg["settle"])
        cpu0, m0, w0 = dict(cpu_totals), cpu_totals.get("_machine", 0.0), time.time()
        n_err0 = sum(errors.values())
        gevent.sleep(cfg["hold"])
        w1 = time.time()
        cpu1, m1 = dict(cpu_totals), cpu_totals.get("_machine", 0.0)
        window = [r for r in records if w0 <= r[0] < w1]
        by_name: dict[str, list[float]] = {}
        failed = 0
        for _t, name, ms, ok in window:
            by_name.setdefault(name, []).append(ms)
            failed += 0 if ok else 1
        all_ms = [r[2] for r in window]
        seconds = w1 - w0
        cpu = {k: round(100 * (cpu1.get(k, 0.0) - cpu0.get(k, 0.0)) / seconds, 1) for k in cpu1 if k != "_machine"}
        machine = 100 * (m1 - m0) / seconds
        cpu["others"] = round(max(0.0, machine - sum(cpu.values())), 1)
        cpu[f"machine (of {100 * (os.cpu_count() or 1)})"] = round(machine, 1)
        step = {
            "watchers": users["Watcher"], "browsers": users["Browser"], "exam_takers": users["ExamTaker"],
            "login_seconds": round(login_s, 1), "window_seconds": round(seconds, 1), "window": [w0, w1],
            "slow_1s": [[round(t - w0, 1), name, round(ms)] for t, name, ms, _ok in window if ms >= 1000][:200],
            "requests": len(window), "rps": round(len(window) / seconds, 1),
            "p50_ms": round(_percentile(all_ms, 50), 1), "p99_ms": round(_percentile(all_ms, 99), 1),
            "max_ms": round(max(all_ms), 1) if all_ms else 0.0,
            "failures_in_window": failed, "errors_so_far": sum(errors.values()),
            "errors_during_step": sum(errors.values()) - n_err0,
            "per_request": {name: {"n": len(v), "p50_ms": round(_percentile(v, 50), 1),
                                   "p99_ms": round(_percentile(v, 99), 1)} for name, v in sorted(by_name.items())},
            "cpu_percent": cpu,
            "loadavg": [round(x, 2) for x in os.getloadavg()],
        }
        steps_out.append(step)
        rep = step["per_request"].get("reportWatchProgress", {})
        say(f"  (load step {i + 1}: {step['watchers']} watchers + {step['browsers']} browsers + "
            f"{step['exam_takers']} exam takers; logins {login_s:.0f} s; {step['requests']} requests in "
            f"{seconds:.0f} s ({step['rps']} req/s): p50 {step['p50_ms']} ms, p99 {step['p99_ms']} ms "
            f"(reports p99 {rep.get('p99_ms', '-')} ms), errors {step['errors_during_step']}; CPU % "
            + ", ".join(f"{k} {v}" for k, v in cpu.items()) + ")")
        # Past the limit the next step is still measured (a shared machine makes single steps
        # noisy: a stall of a few seconds puts one step over), unless this one had errors or this
        # and the previous one were both far past it.
        far = [s["p99_ms"] >= 5 * cfg["p99_limit_ms"] for s in steps_out[-2:]]
        if step["errors_during_step"] or (len(far) == 2 and all(far)):
            if i + 1 < len(cfg["steps"]):
                say(f"  (load: p99 {step['p99_ms']} ms / {step['errors_during_step']} errors at this step: "
                    f"no higher step)")
            break
    stop.append(True)
    runner.quit()
    group.kill(block=True, timeout=10)
    gevent.sleep(0)
    out = {"steps": steps_out, "errors": errors, "error_samples": error_samples, "state": STATE,
           "total_requests": len(records), "seconds": round(time.time() - started, 1),
           "generator_cpu_seconds": round(sum(psutil.Process().cpu_times()[:2]), 1)}
    with open(cfg["out"], "w", encoding="utf-8") as fh:
        json.dump(out, fh, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(drive(sys.argv[1]))
