"""Typed settings (``GRIDATLAS_`` environment variables), checked at start-up.

Created once by the composition root (the CLI or ``create_app``) and passed down; no
module reads the environment on import.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis.models import CONTACT_FIELDS, ROLES, SENSITIVITIES
from interactions.sensitive_words import DEFAULT_SENSITIVE_WORDS
from interactions.trouble_calls import DEFAULT_TROUBLE_THRESHOLDS, TROUBLE_DEVICE_KINDS

__all__ = ["Settings", "DEFAULT_SAMPLE_DIR", "PLAN_STEPS_HARD_CAP", "VIEW_PANELS", "DEFAULT_VIEW_PANELS",
           "ExportMasking", "DEFAULT_EXPORT_MASKING"]

#: The committed sample city the demo loads.
DEFAULT_SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data" / "samples" / "foshan"

#: The most steps any one list of a plan may hold (the OpenAPI ``maxItems``); ``max_plan_steps``
#: may lower the total a server accepts but never raise it above this.
PLAN_STEPS_HARD_CAP = 1000

#: Panels of the unified customer view. ``contact`` holds the PII (name, phones, address,
#: ID number, WeChat); ``interaction_texts`` the texts of the recent contacts.
VIEW_PANELS = ("profile", "contact", "supply", "outages", "interactions", "interaction_texts", "emotion", "stale",
               "contact_history")
_ALL = VIEW_PANELS
DEFAULT_VIEW_PANELS: dict[str, tuple[str, ...]] = {
    "dispatcher": _ALL,
    "agent": _ALL,
    "admin": _ALL,
    "planner": tuple(p for p in _ALL if p != "interaction_texts"),
    "analyst": tuple(p for p in _ALL if p not in ("contact", "interaction_texts")),
    "gateway": (),  # the messaging gateway's key only posts consultation replies
    "telephony": (),  # the telephony system's key only posts incoming calls
}


class ExportMasking(BaseModel):
    """How one role's exports show customers: names masked (张*伟), coordinates rounded to
    ``coordinate_decimals`` decimal degrees (2 ≈ 1 km: neither the house nor the 台区; None: exact)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    names: bool = False
    coordinate_decimals: int | None = Field(default=None, ge=0, le=6)


_MASKED_EXPORT = ExportMasking(names=True, coordinate_decimals=2)
DEFAULT_EXPORT_MASKING: dict[str, ExportMasking] = {
    "dispatcher": ExportMasking(), "agent": ExportMasking(), "admin": ExportMasking(),
    "planner": _MASKED_EXPORT, "analyst": _MASKED_EXPORT,
}


