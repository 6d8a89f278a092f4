"""Customer contacts kept true: confirm and correct at a touchpoint, with history and provenance.

The customer record (``customers``) holds the contact values, the one source every search,
view and notification reads. This module changes them, and keeps beside them:

* ``contact_records``: per customer the contact *version* and, per field, where the value came
  from (``source`` touchpoint, ``changed_at``) and when it was last confirmed (``verified_at``).
  A field without an entry holds what the last import wrote.
* ``contact_history``: one entry per confirmation or correction (who, role, touchpoint, when,
  old → new per field, note, the version it produced).

Concurrency: the record's ``ETag`` is ``"<version>.<digest>"``, the digest over the contact
values and the record's verification date, so a change by another touchpoint *or* by an import
since the caller read the record makes :func:`change_contact` refuse (412), never overwrite.
The check and the write happen under a lock on the record: a write statement first on SQLite
(the database's write lock), ``SELECT … FOR UPDATE`` on PostgreSQL.

Imports: :func:`guard_manual_corrections` keeps a manual correction that is newer than the
importing row's verification date, and says so (the loader puts it into the reject report).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Connection

from gis.errors import InvalidInput, NotFound, PreconditionFailed, PreconditionRequired
from gis.models import CONTACT_FIELDS, TOUCHPOINTS, Base
from gis.search import reindex_customers

__all__ = [
    "CONTACT_FIELDS",
    "TOUCHPOINTS",
    "ContactState",
    "StaleRules",
    "read_contact",
    "change_contact",
    "read_history",
    "history_since",
    "latest_history_id",
    "parse_etag",
    "stale_fields",
    "guard_manual_corrections",
    "corrected_accounts",
    "MAX_LENGTHS",
]

#: Longest value each contact field takes (the columns' lengths).
MAX_LENGTHS = {"name": 200, "address": 500, "phone": 32, "phone_alt": 32, "wechat_openid": 64}
_OPENID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
_ETAG = re.compile(r'^\s*(?:W/)?"(\d{1,12})\.([0-9a-f]{8})"\s*$')


def _t(name: str):
    return Base.metadata.tables[name]


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def _fields_json(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    return json.loads(value) if isinstance(value, str) else dict(value)


@dataclass(frozen=True)
class ContactState:
    """A customer's contact as stored: values, provenance, version and ETag."""

    account_no: str
    values: dict[str, str | None]
    verified_on: dt.date | None  # the record's 核实日期 (customers.contact_verified_at)
    category: str | None
    sensitivity: str | None
    version: int
    provenance: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        blob = json.dumps([self.values.get(f) for f in CONTACT_FIELDS] + [str(self.verified_on)], ensure_ascii=False)
        return f'"{self.version}.{hashlib.sha256(blob.encode()).hexdigest()[:8]}"'

    def verified_at(self, name: str) -> dt.datetime | None:
        """When ``name`` was last confirmed: its own confirmation, or the record's 核实日期, the later."""
        own = self.provenance.get(name, {}).get("verified_at")
        own_t = _utc(dt.datetime.fromisoformat(own)) if own else None
        record = (dt.datetime.combine(self.verified_on, dt.time(), dt.timezone.utc)
                  if self.verified_on is not None else None)
        known = [t for t in (own_t, record) if t is not None]
        return max(known) if known else None

    def sources(self) -> dict[str, dict[str, Any]]:
        """Per contact field: ``source`` (touchpoint, or ``import``), ``changed_at``, ``verified_at``."""
        out = {}
        for name in CONTACT_FIELDS:
            p = self.provenance.get(name, {})
            verified = self.verified_at(name)
            out[name] = {"source": p.get("source", "import"), "changed_at": p.get("changed_at"),
                         "verified_at": verified.isoformat() if verified else None}
        return out


