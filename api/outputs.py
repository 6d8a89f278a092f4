"""Output models: what each ``/api/v1`` operation's success body looks like, for the OpenAPI document.

Hot paths keep their fast serializer (:func:`api.jsonio.dumps` into a ``Response``) and declare
their body here through ``responses={200: {"model": …}}``, so the document describes it and the
schemathesis run (``tests/api/test_schemathesis.py``) checks every body against it; nothing here
runs on a request. The models describe what is sent and never add a field: values that a role
sees masked (``131****2696``) keep their type, and a field that a role's panels leave out is
optional. Nested records that the domain returns as open mappings (groups keyed by feeder or
台区, a finding's details) are typed as mappings.

Bodies that are not JSON (CSV, XLSX, HTML, Server-Sent Events) are described by their media type
with :data:`CSV_BODY`, :data:`XLSX_BODY`; GeoJSON bodies use :data:`FEATURE_COLLECTION`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "CSV_BODY", "XLSX_BODY", "FEATURE_COLLECTION", "GEOJSON", "XLSX", "feature_collection",
    "ReadyOut", "SearchOut", "ImpactOut", "IsolationOut", "UpstreamOut", "DownstreamOut", "ValidationOut",
    "PlanOut", "PlanPage", "ScreeningOut", "CustomerViewOut", "FieldsOut", "NearestOut", "ViewportOut",
    "OutagePage", "OutageDetail", "ReliabilityOut", "HeatOut", "HEAT_GEOJSON", "DATA_QUALITY_GEOJSON", "HotspotsOut", "AreaInteractionsOut",
    "LayersOut", "SupplyAreaOut", "AuditPage", "ExecutionOut", "TransitionsOut", "CustomerImportOut",
    "InteractionsImportOut",
]

GEOJSON = "application/geo+json"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: A CSV download (UTF-8 with BOM, one header line).
CSV_BODY: dict[str, Any] = {"schema": {"type": "string", "description": "CSV, UTF-8 with BOM; the first line names the columns"}}
#: An XLSX workbook.
XLSX_BODY: dict[str, Any] = {"schema": {"type": "string", "format": "binary", "description": "an XLSX workbook"}}


def feature_collection(properties: dict[str, Any] | None = None, **members: Any) -> dict[str, Any]:
    """An RFC 7946 FeatureCollection schema (self-contained: it is placed under a media type other
    than application/json, where FastAPI cannot reference a model); ``members`` are extra top-level
    members (``data_version``, ``links``…) and ``properties`` the features' properties."""
    feature = {
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": ["string", "integer"]},
            "geometry": {"type": ["object", "null"], "required": ["type"],
                         "properties": {"type": {"type": "string"}}},
            "properties": {"type": ["object", "null"], **({"properties": properties} if properties else {})},
        },
    }
    return {"schema": {
        "type": "object",
        "required": ["type", "features"],
        "properties": {"type": {"type": "string", "enum": ["FeatureCollection"]},
                       "features": {"type": "array", "items": feature}, **members},
    }}


_INT = {"type": "integer"}
#: A GeoJSON FeatureCollection with nothing beyond RFC 7946 required.
FEATURE_COLLECTION = feature_collection()


class Link(BaseModel):
    rel: str
    href: str
    method: str | None = None
    type: str | None = None


class Ref(BaseModel):
    kind: str
    id: str


# -- operations -------------------------------------------------------------------------------
class ReadyChecks(BaseModel):
    database: str = Field(description='"ok" or "unreachable: …"')
    topology: str = Field(description='"ok", "compiling", "failed: …" or "no data loaded"')
    data_version: int | None
    heat: str = Field(description='"ok", or "warming" while the first data version\'s heat rollups are read into memory '
                                  '(GRIDATLAS_HEAT_PREWARM; later versions warm while the worker serves)')


class ReadyOut(BaseModel):
    status: str = Field(description='"ready" (200) or "not ready" (503)')
    checks: ReadyChecks


# -- search, customers, spatial ---------------------------------------------------------------
class SearchHit(BaseModel):
    account_no: str
    name: str | None = None
    address: str | None = None
    phone: str | None = Field(default=None, description="masked (131****2696) for roles that do not see PII")
    category: str | None = None
    sensitivity: str | None = None
    transformer_id: str | None = None
    meter_box_id: str | None = None
    lon: float | None = None
    lat: float | None = None
    location_quality: str | None = None
    matched: str | None = Field(default=None, description="the field the query matched")
    score: float | None = None


