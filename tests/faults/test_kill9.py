"""kill -9 of the whole web server (gunicorn master and workers) in the middle of progress reports and
exam submissions: nothing a cadre was told is saved is lost, and nothing is counted twice.

32 cadres work at once against gunicorn (2 processes × 4 threads) on the test's own database: 16
watch both lessons of a course (one-second progress reports with sequence numbers, each lesson to
its end), which completes the course, and then pass its exam; 16 who completed the course earlier
sit the exam three times (fail, fail, pass: start, two saves of answers, hand in). A third of the
way through, with progress reports and exam requests in flight, the server's whole process group is
killed with SIGKILL and started again; every request whose answer a client did not get is sent again unchanged (same body, same sequence
number), as the player and the exam page do. Then the database must hold exactly what a fault-free
run would: each reported second once, each lesson and course completed once, each attempt closed
and graded once with the right score, the course's class hours and credits once per cadre in the
ledger, and every answer the server gave still true."""
from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import requests
from sqlalchemy import text

from tests.faults.conftest import Api, Server, is_postgres, own_database, seed

WATCHERS, SITTERS = 16, 16
LESSON_SECONDS = 10  # two lessons: 20 one-second reports per watcher
SITTINGS = ("F", "F", "T")  # every true/false answer "F" scores 0, "T" scores 100


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    answered: int = 0
    in_flight: Counter = field(default_factory=Counter)  # by kind of request
    cut_off: int = 0         # requests whose connection died before the answer came
    refused: int = 0         # sendings refused while the server was down
    resent: int = 0          # requests sent again after either
    busy: int = 0            # 503 answers (then sent again)
    committed_unanswered: Counter = field(default_factory=Counter)  # found done by their retry
    errors: list[str] = field(default_factory=list)

    def begin(self, kind: str):
        with self.lock:
            self.in_flight[kind] += 1

    def end(self, kind: str, error: Exception | None = None):
        with self.lock:
            self.in_flight[kind] -= 1
            if error is None:
                self.answered += 1
            elif "refused" in str(error):
                self.refused += 1
            else:
                self.cut_off += 1


class Client:
    def __init__(self, base: str, tally: Tally):
        self.api = Api(base)
        self.tally = tally

    def call(self, method: str, path: str, ok=(200, 201), **kw) -> tuple[requests.Response, bool, float]:
        kind = _kind(method, path)
        """Send until answered (the same body every time); (response, was it sent again, time of the
        last sending)."""
        again = False
        deadline = time.monotonic() + 45
        while True:
            assert time.monotonic() < deadline, f"{method} {path}: no answer for 45 s"
            sent_at = time.time()
            self.tally.begin(kind)
            try:
                r = self.api.request(method, path, timeout=15, **kw)
            except requests.RequestException as exc:
                self.tally.end(kind, exc)
                again = True
                with self.tally.lock:
                    self.tally.resent += 1
                time.sleep(0.1)
                continue
            self.tally.end(kind)
            if r.status_code == 503:
                assert r.headers.get("Retry-After"), r.text
                with self.tally.lock:
                    self.tally.busy += 1
                again = True
                time.sleep(0.1)
                continue
            assert r.status_code in ok, f"{method} {path} → {r.status_code}: {r.text[:400]}"
            return r, again, sent_at

    def login(self, card: str, password: str) -> None:
        while True:
            try:
                r = self.api.login(card, password)
            except requests.RequestException:
                time.sleep(0.05)
                continue
            if r.status_code == 200:
                return
            assert r.status_code == 503, r.text
            time.sleep(0.1)


def _kind(method: str, path: str) -> str:
    if "/reports" in path:
        return "progress report"
    if "/watch-sessions" in path:
        return "start watching"
    if path.endswith("/exam/attempts"):
        return "exam start"
    return "exam answers" if method == "PUT" else "exam hand-in"


def watcher(base, tally, cadre, info, log):
    c = Client(base, tally)
    c.login(cadre["card"], info["password"])
    for lesson_id, duration in zip(info["lessons"], info["durations"]):
        r, _again, _t = c.call("POST", f"/api/v1/lessons/{lesson_id}/watch-sessions", ok=(201,))
        report_url = r.json()["report_url"]
        for i in range(int(duration)):
            body = {"seq": i + 1, "position": i + 1, "playing": True, "ranges": [[i, i + 1]], "event": "tick"}
            r, again, _t = c.call("POST", report_url, ok=(200,), json=body)
            b = r.json()
            assert b["state"] == "active", b
            if b["duplicate"]:
                assert again, f"a first report counted as a duplicate: {b}"
                tally.committed_unanswered["progress report"] += 1
            else:
                assert b["credited"] == 1.0, b
            log["reports"].append((cadre["user_id"], lesson_id, i + 1, b["accepted"], b["credited"]))
        assert b["lesson_completed"], b
    assert b["course"]["completed_at"], b
    sit(c, tally, cadre, info, "T", 1, log)


