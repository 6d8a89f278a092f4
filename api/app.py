"""The FastAPI application factory: the composition root of the HTTP side.

``create_app(settings)`` builds the engine, migrates nothing (``gridatlas`` commands do),
compiles the topology of the stored data version in the background once the server is up
(``/ready`` is 503 until then) and recompiles when a load adds a new data version, and
mounts the map UI with its Leaflet files served from the installed packages. It also
configures logging (JSON lines), the body-size and access-log middleware, the per-key rate
limits and the completed OpenAPI document (roles and problem responses on every route).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from api import audit
from api.auth import KeyCache
from api.customer_view import ViewCaches
from api.errors import add_exception_handlers
from api.limits import reject_unknown_query_params
from api.logs import configure_logging
from api.middleware import AccessLogMiddleware, BodyLimitMiddleware
from api.openapi import API_DESCRIPTION, install_openapi
from api.ratelimit import TokenBuckets
from api.routes import customers, grid, health, impact, imports, layers, map_tiles, plans, search, spatial
from api.settings import Settings
from api.state import TopologyHolder
from gis.audit import AuditWriter
from gis.db import make_engine
from map_ui.assets import STATIC_DIR, vendor_dirs

__all__ = ["create_app"]

log = logging.getLogger("gridatlas.api")


async def _compile_then_follow(app: FastAPI, holder: TopologyHolder, interval: float) -> None:
    """Compile the current data version off the event loop (``/ready`` says "compiling" until
    then), then poll the store's data version and recompile and swap when it moves.

    Requests keep reading the previous snapshot until the new one is complete.
    """
    try:
        await asyncio.to_thread(holder.refresh)
        app.state.topology_status = "ok"
    except Exception as exc:  # keep the process alive; /ready reports it and the loop retries
        app.state.topology_status = f"failed: {type(exc).__name__}"
        log.exception("compiling the topology failed")
    while interval > 0:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(holder.refresh)
            app.state.topology_status = "ok"
        except Exception:  # keep serving the last good snapshot; say why it was not replaced
            log.exception("reloading the topology failed; still serving the previous data version")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings`` (read from the environment when not given)."""
    settings = settings if settings is not None else Settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        app.state.settings = settings
        app.state.engine = engine
        app.state.keys = KeyCache(engine, settings.auth_cache_ttl_s, settings.key_touch_interval_s)
        app.state.audit = AuditWriter(make_engine(settings.database_url, pool_size=1))
        app.state.rate_limits = TokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst)
        app.state.topology = TopologyHolder(engine, tile_cache_bytes=settings.map_tile_cache_mb * 1024 * 1024)
        app.state.customer_views = ViewCaches()
        app.state.topology_status = "compiling"
        follower = asyncio.create_task(_compile_then_follow(app, app.state.topology, settings.reload_interval_s))
        try:
            yield
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            await app.state.audit.aclose()
            engine.dispose()

    app = FastAPI(
        title="GridAtlas",
        version="0.1.0",
        summary="Customers tied to the distribution grid: layers, traces and outage impact.",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_query_params)],
    )
    add_exception_handlers(app)
    app.add_middleware(BodyLimitMiddleware, default=settings.max_body_bytes,
                       limits=[("/api/v1/imports/", settings.max_import_bytes)])
    app.add_middleware(AccessLogMiddleware, data_version=lambda: _data_version(app))
    app.include_router(health.router)
    # Routes are matched in order: the hottest (a dispatcher's caller lookup, impact) first.
    app.include_router(search.router)
    app.include_router(impact.router)
    app.include_router(layers.router)
    app.include_router(grid.router)
    app.include_router(plans.router)
    app.include_router(audit.router)
    app.include_router(customers.router)
    app.include_router(spatial.router)
    app.include_router(imports.router)
    app.include_router(map_tiles.router)

    for name, directory in vendor_dirs().items():
        app.mount(f"/vendor/{name}", StaticFiles(directory=directory), name=f"vendor-{name}")
    app.mount("/map", StaticFiles(directory=STATIC_DIR, html=True), name="map")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/map/")

    install_openapi(app, settings)  # built lazily on the first /openapi.json, so it sees every route
    return app


def _data_version(app: FastAPI) -> int | None:
    holder = getattr(app.state, "topology", None)
    snapshot = holder.snapshot if holder is not None else None
    return snapshot.version if snapshot is not None else None
