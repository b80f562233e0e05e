"""Exam attempts in the service: random papers reproducible from their seed, no answers before
submission, the server's deadline, attempt limits, grading and the course's credits once."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.catalogue.models import Course
from app.credits.models import CreditEntry
from app.errors import Conflict, RuleViolation
from app.exams import bank, services
from app.exams.models import AttemptEnd, ExamAttempt, ExamSetting, Question, QuestionKind
from app.extensions import db
from tests.exams.conftest import add_bank, complete_course, right_answers, wrong_answers


def _credit_rows(user_id: int, course_id: int) -> list[CreditEntry]:
    return list(db.session.scalars(select(CreditEntry).where(
        CreditEntry.user_id == user_id, CreditEntry.source_type == "course_credits",
        CreditEntry.source_id == course_id)))


def test_a_paper_has_ten_questions_grouped_by_kind_with_shuffled_options(exam_course, cadre, clock):
    attempt, created = services.start_attempt(cadre, exam_course.id)
    assert created and attempt.number == 1 and len(attempt.items) == 10
    kinds = [item.question.kind for item in attempt.items]
    assert kinds == sorted(kinds, key=list(services.KIND_ORDER).index)
    assert attempt.deadline - attempt.started_at == timedelta(minutes=30)
    for item in attempt.items:
        n = 2 if item.question.kind == QuestionKind.TRUEFALSE else 4
        assert sorted(item.option_order) == list(range(n))
        if item.question.kind == QuestionKind.TRUEFALSE:
            assert item.option_order == [0, 1]
    # Over many seeds, options are shuffled and papers differ.
    pool = services.pool_of(exam_course.id)
    counts = services.option_counts_for(exam_course.questions)
    papers = {tuple(services.draw_paper(seed, pool, None, 10, counts)) for seed in range(20)}
    assert len(papers) == 20
    orders = {d.option_order for p in papers for d in p if counts[d.question_id] == 4}
    assert len(orders) > 5


def test_the_open_paper_carries_no_answers(exam_course, cadre, clock):
    attempt, _ = services.start_attempt(cadre, exam_course.id)
    shown = services.paper_questions(attempt)
    assert all(set(q) == {"position", "kind", "kind_label", "stem", "options", "response"} for q in shown)
    assert "解析" not in repr(shown)
    with pytest.raises(Conflict):
        services.result_questions(attempt)


def test_an_attempt_is_reproduced_from_its_seed_even_after_the_bank_changed(app, exam_course, cadre, clock, world):
    attempt, _ = services.start_attempt(cadre, exam_course.id)
    stored = [(i.question_id, tuple(i.option_order)) for i in attempt.items]
    # The bank changes afterwards: a question retired, two added, one revised.
    org = db.session.get(type(cadre), world.orgadmin)
    bank.retire_question(org, next(q for q in exam_course.questions if q != attempt.items[0].question_id))
    bank.create_question(org, exam_course.id, {"kind": "single", "stem": "后来新增的题目?", "options": ["甲", "乙"],
                                               "answer": "A"})
    bank.update_question(org, attempt.items[0].question_id, {"stem": "修改后的题干:下列说法正确的是?"})
    db.session.flush()
    again = services.reproduce(attempt)
    assert [(d.question_id, d.option_order) for d in again] == stored
    # A different seed gives a different paper from the same pool.
    other = services.draw_paper(attempt.seed + 1, attempt.pool_ids, None, 10,
                                services.option_counts_for(exam_course.questions))
    assert [(d.question_id, d.option_order) for d in other] != stored


def test_per_type_counts_decide_the_paper(exam_course, cadre, clock):
    setting = db.session.get(ExamSetting, exam_course.id)
    setting.single_count, setting.multiple_count, setting.truefalse_count = 2, 2, 1
    setting.question_count = 5
    attempt, _ = services.start_attempt(cadre, exam_course.id)
    assert [i.question.kind.value for i in attempt.items] == ["single"] * 2 + ["multiple"] * 2 + ["truefalse"]
    assert attempt.per_type == {"single": 2, "multiple": 2, "truefalse": 1}
    assert [(d.question_id, list(d.option_order)) for d in services.reproduce(attempt)] == \
        [(i.question_id, i.option_order) for i in attempt.items]


def test_a_pass_earns_the_course_credits_once(exam_course, cadre, clock):
    first, _ = services.start_attempt(cadre, exam_course.id)
    services.save_answers(cadre, first.id, right_answers(first))
    result = services.submit_attempt(cadre, first.id)
    assert (first.score, first.passed, first.correct_count, first.end) == (100, True, 10, AttemptEnd.SUBMITTED)
    assert first.entry.credits == exam_course.credits
    assert services.earned(first).credits == 10 and "10 学分" in services.earned(first).message
    # A retry of the same submission returns the same result and earns nothing more.
    assert services.submit_attempt(cadre, first.id).attempt.score == 100 and not result.late
    clock.advance(3600)
    second, created = services.start_attempt(cadre, exam_course.id)
    assert created and second.number == 2
    services.submit_attempt(cadre, second.id, right_answers(second))
    assert second.passed and second.entry_id is None
    assert services.earned(second).credits == 0 and "不重复计分" in services.earned(second).message
    assert len(_credit_rows(cadre.id, exam_course.id)) == 1


def test_a_fail_earns_nothing_and_says_why(exam_course, cadre, clock):
    attempt, _ = services.start_attempt(cadre, exam_course.id)
    services.submit_attempt(cadre, attempt.id, wrong_answers(attempt))
    assert (attempt.score, attempt.passed, attempt.entry_id) == (0, False, None)
    assert "60" in services.earned(attempt).message
    assert _credit_rows(cadre.id, exam_course.id) == []
    rows = services.result_questions(attempt)
    assert all(not r["correct"] and "answer" not in r and "explanation" not in r for r in rows)


def test_answers_appear_after_a_pass_only_if_the_course_shows_them(exam_course, cadre, clock):
    attempt, _ = services.start_attempt(cadre, exam_course.id)
    services.submit_attempt(cadre, attempt.id, right_answers(attempt))
    rows = services.result_questions(attempt)
    assert all(r["answer"] == r["response"] and r["explanation"].startswith("解析") for r in rows)
    db.session.get(ExamSetting, exam_course.id).show_answers_after_pass = False
    assert all("answer" not in r for r in services.result_questions(attempt))


def test_a_late_submission_is_graded_only_with_what_was_saved_in_time(exam_course, cadre, clock):
    attempt, _ = services.start_attempt(cadre, exam_course.id)
    right = right_answers(attempt)
    first_four = {k: right[k] for k in ("1", "2", "3", "4")}
    clock.advance(600)
    services.save_answers(cadre, attempt.id, first_four)
    clock.advance(30 * 60)  # past the deadline and its grace
    result = services.submit_attempt(cadre, attempt.id, right)  # everything right, but too late
    assert result.late and attempt.end == AttemptEnd.DEADLINE
    assert attempt.closed_at == attempt.deadline
    assert (attempt.correct_count, attempt.score, attempt.passed) == (4, 40, False)
    assert [i.response is not None for i in attempt.items] == [True] * 4 + [False] * 6
    with pytest.raises(Conflict):
        services.save_answers(cadre, attempt.id, right)


def test_answers_within_the_grace_still_count(exam_course, cadre, clock):
    attempt, _ = services.start_attempt(cadre, exam_course.id)
    clock.advance(30 * 60 + 5)  # 5 s after the deadline, within the 10 s grace
    result = services.submit_attempt(cadre, attempt.id, right_answers(attempt))
    assert not result.late and attempt.end == AttemptEnd.SUBMITTED and attempt.score == 100


def test_an_abandoned_attempt_is_closed_by_the_sweep_and_still_earns(exam_course, cadre, clock):
    attempt, _ = services.start_attempt(cadre, exam_course.id)
    services.save_answers(cadre, attempt.id, right_answers(attempt))
    clock.advance(29 * 60)
    assert services.close_overdue_attempts() == 0
    clock.advance(2 * 60)
    assert services.close_overdue_attempts() == 1
    assert (attempt.end, attempt.score, attempt.passed) == (AttemptEnd.DEADLINE, 100, True)
    assert attempt.entry is not None and attempt.entry.credits == 10
    assert services.close_overdue_attempts() == 0


def test_one_open_attempt_per_course(exam_course, cadre, clock):
    a, created_a = services.start_attempt(cadre, exam_course.id)
    b, created_b = services.start_attempt(cadre, exam_course.id)
    assert (created_a, created_b) == (True, False) and a.id == b.id
    assert db.session.scalar(select(func.count(ExamAttempt.id))) == 1


def test_the_sixth_attempt_when_five_are_allowed_is_refused(exam_course, cadre, clock):
    setting = db.session.get(ExamSetting, exam_course.id)
    setting.attempts_per_day, setting.attempts_total = 0, 5
    for _ in range(5):
        a, _created = services.start_attempt(cadre, exam_course.id)
        services.submit_attempt(cadre, a.id, wrong_answers(a))
    with pytest.raises(RuleViolation) as err:
        services.start_attempt(cadre, exam_course.id)
    assert err.value.message == "本课程考试最多可参加 5 次,您已全部用完"
    assert err.value.code == "attempts_exhausted"
    assert db.session.scalar(select(func.count(ExamAttempt.id))) == 5


def test_attempts_per_day_reset_on_the_next_local_day(exam_course, cadre, clock):
    for _ in range(3):
        a, _created = services.start_attempt(cadre, exam_course.id)
        services.submit_attempt(cadre, a.id, wrong_answers(a))
    with pytest.raises(RuleViolation, match="每天最多可参加 3 次"):
        services.start_attempt(cadre, exam_course.id)
    clock.advance(14 * 3600)  # 10:00 → 00:00 next day in Beijing
    a, created = services.start_attempt(cadre, exam_course.id)
    assert created and a.number == 4


def test_the_exam_opens_only_when_the_course_is_complete(ctx, exam_course, world, clock):
    from app.accounts.models import User

    other = db.session.get(User, world.jt_cadre)
    with pytest.raises(RuleViolation, match="学完本课程全部课时后"):
        services.start_attempt(other, exam_course.id)
    complete_course(other.id, exam_course.id)
    assert services.start_attempt(other, exam_course.id)[1]


def test_a_bank_too_small_for_the_settings_keeps_the_exam_closed(exam_course, cadre, clock):
    db.session.get(ExamSetting, exam_course.id).question_count = 14
    st = services.exam_status(cadre, db.session.get(Course, exam_course.id))
    assert "只有 13 道题" in st.blocked
    with pytest.raises(RuleViolation, match="题库中只有 13 道题"):
        services.start_attempt(cadre, exam_course.id)


def test_staff_cannot_sit_exams(ctx, exam_course, world, clock):
    from app.accounts.models import User
    from app.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.start_attempt(db.session.get(User, world.orgadmin), exam_course.id)


def test_answers_are_checked_against_the_question(exam_course, cadre, clock):
    from app.errors import Invalid

    attempt, _ = services.start_attempt(cadre, exam_course.id)
    single = next(i for i in attempt.items if i.question.kind == QuestionKind.SINGLE)
    multiple = next(i for i in attempt.items if i.question.kind == QuestionKind.MULTIPLE)
    tf = next(i for i in attempt.items if i.question.kind == QuestionKind.TRUEFALSE)
    for bad in ({str(single.position): "AB"}, {str(single.position): "E"}, {str(tf.position): "A"},
                {str(multiple.position): "AA"}, {"99": "A"}, {"x": "A"}):
        with pytest.raises(Invalid):
            services.save_answers(cadre, attempt.id, bad)
    assert all(i.response is None for i in attempt.items)
    # Shown letters are mapped to the question's own letters and back.
    services.save_answers(cadre, attempt.id, {str(multiple.position): "ca"})
    assert services.to_shown(multiple, multiple.response) == "AC"
    assert multiple.response == "".join(sorted("ABCD"[multiple.option_order[i]] for i in (0, 2)))


def test_multiple_choice_is_all_or_nothing_unless_partial_is_configured(exam_course, cadre, clock):
    def sit(partial: bool) -> float:
        db.session.get(ExamSetting, exam_course.id).multiple_partial = partial
        attempt, _ = services.start_attempt(cadre, exam_course.id)
        item = next(i for i in attempt.items if i.question.kind == QuestionKind.MULTIPLE and len(i.question.answer) >= 2)
        right = services.to_shown(item, item.question.answer)
        services.submit_attempt(cadre, attempt.id, {str(item.position): right[0]})
        return item.points

    assert sit(False) == 0.0
    assert sit(True) == 0.5


def test_a_retired_or_revised_question_leaves_past_results_intact(exam_course, cadre, clock, world):
    from app.accounts.models import User

    attempt, _ = services.start_attempt(cadre, exam_course.id)
    services.submit_attempt(cadre, attempt.id, right_answers(attempt))
    org = db.session.get(User, world.orgadmin)
    item = attempt.items[0]
    old_stem, old_answer = item.question.stem, item.question.answer
    new = bank.update_question(org, item.question_id, {"stem": "全新的题干,已经完全改写?"})
    assert new.id != item.question_id and item.question.retired_at is not None and item.question.position < 0
    bank.retire_question(org, attempt.items[1].question_id)
    db.session.expire_all()
    attempt = db.session.get(ExamAttempt, attempt.id)
    rows = services.result_questions(attempt)
    assert rows[0]["stem"] == old_stem and attempt.items[0].question.answer == old_answer
    assert attempt.score == 100 and all(r["correct"] for r in rows)


def test_exam_status_reports_limits_and_credits(exam_course, cadre, clock):
    course = db.session.get(Course, exam_course.id)
    st = services.exam_status(cadre, course)
    assert (st.blocked, st.attempts_total, st.remaining_total, st.remaining_today) == (None, 0, 5, 3)
    a, _ = services.start_attempt(cadre, exam_course.id)
    services.submit_attempt(cadre, a.id, right_answers(a))
    st = services.exam_status(cadre, course)
    assert (st.passed, st.best_score, st.attempts_total, st.remaining_total) == (True, 100, 1, 4)
    assert st.credit_entry is not None and st.credit_entry.credits == 10


def test_a_course_without_an_exam_says_so(ctx, catalogue, world, clock):
    from app.accounts.models import User

    cadre = db.session.get(User, world.wb_cadre)
    add_bank(catalogue.car)
    complete_course(cadre.id, catalogue.car)
    with pytest.raises(RuleViolation, match="没有结业考试"):
        services.start_attempt(cadre, catalogue.car)
    assert db.session.scalar(select(func.count(Question.id)).where(Question.course_id == catalogue.car)) == 13
