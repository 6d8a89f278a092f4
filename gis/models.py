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
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
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
    "OutboxMessage",
    "PlanWindow",
    "PlanAlternative",
    "PlanConsultation",
    "OUTBOX_CHANNELS",
    "OUTBOX_STATES",
    "CONSULTATION_REPLIES",
    "ContactRecord",
    "ContactChange",
    "Call",
    "PlanTransition",
    "OutageRecord",
    "OUTAGE_KINDS",
    "InteractionRollup",
    "InteractionRollupState",
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
    "CONTACT_FIELDS",
    "TOUCHPOINTS",
    "CALL_STATUSES",
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
ROLES = ("dispatcher", "planner", "agent", "analyst", "admin", "telephony", "gateway")
OUTBOX_CHANNELS = ("wechat", "sms")
OUTBOX_STATES = ("pending", "sent", "dead")
CONSULTATION_REPLIES = ("accept", "prefer_window", "object")
#: The contact fields a touchpoint may confirm or correct (issue 18).
CONTACT_FIELDS = ("name", "address", "phone", "phone_alt", "wechat_openid")
#: Where a contact value was confirmed or changed.
TOUCHPOINTS = ("call_centre", "counter", "field", "wechat", "import")
CALL_STATUSES = ("open", "closed")
OUTAGE_KINDS = ("planned", "unplanned")


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
        Index("ix_customers_phone_alt", "phone_alt"),  # caller matching (issue 14)
        Index("ix_customers_wechat_openid", "wechat_openid"),
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
        # a customer's contacts (a few dozen, sorted by the query) — no time in the key (migration 0019)
        Index("ix_interactions_account", "account_no"),
        # an area's list by the res-9 parent of the stored cell (gis.interaction_rollups.CELL9_SQL, migration 0019)
        Index("ix_interactions_cell9", text("(cell >> 18)")),
        # complaints per customer since a time (the screening's rule) from the index alone (migration 0014)
        Index("ix_interactions_complaints_account_time", "account_no", "occurred_at",
              sqlite_where=text("kind = '投诉'"), postgresql_where=text("kind = '投诉'")),
        # repair calls in a time window (trouble calls, issue 16); only repairs, so the other
        # contacts an ingest writes pay no time index (migration 0017)
        Index("ix_interactions_repairs_time", "occurred_at", "id",
              sqlite_where=text("kind = '报修'"), postgresql_where=text("kind = '报修'")),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # No FK: interactions arrive before (or without) the customer record they name.
    account_no: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    text: Mapped[str | None] = mapped_column(Text)
    caller_phone: Mapped[str | None] = mapped_column(String(32))
    # The caller's own point as given; never searched by location (heat counts cells, an area's
    # list reads its cell range or id), so it has no spatial index (migration 0017).
    geom = mapped_column(Geometry("POINT"), nullable=True)
    # -- placement at ingest (issue 14): the caller as given, how the customer was matched, and
    # where the contact counts (H3 cell at gis.interaction_rollups.FINE_RES, local day, 台区, feeder).
    caller_account_no: Mapped[str | None] = mapped_column(String(32))
    wechat_openid: Mapped[str | None] = mapped_column(String(64))
    matched_by: Mapped[str | None] = mapped_column(String(16))
    cell: Mapped[int | None] = mapped_column(BigInteger)
    day: Mapped[int | None] = mapped_column(Integer)
    transformer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    feeder_id: Mapped[str | None] = mapped_column(String(64), index=True)


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
    reply: Mapped[str | None] = mapped_column(String(16))  # accept / prefer_window / object
    preferred_start: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    preferred_end: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # -- consultation (issue 16b)
    preferred_window: Mapped[int | None] = mapped_column(Integer)  # seq of the candidate window preferred
    reply_via: Mapped[str | None] = mapped_column(String(16))  # page / gateway
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))  # the link's expiry


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


