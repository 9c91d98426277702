"""partial indexes the effect dispatcher walks when it claims (pending pages; pending effects)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")
PENDING_PAGE = sa.text("status = 'pending' AND kind = 'page'")


def upgrade() -> None:
    op.create_index("ix_effects_pending_pages", "effects", ["id"],
                    postgresql_where=PENDING_PAGE, sqlite_where=PENDING_PAGE)
    op.create_index("ix_effects_pending_ids", "effects", ["id"],
                    postgresql_where=PENDING, sqlite_where=PENDING)


def downgrade() -> None:
    op.drop_index("ix_effects_pending_ids", table_name="effects")
    op.drop_index("ix_effects_pending_pages", table_name="effects")
