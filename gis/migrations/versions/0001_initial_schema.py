"""initial schema: grid, customers, interactions, plans, audit

Revision ID: 0001
Revises: 
Spatial indexes: GiST on PostGIS, R*Tree + triggers on SQLite (gis.dialects).

Create Date: 2026-11-23 15:35:20.480449
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gis.geometry_type
from gis.dialects import for_dialect


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_kind', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.String(length=100), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_at'), ['at'], unique=False)

    op.create_table('data_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=500), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('interactions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('account_no', sa.String(length=32), nullable=True),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('caller_phone', sa.String(length=32), nullable=True),
    sa.Column('geom', gis.geometry_type.Geometry('POINT'), nullable=True),
    sa.CheckConstraint("kind IN ('咨询', '投诉', '报修', '意见', '表扬')", name='ck_interactions_kind'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.create_index('ix_interactions_account_time', ['account_no', 'occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_interactions_occurred_at'), ['occurred_at'], unique=False)

    op.create_table('substations',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('voltage_kv', sa.Float(), nullable=False),
    sa.Column('bus_node', sa.String(length=64), nullable=True),
    sa.Column('geom', gis.geometry_type.Geometry('POINT'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('switching_plans',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('window_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'consulting', 'approved', 'executed', 'cancelled')", name='ck_plans_status'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('feeders',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('substation_id', sa.String(length=64), nullable=False),
    sa.Column('head_switch_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['substation_id'], ['substations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('feeders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feeders_substation_id'), ['substation_id'], unique=False)

    op.create_table('nodes',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('voltage_kv', sa.Float(), nullable=False),
    sa.Column('substation_id', sa.String(length=64), nullable=True),
    sa.Column('geom', gis.geometry_type.Geometry('POINT'), nullable=False),
    sa.CheckConstraint("kind IN ('bus', 'junction', 'pole', 'lv', 'meter_box')", name='ck_nodes_kind'),
    sa.ForeignKeyConstraint(['substation_id'], ['substations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('plan_steps',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('element_id', sa.String(length=64), nullable=False),
    sa.CheckConstraint("action IN ('open', 'close', 'out_of_service', 'in_service')", name='ck_plan_steps_action'),
    sa.ForeignKeyConstraint(['plan_id'], ['switching_plans.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('plan_id', 'seq', name='uq_plan_steps_seq')
    )
    op.create_table('segments',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('node_a', sa.String(length=64), nullable=False),
    sa.Column('node_b', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('length_m', sa.Float(), nullable=True),
    sa.Column('in_service', sa.Boolean(), nullable=False),
    sa.Column('feeder_id', sa.String(length=64), nullable=True),
    sa.Column('geom', gis.geometry_type.Geometry('LINESTRING'), nullable=False),
    sa.CheckConstraint("kind IN ('overhead', 'cable', 'lv_cable')", name='ck_segments_kind'),
    sa.ForeignKeyConstraint(['feeder_id'], ['feeders.id'], ),
    sa.ForeignKeyConstraint(['node_a'], ['nodes.id'], ),
    sa.ForeignKeyConstraint(['node_b'], ['nodes.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_segments_feeder_id'), ['feeder_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_segments_node_a'), ['node_a'], unique=False)
        batch_op.create_index(batch_op.f('ix_segments_node_b'), ['node_b'], unique=False)

    op.create_table('switches',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('node_a', sa.String(length=64), nullable=False),
    sa.Column('node_b', sa.String(length=64), nullable=False),
    sa.Column('normal_open', sa.Boolean(), nullable=False),
    sa.Column('feeder_id', sa.String(length=64), nullable=True),
    sa.Column('geom', gis.geometry_type.Geometry('POINT'), nullable=False),
    sa.CheckConstraint("kind IN ('breaker', 'load_switch', 'disconnector', 'fuse', 'tie')", name='ck_switches_kind'),
    sa.ForeignKeyConstraint(['feeder_id'], ['feeders.id'], ),
    sa.ForeignKeyConstraint(['node_a'], ['nodes.id'], ),
    sa.ForeignKeyConstraint(['node_b'], ['nodes.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('switches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_switches_feeder_id'), ['feeder_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_switches_node_a'), ['node_a'], unique=False)
        batch_op.create_index(batch_op.f('ix_switches_node_b'), ['node_b'], unique=False)

    op.create_table('transformers',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('hv_node', sa.String(length=64), nullable=False),
    sa.Column('lv_node', sa.String(length=64), nullable=False),
    sa.Column('rated_kva', sa.Float(), nullable=False),
    sa.Column('in_service', sa.Boolean(), nullable=False),
    sa.Column('feeder_id', sa.String(length=64), nullable=True),
    sa.Column('geom', gis.geometry_type.Geometry('POINT'), nullable=False),
    sa.ForeignKeyConstraint(['feeder_id'], ['feeders.id'], ),
    sa.ForeignKeyConstraint(['hv_node'], ['nodes.id'], ),
    sa.ForeignKeyConstraint(['lv_node'], ['nodes.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('transformers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transformers_feeder_id'), ['feeder_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_transformers_hv_node'), ['hv_node'], unique=False)
        batch_op.create_index(batch_op.f('ix_transformers_lv_node'), ['lv_node'], unique=False)

    op.create_table('meter_boxes',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('node', sa.String(length=64), nullable=False),
    sa.Column('transformer_id', sa.String(length=64), nullable=True),
    sa.Column('geom', gis.geometry_type.Geometry('POINT'), nullable=False),
    sa.ForeignKeyConstraint(['node'], ['nodes.id'], ),
    sa.ForeignKeyConstraint(['transformer_id'], ['transformers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('meter_boxes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meter_boxes_node'), ['node'], unique=False)
        batch_op.create_index(batch_op.f('ix_meter_boxes_transformer_id'), ['transformer_id'], unique=False)

    op.create_table('customers',
    sa.Column('account_no', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('address', sa.String(length=500), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('phone_alt', sa.String(length=32), nullable=True),
    sa.Column('wechat_openid', sa.String(length=64), nullable=True),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('contract_kva', sa.Float(), nullable=True),
    sa.Column('sensitivity', sa.String(length=32), nullable=True),
    sa.Column('meter_box_id', sa.String(length=64), nullable=True),
    sa.Column('transformer_id', sa.String(length=64), nullable=True),
    sa.Column('supply_node', sa.String(length=64), nullable=True),
    sa.Column('location_quality', sa.String(length=16), nullable=False),
    sa.Column('contact_verified_at', sa.Date(), nullable=True),
    sa.Column('geom', gis.geometry_type.Geometry('POINT'), nullable=False),
    sa.CheckConstraint("location_quality IN ('surveyed', 'meter_box', 'transformer', 'geocoded')", name='ck_customers_lq'),
    sa.ForeignKeyConstraint(['meter_box_id'], ['meter_boxes.id'], ),
    sa.ForeignKeyConstraint(['supply_node'], ['nodes.id'], ),
    sa.ForeignKeyConstraint(['transformer_id'], ['transformers.id'], ),
    sa.PrimaryKeyConstraint('account_no')
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customers_meter_box_id'), ['meter_box_id'], unique=False)
        batch_op.create_index('ix_customers_phone', ['phone'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_supply_node'), ['supply_node'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_transformer_id'), ['transformer_id'], unique=False)

    op.create_table('consultations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('account_no', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reply', sa.String(length=16), nullable=True),
    sa.Column('preferred_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('preferred_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('replied_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_no'], ['customers.account_no'], ),
    sa.ForeignKeyConstraint(['plan_id'], ['switching_plans.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('plan_id', 'account_no', name='uq_consultation')
    )
    with op.batch_alter_table('consultations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consultations_account_no'), ['account_no'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('template', sa.String(length=100), nullable=False),
    sa.Column('account_no', sa.String(length=32), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_no'], ['customers.account_no'], ),
    sa.ForeignKeyConstraint(['plan_id'], ['switching_plans.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_account_no'), ['account_no'], unique=False)

    _spatial_indexes(create=True)


def downgrade() -> None:
    _spatial_indexes(create=False)
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_account_no'))

    op.drop_table('notifications')
    with op.batch_alter_table('consultations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consultations_account_no'))

    op.drop_table('consultations')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_transformer_id'))
        batch_op.drop_index(batch_op.f('ix_customers_supply_node'))
        batch_op.drop_index('ix_customers_phone')
        batch_op.drop_index(batch_op.f('ix_customers_meter_box_id'))

    op.drop_table('customers')
    with op.batch_alter_table('meter_boxes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meter_boxes_transformer_id'))
        batch_op.drop_index(batch_op.f('ix_meter_boxes_node'))

    op.drop_table('meter_boxes')
    with op.batch_alter_table('transformers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transformers_lv_node'))
        batch_op.drop_index(batch_op.f('ix_transformers_hv_node'))
        batch_op.drop_index(batch_op.f('ix_transformers_feeder_id'))

    op.drop_table('transformers')
    with op.batch_alter_table('switches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_switches_node_b'))
        batch_op.drop_index(batch_op.f('ix_switches_node_a'))
        batch_op.drop_index(batch_op.f('ix_switches_feeder_id'))

    op.drop_table('switches')
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_segments_node_b'))
        batch_op.drop_index(batch_op.f('ix_segments_node_a'))
        batch_op.drop_index(batch_op.f('ix_segments_feeder_id'))

    op.drop_table('segments')
    op.drop_table('plan_steps')
    op.drop_table('nodes')
    with op.batch_alter_table('feeders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feeders_substation_id'))

    op.drop_table('feeders')
    op.drop_table('switching_plans')
    op.drop_table('substations')
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_interactions_occurred_at'))
        batch_op.drop_index('ix_interactions_account_time')

    op.drop_table('interactions')
    op.drop_table('data_versions')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_at'))

    op.drop_table('audit_events')


_SPATIAL = {
    "substations": "geom",
    "nodes": "geom",
    "segments": "geom",
    "switches": "geom",
    "transformers": "geom",
    "meter_boxes": "geom",
    "customers": "geom",
    "interactions": "geom",
}


def _spatial_indexes(*, create: bool) -> None:
    bind = op.get_bind()
    dialect = for_dialect(bind.dialect.name)
    for table, column in _SPATIAL.items():
        if create:
            dialect.create_spatial_index(bind, table, column)
        else:
            dialect.drop_spatial_index(bind, table, column)
