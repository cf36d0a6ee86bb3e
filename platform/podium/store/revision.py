"""Write a new alembic revision from the models: ``python -m podium.store.revision "why"``.

It migrates a throw-away SQLite database to head and autogenerates the difference, so no
alembic.ini or running database is needed. Review the file it writes before committing.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from podium.config import Settings

from .db import Database


def make_revision(message: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Settings(data_dir=Path(tmp), database_url=""))
        try:
            db.migrate()
            with db.engine.begin() as conn:
                cfg = db.alembic_config()
                cfg.attributes["connection"] = conn
                command.revision(cfg, message=message, autogenerate=True)
        finally:
            db.dispose()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit('usage: python -m podium.store.revision "what changed and why"')
    make_revision(sys.argv[1])
