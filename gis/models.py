"""SQLAlchemy 2 table models: the one grid–customer model both stores share.

Ids are the utility's own string codes (户号 for customers). Every geometry is WGS 84
lon/lat (EPSG:4326). The schema itself is created and upgraded by the Alembic
migrations in ``gis/migrations``; these classes are what the code reads and writes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from gis.geometry_type import Geometry

__all__ = [
    "Base",
    "DataVersion",
    "Substation",
    "Feeder",
    "Node",
    "Segment",
    "Switch",
    "Transformer",
    "MeterBox",
    "Customer",
    "Interaction",
    "SwitchingPlan",
    "PlanStep",
    "Consultation",
    "Notification",
    "AuditEvent",
    "ApiKey",
    "Event",
    "LexiconEntry",
    "LexiconState",
    "Alert",
    "AlertHit",
    "AlertEscalation",
    "WechatMessage",
    "ALERT_STATES",
    "LEXICON_CATEGORIES",
    "LEXICON_SEVERITIES",
    "ROLES",
    "SPATIAL_TABLES",
    "SWITCH_KINDS",
    "NODE_KINDS",
    "SEGMENT_KINDS",
    "LOCATION_QUALITIES",
    "SENSITIVITIES",
    "CHANNELS",
    "INTERACTION_KINDS",
    "PLAN_STATUSES",
    "STEP_ACTIONS",
]

NODE_KINDS = ("bus", "junction", "pole", "lv", "meter_box")
SEGMENT_KINDS = ("overhead", "cable", "lv_cable")
SWITCH_KINDS = ("breaker", "load_switch", "disconnector", "fuse", "tie")
LOCATION_QUALITIES = ("surveyed", "meter_box", "transformer", "geocoded")
SENSITIVITIES = ("生命支持", "医院", "政府", "重要客户", "大客户")
CHANNELS = ("95598电话", "微信", "微博", "掌上电力", "网上国网", "营业厅")
INTERACTION_KINDS = ("咨询", "投诉", "报修", "意见", "表扬")
PLAN_STATUSES = ("draft", "consulting", "approved", "executed", "cancelled")
STEP_ACTIONS = ("open", "close", "out_of_service", "in_service")
ROLES = ("dispatcher", "planner", "agent", "analyst", "admin")


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join("'" + v + "'" for v in values)
    return f"{column} IN ({quoted})"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}


class DataVersion(Base):
    """One row per load; the highest id is the data version the in-memory indexes serve."""

    __tablename__ = "data_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    source: Mapped[str] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Substation(Base):
    __tablename__ = "substations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    voltage_kv: Mapped[float] = mapped_column(Float)
    # The 10 kV bus: the source node of every feeder of this substation. No FK: a
    # substation is loaded before its nodes; validation reports a dangling bus.
    bus_node: Mapped[str | None] = mapped_column(String(64))
    geom = mapped_column(Geometry("POINT"), nullable=False)


class Feeder(Base):
    __tablename__ = "feeders"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    substation_id: Mapped[str] = mapped_column(ForeignKey("substations.id"), index=True)
    head_switch_id: Mapped[str | None] = mapped_column(String(64))


class Node(Base):
    __tablename__ = "nodes"
    __table_args__ = (CheckConstraint(_in("kind", NODE_KINDS), name="ck_nodes_kind"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    voltage_kv: Mapped[float] = mapped_column(Float)
    substation_id: Mapped[str | None] = mapped_column(ForeignKey("substations.id"))
    geom = mapped_column(Geometry("POINT"), nullable=False)


class Segment(Base):
    __tablename__ = "segments"
    __table_args__ = (CheckConstraint(_in("kind", SEGMENT_KINDS), name="ck_segments_kind"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    node_a: Mapped[str] = mapped_column(ForeignKey("nodes.id"), index=True)
    node_b: Mapped[str] = mapped_column(ForeignKey("nodes.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    length_m: Mapped[float | None] = mapped_column(Float)
    in_service: Mapped[bool] = mapped_column(Boolean, default=True)
    feeder_id: Mapped[str | None] = mapped_column(ForeignKey("feeders.id"), index=True)
    geom = mapped_column(Geometry("LINESTRING"), nullable=False)


class Switch(Base):
    __tablename__ = "switches"
    __table_args__ = (CheckConstraint(_in("kind", SWITCH_KINDS), name="ck_switches_kind"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    node_a: Mapped[str] = mapped_column(ForeignKey("nodes.id"), index=True)
    node_b: Mapped[str] = mapped_column(ForeignKey("nodes.id"), index=True)
    normal_open: Mapped[bool] = mapped_column(Boolean, default=False)
    feeder_id: Mapped[str | None] = mapped_column(ForeignKey("feeders.id"), index=True)
    geom = mapped_column(Geometry("POINT"), nullable=False)


class Transformer(Base):
    """A distribution transformer; one transformer is one 台区 (transformer area)."""

    __tablename__ = "transformers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    hv_node: Mapped[str] = mapped_column(ForeignKey("nodes.id"), index=True)
    lv_node: Mapped[str] = mapped_column(ForeignKey("nodes.id"), index=True)
    rated_kva: Mapped[float] = mapped_column(Float)
    in_service: Mapped[bool] = mapped_column(Boolean, default=True)
    feeder_id: Mapped[str | None] = mapped_column(ForeignKey("feeders.id"), index=True)
    geom = mapped_column(Geometry("POINT"), nullable=False)


class MeterBox(Base):
    __tablename__ = "meter_boxes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    node: Mapped[str] = mapped_column(ForeignKey("nodes.id"), index=True)
    transformer_id: Mapped[str | None] = mapped_column(ForeignKey("transformers.id"), index=True)
    geom = mapped_column(Geometry("POINT"), nullable=False)


class Customer(Base):
    """用电客户: a leaf of the grid at its supply node, and a point on the map."""

    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint(_in("location_quality", LOCATION_QUALITIES), name="ck_customers_lq"),
        Index("ix_customers_phone", "phone"),
    )

    account_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(500))
    phone: Mapped[str | None] = mapped_column(String(32))
    phone_alt: Mapped[str | None] = mapped_column(String(32))
    wechat_openid: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    contract_kva: Mapped[float | None] = mapped_column(Float)
    sensitivity: Mapped[str | None] = mapped_column(String(32))
    meter_box_id: Mapped[str | None] = mapped_column(ForeignKey("meter_boxes.id"), index=True)
    transformer_id: Mapped[str | None] = mapped_column(ForeignKey("transformers.id"), index=True)
    supply_node: Mapped[str | None] = mapped_column(ForeignKey("nodes.id"), index=True)
    location_quality: Mapped[str] = mapped_column(String(16))
    contact_verified_at: Mapped[dt.date | None] = mapped_column(Date)
    id_number: Mapped[str | None] = mapped_column(String(32))  # 证件号码: PII, masked unless the role may see it
    geom = mapped_column(Geometry("POINT"), nullable=False)


class Interaction(Base):
    """客户交互: one contact over one channel; the customer may be unknown."""

    __tablename__ = "interactions"
    __table_args__ = (
        CheckConstraint(_in("kind", INTERACTION_KINDS), name="ck_interactions_kind"),
        Index("ix_interactions_account_time", "account_no", "occurred_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # No FK: interactions arrive before (or without) the customer record they name.
    account_no: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    text: Mapped[str | None] = mapped_column(Text)
    caller_phone: Mapped[str | None] = mapped_column(String(32))
    geom = mapped_column(Geometry("POINT"), nullable=True)


class SwitchingPlan(Base):
    """停电计划: ordered switching steps over a window, with an optimistic-lock version."""

    __tablename__ = "switching_plans"
    __table_args__ = (CheckConstraint(_in("status", PLAN_STATUSES), name="ck_plans_status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    window_start: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_utcnow, onupdate=_utcnow
    )
    steps: Mapped[list[PlanStep]] = relationship(
        back_populates="plan", order_by="PlanStep.seq", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}


class PlanStep(Base):
    __tablename__ = "plan_steps"
    __table_args__ = (
        UniqueConstraint("plan_id", "seq", name="uq_plan_steps_seq"),
        CheckConstraint(_in("action", STEP_ACTIONS), name="ck_plan_steps_action"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("switching_plans.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    element_id: Mapped[str] = mapped_column(String(64))
    plan: Mapped[SwitchingPlan] = relationship(back_populates="steps")


class Consultation(Base):
    """预约停电征询: a customer consulted about a plan's window, and the reply."""

    __tablename__ = "consultations"
    __table_args__ = (UniqueConstraint("plan_id", "account_no", name="uq_consultation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("switching_plans.id", ondelete="CASCADE"))
    account_no: Mapped[str] = mapped_column(ForeignKey("customers.account_no"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reply: Mapped[str | None] = mapped_column(String(16))  # accept / prefer_window / refuse
    preferred_start: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    preferred_end: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Notification(Base):
    """通知: the recipient is always taken from the customer record (one source of contacts)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    template: Mapped[str] = mapped_column(String(100))
    account_no: Mapped[str] = mapped_column(ForeignKey("customers.account_no"), index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("switching_plans.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class AuditEvent(Base):
    """Append-only audit trail: who (and in which role) did what to which object, when."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    object_kind: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow, index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ApiKey(Base):
    """A bearer API key: only its SHA-256 digest is stored; the prefix identifies it in logs."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="ck_api_keys_role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Event(Base):
    """A live event (new alert, incoming call…) that every API worker pushes to its subscribers.

    Published in the transaction of the change that causes it (``gis.events.publish``); the
    payload holds references and non-personal summaries only, never PII.
    """

    __tablename__ = "events"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow, index=True)


# -- sensitive-word alerts (issue 15)
#: Categories of the sensitive-word lexicon (敏感词), and severities.
LEXICON_CATEGORIES = ("媒体曝光", "投诉升级", "人身安全", "群体事件", "监管投诉", "法律诉讼")
LEXICON_SEVERITIES = ("low", "medium", "high")
ALERT_STATES = ("new", "acknowledged", "resolved", "false_positive")


class LexiconEntry(Base):
    """A change to the shipped sensitive-word lexicon: a word added (or re-classified), an
    allow-list phrase added, or either removed (``removed``); keyed by (kind, word)."""

    __tablename__ = "lexicon_entries"
    __table_args__ = (
        UniqueConstraint("kind", "word", name="uq_lexicon_entries_word"),
        CheckConstraint("kind IN ('word', 'allow')", name="ck_lexicon_entries_kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8))
    word: Mapped[str] = mapped_column(String(100))
    category: Mapped[str | None] = mapped_column(String(16))
    severity: Mapped[str | None] = mapped_column(String(8))
    pinyin: Mapped[bool] = mapped_column(Boolean, default=False)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_by: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class LexiconState(Base):
    """One row: the lexicon's version, bumped by every change (workers rebuild their matcher on it)."""

    __tablename__ = "lexicon_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Alert(Base):
    """预警: sensitive words from one customer in one category; repeats within a window fold in (``count``)."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(_in("state", ALERT_STATES), name="ck_alerts_state"),
        Index("ix_alerts_fold", "fold_key", "category", "last_at"),
        Index("ix_alerts_state_time", "state", "last_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    state: Mapped[str] = mapped_column(String(16), default="new")
    category: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(8))
    fold_key: Mapped[str | None] = mapped_column(String(64))  # "a:<户号>" or "p:<caller phone>"
    account_no: Mapped[str | None] = mapped_column(String(32), index=True)
    transformer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    feeder_id: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(32))
    interaction_id: Mapped[str] = mapped_column(String(64))  # the message that raised it
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    state_by: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)


class AlertHit(Base):
    """One message of an alert, with the words it matched (offsets into the message text)."""

    __tablename__ = "alert_hits"
    __table_args__ = (
        UniqueConstraint("alert_id", "interaction_id", name="uq_alert_hits_message"),
        Index("ix_alert_hits_area_time", "transformer_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    interaction_id: Mapped[str] = mapped_column(String(64), index=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    transformer_id: Mapped[str | None] = mapped_column(String(64))
    matches: Mapped[list[Any]] = mapped_column(JSON, default=list)


class AlertEscalation(Base):
    """An escalation: at least N alert hits within the window in one 台区."""

    __tablename__ = "alert_escalations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transformer_id: Mapped[str] = mapped_column(String(64), index=True)
    feeder_id: Mapped[str | None] = mapped_column(String(64))
    hits: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    raised_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    alert_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)


class WechatMessage(Base):
    """A WeChat message already received (by ``MsgId``): the platform retries up to three times."""

    __tablename__ = "wechat_messages"

    msg_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    interaction_id: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


#: Tables with a geometry column, each with a spatial index on both stores.
SPATIAL_TABLES: dict[str, str] = {
    "substations": "geom",
    "nodes": "geom",
    "segments": "geom",
    "switches": "geom",
    "transformers": "geom",
    "meter_boxes": "geom",
    "customers": "geom",
    "interactions": "geom",
}