def _read(conn: Connection, account_no: str, *, lock: bool) -> ContactState | None:
    customers, records = _t("customers"), _t("contact_records")
    q = select(*[customers.c[f] for f in CONTACT_FIELDS], customers.c.contact_verified_at, customers.c.category,
               customers.c.sensitivity).where(customers.c.account_no == account_no)
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        return None
    m = row._mapping
    rq = select(records.c.version, records.c.fields).where(records.c.account_no == account_no)
    if lock and conn.dialect.name == "postgresql":
        rq = rq.with_for_update()
    meta = conn.execute(rq).first()
    return ContactState(
        account_no=account_no, values={f: m[f] for f in CONTACT_FIELDS}, verified_on=m["contact_verified_at"],
        category=m["category"], sensitivity=m["sensitivity"], version=int(meta[0]) if meta else 0,
        provenance=_fields_json(meta[1]) if meta else {},
    )


def read_contact(conn: Connection, account_no: str) -> ContactState:
    """The contact of ``account_no``; :class:`NotFound` (field ``account_no``) when unknown."""
    state = _read(conn, account_no, lock=False)
    if state is None:
        raise NotFound(f"no customer with account number {account_no!r}", field="account_no", value=account_no)
    return state


def parse_etag(raw: str | None) -> str:
    """The entity tag an ``If-Match`` header names; 428 when missing or ``*``, 412 when malformed."""
    if raw is None or not raw.strip():
        raise PreconditionRequired('changing a contact needs If-Match: the ETag of the record you read, e.g. "3.1a2b3c4d"',
                                   field="If-Match")
    if raw.strip() == "*":
        raise PreconditionRequired("If-Match: * names no version; send the ETag you read", field="If-Match", value=raw)
    match = _ETAG.match(raw)
    if match is None:
        raise PreconditionFailed('If-Match must be one entity tag such as "3.1a2b3c4d"', field="If-Match", value=raw)
    return f'"{match.group(1)}.{match.group(2)}"'


def _check_values(changes: Mapping[str, str | None]) -> dict[str, str | None]:
    """Shape checks the store relies on (phones arrive normalized by the caller's validator)."""
    out: dict[str, str | None] = {}
    for name, value in changes.items():
        if name not in CONTACT_FIELDS:
            raise InvalidInput(f"{name} is not a contact field (fields: {', '.join(CONTACT_FIELDS)})", field=name)
        if value is not None:
            value = value.strip() or None
        if value is None and name == "name":
            raise InvalidInput("name must not be empty", field="name", value="")
        if value is not None and len(value) > MAX_LENGTHS[name]:
            raise InvalidInput(f"{name} is longer than {MAX_LENGTHS[name]} characters", field=name, value=value[:40])
        if value is not None and name == "wechat_openid" and not _OPENID.match(value):
            raise InvalidInput("wechat_openid must be 6–64 letters, digits, '-' or '_' (a WeChat OpenID)",
                               field="wechat_openid", value=value[:64])
        out[name] = value
    return out


