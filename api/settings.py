"""Typed settings (``GRIDATLAS_`` environment variables), checked at start-up.

Created once by the composition root (the CLI or ``create_app``) and passed down; no
module reads the environment on import.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "DEFAULT_SAMPLE_DIR", "MAX_PLAN_STEPS"]

#: The committed sample city the demo loads.
DEFAULT_SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data" / "samples" / "foshan"

#: The most steps a switching plan may have (ad-hoc or stored). A bound of the request
#: schema (it appears in the OpenAPI document), so a constant rather than an env setting.
MAX_PLAN_STEPS = 500


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
        if self.environment == "production" and self.secret_key == "change-me":
            raise ValueError("refusing to start in production with the default secret_key")
        return self
