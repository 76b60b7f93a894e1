"""Bring the database up to date: Alembic migrations, then reference data.

`python -m proxy_service.migrate` (make run does it before starting the services).
`python -m proxy_service.migrate --revision "message"` autogenerates a new migration.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from proxy_service.settings import get_settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url or get_settings().database_url)
    return config


def upgrade(url: str | None = None) -> None:
    from proxy_service.db import session_factory
    from proxy_service.services.reference import load_reference_data
    from proxy_service.uow import SqlUnitOfWork

    url = url or get_settings().database_url
    command.upgrade(alembic_config(url), "head")
    load_reference_data(SqlUnitOfWork(session_factory(url)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revision", metavar="MESSAGE", help="autogenerate a migration instead")
    args = parser.parse_args()
    if args.revision:
        command.revision(alembic_config(), message=args.revision, autogenerate=True)
    else:
        upgrade()
    return 0


if __name__ == "__main__":
    sys.exit(main())
