"""Re-encrypt every personal-data column under the newest data key.

Rotation: put the new key first in DATA_ENCRYPTION_KEY (`new,old`), restart the services
(they now encrypt with the new key and still read the old), run
`python -m proxy_service.rotate_key` (database rows and the stored authorisation files),
then drop the old key. Phone look-up hashes use
DATA_HMAC_KEY and are untouched.
"""
from __future__ import annotations

import sys

from sqlalchemy import select, update

from proxy_service.crypto import EncryptedJSON, EncryptedText, reencrypt
from proxy_service.db import engine_for
from proxy_service.models import Base
from proxy_service.services import uploads
from proxy_service.settings import get_settings


ENCRYPTING_TYPES = (EncryptedJSON, EncryptedText)


def encrypted_columns() -> dict[str, list[str]]:
    """Table → its encrypted columns (the `_enc` naming rule of models.py)."""
    return {table.name: [c.name for c in table.columns if c.name.endswith("_enc")]
            for table in Base.metadata.sorted_tables if any(c.name.endswith("_enc") for c in table.columns)}


def rotate(url: str | None = None) -> int:
    """Rows rewritten; one transaction per table, so a crash leaves every row readable."""
    engine, changed = engine_for(url or get_settings().database_url), 0
    for name, columns in encrypted_columns().items():
        table = Base.metadata.tables[name]
        keys = list(table.primary_key.columns)
        with engine.begin() as connection:
            for row in connection.execute(select(*keys, *(table.c[c] for c in columns))).all():
                # Columns of an encrypting type were decrypted on read and are encrypted again,
                # under the newest key, on write; the others hold tokens the services made.
                values = {c: row._mapping[c] if isinstance(table.c[c].type, ENCRYPTING_TYPES)
                          else reencrypt(row._mapping[c]) for c in columns}
                where = [key == row._mapping[key.name] for key in keys]
                connection.execute(update(table).where(*where).values(**values))
                changed += 1
    return changed


def main() -> int:
    rows = rotate()
    files = uploads.reencrypt_stored(get_settings().upload_dir)
    print(f"re-encrypted {rows} rows and {files} stored files under the newest key", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
