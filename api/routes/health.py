"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.outputs import ReadyOut

router = APIRouter(tags=["operations"])


@router.get("/health", summary="Liveness: the process answers")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: the store answers, the topology is compiled and the heat is warm",
    description="200 when the store answers, the grid of the current data version is compiled and (with "
    "GRIDATLAS_HEAT_PREWARM) the first data version's heat rollups are in memory; 503 (with the failing check) "
    "while the grid is compiling or the heat warming, when the store is unreachable or holds no data.",
    responses={200: {"model": ReadyOut},
               503: {"description": "not ready: see `checks`", "model": ReadyOut}},
)
def ready(request: Request) -> JSONResponse:
    checks: dict[str, object] = {}
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # report, never raise: this is the readiness probe
        checks["database"] = f"unreachable: {type(exc).__name__}"
    snapshot = request.app.state.topology.snapshot
    status = getattr(request.app.state, "topology_status", "ok")
    if snapshot is not None:
        checks["topology"] = "ok"
    elif status != "ok":
        checks["topology"] = status  # "compiling" or "failed: …"
    else:
        checks["topology"] = "no data loaded"
    checks["data_version"] = None if snapshot is None else snapshot.version
    # the first data version's heat cubes (GRIDATLAS_HEAT_PREWARM): at 10M contacts a cold worker made
    # the map's first heat views wait 30-60 s, so it takes no traffic until they are warm (later data
    # versions warm in the background while the worker keeps serving)
    warm = getattr(request.app.state, "heat_first_warm", None)
    heat_warm = warm is None or warm.is_set()
    checks["heat"] = "ok" if heat_warm else "warming"
    ok = checks["database"] == "ok" and snapshot is not None and heat_warm
    return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503)
