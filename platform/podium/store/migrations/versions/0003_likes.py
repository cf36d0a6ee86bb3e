"""likes: one row per user and liked Space (issue 15 item 2).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "likes",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("space_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["space_id"], ["spaces.id"],
                                name=op.f("fk_likes_space_id_spaces"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_likes_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "space_id", name=op.f("pk_likes")),
    )
    with op.batch_alter_table("likes") as batch:
        batch.create_index(batch.f("ix_likes_space_id"), ["space_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("likes") as batch:
        batch.drop_index(batch.f("ix_likes_space_id"))
    op.drop_table("likes")
