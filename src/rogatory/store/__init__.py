"""Store: the node's database (SQLAlchemy 2 + Alembic; SQLite or PostgreSQL)."""

from rogatory.store.database import Database, make_engine, migrate

__all__ = ["Database", "make_engine", "migrate"]
