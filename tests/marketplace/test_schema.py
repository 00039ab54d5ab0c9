"""The migrations build the schema, and the database enforces the rules models rely on."""

import os
import uuid

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from marketplace import create_app
from marketplace.extensions import db
from tests.factories import make_vendor_with_product


def test_migrations_build_every_table_the_models_declare(app):
    inspector = sa.inspect(db.engine)
    assert set(db.metadata.tables) <= set(inspector.get_table_names())


@pytest.mark.postgres_only
def test_an_empty_postgres_database_migrates_to_head_and_back_to_base(app):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("postgresql"):
        pytest.skip("this run uses SQLite; the PostgreSQL run covers it")
    base_url, _ = url.rsplit("/", 1)
    name = f"marketplace_migrate_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{base_url}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        fresh = create_app({"SQLALCHEMY_DATABASE_URI": f"{base_url}/{name}",
                            "REDIS_URL": app.config["REDIS_URL"], "TESTING": True})
        with fresh.app_context():
            upgrade()
            at_head = set(sa.inspect(db.engine).get_table_names())
            downgrade(revision="base")
            at_base = set(sa.inspect(db.engine).get_table_names())
            db.engine.dispose()
        assert set(db.metadata.tables) <= at_head
        assert at_base == {"alembic_version"}
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_negative_price_is_refused_by_the_database(app):
    variant = make_vendor_with_product().variants[0]
    db.session.commit()
    variant.price_minor = -1
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_stock_reserved_beyond_on_hand_is_refused_by_the_database(app):
    level = make_vendor_with_product(on_hand=2).variants[0].stock_levels[0]
    db.session.commit()
    level.reserved = 3
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_the_secret_key_is_generated_once_into_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    first = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["SECRET_KEY"]
    second = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["SECRET_KEY"]
    assert first == second
    assert len(first) == 64
    assert (tmp_path / "secret_key").read_text() == first
    assert oct(os.stat(tmp_path / "secret_key").st_mode & 0o777) == "0o600"


def test_the_migrations_match_the_models(app):
    # A model changed without its migration would pass on a create_all database and break
    # every real deployment; autogenerate's diff against the migrated schema must be empty.
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_processes_starting_together_all_read_the_same_whole_key(tmp_path, monkeypatch):
    from concurrent.futures import ProcessPoolExecutor

    from marketplace.config import load_secret_key

    monkeypatch.delenv("SECRET_KEY", raising=False)
    with ProcessPoolExecutor(max_workers=8) as pool:
        keys = list(pool.map(load_secret_key, [str(tmp_path)] * 32))

    assert len(set(keys)) == 1
    assert len(keys[0]) == 64
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key"]
