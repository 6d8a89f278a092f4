"""Customer records kept true and incoming calls: contact provenance, contact history, calls, telephony role

Revision ID: 0008
Revises: 0007

* ``contact_records``: per customer, where each contact value came from (touchpoint and time)
  and the contact version the ``ETag`` of ``PATCH …/contact`` carries;
* ``contact_history``: every confirmation and correction (who, role, touchpoint, when, old → new);
* ``calls``: calls announced by the telephony system, and how each was resolved and closed;
* the ``telephony`` role in the api_keys CHECK constraint (on SQLite a table rebuild).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_OLD_ROLES = ("dispatcher", "planner", "agent", "analyst", "admin")
_NEW_ROLES = (*_OLD_ROLES, "telephony")
_TOUCHPOINTS = ("call_centre", "counter", "field", "wechat", "import")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _roles(values: tuple[str, ...]) -> None:
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.drop_constraint("ck_api_keys_role", type_="check")
        batch_op.create_check_constraint("ck_api_keys_role", _in("role", values))


def upgrade() -> None:
    op.create_table(
        "contact_records",
        sa.Column("account_no", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_no"], ["customers.account_no"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_no"),
    )
    op.create_table(
        "contact_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_no", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("touchpoint", sa.String(length=16), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(_in("touchpoint", _TOUCHPOINTS), name="ck_contact_history_touchpoint"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_contact_history_account", "contact_history", ["account_no", "id"])
    op.create_table(
        "calls",
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("caller_number", sa.String(length=32), nullable=False),
        sa.Column("agent_id", sa.String(length=100), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=False),
        sa.Column("account_no", sa.String(length=32), nullable=True),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("caller_address", sa.String(length=500), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=100), nullable=True),
        sa.Column("interaction_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_calls_status"),
        sa.PrimaryKeyConstraint("call_id"),
    )
    op.create_index("ix_calls_agent_id", "calls", ["agent_id"])
    _roles(_NEW_ROLES)


def downgrade() -> None:
    op.execute("DELETE FROM api_keys WHERE role = 'telephony'")
    _roles(_OLD_ROLES)
    op.drop_index("ix_calls_agent_id", table_name="calls")
    op.drop_table("calls")
    op.drop_index("ix_contact_history_account", table_name="contact_history")
    op.drop_table("contact_history")
    op.drop_table("contact_records")
