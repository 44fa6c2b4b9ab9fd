"""log entries and hashes keyed by the SQLite rowid

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 10:40:00.000000

On SQLite, ``log_entries.idx`` and ``log_hashes.idx`` were ``BIGINT PRIMARY KEY``,
which SQLite does not treat as the rowid: each table carried a second B-tree
(``sqlite_autoindex_…``) that every append wrote and every lookup searched
before reaching the row. Declared ``INTEGER PRIMARY KEY`` the key *is* the rowid.
SQLite cannot change a column's type in place, so both tables are rebuilt (rows
copied in index order; the ``(subject, idx)`` index is recreated). That takes
about 11 s per 2 million entries (measured on a 2-vCPU VM), once, and needs free
disk space for a second copy of both tables; the old pages stay in the file as
free pages that later appends reuse (``VACUUM`` returns them).

PostgreSQL is unchanged: its ``BIGINT`` keys are already right.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("log_entries", "log_hashes")


def _retype_index_columns(old: sa.types.TypeEngine[int], new: sa.types.TypeEngine[int]) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always") as batch_op:
            batch_op.alter_column(
                "idx", existing_type=old, type_=new, existing_nullable=False, autoincrement=False
            )


def upgrade() -> None:
    _retype_index_columns(sa.BigInteger(), sa.Integer())


def downgrade() -> None:
    _retype_index_columns(sa.Integer(), sa.BigInteger())
