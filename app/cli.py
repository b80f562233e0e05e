"""Flask commands; thin, they call services."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import func, select

from app.db import commit


def register(app: Flask) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(demo)
    app.cli.add_command(demo_exams)
    app.cli.add_command(worker)
    from app.catalogue.cli import courses_cli, search_cli

    app.cli.add_command(courses_cli)
    app.cli.add_command(search_cli)
    from app.exams.cli import exams_cli

    app.cli.add_command(exams_cli)


@click.command("create-admin")
@click.argument("username")
@click.option("--password", help="password; asked for when omitted")
@click.option("--name", default="组织部管理员", show_default=True)
@click.option("--unit", "unit_name", default="本市", show_default=True, help="name of the city unit when none exists")
@with_appcontext
def create_admin(username, password, name, unit_name):
    """Create an organisation-department administrator (the first one on an empty database)."""
    from app.accounts import services
    from app.accounts.models import Role
    from app.errors import DomainError

    if not password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        city = services.root_unit() or services.create_unit(None, unit_name, parent=None)
        user = services.create_staff(None, username=username, name=name, role=Role.ORGADMIN, unit=city,
                                     password=password)
    except DomainError as err:
        raise click.ClickException(err.message)
    commit()
    click.echo(f"created organisation-department admin {user.username} for {city.name}")


@click.command("demo")
@click.option("--if-empty", is_flag=True, help="seed only when the database has no units (make run)")
@click.option("--cadres", type=int, help="how many cadres (default: 200; with --size city 50,000)")
@click.option("--size", type=click.Choice(["demo", "city"]), default="demo", show_default=True,
              help="city: ~300 units, the full catalogue and a year of study (for reports and benchmarks)")
@click.option("--courses", "courses_dir", default="courses", show_default=True, help="with --size city")
@with_appcontext
def demo(if_empty, cadres, size, courses_dir):
    """Seed the demo city: ~30 units, staff of every role, ~200 cadres with issued cards."""
    from app.accounts.models import Unit
    from app.demo import seed_demo
    from app.extensions import db

    if db.session.scalar(select(func.count(Unit.id))):
        if if_empty:
            click.echo("database already has data; demo not seeded")
            return
        raise click.ClickException("the database is not empty; the demo city goes into an empty database")
    if size == "city":
        import time

        from app.citydata import seed_city

        started = time.perf_counter()
        seed_city(cadres=cadres or 50_000, courses_dir=courses_dir, log=click.echo, commit_every=5)
        commit()
        click.echo(f"city dataset ready in {time.perf_counter() - started:.0f} s; logins: admin, d01_admin … d12_admin, "
                   "d01_viewer … (password as for the demo); run `flask search reindex` for the search")
        return
    cadres = cadres or 200
    result = seed_demo(cadres=cadres)
    commit()
    click.echo(f"demo city seeded: {result['units']} units, {result['cadres']} cadres with cards")
    click.echo("demo logins (登录账号):")
    for label, login, password in result["logins"]:
        click.echo(f"  {label:<34} {login:<22} {password}")


@click.command("demo-exams")
@click.option("--if-empty", is_flag=True, help="seed only when there are courses with exams and no attempts (make run)")
@with_appcontext
def demo_exams(if_empty):
    """Seed exams and papers over the imported courses (after `flask demo` and `flask courses import`)."""
    from app.demo import seed_demo_exams

    try:
        result = seed_demo_exams()
    except RuntimeError as exc:
        if if_empty:
            click.echo(f"exam demo not seeded: {exc}")
            return
        raise click.ClickException(str(exc)) from None
    commit()
    click.echo(f"exam demo seeded: {result['attempts']} attempts ({result['passed']} passed), {result['papers']} papers")


@click.command("worker")
@click.option("--workers", default=2, show_default=True)
@with_appcontext
def worker(workers):
    """Run the background job consumer (huey)."""
    from flask import current_app

    from app.jobs import run_worker

    run_worker(current_app._get_current_object(), workers=workers)