def sit(c, tally, cadre, info, answer, number, log):
    r, again, _t = c.call("POST", f"/api/v1/courses/{info['course_id']}/exam/attempts")
    a = r.json()
    assert a["number"] == number and a["state"] == "open", a
    if r.status_code == 200:
        assert again, "an attempt resumed that was never started"
        tally.committed_unanswered["exam start"] += 1
    positions = [str(q["position"]) for q in a["questions"]]
    for part in (positions[:3], positions[3:]):
        r, again, _t = c.call("PUT", f"/api/v1/exam-attempts/{a['id']}/answers", ok=(200,),
                              json={"answers": {p: answer for p in part}})
        if again and r.json()["saved"] == 0:
            tally.committed_unanswered["saved answers"] += 1
        else:
            assert r.json()["saved"] == len(part), r.json()
    r, again, sent_at = c.call("POST", f"/api/v1/exam-attempts/{a['id']}/submit", ok=(200,), json={})
    b = r.json()
    assert b["state"] == "closed" and b["end"] == "submitted", b
    assert b["score"] == (100 if answer == "T" else 0), b
    assert b["credits_earned"] == (info["credits"] if answer == "T" else 0), b
    if again and datetime.fromisoformat(b["closed_at"]).timestamp() < sent_at:
        tally.committed_unanswered["exam hand-in"] += 1
    log["attempts"][cadre["user_id"]].append((a["id"], b["score"], b["closed_at"]))


def sitter(base, tally, cadre, info, log):
    c = Client(base, tally)
    c.login(cadre["card"], info["password"])
    for number, answer in enumerate(SITTINGS, start=1):
        sit(c, tally, cadre, info, answer, number, log)


