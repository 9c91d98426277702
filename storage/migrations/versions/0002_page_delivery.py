"""pages: send_at for per-person notification rules, provider status, lookup by ref

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pages") as batch:
        batch.add_column(sa.Column("send_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("provider_status", sa.String(), nullable=True))
        batch.create_index("ix_pages_ref", ["ref"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pages") as batch:
        batch.drop_index("ix_pages_ref")
        batch.drop_column("provider_status")
        batch.drop_column("send_at")