def change_contact(
    conn: Connection,
    account_no: str,
    *,
    if_match: str,
    changes: Mapping[str, str | None],
    confirm: bool,
    touchpoint: str,
    actor: str,
    role: str,
    now: dt.datetime,
    note: str | None = None,
) -> tuple[ContactState, dict[str, Any]]:
    """Confirm and/or change the contact of ``account_no`` in ``conn``'s transaction.

    ``if_match`` is the ETag the caller read (see :func:`parse_etag`); a record changed since
    raises :class:`PreconditionFailed` and nothing is written. ``changes`` maps contact fields
    to new values (None clears; the name cannot be cleared); a value equal to the stored one
    is no change. ``confirm`` sets the record's verification date (and every field's) to
    ``now``. Writes the customer, the provenance, a history entry, and reindexes the
    customer's search rows (all in the caller's transaction). Returns the new state and the
    history entry (as :func:`read_history` gives it).
    """
    if touchpoint not in TOUCHPOINTS:
        raise InvalidInput(f"touchpoint must be one of {', '.join(TOUCHPOINTS)}", field="touchpoint", value=touchpoint)
    changes = _check_values(changes)
    if not changes and not confirm:
        raise InvalidInput('nothing to do: send "confirm": true or at least one contact field to change',
                           field="confirm", value=False)
    now = now.astimezone(dt.timezone.utc)
    customers, records, history = _t("customers"), _t("contact_records"), _t("contact_history")
    # The write lock first (SQLite: a write statement takes the database's; PostgreSQL: the rows below).
    verb = "INSERT OR IGNORE INTO" if conn.dialect.name == "sqlite" else "INSERT INTO"
    tail = "" if conn.dialect.name == "sqlite" else " ON CONFLICT (account_no) DO NOTHING"
    conn.execute(text(f"{verb} contact_records (account_no, version, fields) "
                      f"SELECT account_no, 0, '{{}}' FROM customers WHERE account_no = :a{tail}"), {"a": account_no})
    state = _read(conn, account_no, lock=True)
    if state is None:
        raise NotFound(f"no customer with account number {account_no!r}", field="account_no", value=account_no)
    if state.etag != if_match:
        raise PreconditionFailed(
            f"the contact of {account_no} changed since it was read (now {state.etag}, If-Match {if_match}): "
            "read it again and re-apply the change", field="If-Match", value=if_match)
    diff = {k: {"old": state.values[k], "new": v} for k, v in changes.items() if state.values[k] != v}
    if not diff and not confirm:  # the values given are the stored ones: confirming them is what happened
        confirm = True
    stamp = now.isoformat()
    provenance = {k: dict(v) for k, v in state.provenance.items()}
    for name in diff:
        provenance[name] = {"source": touchpoint, "changed_at": stamp, "verified_at": stamp, "by": actor}
    if confirm:
        for name in CONTACT_FIELDS:
            provenance.setdefault(name, {"source": "import", "changed_at": None})["verified_at"] = stamp
    values = {k: v["new"] for k, v in diff.items()}
    if confirm:
        values["contact_verified_at"] = now.date()
    if values:
        conn.execute(update(customers).where(customers.c.account_no == account_no).values(**values))
    version = state.version + 1
    conn.execute(update(records).where(records.c.account_no == account_no)
                 .values(version=version, fields=provenance, updated_at=now))
    entry = {"account_no": account_no, "at": now, "actor": actor, "role": role, "touchpoint": touchpoint,
             "confirmed": bool(confirm), "changes": diff, "note": note, "version": version}
    entry_id = conn.execute(history.insert().values(**entry).returning(history.c.id)).scalar_one()
    if any(k in diff for k in ("name", "address", "phone", "phone_alt")):
        reindex_customers(conn, [account_no])
    new_values = {**state.values, **{k: v["new"] for k, v in diff.items()}}
    new_state = ContactState(account_no, new_values, now.date() if confirm else state.verified_on, state.category,
                             state.sensitivity, version, provenance)
    return new_state, {"id": entry_id, **entry, "at": stamp}


