"""The FastAPI application factory: the composition root of the HTTP side.

``create_app(settings)`` builds the engine, migrates nothing (``gridatlas`` commands do),
compiles the topology of the stored data version in the lifespan (and recompiles in the
background when a load adds a new data version), and mounts the map UI
with its Leaflet files served from the installed packages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.auth import KeyCache
from api.errors import add_exception_handlers
from api.routes import grid, health, impact, layers, search
from api.settings import Settings
from api.state import TopologyHolder
from gis.db import make_engine
from map_ui.assets import STATIC_DIR, vendor_dirs

__all__ = ["create_app"]

log = logging.getLogger("gridatlas.api")


async def _follow_data_version(holder: TopologyHolder, interval: float) -> None:
    """Poll the store's data version; recompile off the event loop and swap when it moves.

    Requests keep reading the previous snapshot until the new one is complete.
    """
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(holder.refresh)
        except Exception:  # keep serving the last good snapshot; say why it was not replaced
            log.exception("reloading the topology failed; still serving the previous data version")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings`` (read from the environment when not given)."""
    settings = settings if settings is not None else Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        app.state.settings = settings
        app.state.engine = engine
        app.state.keys = KeyCache(engine, settings.auth_cache_ttl_s)
        app.state.topology = TopologyHolder(engine)
        app.state.topology.refresh()
        follower = None
        if settings.reload_interval_s > 0:
            follower = asyncio.create_task(_follow_data_version(app.state.topology, settings.reload_interval_s))
        try:
            yield
        finally:
            if follower is not None:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower
            engine.dispose()

    app = FastAPI(
        title="GridAtlas",
        version="0.1.0",
        summary="Customers tied to the distribution grid: layers, traces and outage impact.",
        lifespan=lifespan,
    )
    add_exception_handlers(app)
    app.include_router(health.router)
    app.include_router(layers.router)
    app.include_router(grid.router)
    app.include_router(impact.router)
    app.include_router(search.router)

    for name, directory in vendor_dirs().items():
        app.mount(f"/vendor/{name}", StaticFiles(directory=directory), name=f"vendor-{name}")
    app.mount("/map", StaticFiles(directory=STATIC_DIR, html=True), name="map")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/map/")

    return app
