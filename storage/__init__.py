"""Persistence: SQLModel tables, engine, Alembic migrations, importers and queries."""
