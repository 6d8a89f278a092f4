"""Interactions files into the store: the file reader of ``loaders`` composed with the ingest of
``interactions`` (they may not import each other), with the loaders' reject report rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from gis.validation import BBox
from interactions.alerts import AlertScreener, rules_from
from interactions.ingest import IngestResult, Screener, ingest
from interactions.lexicon import LexiconCache
from interactions.trouble_calls import RepairCallNotifier
from loaders.interactions_file import read_interactions_file
from loaders.rejects import Reject

__all__ = ["import_interactions_file", "screeners_for"]


def screeners_for(settings: Any, screener: AlertScreener | None = None) -> tuple[Screener, ...]:
    """The screeners every ingest runs (issue 15): the sensitive-word alerts, and the announcement of
    new repair calls (报修) on the ``trouble_calls`` channel that the map's trouble-call layer follows.

    An API process passes its own ``app.state.alert_screener`` (one matcher per process); a
    command builds one for itself.
    """
    if screener is None:
        screener = AlertScreener(LexiconCache(), rules_from(settings.alert_fold_window_s, settings.alert_escalation_hits,
                                                            settings.alert_escalation_window_s))
    return (screener, _NOTIFIER)


_NOTIFIER = RepairCallNotifier()


def import_interactions_file(engine: Engine, path: Path, *, service_area: BBox, display_name: str | None = None,
                             screeners: tuple[Screener, ...] = (),
                             progress: Callable[[str, int, int], None] | None = None,
                             ) -> tuple[IngestResult, list[Reject], dict[str, Any]]:
    """Read ``path`` and ingest its good rows in one transaction; returns the result, the reject rows
    (for :func:`loaders.rejects.write_rejects`) and how the file was read. An unusable file raises
    :class:`loaders.mapping.MappingError` before anything is written."""
    name = display_name or Path(path).name
    source = read_interactions_file(path, display_name=name)
    if progress is not None:
        progress("read interactions", len(source.records), len(source.records))
    result = ingest(engine, source.records, service_area=service_area, rows=source.rows, screeners=screeners,
                    progress=progress)
    rejects = [Reject(name, "", p.row, p.id or "", _label(p.field, source.columns), "" if p.value is None else str(p.value),
                      p.reason) for p in result.rejects]
    info = {"file": name, "encoding": source.encoding, "columns": source.columns}
    return result, rejects, info


def _label(field: str, columns: dict[str, str]) -> str:
    """The user's column with the GridAtlas field in brackets, as the loaders' reports name it."""
    parts = field.split(",")
    mine = [columns.get(f, f) for f in parts]
    theirs = ",".join(mine)
    return theirs if theirs == field else f"{theirs} ({field})"
