"""``flask exams``: close overdue attempts (for a cron without the worker) and show an attempt's
paper drawn again from its seed, for an audit."""
from __future__ import annotations

import click
from flask.cli import AppGroup

exams_cli = AppGroup("exams", help="Course exams.")


@exams_cli.command("sweep")
def sweep():
    """Close and grade every attempt whose time ran out (the worker does this every minute)."""
    from app.exams.jobs import sweep_overdue_attempts

    click.echo(f"closed {sweep_overdue_attempts()} overdue attempt(s)")


@exams_cli.command("reproduce")
@click.argument("attempt_id", type=int)
def reproduce(attempt_id):
    """Draw an attempt's paper again from its stored seed and pool, and compare with what was sat."""
    from app.exams import services
    from app.exams.models import ExamAttempt
    from app.extensions import db

    attempt = db.session.get(ExamAttempt, attempt_id)
    if attempt is None:
        raise click.ClickException(f"no attempt {attempt_id}")
    drawn = services.reproduce(attempt)
    click.echo(f"attempt {attempt.id}: cadre {attempt.user_id}, course {attempt.course_id}, seed {attempt.seed}, "
               f"started {attempt.started_at.isoformat()}, score {attempt.score}")
    same = True
    for item, d in zip(attempt.items, drawn, strict=False):
        match = (item.question_id, list(item.option_order)) == (d.question_id, list(d.option_order))
        same &= match
        q = item.question
        options = " | ".join(f"{services.LETTERS[i]}. {q.options[j]}" for i, j in enumerate(item.option_order)) \
            if q.options else "T. 正确 | F. 错误"
        click.echo(f"{item.position:>3}. [{q.kind.value}] q{q.id} {q.stem}\n     {options}\n"
                   f"     answer {services.to_shown(item, q.answer)}, response {services.to_shown(item, item.response)}"
                   f"{'' if match else '  ← differs from the redrawn paper'}")
    same &= len(drawn) == len(attempt.items)
    click.echo("redrawn paper: identical" if same else "redrawn paper: DIFFERS")
    if not same:
        raise SystemExit(1)