class Settings(BaseSettings):
    """GridAtlas configuration; every field can be set as ``GRIDATLAS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="GRIDATLAS_", extra="forbid")

    database_url: str = Field(
        default="sqlite:///var/gridatlas.sqlite",
        description="sqlite:///path (embedded default) or postgresql+psycopg://user@host/db (PostGIS)",
    )
    service_area: tuple[float, float, float, float] = Field(
        default=(112.5, 22.5, 113.6, 23.6),
        description="lon/lat box (minlon, minlat, maxlon, maxlat) outside which coordinates are refused",
    )
    default_page_size: int = Field(default=500, ge=1)
    max_page_size: int = Field(default=5000, ge=1)
    reload_interval_s: float = Field(
        default=10.0, ge=0, description="how often a server checks for a new data version (0: never)"
    )
    heat_prewarm: bool = Field(
        default=True, description="after each new data version, build the heat areas and read every rollup (台区, "
        "feeders, H3 cells at each resolution) in the background, so the map's first heat view at any zoom does not wait")
    environment: str = Field(default="development", pattern="^(development|test|production)$")
    secret_key: str = Field(default="change-me", description="the server's secret for signed values (e.g. "
                            "links); a production start refuses the default")
    plan_impact_cache_size: int = Field(
        default=64, ge=0, description="impact results kept per process, keyed by (plan, plan version, data version)"
    )
    export_chunk_size: int = Field(
        default=2000, ge=1, le=50000, description="customers read and written per chunk of a streamed export"
    )
    auth_cache_ttl_s: float = Field(
        default=30.0, ge=0, description="how long a verified API key is trusted before the store is asked again"
    )

    # Resource limits: each exceeded limit is a clear 4xx, never a slow 200.
    max_bbox_area_deg2: float = Field(
        default=4.0, gt=0, le=64800, description="largest bbox (square degrees) any bbox query may cover"
    )
    bbox_max_tiles: int = Field(
        default=256, ge=1, le=65536,
        description="at zoom z a bbox may cover at most this many 256-px tiles: tiles·(360/2^z)² square degrees",
    )
    max_plan_steps: int = Field(
        default=500, ge=1, le=PLAN_STEPS_HARD_CAP, description="most steps (all lists together) one plan may have"
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="largest request body, except imports")
    max_import_bytes: int = Field(
        default=268_435_456, ge=1024, description="largest request body under /api/v1/imports/ (file uploads)"
    )
    rate_limit_per_s: float = Field(
        default=50.0, ge=0,
        description="sustained requests per second per API key and worker process (0: no limit); "
        "with N workers a key may reach N times this",
    )
    rate_limit_burst: int = Field(default=100, ge=1, description="requests a key may make at once before being limited")
    tile_rate_limit_per_s: float = Field(
        default=400.0, ge=0,
        description="sustained map-tile requests (GET /tiles/grid…/{z}/{x}/{y}) per second per API key and worker, a "
        "bucket of their own (0: no limit): a cached tile costs a lookup, and a panning map asks for several at once",
    )
    tile_rate_limit_burst: int = Field(default=400, ge=1, description="map-tile requests a key may make at once")
    key_touch_interval_s: float = Field(
        default=60.0, ge=0, description="a key's last_used_at is written at most this often per worker process"
    )
    log_format: str = Field(default="json", pattern="^(json|text)$", description="json: one JSON object per line")
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")

    # -- map click, viewport and the unified customer view (issue 5)
    viewport_max_points: int = Field(default=2000, ge=0, le=50_000,
                                     description="customers drawn one by one up to this count, else grid clusters")
    viewport_cluster_px: int = Field(default=60, ge=10, le=512, description="cluster cell size in screen pixels")
    viewport_max_px: int = Field(default=4096, ge=256, description="largest bbox side accepted, in pixels at the zoom")
    contact_stale_days: int = Field(default=365, ge=1,
                                    description="a contact not verified for longer than this is flagged as stale")
    customer_view_panels: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: dict(DEFAULT_VIEW_PANELS),
        description="role -> panels of the customer view it sees (JSON); panels: " + ", ".join(VIEW_PANELS),
    )
    sensitive_words: tuple[str, ...] = Field(
        default=DEFAULT_SENSITIVE_WORDS, description="敏感词 for the emotion label and alerts (JSON list)")

    emotion_angry_complaints_30d: int = Field(default=2, ge=1, description="complaints in 30 days that make 'angry'")
    emotion_repeat_min: int = Field(default=3, ge=2, description="contacts within emotion_repeat_days that count as repeat calls")
    emotion_repeat_days: int = Field(default=7, ge=1, le=30)

    # -- live events (GET /api/v1/events; gis.events)
    events_poll_interval_s: float = Field(
        default=0.25, gt=0, le=5,
        description="how often a worker looks for new events on SQLite (PostgreSQL wakes it by NOTIFY)")
    events_retention_h: float = Field(default=24.0, gt=0, description="hours an event is kept for clients resuming a stream")
    # -- outbox, consultation, alternatives and windows (issue 16b)
    outbox_worker_in_serve: bool = Field(
        default=True, description="`gridatlas serve` delivers the outbox in a background thread of each worker "
        "process (false: run `gridatlas worker` instead)")
    outbox_sender: str = Field(default="file", pattern="^(file|webhook)$",
                               description="file: JSON lines to outbox_file; webhook: POST to outbox_webhook_url")
    outbox_file: Path = Field(default=Path("var/outbox.jsonl"), description="where the file sender appends")
    outbox_webhook_url: str = Field(default="", description="the messaging gateway (webhook sender)")
    outbox_webhook_timeout_s: float = Field(default=5.0, gt=0, le=120)
    outbox_max_attempts: int = Field(default=8, ge=1, le=100, description="attempts before a message is dead")
    outbox_backoff_base_s: float = Field(default=2.0, ge=0, description="first retry waits up to this (full jitter)")
    outbox_backoff_max_s: float = Field(default=600.0, ge=0, description="longest wait between two attempts")
    outbox_batch_size: int = Field(default=100, ge=1, le=10_000, description="messages one claim takes")
    outbox_lease_s: float = Field(default=60.0, gt=0, description="a claim not finished within this is claimed again")
    outbox_poll_interval_s: float = Field(default=1.0, gt=0, description="idle wait between two claims")
    outbox_concurrency: int = Field(default=8, ge=1, le=256, description="messages in flight per worker")
    public_base_url: str = Field(default="http://127.0.0.1:8000",
                                 description="how customers reach this server: the consultation links start with it")
    consult_link_ttl_h: float = Field(default=72.0, gt=0, le=24 * 90, description="a consultation link expires after")
    wechat_template_id: str = Field(default="OUTAGE_CONSULTATION", min_length=1, max_length=64,
                                    description="the registered WeChat template of the consultation notice")
    wechat_notice_template_id: str = Field(default="OUTAGE_NOTICE", min_length=1, max_length=64,
                                           description="the registered WeChat template of the approved-outage notice")
    sms_signature: str = Field(default="【供电公司】", max_length=20, description="SMS signature (签名)")
    local_timezone: str = Field(
        default="Asia/Shanghai",
        description="the utility's time zone: the times customers read, the local days of reliability indices")

    @field_validator("local_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"local_timezone: unknown time zone {value!r}") from exc
        return value

    # -- customer records kept true; incoming calls (issue 18)
    contact_editor_roles: tuple[str, ...] = Field(
        default=("dispatcher", "agent"),
        description="roles that may confirm and correct customers' contacts (admin always may; JSON list)")
    contact_max_age_days: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description='how old a contact field\'s verification may be, in days, per customer category or "*" '
                    '(JSON, e.g. {"*": {"address": 1095}, "大工业": {"phone": 180}}); unlisted: contact_stale_days')
    contact_follow_interval_s: float = Field(
        default=0.5, ge=0, le=60,
        description="safety net: how often a worker reads contact changes into its caller index besides the "
                    "'contacts' events that trigger it at once (0: events only)")
    calls_require_fresh_contact: bool = Field(
        default=False, description="a call about a customer with stale contact fields can be closed only once confirmed")
    key_customer_sensitivities: tuple[str, ...] = Field(
        default=SENSITIVITIES, description="敏感等级 values that flag a caller as a key customer (JSON list)")
    key_customer_categories: tuple[str, ...] = Field(
        default=("大工业",), description="用电类别 values that flag a caller as a key customer (大客户; JSON list)")
    data_quality_period_days: int = Field(
        default=365, ge=1, le=36500, description="default period of the data-quality figures: verified within this many days")

    @field_validator("contact_editor_roles")
    @classmethod
    def _editor_roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = sorted(set(value) - (set(ROLES) - {"telephony"}))
        if bad:
            raise ValueError(f"contact_editor_roles: unknown or not allowed role(s) {bad}")
        return value

    @field_validator("contact_max_age_days")
    @classmethod
    def _max_age(cls, value: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        for category, fields in value.items():
            bad = sorted(set(fields) - set(CONTACT_FIELDS))
            if bad:
                raise ValueError(f"contact_max_age_days[{category}]: unknown field(s) {bad}; fields: {', '.join(CONTACT_FIELDS)}")
            low = sorted(f for f, days in fields.items() if days < 1)
            if low:
                raise ValueError(f"contact_max_age_days[{category}]: days must be at least 1 for {low}")
        return value

    # -- plan lifecycle, outage records, reliability and screening (issue 16)
    reliability_momentary_minutes: float = Field(
        default=5.0, gt=0, le=60, description="interruptions this long or shorter are momentary (IEEE 1366: 5 min)")
    reliability_cemi_n: tuple[int, ...] = Field(
        default=(1, 2, 3, 4, 5), description="the n of CEMI-n (customers with more than n sustained interruptions)")
    reliability_celid_hours: tuple[float, ...] = Field(
        default=(1.0, 3.0, 8.0), description="the hours of CELID-s / CELID-t (longest single / total interruption)")
    reliability_med_history_days: int = Field(
        default=5 * 365, ge=30, description="daily SAIDI history before the period used for T_MED (2.5 beta)")
    reliability_med_min_days: int = Field(
        default=30, ge=2, description="days with interruptions the history needs before major event days are named")
    screening_phone_sensitivities: tuple[str, ...] = Field(
        default=("生命支持", "医院"), description="sensitivity classes always called by phone")
    screening_consult_sensitivities: tuple[str, ...] = Field(
        default=("政府", "重要客户", "大客户"), description="sensitivity classes consulted about the window")
    screening_big_kva: float = Field(
        default=315.0, gt=0, description="customers with contract_kva at or above this are big customers (consulted)")
    screening_repeat_count: int = Field(
        default=2, ge=1, description="customers interrupted at least this often in the last screening_repeat_days are consulted")
    screening_repeat_days: int = Field(default=90, ge=1, le=3660)
    screening_complaint_days: int = Field(
        default=90, ge=1, le=3660, description="customers who complained (投诉) in this many days are consulted")
    screening_rule_actions: dict[str, str] = Field(
        default_factory=lambda: {"sensitive_phone": "phone", "sensitive_consult": "consult", "big_customer": "consult",
                                 "repeat_interrupted": "consult", "complained": "consult"},
        description="rule -> what it asks for: phone (call), consult (ask about the window) or notify (JSON)")

    @field_validator("screening_rule_actions")
    @classmethod
    def _known_rule_actions(cls, value: dict[str, str]) -> dict[str, str]:
        rules = ("sensitive_phone", "sensitive_consult", "big_customer", "repeat_interrupted", "complained")
        unknown = sorted(set(value) - set(rules))
        if unknown:
            raise ValueError(f"screening_rule_actions: unknown rule(s) {unknown}; rules: {', '.join(rules)}")
        bad = {k: v for k, v in value.items() if v not in ("phone", "consult", "notify")}
        if bad:
            raise ValueError(f"screening_rule_actions: actions must be phone, consult or notify, not {bad}")
        return {**{r: "consult" for r in rules}, "sensitive_phone": "phone", **value}

    # -- interactions ingest, heat and hotspots (issue 14)
    hotspot_alpha: float = Field(default=0.05, gt=0, lt=1,
                                 description="false-discovery rate of the hotspot cut (esda.fdr), unless a request gives alpha")
    hotspot_touch_m: float = Field(default=50.0, ge=0, le=5000,
                                   description="台区/feeder hulls closer than this (metres) are neighbours in the Gi* weights")

    # -- sensitive-word alerts, WeChat callback, trouble calls (issue 15)
    alert_fold_window_s: float = Field(
        default=86400.0, ge=0,
        description="repeated hits of one customer and category within this many seconds fold into one alert")
    alert_escalation_hits: int = Field(
        default=5, ge=1, description="alert hits in one 台区 within alert_escalation_window_s that raise an escalation")
    alert_escalation_window_s: float = Field(default=3600.0, gt=0, description="the escalation rule's window (s)")
    wechat_token: str = Field(
        default="", max_length=64,
        description="the WeChat Official Account's callback token (empty: the callback refuses every request)")
    wechat_max_skew_s: float = Field(
        default=300.0, gt=0, description="a WeChat callback whose signed timestamp is further from now is refused")
    trouble_call_thresholds: dict[str, tuple[int, float]] = Field(
        default_factory=lambda: dict(DEFAULT_TROUBLE_THRESHOLDS),
        description="protective device kind -> [calls, percent of its downstream customers]: a device is "
        "predicted when the calls under it reach either (JSON); kinds: " + ", ".join(TROUBLE_DEVICE_KINDS))
    trouble_call_window_max_days: int = Field(default=31, ge=1, description="longest from/to window of a trouble-call query")
    trouble_call_max_calls: int = Field(default=100_000, ge=1, description="most repair calls one analysis takes")

    # -- map level of detail (issue 13)
    map_tile_cache_mb: int = Field(default=64, ge=0, le=4096,
                                   description="per data version, the encoded grid tiles kept in memory (MB, gzip-compressed)")

    @field_validator("customer_view_panels")
    @classmethod
    def _known_panels(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        unknown_roles = sorted(set(value) - set(ROLES))
        if unknown_roles:
            raise ValueError(f"customer_view_panels: unknown role(s) {unknown_roles}; roles: {', '.join(ROLES)}")
        # the telephony and gateway roles (machine keys) see no customer view unless configured
        value = {"telephony": (), "gateway": (), **value}
        missing = sorted(set(ROLES) - set(value))
        if missing:
            raise ValueError(f"customer_view_panels: no entry for role(s) {missing} (give [] to show nothing)")
        for role, panels in value.items():
            bad = sorted(set(panels) - set(VIEW_PANELS))
            if bad:
                raise ValueError(f"customer_view_panels[{role}]: unknown panel(s) {bad}; panels: {', '.join(VIEW_PANELS)}")
        return value

    @field_validator("trouble_call_thresholds")
    @classmethod
    def _known_device_kinds(cls, value: dict[str, tuple[int, float]]) -> dict[str, tuple[int, float]]:
        unknown = sorted(set(value) - set(TROUBLE_DEVICE_KINDS))
        if unknown:
            raise ValueError(f"trouble_call_thresholds: unknown kind(s) {unknown}; kinds: {', '.join(TROUBLE_DEVICE_KINDS)}")
        missing = sorted(set(TROUBLE_DEVICE_KINDS) - set(value))
        if missing:
            raise ValueError(f"trouble_call_thresholds: no entry for kind(s) {missing}")
        for kind, (calls, percent) in value.items():
            if calls < 1 or not 0 < percent <= 100:
                raise ValueError(f"trouble_call_thresholds[{kind}]: calls must be >= 1 and percent in (0, 100]")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not (value.startswith("sqlite:///") or value.startswith("postgresql+psycopg://")):
            raise ValueError("database_url must start with sqlite:/// or postgresql+psycopg://")
        return value

    @field_validator("service_area")
    @classmethod
    def _valid_area(cls, value: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        minx, miny, maxx, maxy = value
        if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
            raise ValueError("service_area must be minlon,minlat,maxlon,maxlat in WGS 84 with min < max")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.default_page_size > self.max_page_size:
            raise ValueError("default_page_size must not exceed max_page_size")
        if self.max_body_bytes > self.max_import_bytes:
            raise ValueError("max_body_bytes must not exceed max_import_bytes")
        if self.outbox_sender == "webhook" and not self.outbox_webhook_url.startswith(("http://", "https://")):
            raise ValueError("outbox_sender=webhook needs outbox_webhook_url (http:// or https://)")
        if self.environment == "production" and self.secret_key == "change-me":
            raise ValueError("refusing to start in production with the default secret_key")
        return self

    # -- export masking (issue 17)
    export_masking: dict[str, ExportMasking] = Field(
        default_factory=lambda: dict(DEFAULT_EXPORT_MASKING),
        description='role -> {"names": bool, "coordinate_decimals": int|null} for impact exports (JSON); '
                    "roles not given keep their defaults (planner/analyst: names masked, 2 decimals)",
    )

    @field_validator("export_masking")
    @classmethod
    def _export_roles(cls, value: dict[str, ExportMasking]) -> dict[str, ExportMasking]:
        unknown = sorted(set(value) - set(ROLES))
        if unknown:
            raise ValueError(f"export_masking: unknown role(s) {unknown}; roles: {', '.join(ROLES)}")
        return {**DEFAULT_EXPORT_MASKING, **value}

    # -- store busy (issue 17)
    sqlite_busy_timeout_s: float = Field(
        default=10.0, gt=0, le=300,
        description="how long a request waits for another writer's lock on a SQLite store before a 503 with Retry-After")
