"""Where the map's files are: our static app and the installed third-party browser packages (no CDN).

Leaflet and its marker-cluster plugin come from their XStatic Python packages; Leaflet.heat has
no XStatic package, so ``scripts/setup.sh`` installs it with ``npm ci`` from ``map_ui/package-lock.json``
into ``map_ui/node_modules``. A missing directory is an error at start-up (:class:`MissingVendorFiles`),
never a silent 404 on the map.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["STATIC_DIR", "NODE_MODULES", "MissingVendorFiles", "vendor_dirs"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
NODE_MODULES = Path(__file__).resolve().parent / "node_modules"

# URL prefix under /vendor/ -> directory inside map_ui/node_modules (installed by `npm ci`)
_NPM_DIRS = {"leaflet.heat": Path("leaflet.heat") / "dist"}


class MissingVendorFiles(RuntimeError):
    """A browser package the map loads is not installed (run ``scripts/setup.sh``)."""


def vendor_dirs(node_modules: Path | None = None) -> dict[str, Path]:
    """URL prefix (under /vendor/) -> directory of an installed third-party web package.

    Raises :class:`MissingVendorFiles` naming the directory and the command that installs it.
    """
    import xstatic.pkg.leaflet as leaflet
    import xstatic.pkg.leaflet_markercluster as markercluster

    out = {"leaflet": Path(leaflet.BASE_DIR), "leaflet.markercluster": Path(markercluster.BASE_DIR)}
    root = NODE_MODULES if node_modules is None else node_modules
    for name, sub in _NPM_DIRS.items():
        directory = root / sub
        if not directory.is_dir():
            raise MissingVendorFiles(
                f"the map's {name} files are missing: {directory} does not exist; run scripts/setup.sh "
                f"(it runs `npm ci` in {root.parent}, which needs node and npm)")
        out[name] = directory
    return out
