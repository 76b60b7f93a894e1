"""Alembic environment: the database URL comes from settings (DATABASE_URL)."""
from __future__ import annotations

from alembic import context

from proxy_service.db import make_engine
from proxy_service.models import Base
from proxy_service.settings import get_settings

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch migrations rebuild a table (copy, drop, rename); with foreign keys on, the
            # drop fails as soon as another table's rows point at it. They are off while the
            # migrations run (the pragma only works outside a transaction) and checked after.
            connection.connection.execute("PRAGMA foreign_keys=OFF")
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=sqlite)
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            broken = connection.connection.execute("PRAGMA foreign_key_check").fetchall()
            connection.connection.execute("PRAGMA foreign_keys=ON")
            if broken:
                raise RuntimeError(f"migration left rows pointing nowhere: {broken[:5]}")
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
