"""``gridatlas import customers FILE``: a marketing system's customer archive (CSV or XLSX).

Headers are recognised by the names such archives use (户号, 户名, 用电地址, 联系电话, 台区编号,
表箱编号, 合同容量, 用电类别, 证件号码, 经度/纬度 …, see :data:`DEFAULT_HEADERS`); a mapping file's
``[customers]`` table overrides any of them and adds value maps, defaults, a CRS or an encoding.
CSV text is read as UTF-8 (with or without BOM) or else GB18030 (a superset of GBK), and the
result says which. Customers are joined to the grid by meter-box and transformer code
(against the store plus this load); those without coordinates are placed at their meter box,
else their transformer (``location_quality`` says which); none is dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from sqlalchemy.engine import Engine

from gis.validation import BBox
from loaders.checks import check_mapped_required
from loaders.mapping import GeometrySpec, MappingError, TargetSpec, parse_mapping
from loaders.pipeline import LoadResult, content_hash, run_load
from loaders.sources import SHEET_SUFFIXES, TEXT_SUFFIXES, header_columns, preflight, read_source

__all__ = ["DEFAULT_HEADERS", "customer_spec", "complete_customer_spec", "import_customers"]

Progress = Callable[[str, int, int], None]

#: model column (or lon/lat) → header names tried in order (the model's own name last).
DEFAULT_HEADERS: Mapping[str, tuple[str, ...]] = {
    "account_no": ("户号", "用户编号", "客户编号", "用户号", "account_no"),
    "name": ("户名", "用户名称", "客户名称", "name"),
    "address": ("用电地址", "地址", "address"),
    "phone": ("联系电话", "手机号码", "移动电话", "电话", "phone"),
    "phone_alt": ("备用电话", "固定电话", "phone_alt"),
    "wechat_openid": ("微信openid", "微信OpenID", "wechat_openid"),
    "category": ("用电类别", "用户类别", "category"),
    "contract_kva": ("合同容量", "合同容量(kVA)", "合同容量（kVA）", "contract_kva"),
    "sensitivity": ("敏感等级", "敏感类型", "重要性等级", "sensitivity"),
    "meter_box_id": ("表箱编号", "表箱号", "meter_box_id"),
    "transformer_id": ("台区编号", "台区号", "配变编号", "transformer_id"),
    "supply_node": ("供电节点", "supply_node"),
    "location_quality": ("定位方式", "location_quality"),
    "contact_verified_at": ("联系方式核实日期", "核实日期", "contact_verified_at"),
    "id_number": ("证件号码", "身份证号", "身份证号码", "id_number"),
    "lon": ("经度", "lon", "longitude"),
    "lat": ("纬度", "lat", "latitude"),
}


def customer_spec(path: Path, mapping_text: str | None = None, *, mapping_name: str = "mapping") -> TargetSpec:
    """The :class:`TargetSpec` for an archive: default headers, overridden by the mapping's [customers]."""
    path = Path(path)
    if path.suffix.lower() not in TEXT_SUFFIXES + SHEET_SUFFIXES:
        raise MappingError(f"{path.name}: a customer archive must be .csv, .txt, .tsv or .xlsx", field="file", value=path.name)
    if not path.is_file():
        raise MappingError(f"{path}: no such file", field="file", value=str(path))
    given = TargetSpec(table="customers", source=path)
    if mapping_text is not None:
        # The archive is always the file given; a mapping's source (if any) is ignored, so an
        # uploaded mapping can never make the server read one of its own files.
        targets = parse_mapping(mapping_text, base=None, name=mapping_name, require_source=False)
        if "customers" not in targets:
            raise MappingError(f"{mapping_name} has no [customers] table", field="[customers]")
        given = replace(targets["customers"], source=path)
    return complete_customer_spec(given)


def complete_customer_spec(given: TargetSpec) -> TargetSpec:
    """``given`` with every customer column it leaves unmapped taken from :data:`DEFAULT_HEADERS`
    when the source has such a header, and 经度/纬度 (lon/lat) as the geometry of a table source."""
    present = set(header_columns(given))
    columns = dict(given.columns)
    taken = set(columns.values()) | set(given.geometry.source_columns())
    auto: dict[str, str] = {}
    for target, names in DEFAULT_HEADERS.items():
        if target in columns:
            continue
        hit = next((n for n in names if n in present and n not in taken), None)
        if hit is not None:
            auto[target] = hit
    geometry = given.geometry
    crs = given.crs
    lon, lat = auto.pop("lon", None), auto.pop("lat", None)
    is_table = given.source is not None and given.source.suffix.lower() in TEXT_SUFFIXES + SHEET_SUFFIXES
    if geometry.kind == "file" and is_table and lon and lat:
        geometry = GeometrySpec("xy", x=lon, y=lat)
        crs = crs or "EPSG:4326"  # 经度/纬度 columns: lon/lat unless the mapping says otherwise
    columns = {**auto, **columns}
    return replace(given, columns=columns, geometry=geometry, crs=crs)


def import_customers(
    engine: Engine,
    path: Path,
    *,
    service_area: BBox,
    mapping_text: str | None = None,
    mapping_name: str = "mapping",
    display_name: str | None = None,
    progress: Progress | None = None,
) -> LoadResult:
    """Load a customer archive; raises :class:`MappingError` (nothing loaded) when it is unusable."""
    path = Path(path)
    spec = customer_spec(path, mapping_text, mapping_name=mapping_name)
    check_mapped_required(spec)
    preflight(spec)
    digest = content_hash([b"customers", (mapping_text or "").encode(), repr(tuple(service_area)).encode(), path.read_bytes()])
    source = read_source(spec)
    if display_name:  # rejects recorded while reading name the file as the user knows it too
        source.rejects = [replace(r, source_file=display_name) if r.source_file == source.file else r for r in source.rejects]
        source.file = display_name
    result = run_load(engine, [source], service_area=service_area, source_label=f"customers:{display_name or path.resolve()}",
                      digest=digest, progress=progress)
    mapped = ", ".join(f"{t}←{s}" for t, s in spec.columns.items())
    result.notes.append(f"columns: {mapped}" + (f"; coordinates from {spec.geometry.x},{spec.geometry.y}" if spec.geometry.x else ""))
    return result
