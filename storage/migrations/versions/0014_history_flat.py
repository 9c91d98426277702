"""the postmortem sweep reads the week's resolved incidents from one covering index

Revision ID: 0014
Revises: 0013

Every poll (15 s) the sweep (workflows/followup/sweep.py) asks which incidents resolved in the
last week still owe a postmortem, in a writing transaction. With (state, resolved_at) alone it
fetched each of those incidents' rows for their priority and drill flag: ~1,000 random row reads
at 100,000 past incidents, ~200 ms on SQLite with the writer's lock held, so every ack and
declaration behind it waited. With priority and drill in the index the rows are never read.
The new index starts with the old one's columns, so it replaces it.
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_incidents_owed_postmortem", "incidents",
                    ["state", "resolved_at", "priority", "drill"])
    op.drop_index("ix_incidents_state_resolved", table_name="incidents")


def downgrade() -> None:
    op.create_index("ix_incidents_state_resolved", "incidents", ["state", "resolved_at"])
    op.drop_index("ix_incidents_owed_postmortem", table_name="incidents")
