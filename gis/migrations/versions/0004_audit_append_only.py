"""audit_events is append-only: the store refuses UPDATE, DELETE (and on PostgreSQL TRUNCATE)

Revision ID: 0004
Revises: 0003

Enforced in the database rather than only in code, so no code path (a bug, a careless
migration, an ad-hoc SQL session of the application's role) can rewrite the trail.
An index on (action, at) serves the audit listing's most common filter.

Note for later migrations: on SQLite, ``batch_alter_table("audit_events")`` rebuilds the
table and drops its triggers; such a migration must create them again (see ``_SQLITE_UP``).
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_MESSAGE = "audit_events is append-only"

_PG_UP = [
    f"""
    CREATE OR REPLACE FUNCTION gridatlas_audit_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{_MESSAGE}: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END;
    $$
    """,
    """
    CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION gridatlas_audit_append_only()
    """,
    """
    CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION gridatlas_audit_append_only()
    """,
]
_PG_DOWN = [
    "DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events",
    "DROP TRIGGER IF EXISTS audit_events_no_update_delete ON audit_events",
    "DROP FUNCTION IF EXISTS gridatlas_audit_append_only()",
]
_SQLITE_UP = [
    f"""
    CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, '{_MESSAGE}: UPDATE refused'); END
    """,
    f"""
    CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, '{_MESSAGE}: DELETE refused'); END
    """,
]
_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS audit_events_no_delete",
    "DROP TRIGGER IF EXISTS audit_events_no_update",
]


def upgrade() -> None:
    op.create_index("ix_audit_events_action_at", "audit_events", ["action", "at"])
    statements = _PG_UP if op.get_bind().dialect.name == "postgresql" else _SQLITE_UP
    for sql in statements:
        op.execute(sql)


def downgrade() -> None:
    statements = _PG_DOWN if op.get_bind().dialect.name == "postgresql" else _SQLITE_DOWN
    for sql in statements:
        op.execute(sql)
    op.drop_index("ix_audit_events_action_at", table_name="audit_events")
