"""The migrations are the schema's truth: one head, and upgrade gives exactly the models' schema."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import Migrate

from app.db import Base
from app.extensions import db


def test_single_alembic_head(app):
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_upgrade_on_empty_database_matches_models(app):
    # The session's database was built by `upgrade` alone (see conftest); compare it to the models.
    with app.app_context():
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], diff


def test_migrate_extension_configured_for_batch_mode(app):
    assert isinstance(app.extensions["migrate"].migrate, Migrate)
    assert app.extensions["migrate"].configure_args.get("render_as_batch") is True
