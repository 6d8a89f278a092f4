"""The FastAPI application factory: the composition root of the HTTP side.

``create_app(settings)`` builds the engine, migrates nothing (``gridatlas`` commands do),
compiles the topology of the stored data version in the background once the server is up
(``/ready`` is 503 until then, and until the first version's heat rollups are warm) and
recompiles when a load adds a new data version, and
mounts the map UI with its Leaflet files served from the installed packages. It also
configures logging (JSON lines), the body-size and access-log middleware, the per-key rate
limits and the completed OpenAPI document (roles and problem responses on every route).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware

from api import audit
from api import outbox as outbox_routes
from api.auth import KeyCache
from api.customer_view import ViewCaches
from api.errors import add_exception_handlers
from api.limits import reject_unknown_query_params
from api.logs import configure_logging
from api.middleware import AccessLogMiddleware, BodyLimitMiddleware, StrictJsonMiddleware
from api.openapi import API_DESCRIPTION, install_openapi
from api.ratelimit import TokenBuckets
from api.routes import (alerts, alternatives, calls, consultation, contacts, customers, data_quality, events, grid, me,
                        health, heat, impact, imports, interactions, layers, map_tiles, outages, plans, search, spatial,
                        trouble_calls, wechat)
from api.settings import Settings
from api.state import TopologyHolder
from gis.audit import AuditWriter
from gis.db import make_engine
from gis.events import EventHub
from interactions.alerts import AlertScreener, rules_from
from interactions.heat import RollupCubes
from interactions.lexicon import LexiconCache
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
        _prewarm_heat(app)
    except Exception as exc:  # keep the process alive; /ready reports it and the loop retries
        app.state.topology_status = f"failed: {type(exc).__name__}"
        log.exception("compiling the topology failed")
    while interval > 0:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(holder.refresh)
            app.state.topology_status = "ok"
            _prewarm_heat(app)
        except Exception:  # keep serving the last good snapshot; say why it was not replaced
            log.exception("reloading the topology failed; still serving the previous data version")


def _prewarm_heat(app: FastAPI) -> None:
    """Once per data version (``Settings.heat_prewarm``): build the heat areas and read the rollup
    (its rows once, then every view — 台区, feeders, H3 cells of res 9 to 6 — summed from them in
    memory) on a daemon thread, so a manager's first view at any zoom is not the one that waits for
    them (a cold read of a rollup took seconds to a minute at 1M customers). A daemon thread:
    shutdown never waits for it; a failure only means the first heat request does the work itself."""
    snapshot = app.state.topology.snapshot
    if not app.state.settings.heat_prewarm or snapshot is None or getattr(app.state, "heat_warmed", None) == snapshot.version:
        if snapshot is None:  # no data: nothing to warm (warming off was settled at start)
            app.state.heat_first_warm.set()
        return
    app.state.heat_warmed = snapshot.version

    def warm() -> None:
        try:
            if snapshot.heat is None:
                return
            with app.state.engine.connect() as conn:
                for by, res in (("transformer", None), ("feeder", None), ("cell", 9), ("cell", 8), ("cell", 7), ("cell", 6)):
                    app.state.heat_cubes.get(conn, by, res)
            import esda  # noqa: F401, PLC0415 - the first hot-spot request of a process paid its import (2-3 s)
        except Exception:
            log.warning("warming the heat data of version %s failed; the first heat request builds it",
                        snapshot.version, exc_info=True)
        finally:
            app.state.heat_first_warm.set()

    threading.Thread(target=warm, name=f"heat-prewarm-{snapshot.version}", daemon=True).start()


async def _follow_contacts(app: FastAPI, holder: TopologyHolder, interval: float) -> None:
    """Read contact changes into this worker's caller index (issue 18): at once when the event
    bus says a contact changed (any worker's change), and every ``interval`` seconds as a safety
    net (0: events only). The overlay reads the store, so a missed event only delays it."""
    sub = None
    while True:
        try:
            if sub is None:
                sub = await app.state.events.subscribe({contacts.CONTACTS_CHANNEL})
            await sub.get(timeout=interval if interval > 0 else 60.0)
            await asyncio.to_thread(holder.follow_contacts)
        except asyncio.CancelledError:
            raise
        except Exception:  # the store may be briefly away, or the hub lagged: subscribe again and catch up
            log.warning("reading contact changes failed; retrying", exc_info=True)
            if sub is not None:
                app.state.events.unsubscribe(sub)
                sub = None
            await asyncio.sleep(1.0)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings`` (read from the environment when not given)."""
    settings = settings if settings is not None else Settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, busy_timeout_s=settings.sqlite_busy_timeout_s)
        app.state.settings = settings
        app.state.engine = engine
        app.state.keys = KeyCache(engine, settings.auth_cache_ttl_s, settings.key_touch_interval_s)
        app.state.audit = AuditWriter(make_engine(settings.database_url, pool_size=1,
                                                  busy_timeout_s=settings.sqlite_busy_timeout_s))
        app.state.rate_limits = TokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst)
        # map tiles draw on a bucket of their own (api.auth._bucket); no limit at all turns both off
        app.state.tile_rate_limits = TokenBuckets(settings.tile_rate_limit_per_s if settings.rate_limit_per_s > 0 else 0,
                                                  settings.tile_rate_limit_burst)
        app.state.topology = TopologyHolder(engine, tile_cache_bytes=settings.map_tile_cache_mb * 1024 * 1024)
        app.state.customer_views = ViewCaches()
        app.state.events = EventHub(engine, poll_interval_s=settings.events_poll_interval_s,
                                    retention=dt.timedelta(hours=settings.events_retention_h))
        app.state.heat_cubes = RollupCubes()  # the heat rollups in memory, following each ingest incrementally
        # set once the first data version's heat is warm (or warming is off, or failed): /ready waits for it;
        # a restarted lifespan has new, empty cubes, so nothing counts as warm yet
        app.state.heat_first_warm = threading.Event()
        app.state.heat_warmed = None
        if not settings.heat_prewarm:
            app.state.heat_first_warm.set()
        app.state.topology_status = "compiling"
        # -- sensitive-word alerts (issue 15): one matcher per process, rebuilt when the lexicon version moves
        app.state.lexicon = LexiconCache()
        # alerts go out on the live event bus (channel "alerts"): the screener's default publisher
        app.state.alert_screener = AlertScreener(app.state.lexicon, rules_from(
            settings.alert_fold_window_s, settings.alert_escalation_hits, settings.alert_escalation_window_s))
        follower = asyncio.create_task(_compile_then_follow(app, app.state.topology, settings.reload_interval_s))
        contact_follower = asyncio.create_task(
            _follow_contacts(app, app.state.topology, settings.contact_follow_interval_s))
        delivery = outbox_routes.BackgroundDelivery(settings) if settings.outbox_worker_in_serve else None
        if delivery is not None:
            delivery.start()
        try:
            yield
        finally:
            if delivery is not None:
                await asyncio.to_thread(delivery.stop)
            for task in (follower, contact_follower):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.events.aclose()
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
    app.add_middleware(StrictJsonMiddleware)  # inside the body limit: it reads only bounded bodies
    app.add_middleware(BodyLimitMiddleware, default=settings.max_body_bytes,
                       limits=[("/api/v1/imports/", settings.max_import_bytes)])
    app.add_middleware(AccessLogMiddleware, data_version=lambda: _data_version(app))
    # Large JSON (a city's 台区 heat is ~4 MB, a layer page ~1 MB) goes gzip'd to clients that accept it; level 1
    # keeps the CPU cost small (JSON still shrinks 5-8x). Event streams and the pre-gzip'd tiles pass untouched.
    app.add_middleware(GZipMiddleware, minimum_size=16 * 1024, compresslevel=1)
    app.include_router(health.router)
    app.include_router(me.router)
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
    app.include_router(events.router)
    app.include_router(outbox_routes.router)
    app.include_router(consultation.router)
    app.include_router(consultation.page_router)
    app.include_router(alternatives.router)
    app.include_router(contacts.build_router(settings))
    app.include_router(calls.router)
    app.include_router(data_quality.router)
    app.include_router(outages.router)
    app.include_router(interactions.router)
    app.include_router(heat.router)
    app.include_router(alerts.router)
    app.include_router(wechat.router)
    app.include_router(trouble_calls.router)
    app.include_router(map_tiles.router)

    for name, directory in vendor_dirs().items():
        app.mount(f"/vendor/{name}", StaticFiles(directory=directory), name=f"vendor-{name}")
    app.mount("/map", StaticFiles(directory=STATIC_DIR, html=True), name="map")
    app.mount("/c/assets", StaticFiles(directory=consultation.CONSULT_DIR), name="consult-assets")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/map/")

    install_openapi(app, settings)  # built lazily on the first /openapi.json, so it sees every route
    return app


def _data_version(app: FastAPI) -> int | None:
    holder = getattr(app.state, "topology", None)
    snapshot = holder.snapshot if holder is not None else None
    return snapshot.version if snapshot is not None else None