class SearchOut(BaseModel):
    query: str
    shape: str = Field(description="what the query looked like: phone, last4, account, name, pinyin, address, …")
    count: int
    data: list[SearchHit]
    suggestions: list[SearchHit] = Field(description="addresses near the query when nothing matched")


class FieldHit(BaseModel):
    field: str
    label_zh: str
    label_en: str
    value: Any = None


class FieldsOut(BaseModel):
    account_no: str
    query: str
    count: int
    data: list[FieldHit]


class CustomerViewOut(BaseModel):
    """The unified customer view; the panels a role may see decide which members are present."""

    account_no: str
    data_version: int
    as_of: str
    role: str
    pii_masked: bool
    panels: list[str]
    profile: dict[str, Any] | None = None
    contact: dict[str, Any] | None = Field(default=None, description="masked for roles that do not see PII")
    supply: dict[str, Any] | None = None
    outages: dict[str, Any] | None = None
    interactions: dict[str, Any] | None = None
    emotion: dict[str, Any] | None = None
    contact_record: dict[str, Any] | None = None
    stale: list[dict[str, Any]] | None = None
    contact_history: list[dict[str, Any]] | None = None


class NearCustomer(BaseModel):
    account_no: str
    distance_m: float
    lon: float
    lat: float
    sensitivity: str | None
    transformer_id: str | None


class NearMeterBox(BaseModel):
    id: str
    distance_m: float
    lon: float
    lat: float
    transformer_id: str | None


class TransformerArea(BaseModel):
    transformer_id: str
    rule: str | None = Field(description='"inside_area" or "nearest_customer"')


class LonLat(BaseModel):
    lon: float
    lat: float


class NearestOut(BaseModel):
    point: LonLat
    radius_m: float
    customers: list[NearCustomer]
    meter_box: NearMeterBox | None
    transformer_area: TransformerArea | None
    data_version: int


class ViewportPoint(BaseModel):
    account_no: str
    lon: float
    lat: float
    sensitivity: str | None = None
    category: str | None = None
    transformer_id: str | None = None
    meter_box_id: str | None = None
    location_quality: str | None = None


class ViewportCluster(BaseModel):
    lon: float
    lat: float
    count: int
    sensitive_count: int
    cell: list[int]


class ViewportOut(BaseModel):
    bbox: list[float]
    zoom: float
    count: int
    sensitive_count: int
    mode: str = Field(description='"points" (then `points`) or "clusters" (then `clusters` and `cell_deg`)')
    points: list[ViewportPoint] | None = None
    clusters: list[ViewportCluster] | None = None
    cell_deg: list[float] | None = None
    max_points: int | None = None
    data_version: int


# -- grid ---------------------------------------------------------------------------------------
class UpstreamOut(BaseModel):
    element: Ref
    path: list[Ref] = Field(description="from the element up to its source")
    data_version: int


class DownstreamOut(BaseModel):
    element: Ref
    nodes: list[str]
    transformers: list[str]
    customers: list[str]
    data_version: int


class Finding(BaseModel):
    code: str
    severity: str
    kind: str
    id: str
    message: str
    details: dict[str, Any] | None = None


class ValidationOut(BaseModel):
    version: str
    ok: bool
    counts: dict[str, int]
    findings: list[Finding]
    truncated: bool | None = Field(default=None, description="true when `limit` cut the findings")
    data_version: int


# -- impact, isolation, plans ---------------------------------------------------------------------
class StepImpactOut(BaseModel):
    index: int
    action: str
    kind: str
    element: str
    count: int
    by_feeder: dict[str, int]
    sensitive_count: int
    customers: list[str] | None = None


class Sensitive(BaseModel):
    account_no: str
    sensitivity: str


class Page(BaseModel):
    offset: int
    limit: int
    returned: int
    total: int


class ImpactOut(BaseModel):
    """The impact of a plan: the whole customer list, or one page of it when paged (`page`, `links`)."""

    title: str | None
    plan_id: int | str | None
    form: str
    version: str
    window_start: str | None
    window_end: str | None
    count: int
    customers: list[str]
    by_feeder: dict[str, int]
    by_transformer: dict[str, int]
    sensitive_count: int
    sensitive: list[Sensitive]
    customer_minutes: float | None
    transient_count: int
    transient_customers: list[str] | None = None
    area: dict[str, Any] | None = Field(default=None, description="a GeoJSON geometry (unless area=false)")
    steps: list[StepImpactOut] | None = None
    page: Page | None = None
    links: list[Link] | None = None
    plan_version: int | None = None
    plan_status: str | None = None
    data_version: int


