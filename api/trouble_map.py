"""What a map needs of a trouble-call analysis (issue 15): devices placed, calls located, areas drawn.

:func:`interactions.trouble_calls.analyze` names the probable failed devices; this module (the
composition root may join what ``interactions`` and ``outage_impact`` offer) adds, on the
snapshot the analysis ran on:

* each predicted device's point (the switch or fuse, or the transformer / 台区) and name;
* each prediction's affected area: the union of one convex hull per 台区 of the customers the
  device feeds, exactly as a plan's impact area (:func:`outage_impact.area.impact_area`);
* every call whose customer is known, located: at the customer for the roles that see personal
  data; for the others (and for any role whose exports round coordinates, ``export_masking``)
  at the customer's 台区 — the transformer's point, shared by every customer of it, so no call
  points at a house — or, with no 台区, rounded like an export (2 decimals ≈ 1 km by default).

:func:`as_geojson` turns the same answer into a FeatureCollection for GIS tools.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from api.state import GridSnapshot
from interactions.trouble_calls import Call, Prediction, TroubleAnalysis
from outage_impact.area import impact_area

__all__ = ["map_answer", "as_geojson", "EXACT", "MASKED"]

EXACT = "customer"
MASKED = "transformer"
_DEFAULT_DECIMALS = 2
_COORD_DIGITS = 7  # ~1 cm


def _device_point(snapshot: GridSnapshot, p: Prediction) -> tuple[tuple[float, float] | None, str | None]:
    lookup = snapshot.transformer_points if p.kind == "transformer" else snapshot.switch_points
    if lookup is None:
        return None, None
    return lookup.point(p.device), lookup.name(p.device)


def _area(snapshot: GridSnapshot, p: Prediction) -> dict | None:
    ix, pos = snapshot.index, p.positions
    if not len(pos):
        return None
    trafo = ix.cust_transformer[pos].astype(np.int64)
    feeder = ix.cust_feeder[pos].astype(np.int64)
    groups = np.where(trafo >= 0, trafo, -2 - feeder)  # a 台区 each; customers without one per feeder
    return impact_area(ix.cust_lon[pos], ix.cust_lat[pos], groups)


def _round(value: float, digits: int) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def _locate_calls(snapshot: GridSnapshot, calls: Sequence[Call], exact: bool,
                  decimals: int) -> list[dict[str, Any]]:
    """``call, account_no, occurred_at, transformer_id, lon, lat, precision`` of each call whose customer is known."""
    ix = snapshot.index
    known = [c for c in calls if c.account_no]
    if not known:
        return []
    rows = ix.cust_index.positions(np.array([c.account_no for c in known], dtype=object))
    ok = rows >= 0
    pos = np.full(len(known), -1, dtype=np.int64)
    pos[ok] = ix.cust_rank[rows[ok]]
    take = np.flatnonzero(ok)
    p = pos[take]
    trafo = ix.cust_transformer[p].astype(np.int64)
    trafo_ids = np.full(len(p), None, dtype=object)
    has = trafo >= 0
    trafo_ids[has] = ix.transformer_ids[trafo[has]]
    if exact:
        lon, lat = ix.cust_lon[p], ix.cust_lat[p]
        precision = np.full(len(p), EXACT, dtype=object)
    else:
        lon = np.full(len(p), np.nan)
        lat = np.full(len(p), np.nan)
        if snapshot.transformer_points is not None and has.any():
            lon[has], lat[has] = snapshot.transformer_points.locate(trafo_ids[has].tolist())
        snapped = np.isfinite(lon) & np.isfinite(lat)
        precision = np.where(snapped, MASKED, "rounded").astype(object)
        rest = ~snapped
        lon[rest] = np.round(ix.cust_lon[p[rest]], decimals)
        lat[rest] = np.round(ix.cust_lat[p[rest]], decimals)
    out = []
    for i, k in enumerate(take.tolist()):
        c = known[k]
        x, y = _round(float(lon[i]), _COORD_DIGITS), _round(float(lat[i]), _COORD_DIGITS)
        if x is None or y is None:
            continue
        out.append({"call": c.id, "account_no": c.account_no, "occurred_at": c.occurred_at,
                    "transformer_id": trafo_ids[i], "lon": x, "lat": y, "precision": precision[i]})
    return out


def map_answer(snapshot: GridSnapshot, analysis: TroubleAnalysis, calls: Sequence[Call], *, exact: bool,
               decimals: int | None, with_customers: bool) -> dict[str, Any]:
    """The analysis as the API answers it, with device points, areas and the located calls.

    ``exact``: calls at their customers (roles that see personal data); else at their 台区,
    or rounded to ``decimals`` (2 when None) where a customer has no 台区.
    """
    body = analysis.to_dict(with_customers=with_customers)
    for out, p in zip(body["predictions"], analysis.predictions):
        point, name = _device_point(snapshot, p)
        out["name"] = name
        out["location"] = {"lon": point[0], "lat": point[1]} if point else None
        out["area"] = _area(snapshot, p)
    device_of = {c: p.device for p in analysis.predictions for c in p.calls}
    reason_of = {u.call: u.reason for u in analysis.unexplained}
    located = _locate_calls(snapshot, calls, exact, _DEFAULT_DECIMALS if decimals is None else decimals)
    for call in located:
        call["device"] = device_of.get(call["call"])
        call["reason"] = reason_of.get(call["call"])
    body["located_calls"] = located
    body["call_points"] = EXACT if exact else MASKED
    return body


def _feature(geometry: dict | None, properties: Mapping[str, Any], fid: str) -> dict[str, Any]:
    return {"type": "Feature", "id": fid, "geometry": geometry, "properties": dict(properties)}


def _iso(value: object) -> object:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def as_geojson(body: Mapping[str, Any]) -> dict[str, Any]:
    """An RFC 7946 FeatureCollection of :func:`map_answer`'s answer: one point per predicted device
    (``feature: "device"``), its affected area (``"area"``), one point per located call (``"call"``,
    its ``device`` or ``reason``); the window, counts and unexplained calls as foreign members."""
    features = []
    for p in body["predictions"]:
        loc = p.get("location")
        props = {"feature": "device", "device": p["device"], "name": p.get("name"), "kind": p["kind"],
                 "calls": len(p["calls"]), "customers_affected": p["customers_affected"],
                 "call_ids": p["calls"], "absorbed": p["absorbed"], "thresholds": p["thresholds"]}
        features.append(_feature({"type": "Point", "coordinates": [loc["lon"], loc["lat"]]} if loc else None,
                                 props, f"device:{p['device']}"))
        if p.get("area") is not None:
            features.append(_feature(p["area"], {"feature": "area", "device": p["device"],
                                                 "customers_affected": p["customers_affected"]}, f"area:{p['device']}"))
    for c in body["located_calls"]:
        props = {"feature": "call", **{k: _iso(v) for k, v in c.items() if k not in ("lon", "lat")}}
        features.append(_feature({"type": "Point", "coordinates": [c["lon"], c["lat"]]}, props, f"call:{c['call']}"))
    window = {k: _iso(v) for k, v in body["window"].items()}
    return {"type": "FeatureCollection", "features": features, "calls": body["calls"],
            "data_version": body["data_version"], "window": window, "call_points": body["call_points"],
            "unexplained": body["unexplained"]}
