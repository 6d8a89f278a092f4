"""``gridatlas import layers MAPPING.toml``: a utility's GIS export into the store, row by row.

The mapping names, per model table, the source file and layer, the CRS, the column map,
defaults and value maps (see :mod:`loaders.mapping`). Everything the mapping names is
checked before any row is read; then every source is read, transformed to WGS 84, checked
row by row, and the accepted rows are written in one transaction (see :mod:`loaders.pipeline`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine

from gis.validation import BBox
from loaders.checks import check_mapped_required
from loaders.customer_archive import complete_customer_spec
from loaders.mapping import load_mapping
from loaders.pipeline import LoadResult, content_hash, run_load
from loaders.sources import preflight, read_source, source_files

__all__ = ["import_layers"]

Progress = Callable[[str, int, int], None]


def import_layers(engine: Engine, mapping_path: Path, *, service_area: BBox, progress: Progress | None = None) -> LoadResult:
    """Load every table the mapping at ``mapping_path`` names; see :class:`LoadResult`.

    Raises :class:`loaders.mapping.MappingError` (nothing loaded) when the mapping, a file,
    a layer, a column or a CRS is unusable.
    """
    mapping = load_mapping(Path(mapping_path))
    targets = dict(mapping.targets)
    if "customers" in targets:  # the archive's usual headers (户号, 经度/纬度, …) need no mapping line
        preflight(targets["customers"])
        targets["customers"] = complete_customer_spec(targets["customers"])
    for spec in targets.values():
        check_mapped_required(spec)
        preflight(spec)
    report = progress or (lambda stage, done, total: None)
    parts: list[bytes | Path] = [mapping.raw, repr(tuple(service_area)).encode()]
    for spec in targets.values():
        assert spec.source is not None
        parts += source_files(spec.source)
    digest = content_hash(parts)
    sources = []
    for i, spec in enumerate(targets.values()):
        report(f"read {spec.table}", i, len(targets))
        sources.append(read_source(spec))
    return run_load(engine, sources, service_area=service_area, source_label=f"layers:{Path(mapping_path).resolve()}",
                    digest=digest, progress=progress)
