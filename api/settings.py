"""Typed settings (``GRIDATLAS_`` environment variables), checked at start-up.

Created once by the composition root (the CLI or ``create_app``) and passed down; no
module reads the environment on import.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis.models import ROLES
from interactions.sensitive_words import DEFAULT_SENSITIVE_WORDS

__all__ = ["Settings", "DEFAULT_SAMPLE_DIR", "PLAN_STEPS_HARD_CAP", "VIEW_PANELS", "DEFAULT_VIEW_PANELS"]

#: The committed sample city the demo loads.
DEFAULT_SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data" / "samples" / "foshan"

#: The most steps any one list of a plan may hold (the OpenAPI ``maxItems``); ``max_plan_steps``
#: may lower the total a server accepts but never raise it above this.
PLAN_STEPS_HARD_CAP = 1000

#: Panels of the unified customer view. ``contact`` holds the PII (name, phones, address,
#: ID number, WeChat); ``interaction_texts`` the texts of the recent contacts.
VIEW_PANELS = ("profile", "contact", "supply", "outages", "interactions", "interaction_texts", "emotion", "stale")
_ALL = VIEW_PANELS
DEFAULT_VIEW_PANELS: dict[str, tuple[str, ...]] = {
    "dispatcher": _ALL,
    "agent": _ALL,
    "admin": _ALL,
    "planner": tuple(p for p in _ALL if p != "interaction_texts"),
    "analyst": tuple(p for p in _ALL if p not in ("contact", "interaction_texts")),
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
    environment: str = Field(default="development", pattern="^(development|test|production)$")
    secret_key: str = Field(default="change-me")
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

    # -- map level of detail (issue 13)
    map_tile_cache_mb: int = Field(default=64, ge=0, le=4096,
                                   description="per data version, the encoded grid tiles kept in memory (MB, gzip-compressed)")

    @field_validator("customer_view_panels")
    @classmethod
    def _known_panels(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        unknown_roles = sorted(set(value) - set(ROLES))
        if unknown_roles:
            raise ValueError(f"customer_view_panels: unknown role(s) {unknown_roles}; roles: {', '.join(ROLES)}")
        missing = sorted(set(ROLES) - set(value))
        if missing:
            raise ValueError(f"customer_view_panels: no entry for role(s) {missing} (give [] to show nothing)")
        for role, panels in value.items():
            bad = sorted(set(panels) - set(VIEW_PANELS))
            if bad:
                raise ValueError(f"customer_view_panels[{role}]: unknown panel(s) {bad}; panels: {', '.join(VIEW_PANELS)}")
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
        if self.environment == "production" and self.secret_key == "change-me":
            raise ValueError("refusing to start in production with the default secret_key")
        return self
