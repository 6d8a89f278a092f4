"""The operators' changes to the sensitive-word lexicon, and its version.

The shipped lexicon lives with the domain (``interactions``); the store keeps what operators
changed on top of it, one row per (kind, word): ``kind`` is ``word`` or ``allow`` (an
allow-list phrase), ``removed`` marks a word taken out (a shipped one included). Every change
bumps ``lexicon_state.version`` in the same transaction, so a worker that reads a version
different from its matcher's knows it must rebuild it. Changes are audited by the caller in
the same transaction (:func:`gis.audit.record_event`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from gis.errors import InvalidInput
from gis.models import LEXICON_CATEGORIES, LEXICON_SEVERITIES, LexiconEntry, LexiconState

__all__ = ["StoredEntry", "lexicon_version", "read_entries", "put_entry", "LEXICON_KINDS"]

LEXICON_KINDS = ("word", "allow")
_T = LexiconEntry.__table__
_S = LexiconState.__table__


@dataclass(frozen=True, slots=True)
class StoredEntry:
    kind: str
    word: str
    category: str | None
    severity: str | None
    pinyin: bool
    removed: bool
    changed_by: str
    changed_at: dt.datetime | None


def lexicon_version(conn: Connection) -> int:
    """The lexicon's current version (0 until the first change)."""
    return int(conn.execute(select(_S.c.version).where(_S.c.id == 1)).scalar() or 0)


def read_entries(conn: Connection) -> tuple[int, list[StoredEntry]]:
    """``(version, entries)`` read together (one statement each, in the caller's transaction)."""
    version = lexicon_version(conn)
    rows = conn.execute(select(_T).order_by(_T.c.kind, _T.c.word)).mappings()
    return version, [StoredEntry(r["kind"], r["word"], r["category"], r["severity"], bool(r["pinyin"]),
                                 bool(r["removed"]), r["changed_by"], r["changed_at"]) for r in rows]


def _check(kind: str, word: str, category: str | None, severity: str | None, removed: bool) -> str:
    if kind not in LEXICON_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(LEXICON_KINDS)}", field="kind", value=kind)
    word = word.strip()
    if not word or len(word) > 100:
        raise InvalidInput("a lexicon word must be 1–100 characters", field="word", value=word)
    if kind == "word" and not removed:
        if category not in LEXICON_CATEGORIES:
            raise InvalidInput(f"category must be one of {', '.join(LEXICON_CATEGORIES)}", field="category",
                               value=category)
        if severity not in LEXICON_SEVERITIES:
            raise InvalidInput(f"severity must be one of {', '.join(LEXICON_SEVERITIES)}", field="severity",
                               value=severity)
    return word


def put_entry(conn: Connection, *, kind: str, word: str, category: str | None = None, severity: str | None = None,
              pinyin: bool = False, removed: bool = False, actor: str) -> int:
    """Record one change (insert or replace the row of (kind, word)) and bump the version;
    returns the new version. Checks the values first (:class:`InvalidInput` naming the field)."""
    word = _check(kind, word, category, severity, removed)
    now = dt.datetime.now(dt.timezone.utc)
    # the version row is locked first: concurrent changes serialize here, and the row update
    # below can never race an insert of the same word
    version = conn.execute(update(_S).where(_S.c.id == 1).values(version=_S.c.version + 1, changed_at=now)
                           .returning(_S.c.version)).scalar_one()
    values = dict(category=None if removed else category, severity=None if removed else severity,
                  pinyin=bool(pinyin) and not removed, removed=removed, changed_by=actor[:100], changed_at=now)
    done = conn.execute(update(_T).where(_T.c.kind == kind, _T.c.word == word).values(**values))
    if done.rowcount == 0:
        conn.execute(_T.insert().values(kind=kind, word=word, **values))
    return int(version)