def read_history(conn: Connection, account_no: str, *, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """The customer's contact history, newest first."""
    h = _t("contact_history")
    q = (select(h.c.id, h.c.account_no, h.c.at, h.c.actor, h.c.role, h.c.touchpoint, h.c.confirmed, h.c.changes,
                h.c.note, h.c.version)
         .where(h.c.account_no == account_no).order_by(h.c.id.desc()).limit(limit).offset(offset))
    out = []
    for row in conn.execute(q):
        rec = dict(row._mapping)
        rec["at"] = _utc(rec["at"]).isoformat()
        rec["changes"] = _fields_json(rec["changes"])
        rec["confirmed"] = bool(rec["confirmed"])
        out.append(rec)
    return out


def latest_history_id(conn: Connection) -> int:
    """The newest contact-history id (0 when there is none): what a snapshot already contains."""
    h = _t("contact_history")
    return int(conn.execute(select(func.coalesce(func.max(h.c.id), 0))).scalar_one())


def history_since(conn: Connection, after_id: int, *, limit: int = 1000) -> list[tuple[int, str]]:
    """(id, account_no) of contact changes after ``after_id``, oldest first."""
    h = _t("contact_history")
    q = select(h.c.id, h.c.account_no).where(h.c.id > after_id).order_by(h.c.id).limit(limit)
    return [(int(i), str(a)) for i, a in conn.execute(q)]


# ------------------------------------------------------------------ stale-data rules
@dataclass(frozen=True)
class StaleRules:
    """How old a field's verification may be, in days: per category, else ``"*"``, else ``default_days``.

    ``max_age_days``: category (or ``"*"``) -> contact field -> days.
    """

    default_days: int
    max_age_days: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def limit(self, category: str | None, name: str) -> int:
        for key in (category, "*"):
            days = self.max_age_days.get(key or "", {}).get(name) if key else None
            if days is not None:
                return int(days)
        return self.default_days


def stale_fields(state: ContactState, rules: StaleRules, now: dt.datetime,
                 fields: Sequence[str] = CONTACT_FIELDS) -> list[dict[str, Any]]:
    """The fields to confirm: never verified, or verified longer ago than the rules allow.

    A field without a value is only stale when it was never confirmed at all (an empty
    WeChat binding confirmed as empty is not stale).
    """
    out = []
    for name in fields:
        verified = state.verified_at(name)
        limit = rules.limit(state.category, name)
        if verified is None:
            out.append({"field": name, "days": None, "max_days": limit})
            continue
        days = (now.astimezone(dt.timezone.utc) - verified).days
        if days > limit:
            out.append({"field": name, "days": days, "max_days": limit})
    return out


# ------------------------------------------------------------------ imports
def corrected_accounts(conn: Connection) -> set[str]:
    """Accounts with a contact record (confirmed or corrected at a touchpoint at least once)."""
    records = _t("contact_records")
    return set(conn.execute(select(records.c.account_no)).scalars())


def guard_manual_corrections(
    conn: Connection, rows: Iterable[Mapping[str, Any]],
) -> list[tuple[int, str, Any, Any, str]]:
    """Keep manual corrections that an import would revert; say which.

    ``rows``: the import's accepted customer rows as mappings with a ``_pos`` (the caller's
    position of the row), ``account_no``, the contact fields it carries and
    ``contact_verified_at`` (a date or None). For every field whose stored value was set at a
    touchpoint later than the row's verification date and which the row would change, a
    (position, field, import value, stored value, reason) is returned: the caller writes the
    stored value instead and reports the line. A field the import does change (its row is
    verified later than the correction) loses its provenance entry: it now holds what the
    import wrote. Call in the import's write transaction.
    """
    rows = list(rows)
    if not rows:
        return []
    records, customers = _t("contact_records"), _t("customers")
    by_account = {r["account_no"]: r for r in rows}
    stored: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    ids = list(by_account)
    for start in range(0, len(ids), 5000):
        q = (select(records.c.account_no, records.c.fields, *[customers.c[f] for f in CONTACT_FIELDS])
             .join(customers, customers.c.account_no == records.c.account_no)
             .where(records.c.account_no.in_(ids[start : start + 5000])))
        for row in conn.execute(q):
            m = row._mapping
            stored[m["account_no"]] = (_fields_json(m["fields"]), {f: m[f] for f in CONTACT_FIELDS})
    kept: list[tuple[int, str, Any, Any, str]] = []
    for account_no, (provenance, values) in sorted(stored.items()):
        row = by_account[account_no]
        verified = row.get("contact_verified_at")
        dropped = False
        for name, p in list(provenance.items()):
            if name not in row or p.get("source", "import") == "import" or not p.get("changed_at"):
                continue
            incoming = _blank_to_none(row[name])
            if incoming == values[name]:
                continue
            changed = _utc(dt.datetime.fromisoformat(p["changed_at"]))
            if verified is None or verified < changed.date():
                given = verified.isoformat() if verified else "none given"
                kept.append((row["_pos"], name, incoming, values[name], (
                    f"not imported: {name} was corrected at the {p['source']} touchpoint on {changed.date().isoformat()}, "
                    f"later than this row's verification date ({given}); the correction is kept (the rest of the row "
                    "is loaded): update the source system, or give a newer 核实日期")))
            else:
                del provenance[name]
                dropped = True
        if dropped:
            conn.execute(update(records).where(records.c.account_no == account_no).values(fields=provenance))
    return kept


def _blank_to_none(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return value