class AlternativeOut(BaseModel):
    name: str
    isolation: str
    backfeed: list[str]
    plan: dict[str, Any]
    impact: dict[str, Any]


class IsolationOut(BaseModel):
    equipment: Ref
    upstream_switches: list[str]
    downstream_switches: list[str]
    open_points: list[str]
    backfeed: list[dict[str, Any]]
    alternatives: list[AlternativeOut] = Field(description="ranked, best first")
    rejected: list[dict[str, Any]]
    data_version: int


class PlanStep(BaseModel):
    action: str
    element: str


class PlanOut(BaseModel):
    id: int
    title: str
    status: str
    version: int
    window_start: str | None
    window_end: str | None
    created_by: str
    created_at: str | None
    updated_at: str | None
    steps: list[PlanStep]
    next_statuses: list[str] = Field(description="the statuses this caller may move the plan to now (role, ownership, "
                                     "four eyes)")
    links: list[Link]


class PlanPage(BaseModel):
    data: list[PlanOut]
    count: int
    links: list[Link]


class ScreenedCustomer(BaseModel):
    account_no: str
    channel: str | None = None
    rules: list[dict[str, Any]]


class ScreeningOut(BaseModel):
    plan_id: int
    plan_version: int
    data_version: int
    as_of: str
    rules: dict[str, Any] = Field(description="the screening settings applied")
    counts: dict[str, int]
    consult: list[ScreenedCustomer]
    notify: list[ScreenedCustomer]
    phone: list[ScreenedCustomer]


# -- outages and reliability ----------------------------------------------------------------------
class OutageSummary(BaseModel):
    outage_id: str
    kind: str
    start: str
    end: str | None
    customers: int
    plan_id: int | None


class OutagePage(BaseModel):
    data: list[OutageSummary]
    count: int
    links: list[Link]


class Interruption(BaseModel):
    account_no: str
    start: str
    end: str | None


class OutageDetail(OutageSummary):
    interruptions: list[Interruption]
    links: list[Link] | None = None


class ReliabilityOut(BaseModel):
    """IEEE 1366 indices of a period; ``planned``/``unplanned`` repeat them per cause and ``groups``
    per feeder or 台区 when ``by`` is given. An index without customers interrupted is null."""

    from_: str = Field(alias="from")
    to: str
    period_minutes: float
    momentary_minutes: float
    customers_served: int
    saifi: float | None
    saidi: float | None
    caidi: float | None
    caifi: float | None
    asai: float | None
    maifi: float | None
    customer_minutes: float
    customer_interruptions: int
    customers_interrupted: int
    momentary_interruptions: int
    cemi: dict[str, float | None]
    celid_s: dict[str, float | None]
    celid_t: dict[str, float | None]
    planned: dict[str, Any]
    unplanned: dict[str, Any]
    major_event_days: dict[str, Any]
    by: str | None
    groups: list[dict[str, Any]] | None = None
    data_version: int


# -- heat and hotspots ----------------------------------------------------------------------------
class HeatAreaOut(BaseModel):
    id: str
    count: int
    customers: int
    rate: float | None = Field(description="contacts per 1,000 customers; null without customers")
    lon: float
    lat: float


class HeatTotals(BaseModel):
    areas: int
    count: int
    customers: int
    rate: float | None


class _HeatQueryOut(BaseModel):
    by: str
    from_: str = Field(alias="from")
    to: str
    channels: list[str]
    kinds: list[str]
    bbox: list[float] | None
    zoom: float | None
    res: int | None = Field(description="the H3 resolution (by=cell)")


class HeatOut(_HeatQueryOut):
    totals: HeatTotals
    breaks: list[float] = Field(description="the choropleth's class upper bounds (rate per 1,000 customers): quantiles "
                                            "of the positive rates of every area in the city for this query (time, "
                                            "channels, kinds, by; not only the bbox), rounded up to 2 significant digits")
    areas: list[HeatAreaOut]
    data_version: int


#: ``GET /heat`` as GeoJSON: one feature per area (its shape), the query and totals beside them.
HEAT_GEOJSON = feature_collection(
    {"id": {"type": "string"}, "count": _INT, "customers": _INT, "rate": {"type": ["number", "null"]},
     "by": {"type": "string"}},
    totals={"type": "object"}, breaks={"type": "array", "items": {"type": "number"}}, data_version=_INT)