def test_kill_minus_nine_mid_stream_loses_and_doubles_nothing(tmp_path, engine_for):
    started = time.monotonic()
    media = tmp_path / "media"
    with own_database(tmp_path, "kill9") as url:
        info = seed(url, media, cadres=WATCHERS + SITTERS, completed=SITTERS,
                    lessons=[LESSON_SECONDS, LESSON_SECONDS])
        info["credits"] = 10
        seeded = time.monotonic() - started
        sitters, watchers = info["cadres"][:SITTERS], info["cadres"][SITTERS:]
        expected = WATCHERS * (2 + 2 * LESSON_SECONDS + 4) + SITTERS * 4 * len(SITTINGS)
        server = Server(tmp_path, url, media)
        tally = Tally()
        log = {"reports": [], "attempts": defaultdict(list)}
        try:
            server.start()
            threads = [threading.Thread(target=_guard, args=(fn, tally, server.url, tally, cadre, info, log))
                       for fn, group in ((watcher, watchers), (sitter, sitters)) for cadre in group]
            clients_started = time.monotonic()
            for t in threads:
                t.start()

            # kill -9 once a third of the work is answered: watchers are reporting progress, the
            # others are in the middle of their exams
            _wait(lambda: tally.answered >= expected // 3 or not any(t.is_alive() for t in threads), 40)
            with tally.lock:
                at_kill = +tally.in_flight
                answered = tally.answered
            died = server.kill9()
            time.sleep(0.3)  # clients find the port closed meanwhile
            t0 = time.monotonic()
            server.start()
            restart = time.monotonic() - t0
            # bounded: every client is done within 60 s of the first request (a request unanswered for
            # 45 s fails its client), however the restart went
            for t in threads:
                t.join(timeout=max(0.1, clients_started + 60 - time.monotonic()))
            assert not any(t.is_alive() for t in threads), "clients still running after 60 s"
            clients_took = time.monotonic() - clients_started
        finally:
            server.stop()
        assert not tally.errors, tally.errors[0]
        assert died >= 3  # the master and both workers
        # both kinds of work were cut in the middle
        assert at_kill["progress report"] > 0 and at_kill["exam start"] + at_kill["exam answers"] + at_kill["exam hand-in"] > 0, at_kill
        _check_database(engine_for(url), info, watchers, sitters, log)
        lost_and_done = sum(tally.committed_unanswered.values())
        print(f"\nkill -9 of {died} processes after {answered} of {expected} answers, in flight: {dict(at_kill)}; "
              f"{tally.answered} answers, {tally.cut_off} requests cut off "
              f"without an answer, {tally.refused} sendings refused while down, {tally.resent} sent again, {tally.busy} busy (503); committed but unanswered, found by "
              f"their retry: {dict(tally.committed_unanswered)} ({lost_and_done}); "
              f"{time.monotonic() - started:.1f} s on {'PostgreSQL' if is_postgres() else 'SQLite'} (seeding {seeded:.1f} s, "
              f"clients {clients_took:.1f} s of which the restart {restart:.1f} s)")


def _guard(fn, tally, *args):
    try:
        fn(*args)
    except BaseException as exc:  # noqa: BLE001 - reported by the test thread
        tally.errors.append(f"{fn.__name__}: {exc!r}")


def _wait(predicate, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "the clients did not get that far"
        time.sleep(0.01)


def _check_database(engine, info, watchers, sitters, log) -> None:
    course, lessons, durations = info["course_id"], info["lessons"], info["durations"]
    watcher_ids = {c["user_id"] for c in watchers}
    sitter_ids = {c["user_id"] for c in sitters}
    with engine.connect() as db:
        q = lambda sql, **kw: db.execute(text(sql), kw).all()  # noqa: E731

        # each reported second exactly once: ranges, covered and credited seconds, daily study time
        lps = {(r.user_id, r.lesson_id): r for r in q(
            "SELECT user_id, lesson_id, ranges, covered_seconds, credited_seconds, completed_at FROM lesson_progress")}
        assert set(lps) == {(u, lesson) for u in watcher_ids for lesson in lessons}
        for (user, lesson), r in lps.items():
            d = durations[lessons.index(lesson)]
            ranges = r.ranges if isinstance(r.ranges, list) else json.loads(r.ranges)
            assert ranges == [[0.0, d]], (user, lesson, ranges)
            assert r.covered_seconds == d and r.credited_seconds == d, (user, lesson, r)
            assert r.completed_at is not None
        study = dict(q("SELECT user_id, SUM(seconds) FROM study_days GROUP BY user_id"))
        assert study == {u: sum(durations) for u in watcher_ids}, study
        # every report the server answered is in the database: accepted ones credited 1 s each; the
        # others were retries of a report that had been saved before its answer was lost
        per_seq = Counter((u, lesson, seq) for u, lesson, seq, _acc, _cr in log["reports"])
        assert set(per_seq.values()) == {1}
        assert len(per_seq) == sum(int(d) for d in durations) * len(watcher_ids)
        sessions = q("SELECT user_id, lesson_id, MAX(last_seq), SUM(credited_seconds) FROM watch_sessions "
                     "GROUP BY user_id, lesson_id")
        assert {(u, lesson): (seq, cr) for u, lesson, seq, cr in sessions} == {
            (u, lesson): (int(durations[lessons.index(lesson)]), durations[lessons.index(lesson)])
            for u in watcher_ids for lesson in lessons}

        # completions once
        cps = q("SELECT user_id, lessons_completed, completed_at, credited_seconds FROM course_progress "
                "WHERE course_id = :c", c=course)
        assert {r.user_id for r in cps} == watcher_ids | sitter_ids
        for r in cps:
            assert r.completed_at is not None and r.lessons_completed == len(lessons)
            if r.user_id in watcher_ids:
                assert r.credited_seconds == sum(durations)

        # attempts: as many as the cadres started, each closed and graded once with its score
        attempts = q("SELECT id, user_id, number, closed_at, \"end\", score, passed, correct_count, entry_id "
                     "FROM exam_attempts ORDER BY user_id, number")
        by_user = defaultdict(list)
        for a in attempts:
            by_user[a.user_id].append(a)
        assert set(by_user) == watcher_ids | sitter_ids
        for user, rows in by_user.items():
            want = ["T"] if user in watcher_ids else list(SITTINGS)
            assert [a.number for a in rows] == list(range(1, len(want) + 1)), rows
            assert [a.score for a in rows] == [100 if w == "T" else 0 for w in want], rows
            assert all(a.closed_at is not None and a.end == "submitted" for a in rows), rows
            assert [bool(a.passed) for a in rows] == [w == "T" for w in want]
            assert [a.entry_id is not None for a in rows] == [w == "T" for w in want]
            assert sorted(a.id for a in rows) == sorted(x[0] for x in log["attempts"][user])
        items = q("SELECT attempt_id, COUNT(*), COUNT(response), SUM(points) FROM exam_attempt_items GROUP BY attempt_id")
        assert all(n == 5 and answered == 5 for _a, n, answered, _p in items), items

        # the ledger: class hours once per watcher (completion), credits once per cadre (the pass)
        entries = q("SELECT user_id, source_type, source_id, credits, hours, id FROM credit_entries "
                    "WHERE reverses_id IS NULL ORDER BY id")
        kinds = Counter((e.user_id, e.source_type) for e in entries)
        assert kinds == Counter({**{(u, "course_hours"): 1 for u in watcher_ids},
                                 **{(u, "course_credits"): 1 for u in watcher_ids | sitter_ids}}), kinds
        assert all(e.source_id == course for e in entries)
        assert {(e.user_id, e.credits, e.hours) for e in entries if e.source_type == "course_credits"} == {
            (u, info["credits"], 0) for u in watcher_ids | sitter_ids}
        passed_entry = {a.user_id: a.entry_id for a in attempts if a.passed}
        assert passed_entry == {e.user_id: e.id for e in entries if e.source_type == "course_credits"}
