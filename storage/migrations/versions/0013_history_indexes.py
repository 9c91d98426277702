"""indexes that keep the scheduler's polls flat as history grows, and that retention prunes by

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Resolved incidents still owing a postmortem: a range of recent ones, not every closed one.
    op.create_index("ix_incidents_state_resolved", "incidents", ["state", "resolved_at"])
    # Postmortems due a reminder: the due ones in order, not every postmortem ever written.
    op.create_index("ix_postmortems_next_reminder", "postmortems", ["next_reminder_at"])
    # Retention (storage/retention.py): effects done or failed long ago, old webhook deliveries.
    op.create_index("ix_effects_done_at", "effects", ["done_at"])
    op.create_index("ix_webhook_deliveries_received", "webhook_deliveries", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_received", table_name="webhook_deliveries")
    op.drop_index("ix_effects_done_at", table_name="effects")
    op.drop_index("ix_postmortems_next_reminder", table_name="postmortems")
    op.drop_index("ix_incidents_state_resolved", table_name="incidents")