#: ``GET /data-quality?format=geojson``: one feature per 台区 / feeder (its customers' hull, the heat's outlines;
#: null geometry for the customers without one), the share verified within the period as properties.
DATA_QUALITY_GEOJSON = feature_collection(
    {"id": {"type": ["string", "null"]}, "customers": _INT, "verified": _INT, "never_verified": _INT,
     "share": {"type": "number"}, "oldest_verification": {"type": ["string", "null"]}, "by": {"type": "string"}},
    as_of={"type": "string"}, period_days=_INT, since={"type": "string"}, group_by={"type": "string"},
    rule={"type": ["string", "null"]}, field={"type": ["string", "null"]},
    totals={"type": "object"}, count=_INT, data_version=_INT)


#: ``GET /hotspots`` as GeoJSON: one feature per significant area (its outline), the statistic's inputs beside them.
HOTSPOTS_GEOJSON = feature_collection(
    {"id": {"type": "string"}, "z": {"type": "number"}, "p": {"type": "number"}, "count": _INT, "customers": _INT,
     "hot": {"type": ["boolean", "null"]}})


class HotspotOut(BaseModel):
    id: str
    z: float
    p: float
    count: int
    customers: int
    rate: float | None
    hot: bool | None = Field(description="true hot, false cold, null not significant")
    neighbours: int


class HotspotsOut(_HeatQueryOut):
    inputs: dict[str, Any] = Field(description="the statistic, weights and FDR cut used")
    hot: int
    cold: int
    areas: list[HotspotOut]
    data_version: int


class AreaInteraction(BaseModel):
    id: str
    account_no: str | None
    matched_by: str | None = None
    channel: str
    kind: str
    occurred_at: str
    caller_phone: str | None = Field(default=None, description="masked for roles that do not see PII")
    text: str | None = Field(default=None, description="only for roles that see interaction texts")


class AreaInteractionsOut(BaseModel):
    by: str
    id: str
    from_: str = Field(alias="from")
    to: str
    count: int
    limit: int
    offset: int
    texts: bool = Field(description="whether this role sees the interaction texts")
    data: list[AreaInteraction]
    next: str | None = Field(default=None, description="the next page; absent on the last")


# -- layers, supply area, audit, plan loop, imports --------------------------------------------
class LayerRef(BaseModel):
    name: str
    href: str


class LayersOut(BaseModel):
    layers: list[LayerRef]


class SupplyAreaOut(BaseModel):
    account_no: str
    feeder_id: str | None
    transformer_id: str | None = Field(description="台区")
    data_version: int


class AuditEventOut(BaseModel):
    id: int
    actor: str
    role: str
    action: str
    object_kind: str
    object_id: str | None
    at: str
    details: dict[str, Any] | None


class AuditPage(BaseModel):
    data: list[AuditEventOut]
    count: int
    links: list[Link]


class ExecutionOut(BaseModel):
    plan_id: int
    outage_id: str = Field(description="the outage the executed plan's interruptions are recorded under")
    records_written: int


class TransitionOut(BaseModel):
    plan_version: int
    from_status: str | None
    to_status: str
    actor: str
    role: str
    at: str
    data_version: int | None
    affected_count: int | None
    sensitive_count: int | None
    customer_minutes: float | None
    groups: dict[str, Any] | None
    impact_error: str | None
    actual_start: str | None
    actual_end: str | None


class TransitionsOut(BaseModel):
    data: list[TransitionOut]


class RejectOut(BaseModel):
    """One line of the reject report: where the value is in the source and why it was refused."""

    source_file: str
    layer: str | None
    row: int | None
    id: str | None
    field: str | None
    value: str | None
    reason: str


class CustomerImportOut(BaseModel):
    data_version: int | None
    unchanged: bool
    counts: dict[str, int]
    rejected_rows: int
    rejects: list[RejectOut]
    notes: list[str]


class InteractionsImportOut(BaseModel):
    received: int
    inserted: int
    updated: int
    unchanged: int
    rejected_rows: int
    matched: dict[str, int] = Field(description="how the callers were matched: account, phone, wechat, …")
    encoding: str
    columns: dict[str, str] = Field(description="GridAtlas column → the file's column")
    rejects: list[dict[str, Any]]
