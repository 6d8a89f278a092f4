"""Source CRS → WGS 84 lon/lat: which CRS a layer is in, and the transform (always x/y order).

CRS is a contract: a layer's CRS comes from the file, or from the mapping when the file has
none; when both are given they must agree, and a layer with neither is refused with the
line to add to the mapping. Any CRS pyproj knows works, including CGCS2000 (EPSG:4490) and
its 3° Gauss–Krüger zones with (EPSG:4513–4533) or without (EPSG:4534–4554) the zone prefix.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError

from loaders.mapping import MappingError, parse_crs

__all__ = ["WGS84", "resolve_crs", "crs_label", "to_wgs84", "swapped_to_wgs84", "zone_prefix_hint"]

WGS84 = CRS.from_epsg(4326)


def crs_label(crs: CRS) -> str:
    """``EPSG:4547 (CGCS2000 / 3-degree Gauss-Kruger CM 114E)`` or the CRS name."""
    code = crs.to_epsg(min_confidence=70)
    return f"EPSG:{code} ({crs.name})" if code else crs.name


def _same(a: CRS, b: CRS) -> bool:
    if a.equals(b, ignore_axis_order=True):
        return True
    ca, cb = a.to_epsg(min_confidence=70), b.to_epsg(min_confidence=70)
    return ca is not None and ca == cb


def resolve_crs(file_crs: object, declared: str | None, *, where: str, key: str, fallback: str | None = None) -> CRS:
    """The CRS of a layer: the file's, else the mapping's; refuses none or a disagreement.

    ``where`` names the file and layer, ``key`` the mapping table (``[nodes]``) for messages;
    ``fallback`` (the mapping's top-level crs) applies only when neither gives one.
    """
    if file_crs is None and declared is None and fallback is not None:
        declared, key = fallback, "the top level"
    declared_crs = parse_crs(declared, key) if declared else None
    found = None
    if file_crs is not None:
        try:
            found = CRS.from_user_input(file_crs)
        except CRSError as exc:
            if declared_crs is None:
                raise MappingError(
                    f"{where} has a CRS pyproj does not know ({exc}); declare the right one under {key} "
                    f'in the mapping, e.g. crs = "EPSG:4547"', field=f"{key} crs", value=str(file_crs)[:200],
                ) from exc
    if found is not None and declared_crs is not None and not _same(found, declared_crs):
        raise MappingError(
            f"{where} is in {crs_label(found)} but the mapping declares {key} crs = {declared!r} "
            f"({crs_label(declared_crs)}); remove the crs line, or fix the file's .prj / CRS",
            field=f"{key} crs", value=declared,
        )
    crs = found or declared_crs
    if crs is None:
        raise MappingError(
            f"{where} has no CRS and the mapping declares none; add the line crs = \"EPSG:4547\" "
            f"(or whatever the data is in: EPSG:4490 CGCS2000 lon/lat, EPSG:4326 WGS 84, a Gauss–Krüger zone …) "
            f"under {key} in the mapping file",
            field=f"{key} crs",
        )
    try:
        _transformer(crs.to_wkt())
    except (CRSError, ProjError) as exc:
        raise MappingError(f"{where}: no transformation from {crs_label(crs)} to WGS 84 ({exc})",
                           field=f"{key} crs", value=crs_label(crs)) from exc
    return crs


@lru_cache(maxsize=64)
def _transformer(wkt: str) -> Transformer:
    return Transformer.from_crs(CRS.from_wkt(wkt), WGS84, always_xy=True)


def _apply(geoms: np.ndarray, crs: CRS, swap: bool) -> np.ndarray:
    if crs.equals(WGS84, ignore_axis_order=True) and not swap:
        return geoms
    tr = _transformer(crs.to_wkt())

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = (xy[:, 1], xy[:, 0]) if swap else (xy[:, 0], xy[:, 1])
        with np.errstate(all="ignore"):
            lon, lat = tr.transform(x, y, errcheck=False)
        return np.column_stack([lon, lat])

    out = np.full(len(geoms), None, dtype=object)
    present = ~shapely.is_missing(geoms)
    if present.any():
        out[present] = shapely.transform(geoms[present], fn)
    return out


def to_wgs84(geoms: np.ndarray, crs: CRS) -> np.ndarray:
    """``geoms`` (shapely, in ``crs``, x/y = easting/northing or lon/lat) in WGS 84 lon/lat.

    Points the projection cannot map come back with non-finite coordinates, which the
    coordinate check rejects row by row.
    """
    return _apply(np.asarray(geoms, dtype=object), crs, swap=False)


def swapped_to_wgs84(geoms: np.ndarray, crs: CRS) -> np.ndarray:
    """The same, with each source coordinate's x and y exchanged (to recognise swapped axes)."""
    return _apply(np.asarray(geoms, dtype=object), crs, swap=True)


def zone_prefix_hint(crs: CRS, max_x: float) -> str:
    """A hint when eastings carry a Gauss–Krüger zone prefix the declared CRS does not expect."""
    if crs.is_projected and np.isfinite(max_x) and max_x > 10_000_000 and "Gauss-Kruger" in crs.name and "zone" not in crs.name.lower():
        zone = int(max_x // 1_000_000)
        return (f"; the eastings start with {zone} (a zone prefix) but {crs_label(crs)} has none: "
                f"use the 'zone {zone}' variant (e.g. EPSG:{4488 + zone} for 3° zone {zone}) instead")
    return ""
