"""Point equipment by id: the lon/lat (and name) of switches or transformers of one data version.

Built once per snapshot from the asset frames; a lookup is a binary search over the sorted ids,
vectorized for many ids at once (a trouble-call answer places every caller's 台区 with one call).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["PointLookup"]


class PointLookup:
    """Ids → ``(lon, lat)`` and name; unknown ids and missing coordinates give NaN / None."""

    __slots__ = ("_ids", "_lon", "_lat", "_names")

    def __init__(self, ids: Sequence[object], lon: Sequence[float], lat: Sequence[float],
                 names: Sequence[object] | None = None) -> None:
        keys = np.asarray([str(i) for i in ids], dtype=str)
        order = np.argsort(keys, kind="stable")
        self._ids = keys[order]
        self._lon = np.asarray(lon, dtype=np.float64)[order]
        self._lat = np.asarray(lat, dtype=np.float64)[order]
        raw = list(names) if names is not None else [None] * len(keys)
        self._names = np.asarray([n if isinstance(n, str) and n else None for n in raw], dtype=object)[order]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> PointLookup:
        """From a frame with ``id, lon, lat`` (and ``name`` when it has one)."""
        names = frame["name"].tolist() if "name" in frame else None
        return cls(frame["id"].tolist(), frame["lon"].to_numpy(np.float64), frame["lat"].to_numpy(np.float64), names)

    def __len__(self) -> int:
        return len(self._ids)

    def _positions(self, ids: Sequence[object]) -> np.ndarray:
        keys = np.asarray([str(i) for i in ids], dtype=str) if len(ids) else np.empty(0, dtype=str)
        if not len(self._ids) or not len(keys):
            return np.full(len(keys), -1, dtype=np.int64)
        at = np.searchsorted(self._ids, keys)
        inside = at < len(self._ids)
        found = np.zeros(len(keys), dtype=bool)
        found[inside] = self._ids[at[inside]] == keys[inside]
        return np.where(found, at, -1)

    def locate(self, ids: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
        """``(lon, lat)`` arrays aligned with ``ids`` (NaN where unknown)."""
        pos = self._positions(ids)
        ok = pos >= 0
        lon = np.full(len(pos), np.nan)
        lat = np.full(len(pos), np.nan)
        lon[ok], lat[ok] = self._lon[pos[ok]], self._lat[pos[ok]]
        return lon, lat

    def point(self, element_id: object) -> tuple[float, float] | None:
        lon, lat = self.locate([element_id])
        return (float(lon[0]), float(lat[0])) if np.isfinite(lon[0]) and np.isfinite(lat[0]) else None

    def name(self, element_id: object) -> str | None:
        pos = self._positions([element_id])
        return self._names[pos[0]] if pos[0] >= 0 else None