# -- outbox, consultation, alternatives and windows (issue 16b)
class OutboxMessage(Base):
    """待发消息: written in the transaction of the change that causes it, delivered at least once.

    ``recipient`` is copied from the customer record at enqueue (one source for contacts);
    ``idempotency_key`` is stable across retries and unique. A worker claims a message by
    setting ``lease_owner``/``lease_until``; a claim whose lease ran out (a killed worker) is
    claimed again.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint(_in("channel", OUTBOX_CHANNELS), name="ck_outbox_channel"),
        CheckConstraint(_in("state", OUTBOX_STATES), name="ck_outbox_state"),
        Index("ix_outbox_due", "state", "next_try_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    template: Mapped[str] = mapped_column(String(100))
    account_no: Mapped[str | None] = mapped_column(String(32), index=True)
    recipient: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    plan_id: Mapped[int | None] = mapped_column(Integer, index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class PlanWindow(Base):
    """A candidate window of a plan (先算后停): seq 0 is the window proposed first."""

    __tablename__ = "plan_windows"
    __table_args__ = (UniqueConstraint("plan_id", "seq", name="uq_plan_windows_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("switching_plans.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class PlanAlternative(Base):
    """An alternative step set of a plan; the plan's own steps are alternative 0 (not stored here)."""

    __tablename__ = "plan_alternatives"
    __table_args__ = (UniqueConstraint("plan_id", "seq", name="uq_plan_alternatives_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("switching_plans.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    steps: Mapped[list[Any]] = mapped_column(JSON)  # [[action, element_id], ...]


class PlanConsultation(Base):
    """The consultation round of a plan: its reason, the area named to customers, who sent it."""

    __tablename__ = "plan_consultations"

    plan_id: Mapped[int] = mapped_column(ForeignKey("switching_plans.id", ondelete="CASCADE"), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    area_names: Mapped[list[Any]] = mapped_column(JSON)
    sent_by: Mapped[str | None] = mapped_column(String(100))
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
# -- customer records kept true; incoming calls (issue 18)
class ContactRecord(Base):
    """Where each contact value of a customer came from, and the record's contact version.

    ``fields``: contact field -> ``{"source": touchpoint, "changed_at": iso, "verified_at": iso}``
    for values set or confirmed at a touchpoint; a field without an entry holds what the last
    import wrote. ``version`` grows with every change or confirmation (part of the ETag).
    """

    __tablename__ = "contact_records"

    account_no: Mapped[str] = mapped_column(ForeignKey("customers.account_no", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ContactChange(Base):
    """One confirmation or correction of a customer's contact: who, role, touchpoint, when, old -> new."""

    __tablename__ = "contact_history"
    __table_args__ = (
        CheckConstraint(_in("touchpoint", TOUCHPOINTS), name="ck_contact_history_touchpoint"),
        Index("ix_contact_history_account", "account_no", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_no: Mapped[str] = mapped_column(String(32))  # no FK: the history outlives a deleted customer
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    touchpoint: Mapped[str] = mapped_column(String(16))
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # field -> {"old": v, "new": v}
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)  # the contact version this entry produced


class Call(Base):
    """来电: a call the telephony system announced, resolved to a customer, candidates or nobody."""

    __tablename__ = "calls"
    __table_args__ = (CheckConstraint(_in("status", CALL_STATUSES), name="ck_calls_status"),)

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    caller_number: Mapped[str] = mapped_column(String(32))
    agent_id: Mapped[str] = mapped_column(String(100), index=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    status: Mapped[str] = mapped_column(String(16), default="open")
    resolution: Mapped[str] = mapped_column(String(16))  # customer / candidates / unknown
    account_no: Mapped[str | None] = mapped_column(String(32))
    candidates: Mapped[list[Any]] = mapped_column(JSON, default=list)  # account numbers
    caller_address: Mapped[str | None] = mapped_column(String(500))
    flags: Mapped[list[Any]] = mapped_column(JSON, default=list)  # key-customer flags of the resolved customer(s)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(100))
    interaction_id: Mapped[str | None] = mapped_column(String(64))
# -- plan lifecycle and outage records (issue 16)
class PlanTransition(Base):
    """One status change of a plan: who, when, and the impact snapshot it was decided on.

    The snapshot is compact: counts and groups as columns/JSON, the affected accounts as a
    zlib-compressed newline-joined blob (``customers_z``), with the data version they were
    computed on. ``actual_start``/``actual_end`` hold an execution's times when given.
    """

    __tablename__ = "plan_transitions"
    __table_args__ = (Index("ix_plan_transitions_plan", "plan_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("switching_plans.id", ondelete="CASCADE"))
    plan_version: Mapped[int] = mapped_column(Integer)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    data_version: Mapped[int | None] = mapped_column(Integer)
    affected_count: Mapped[int | None] = mapped_column(Integer)
    sensitive_count: Mapped[int | None] = mapped_column(Integer)
    customer_minutes: Mapped[float | None] = mapped_column(Float)
    groups: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    customers_z: Mapped[bytes | None] = mapped_column(LargeBinary)
    impact_error: Mapped[str | None] = mapped_column(Text)
    actual_start: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    actual_end: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class OutageRecord(Base):
    """停电记录: one interrupted customer of one outage (planned or not); unique per (outage, customer)."""

    __tablename__ = "outage_records"
    __table_args__ = (
        UniqueConstraint("outage_id", "account_no", name="uq_outage_records_customer"),
        CheckConstraint(_in("kind", OUTAGE_KINDS), name="ck_outage_records_kind"),
        CheckConstraint("end_at >= start_at", name="ck_outage_records_order"),
        Index("ix_outage_records_start", "start_at"),
        # a customer's outages since a time, counted by outage id from the index alone (migration 0014)
        Index("ix_outage_records_account_start_outage", "account_no", "start_at", "outage_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outage_id: Mapped[str] = mapped_column(String(64))
    # No FK: records outlive a customer archive reload (an interruption happened all the same).
    account_no: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    start_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    end_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("switching_plans.id"), index=True)
    source: Mapped[str] = mapped_column(String(16))  # api / csv / plan
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
# -- interaction rollups (issue 14)
class InteractionRollup(Base):
    """交互汇总: contacts by res-9 H3 cell × 台区 × feeder × local day × channel × kind — one rollup for
    the cell, 台区 and feeder views (migration 0018).

    Kept in the transaction of every ingest (upsert-increment); ``day`` counts days since
    1970-01-01 in China Standard Time (UTC+8). A contact counts under its cell, 台区 and feeder
    at once: ``cell`` 0 when it has no place, ``transformer_id`` / ``feeder_id`` '' when it has
    no 台区 (an unmatched caller counts by its own point only). A cell's counts are the sums
    over its 台区 (a 台区 is nearly always within a few cells, so this table has about as many
    rows as a cell-only one), a 台区's or a feeder's the sums over its cells; coarser cells are
    sums of res-9 rows (a parent is a bit operation). One upsert per contact where there were
    three, into a table clustered on its key (SQLite ``WITHOUT ROWID``). See
    :mod:`gis.interaction_rollups`.
    """

    __tablename__ = "interaction_rollups"
    __table_args__ = (Index("ix_interaction_rollups_version", "version"), {"sqlite_with_rowid": False})

    cell: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    transformer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    feeder_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    # the rollup version that last changed this row (migration 0015): in-memory copies read only newer rows
    version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class InteractionRollupState(Base):
    """One row: bumped by every change of the rollups (in the same transaction), so a process
    holding them in memory knows when to read them again."""

    __tablename__ = "interaction_rollup_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    rebuilt: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # version of the last full rebuild


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
        # at most one alert takes the folds of a customer and category: two screeners racing to open
        # the first one meet here (INSERT … ON CONFLICT DO NOTHING, then fold into the winner)
        Index("uq_alerts_open_fold", "open_fold_key", unique=True,
              sqlite_where=text("open_fold_key IS NOT NULL"), postgresql_where=text("open_fold_key IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    state: Mapped[str] = mapped_column(String(16), default="new")
    category: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(8))
    fold_key: Mapped[str | None] = mapped_column(String(64))  # "a:<户号>" or "p:<caller phone>"
    # "<fold_key>|<category>" while this alert takes repeated hits; cleared when it closes or a newer one takes over
    open_fold_key: Mapped[str | None] = mapped_column(String(96))
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


#: Tables whose geometry is searched by location, each with a spatial index on both stores
#: (an interaction's own point is not searched: see :class:`Interaction`).
SPATIAL_TABLES: dict[str, str] = {
    "substations": "geom",
    "nodes": "geom",
    "segments": "geom",
    "switches": "geom",
    "transformers": "geom",
    "meter_boxes": "geom",
    "customers": "geom",
}
