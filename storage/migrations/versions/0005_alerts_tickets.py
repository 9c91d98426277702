"""alert intake: signals, alerts, alert groups, webhook deliveries

Revision ID: 0005
Revises: 0001
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "alert_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service", _STR(), nullable=False),
        sa.Column("open_key", _STR(), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_alert_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("open_key", name="uq_alert_groups_open_key"),
    )
    op.create_index("ix_alert_groups_incident", "alert_groups", ["incident_id"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", _STR(), nullable=False),
        sa.Column("dedup_key", _STR(), nullable=False),
        sa.Column("open_key", _STR(), nullable=True),
        sa.Column("rule", _STR(), nullable=False),
        sa.Column("service", _STR(), nullable=True),
        sa.Column("team", _STR(), nullable=True),
        sa.Column("priority", _STR(), nullable=True),
        sa.Column("environment", _STR(), nullable=False),
        sa.Column("summary", _STR(), nullable=False),
        sa.Column("unrouted_reason", _STR(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.Column("status", _STR(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by_source", sa.Boolean(), nullable=False),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["alert_groups.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("open_key", name="uq_alerts_open_key"),
    )
    op.create_index("ix_alerts_key", "alerts", ["source", "dedup_key"])
    op.create_index("ix_alerts_group", "alerts", ["group_id"])
    op.create_index("ix_alerts_first_seen", "alerts", ["first_seen"])
    op.create_table(
        "signals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", _STR(), nullable=False),
        sa.Column("integration", _STR(), nullable=False),
        sa.Column("action", _STR(), nullable=False),
        sa.Column("dedup_key", _STR(), nullable=False),
        sa.Column("rule", _STR(), nullable=False),
        sa.Column("service", _STR(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_signals_received", "signals", ["received_at"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system", _STR(), nullable=False),
        sa.Column("delivery_id", _STR(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("system", "delivery_id", name="uq_webhook_delivery"),
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_signals_received", table_name="signals")
    op.drop_table("signals")
    op.drop_index("ix_alerts_first_seen", table_name="alerts")
    op.drop_index("ix_alerts_group", table_name="alerts")
    op.drop_index("ix_alerts_key", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_alert_groups_incident", table_name="alert_groups")
    op.drop_table("alert_groups")
