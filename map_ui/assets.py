"""Where the map's files are: our static app and the installed Leaflet packages (no CDN)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["STATIC_DIR", "vendor_dirs"]

STATIC_DIR = Path(__file__).resolve().parent / "static"


def vendor_dirs() -> dict[str, Path]:
    """URL prefix (under /vendor/) -> directory of an installed third-party web package."""
    import xstatic.pkg.leaflet as leaflet
    import xstatic.pkg.leaflet_markercluster as markercluster

    return {"leaflet": Path(leaflet.BASE_DIR), "leaflet.markercluster": Path(markercluster.BASE_DIR)}
