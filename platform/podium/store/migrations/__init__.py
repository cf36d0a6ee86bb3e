"""Alembic migrations for the store, shipped inside the package (see Database.migrate)."""
