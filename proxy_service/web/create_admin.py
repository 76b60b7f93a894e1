"""Create the first administrator (or another one): `make admin` / `python -m proxy_service.web.create_admin`.

The password comes from ADMIN_PASSWORD or is asked for twice at the terminal; it is never
an argument, so it stays out of shell history and process lists.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys

from proxy_service.migrate import upgrade
from proxy_service.services import accounts
from proxy_service.services.errors import ServiceError
from proxy_service.settings import get_settings
from proxy_service.uow import SqlUnitOfWork


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--username", default=os.environ.get("ADMIN_USERNAME") or "admin")
    parser.add_argument("--name", default="管理员", help="display name")
    args = parser.parse_args(argv)
    password = os.environ.get("ADMIN_PASSWORD")
    if not password:
        password = getpass.getpass(f"Password for {args.username} (at least {accounts.MIN_PASSWORD_LENGTH}): ")
        if getpass.getpass("Again: ") != password:
            print("The two passwords differ; nothing was created.", file=sys.stderr)
            return 1
    upgrade(get_settings().database_url)
    try:
        accounts.create_user(SqlUnitOfWork(), username=args.username, display_name=args.name, role="admin",
                             password=password, actor="create_admin")
    except ServiceError as error:
        print(f"Not created: {error.en}", file=sys.stderr)
        return 1
    print(f"Administrator {args.username!r} created. Sign in at http://localhost:8000/login")
    return 0


if __name__ == "__main__":
    sys.exit(main())
