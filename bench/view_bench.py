"""Benchmark of map click, viewport and the unified customer view at 1M customers.

    python bench/view_bench.py                       # city of 1M customers, SQLite store
    python bench/view_bench.py --customers 100000 --repeat 200

The city is generated once with ``loaders.sample_city.generate_city`` and cached under
``/tmp/gridatlas-bench/city-<n>`` (another benchmark may have made it already); its SQLite
store is cached next to it (``city-<n>.sqlite``). Prints JSON with median and range
(min–max) in milliseconds, in process and over HTTP on loopback (uvicorn + httpx, one
keep-alive connection to a server in its own process: the difference is the framework's
overhead), next to naive
baselines measured in the same run:

| key | what | baseline |
|---|---|---|
| `nearest` | `SpatialIndex.nearest` at a customer ± a few metres, 50 m, k = 5 | haversine over every customer + argpartition |
| `viewport_z{13,15,17}` | `SpatialIndex.viewport` of a 1280×800 px screen at the zoom | the R*Tree bbox query fetching those customers (`query_layer`, what paging the layer costs) |
| `view` | `customer_view` (store reads, trace, three live plans in the store, emotion) for a random customer, role agent | — |
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.auth import Principal  # noqa: E402
from api.customer_view import ViewCaches, customer_view  # noqa: E402
from api.settings import Settings  # noqa: E402
from api.state import load_snapshot  # noqa: E402
from gis.db import make_engine, migrate  # noqa: E402
from gis.spatial_index import haversine_m  # noqa: E402
from gis.store import query_layer  # noqa: E402

CACHE = Path("/tmp/gridatlas-bench")
SCREEN = (1280, 800)


def _stats(samples: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(samples), 3), "min_ms": round(min(samples), 3),
            "max_ms": round(max(samples), 3), "n": len(samples)}


def _time(fn, args_list) -> list[float]:
    out = []
    for args in args_list:
        t0 = time.perf_counter()
        fn(*args)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _city(customers: int, seed: int) -> tuple[Path, str]:
    name = "city-1m" if customers == 1_000_000 else f"city-{customers // 1000}k"
    directory = CACHE / name
    if not (directory / "manifest.json").is_file():
        from loaders.sample_city import generate_city
        directory.mkdir(parents=True, exist_ok=True)
        generate_city(directory, customers=customers, seed=seed)
    store = CACHE / f"{name}.sqlite"
    url = f"sqlite:///{store}"
    if not _loaded(url):
        from loaders.city import import_city
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        engine = make_engine(url)
        try:
            migrate(engine)
            t0 = time.perf_counter()
            import_city(engine, directory, service_area=tuple(manifest["service_area"]))
            print(f"loaded {directory} into {store} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        finally:
            engine.dispose()
    return directory, url


def _loaded(url: str) -> bool:
    """Whether the store at ``url`` exists and holds a data version (an import is atomic)."""
    from sqlalchemy.exc import SQLAlchemyError

    from gis.store import latest_data_version
    if not Path(url.removeprefix("sqlite:///")).is_file():
        return False
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return latest_data_version(conn) is not None
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def _screen_bbox(lon: float, lat: float, zoom: float) -> tuple[float, float, float, float]:
    deg = 360.0 / (256 * 2 ** zoom)
    w, h = SCREEN[0] * deg / 2, SCREEN[1] * deg * np.cos(np.radians(lat)) / 2
    return (lon - w, lat - h, lon + w, lat + h)


def _serve(url: str):
    """``uvicorn api.app:create_app`` in its own process (so client and server do not share a GIL)."""
    import subprocess

    import httpx
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, GRIDATLAS_DATABASE_URL=url, GRIDATLAS_RELOAD_INTERVAL_S="0", GRIDATLAS_ENVIRONMENT="test",
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning"], env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900          # the server compiles the 1M snapshot before it answers
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API server exited with {proc.returncode}")
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("the API server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--baseline-repeat", type=int, default=10)
    ap.add_argument("--http", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)

    _, url = _city(args.customers, args.seed)
    settings = Settings(database_url=url, environment="test", reload_interval_s=0)
    engine = make_engine(url)
    t0 = time.perf_counter()
    snap = load_snapshot(engine)
    load_s = time.perf_counter() - t0
    assert snap is not None
    t0 = time.perf_counter()
    from gis.spatial_index import build_spatial_index
    build_spatial_index(snap.assets.tables())
    index_s = time.perf_counter() - t0
    sp = snap.spatial
    n = sp.n_customers
    out: dict[str, object] = {
        "customers": n, "python": platform.python_version(), "cpus": os.cpu_count(),
        "snapshot_load_s": round(load_s, 2), "spatial_index_build_s": round(index_s, 2),
    }

    # -- nearest to a click
    picks = rng.integers(0, n, args.repeat)
    metre = 1 / 111_195
    clicks = [(float(sp.lon[i] + rng.normal() * 5 * metre), float(sp.lat[i] + rng.normal() * 5 * metre)) for i in picks]
    near = _time(lambda x, y: sp.nearest(x, y, 50.0, 5), clicks)

    def brute(x: float, y: float) -> None:
        d = haversine_m(x, y, sp.lon, sp.lat)
        top = np.argpartition(d, 5)[:5]
        top[np.argsort(d[top])]
    base = _time(brute, clicks[: args.baseline_repeat])
    out["nearest"] = {"engine": _stats(near), "baseline_bruteforce": _stats(base),
                      "ratio_baseline_over_engine": round(statistics.median(base) / statistics.median(near), 1)}

    # -- viewport at three zooms
    for zoom in (13, 15, 17):
        boxes = [(_screen_bbox(float(sp.lon[i]), float(sp.lat[i]), zoom), zoom) for i in rng.integers(0, n, args.repeat)]
        vp_ms = _time(lambda b, z: sp.viewport(b, z, max_points=settings.viewport_max_points), boxes)
        counts = [sp.viewport(b, z).count for b, z in boxes[:20]]
        with engine.connect() as conn:
            sql_ms = _time(lambda b, z: query_layer(conn, "customers", bbox=b, limit=10_000_000),
                           boxes[: max(1, args.baseline_repeat // (4 if zoom == 13 else 1))])
        out[f"viewport_z{zoom}"] = {
            "engine": _stats(vp_ms), "customers_in_view_median": int(statistics.median(counts)),
            "mode": sp.viewport(*boxes[0]).mode, "baseline_sql_bbox_fetch": _stats(sql_ms),
            "ratio_baseline_over_engine": round(statistics.median(sql_ms) / statistics.median(vp_ms), 1),
        }

    # -- the unified view, with three live plans in the store (removed at the end)
    _add_plans(engine, snap, rng)
    caches = ViewCaches()
    agent = Principal(0, "bench", "agent", "bench")
    accounts = [str(sp.account_no[i]) for i in rng.integers(0, n, args.repeat)]
    now = dt.datetime(2026, 10, 31, 4, tzinfo=dt.timezone.utc)
    with engine.connect() as conn:
        customer_view(conn, snap, caches, settings, agent, accounts[0], now)   # names cache
        view_ms = _time(lambda a: customer_view(conn, snap, caches, settings, agent, a, now), [(a,) for a in accounts])
    out["view"] = {"engine": _stats(view_ms)}

    # -- the same over HTTP on loopback
    if args.http:
        import httpx

        from gis.api_keys import create_key
        token = create_key(engine, name="bench", role="agent")[1]
        server, base_url = _serve(url)
        try:
            with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
                c.get("/api/v1/nearest", params={"lon": clicks[0][0], "lat": clicks[0][1]})   # warm up
                c.get(f"/api/v1/customers/{accounts[0]}", params={"at": now.isoformat()})   # names and plan caches
                http = {
                    "nearest": _time(lambda x, y: c.get("/api/v1/nearest", params={"lon": x, "lat": y, "radius_m": 50, "k": 5}).raise_for_status(), clicks),
                    "view": _time(lambda a: c.get(f"/api/v1/customers/{a}", params={"at": now.isoformat()}).raise_for_status(), [(a,) for a in accounts]),
                }
                for zoom in (13, 15, 17):
                    boxes = [(_screen_bbox(float(sp.lon[i]), float(sp.lat[i]), zoom), zoom) for i in rng.integers(0, n, args.repeat)]
                    http[f"viewport_z{zoom}"] = _time(
                        lambda b, z: c.get("/api/v1/viewport", params={"bbox": ",".join(f"{v:.6f}" for v in b), "zoom": z}).raise_for_status(), boxes)
            for key, samples in http.items():
                out[key]["http"] = _stats(samples)  # type: ignore[index]
        finally:
            server.terminate()
            server.wait(timeout=30)
    _remove_plans(engine)
    engine.dispose()
    print(json.dumps(out, indent=2, ensure_ascii=False))


_PLAN_IDS = (990001, 990002, 990003)


def _add_plans(engine, snap, rng) -> None:
    """Three live plans (current, planned, consulting), each opening one closed load switch."""
    from sqlalchemy import insert

    from gis.models import Base
    sw = snap.assets.switches
    closed = sw[(~sw["normal_open"].astype(bool)) & (sw["kind"] == "load_switch")]["id"].tolist()
    chosen = [closed[i] for i in rng.choice(len(closed), 3, replace=False)]
    t = dt.datetime(2026, 10, 31, 4, tzinfo=dt.timezone.utc)
    windows = [(t - dt.timedelta(hours=1), t + dt.timedelta(hours=4), "approved"),
               (t + dt.timedelta(days=3), t + dt.timedelta(days=3, hours=6), "approved"),
               (t + dt.timedelta(days=9), t + dt.timedelta(days=9, hours=6), "consulting")]
    _remove_plans(engine)
    plans, steps = Base.metadata.tables["switching_plans"], Base.metadata.tables["plan_steps"]
    with engine.begin() as conn:
        for pid, element, (start, end, status) in zip(_PLAN_IDS, chosen, windows):
            conn.execute(insert(plans).values(id=pid, title=f"bench {pid}", status=status, window_start=start,
                                              window_end=end, version=1))
            conn.execute(insert(steps).values(plan_id=pid, seq=0, action="open", element_id=element))


def _remove_plans(engine) -> None:
    from sqlalchemy import delete

    from gis.models import Base
    plans, steps = Base.metadata.tables["switching_plans"], Base.metadata.tables["plan_steps"]
    with engine.begin() as conn:
        conn.execute(delete(steps).where(steps.c.plan_id.in_(_PLAN_IDS)))
        conn.execute(delete(plans).where(plans.c.id.in_(_PLAN_IDS)))


if __name__ == "__main__":
    main()
