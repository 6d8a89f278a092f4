"""The map in Chromium against a served store: time until usable, per pan/zoom server time and bytes,
DOM size, JavaScript heap, and the baseline (the map before the level of detail) in the same run.

    python bench/map_bench.py --store sqlite:////tmp/city-1m.sqlite --store postgresql+psycopg://postgres@127.0.0.1/ga_x
    python bench/map_bench.py --store … --repeat 5 --baseline --screenshots bench/out/map

For each store: an API key is created in it (use a copy of shared data: this writes the key and
the audit events), ``api.app.create_app`` is served by uvicorn in a child process (its JSON access
log gives each request's server time), and Debian's Chromium is driven with Playwright:

* ``usable_ms``: from navigation to the grid drawn and the customers of the view loaded
  (``window.gridatlas.ready``), plus a caller search typed into the box and answered;
* ``moves``: a fixed walk of pans and zooms (city → district → street): per move the bytes the
  page received (encoded, as on the wire), the server time of its requests (sum and slowest) and
  the wall time until drawn;
* ``dom_elements`` / ``heap_mb``: the most seen during the walk (``Runtime.getHeapUsage``);
* ``impact_ms``: an impact request from the page (``POST /api/v1/impact``, one switch), the call a
  plan edit makes;
* ``--scenarios heat`` (or ``walk,heat``): the heat layer (issue 14) turned on as a manager does —
  complaints of the last 3 months, then the 台区 and feeder choropleths and the H3 heat at city (z12)
  and district (z15) zoom, a pan, back to the city: per step the server time of ``/heat`` and
  ``/hotspots`` (hot spots are city-wide and cached per filter set, so only the first step of a
  filter set asks for them), bytes, wall time until drawn, areas drawn, DOM elements and heap;
* ``--baseline``: the map as it was on ``main`` before issue 13 (``git show main:map_ui/static/…``,
  served under ``/map-old/``), which pages every grid layer whole: time until its ``ready``, DOM
  elements and heap, with a timeout;
* ``fast_pan``: twenty 400-px pans at street zoom, each sent 150 ms after the previous one without
  waiting for it (a user dragging the map): requests and 429 answers, under the DEFAULT rate-limit
  settings (the whole bench serves them; ``--no-rate-limit`` turns them off);
* ``--before REF``: the same measurements, in the same run, for the map and rate limiting of git
  ``REF`` (e.g. ``main``: 256-px tiles, every request on the key's one bucket): ``REF``'s
  ``map_ui/static`` served under ``/map-before/`` by a server whose tiles draw on the key's bucket.

Prints JSON (medians and ranges over ``--repeat`` page loads) and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic", "--enable-precise-memory-info"]
VIEWPORT = {"width": 1280, "height": 800}
OLD_FILES = ("index.html", "app.js", "app.css")


# ---------------------------------------------------------------- the server (child process)
def _serve(database_url: str, port: int, old_map: str | None, before_map: str | None = None,
           single_bucket: bool = False, no_rate_limit: bool = False) -> None:
    import uvicorn
    from fastapi.staticfiles import StaticFiles

    import api.auth
    from api.app import create_app
    from api.settings import Settings

    limits = {"rate_limit_per_s": 0} if no_rate_limit else {}      # else the defaults a deployment gets
    app = create_app(Settings(database_url=database_url, log_format="json", reload_interval_s=0, **limits))
    if single_bucket:       # the rate limiting before map tiles had a bucket of their own
        api.auth._bucket = lambda request: request.app.state.rate_limits
    for prefix, folder in (("/map-old", old_map), ("/map-before", before_map)):
        if folder:
            app.mount(prefix, StaticFiles(directory=folder, html=True), name=prefix.strip("/"))
            # Starlette matches mounts in order: put it before the /map mount
            app.router.routes.insert(0, app.router.routes.pop())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _old_map(tmp: Path) -> Path | None:
    """The map of ``main`` before issue 13, rewritten to load from /map-old/."""
    out = tmp / "map-old"
    out.mkdir()
    for name in OLD_FILES:
        got = subprocess.run(["git", "-C", str(REPO), "show", f"main:map_ui/static/{name}"], capture_output=True)
        if got.returncode != 0:
            return None
        (out / name).write_bytes(got.stdout.replace(b"/map/app.", b"/map-old/app."))
    return out


def _before_map(tmp: Path, ref: str) -> Path:
    """``ref``'s map_ui/static, its index.html rewritten to load from /map-before/ (modules import relatively)."""
    out = tmp / "map-before"
    out.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "map_ui/static"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(out), "--strip-components=2"], input=archive.stdout, check=True)
    index = out / "index.html"
    index.write_text(index.read_text(encoding="utf-8").replace('"/map/', '"/map-before/'), encoding="utf-8")
    return out


class Server:
    def __init__(self, database_url: str, old_map: Path | None, log: Path, before_map: Path | None = None,
                 no_rate_limit: bool = False) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._fh = log.open("wb")
        args = [sys.executable, __file__, "--serve", database_url, "--port", str(self.port)]
        if old_map:
            args += ["--old-map", str(old_map)]
        if before_map:
            args += ["--before-map", str(before_map), "--single-bucket"]
        if no_rate_limit:
            args += ["--no-rate-limit"]
        self.proc = subprocess.Popen(args, stdout=self._fh, stderr=subprocess.STDOUT, cwd=REPO)

    def wait_ready(self, timeout: float = 600) -> float:
        import httpx

        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: see {self.log}")
            try:
                if httpx.get(self.base + "/ready", timeout=2).status_code == 200:
                    return time.monotonic() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError("the server did not become ready")

    def log_offset(self) -> int:
        self._fh.flush()
        return self.log.stat().st_size

    def requests_since(self, offset: int) -> list[dict[str, Any]]:
        """Access-log records (path, status, duration_ms) written after ``offset``."""
        time.sleep(0.05)
        out = []
        with self.log.open("rb") as fh:
            fh.seek(offset)
            for line in fh:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("logger") == "gridatlas.access":
                    out.append({"path": rec["path"], "status": rec["status"], "ms": rec["duration_ms"]})
        return out

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._fh.close()


# ---------------------------------------------------------------- the browser side
def _stats(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 1), "min": round(min(values), 1), "max": round(max(values), 1), "n": len(values)}


class Page:
    """A fresh browser context on the map, recording every response's encoded size."""

    def __init__(self, browser: Any, url: str) -> None:
        self.context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", service_workers="block")
        self.context.route("**/*", lambda r: r.continue_() if "127.0.0.1" in r.request.url else r.abort())
        self.page = self.context.new_page()
        self.page.set_default_timeout(600_000)
        self.bytes = 0
        self.errors: list[str] = []
        self.page.on("requestfinished", self._finished)
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.cdp = self.context.new_cdp_session(self.page)
        self.url = url

    def _finished(self, req: Any) -> None:
        try:
            sizes = req.sizes()
            self.bytes += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        except Exception:  # a request whose sizes Chromium no longer has: not counted
            pass

    def heap_mb(self) -> float:
        return self.cdp.send("Runtime.getHeapUsage")["usedSize"] / 1e6

    def dom(self) -> int:
        return self.page.evaluate("() => document.getElementsByTagName('*').length")

    def close(self) -> None:
        self.context.close()


def _load(page: Page, key: str) -> dict[str, float]:
    t0 = time.perf_counter()
    page.page.goto(page.url + f"#key={key}", wait_until="commit")
    page.page.wait_for_function("() => Boolean(window.gridatlas && window.gridatlas.ready)")
    ready_ms = page.page.evaluate("() => window.gridatlas.ready.then(() => performance.now())")
    wall_ready = (time.perf_counter() - t0) * 1000
    return {"ready_ms": ready_ms, "wall_ready_ms": wall_ready}


def _search(page: Page, query: str) -> float:
    box = page.page.locator(".ga-header input[type=search]")
    t0 = time.perf_counter()
    box.fill(query)
    box.press("Enter")
    page.page.locator(".ga-results .ga-result-item").first.wait_for()
    return (time.perf_counter() - t0) * 1000


MOVES = [  # (label, zoom, dx, dy in screen px from the previous centre, or None = recentre on the city's centre)
    ("city z12", 12, None), ("city pan", 12, (400, 0)), ("city z13", 13, (0, 200)),
    ("city z14", 14, None), ("city pan z14", 14, (500, 0)), ("district z15", 15, (0, -300)), ("district z16", 16, (300, 300)),
    ("street z17", 17, (0, 0)), ("street pan", 17, (600, 0)), ("street z18", 18, (-300, 200)), ("street pan 2", 18, (0, 500)),
]


def _walk(page: Page, server: Server, centre: tuple[float, float]) -> list[dict[str, Any]]:
    out = []
    for label, zoom, delta in MOVES:
        before_bytes, offset = page.bytes, server.log_offset()
        t0 = time.perf_counter()
        page.page.evaluate(
            """([zoom, delta, centre]) => { const g = window.gridatlas, map = g.map;
                let c = centre ? L.latLng(centre[1], centre[0]) : map.getCenter();
                if (delta) c = map.unproject(map.project(map.getCenter(), zoom).add(delta), zoom);
                map.setView(c, zoom, {animate: false});
                return Promise.all([g.grid.update(), g.loadViewport()]).then(() => true); }""",
            [zoom, delta, None if delta is not None else list(centre)],
        )
        wall = (time.perf_counter() - t0) * 1000
        page.page.wait_for_timeout(150)                  # the moveend handler's requests (deduplicated)
        reqs = [r for r in server.requests_since(offset) if r["path"].startswith("/api/v1/")]
        out.append({"move": label, "zoom": zoom, "bytes": page.bytes - before_bytes, "wall_ms": round(wall, 1),
                    "requests": len(reqs), "refused_429": sum(r["status"] == 429 for r in reqs),
                    "server_ms_sum": round(sum(r["ms"] for r in reqs), 1),
                    "server_ms_max": round(max((r["ms"] for r in reqs), default=0), 1),
                    "dom": page.dom(), "heap_mb": round(page.heap_mb(), 1)})
    return out


HEAT_STEPS = [  # (label, action): a filter change at the current view, or a move (then the layer's debounced reload)
    ("city z12 heat (show)", {"zoom": 12, "show": True}), ("city z12 台区", {"mode": "transformer"}),
    ("city z12 feeder", {"mode": "feeder"}), ("district z15 feeder", {"zoom": 15}), ("district z15 台区", {"mode": "transformer"}),
    ("district z15 heat", {"mode": "heat"}), ("district pan heat", {"zoom": 15, "delta": (500, 0)}),
    ("district pan 台区", {"mode": "transformer", "zoom": 15, "delta": (0, 400)}), ("city z12 台区 again", {"zoom": 12}),
    ("city z12 all kinds 1 year", {"preset": "custom", "from": "2025-11-01", "to": "2026-10-31", "kinds": None}),
]


def _heat_walk(page: Page, server: Server, centre: tuple[float, float]) -> list[dict[str, Any]]:
    """The heat layer's steps (HEAT_STEPS): each waits until the layer drew the answer of its last request."""
    out = []
    for label, act in HEAT_STEPS:
        before_bytes, offset = page.bytes, server.log_offset()
        t0 = time.perf_counter()
        page.page.evaluate(
            """async ([act, centre]) => { const g = window.gridatlas, map = g.map, h = g.heat;
                if (act.show) { map.setView([centre[1], centre[0]], act.zoom, {animate: false}); await h.show();
                  await h.setFilters({mode: 'heat', preset: '3m', kinds: ['投诉']}); return true; }
                if (act.zoom !== undefined) {
                  let c = act.delta ? map.unproject(map.project(map.getCenter(), act.zoom).add(act.delta), act.zoom) : map.getCenter();
                  if (act.mode) h.state.mode = act.mode;
                  const n = h.loads;
                  map.setView(c, act.zoom, {animate: false});
                  await new Promise((resolve) => { const t = setInterval(() => { if (h.loads > n) { clearInterval(t); resolve(); } }, 20); });
                  return true; }
                const f = {};
                for (const k of ['mode', 'preset', 'from', 'to']) if (act[k]) f[k] = act[k];
                if ('kinds' in act) f.kinds = act.kinds || (await fetch('/api/v1/heat/vocabulary', {headers: {Authorization:
                  'Bearer ' + sessionStorage.getItem('gridatlas.apiKey')}}).then(r => r.json())).kinds;
                await h.setFilters(f); return true; }""",
            [act, list(centre)],
        )
        wall = (time.perf_counter() - t0) * 1000
        page.page.wait_for_timeout(100)
        reqs = server.requests_since(offset)
        heat = [r["ms"] for r in reqs if r["path"] == "/api/v1/heat"]
        hot = [r["ms"] for r in reqs if r["path"] == "/api/v1/hotspots"]
        info = page.page.evaluate("() => ({drawn: window.gridatlas.heat.drawn.length, outlines: window.gridatlas.heat.outlines.length,"
                                  " q: window.gridatlas.heat.query, zoom: window.gridatlas.map.getZoom()})")
        out.append({"step": label, "zoom": info["zoom"], "by": dict(p.split("=", 1) for p in info["q"].split("&"))["by"],
                    "areas_drawn": info["drawn"], "outlines": info["outlines"], "wall_ms": round(wall, 1),
                    "heat_ms": heat, "hotspots_ms": hot, "bytes": page.bytes - before_bytes,
                    "dom": page.dom(), "heap_mb": round(page.heap_mb(), 1)})
    return out


def _fast_pan(page: Page, server: Server, centre: tuple[float, float], zoom: int = 17, pans: int = 20) -> dict[str, Any]:
    """A user dragging the map: ``pans`` 400-px pans at ``zoom``, one every 150 ms, none waited for (the
    map's own moveend handler sends the requests); then the map settles. Requests, 429s, slowest."""
    page.page.evaluate("""([c, z]) => { const g = window.gridatlas; g.map.setView([c[1], c[0]], z, {animate: false});
                          return Promise.all([g.grid.update(), g.loadViewport()]).then(() => true); }""", [list(centre), zoom])
    page.page.wait_for_timeout(300)
    offset = server.log_offset()
    t0 = time.perf_counter()
    page.page.evaluate(
        """([n]) => new Promise((done) => { const map = window.gridatlas.map; let i = 0;
              const step = () => { map.panBy([i % 2 ? 0 : 400, i % 2 ? 400 : 0], {animate: false}); i += 1;
                                   if (i < n) setTimeout(step, 150); else done(true); };
              step(); })""", [pans])
    page.page.wait_for_timeout(200)                      # the last moveend's requests start
    page.page.evaluate("() => Promise.all([window.gridatlas.grid.update(), window.gridatlas.loadViewport()]).then(() => true)")
    wall = (time.perf_counter() - t0) * 1000
    page.page.wait_for_timeout(300)
    reqs = [r for r in server.requests_since(offset) if r["path"].startswith("/api/v1/")]
    return {"pans": pans, "requests": len(reqs), "refused_429": sum(r["status"] == 429 for r in reqs),
            "tile_requests": sum("/tiles/grid" in r["path"] for r in reqs),
            "server_ms_max": round(max((r["ms"] for r in reqs), default=0), 1), "wall_ms": round(wall, 1)}


def _impact_ms(page: Page, switch_id: str) -> float:
    return page.page.evaluate(
        """async (sw) => { const key = sessionStorage.getItem('gridatlas.apiKey'); const t0 = performance.now();
            const r = await fetch('/api/v1/impact?limit=50&area=true', {method: 'POST', headers: {'Content-Type': 'application/json',
              Authorization: 'Bearer ' + key}, body: JSON.stringify({open: [sw]})});
            await r.json(); return performance.now() - t0; }""",
        switch_id,
    )


def _heat_stats(walks: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Per heat step over the repeats: medians and ranges of the /heat server time, wall time and bytes; the
    largest DOM and heap; hot-spot requests listed as measured (only the first step of a filter set has one)."""
    steps = []
    for i, first in enumerate(walks[0]):
        runs = [w[i] for w in walks]
        heat = [ms for r in runs for ms in r["heat_ms"]]
        steps.append({"step": first["step"], "zoom": first["zoom"], "by": first["by"], "areas_drawn": first["areas_drawn"],
                      "outlines": first["outlines"], "heat_ms": _stats(heat) if heat else None,
                      "hotspots_ms": [ms for r in runs for ms in r["hotspots_ms"]], "wall_ms": _stats([r["wall_ms"] for r in runs]),
                      "bytes": _stats([r["bytes"] for r in runs])})
    every = [s for w in walks for s in w]
    return {"steps": steps, "dom_max": max(s["dom"] for s in every), "heap_mb_max": max(s["heap_mb"] for s in every)}


def _bench_store(browser: Any, url: str, args: argparse.Namespace, tmp: Path, label: str,
                 before: Path | None = None) -> dict[str, Any]:
    """Every measurement of one store, for this tree's map (``before`` None) or for the ``--before`` map."""
    import httpx

    from gis.api_keys import create_key
    from gis.db import make_engine

    engine = make_engine(url)
    try:
        key = create_key(engine, name="map-bench", role="admin")[1]
    finally:
        engine.dispose()
    old = None
    if args.baseline and before is None:
        old = _old_map(tmp) if not (tmp / "map-old").exists() else tmp / "map-old"
    variant = "before" if before is not None else "this"
    server = Server(url, old, tmp / f"server-{label}-{variant}.log", before_map=before, no_rate_limit=args.no_rate_limit)
    map_path = "/map-before/" if before is not None else "/map/"
    result: dict[str, Any] = {"store": label, "map": args.before if before is not None else "this tree",
                              "rate_limit": "off" if args.no_rate_limit else "defaults"}
    try:
        result["server_ready_s"] = round(server.wait_ready(), 1)
        h = {"Authorization": f"Bearer {key}"}
        info = httpx.get(server.base + "/api/v1/tiles/grid", headers=h, timeout=30).json()
        w, s, e, n = info["bounds"]
        centre = ((w + e) / 2, (s + n) / 2)
        near = httpx.get(server.base + "/api/v1/nearest", params={"lon": centre[0], "lat": centre[1], "radius_m": 5000, "k": 1},
                         headers=h, timeout=30).json()["customers"][0]["account_no"]
        switch_id = httpx.get(server.base + "/api/v1/layers/switches", params={"limit": 1}, headers=h, timeout=30).json()["features"][0]["id"]
        loads, searches, usable, walks, impacts, heat_walks, pans = [], [], [], [], [], [], []
        for rep in range(args.repeat):
            page = Page(browser, server.base + map_path)
            try:
                t = _load(page, key)
                loads.append(t["ready_ms"])
                if "walk" in args.scenarios:
                    q = near[: max(6, len(near) - 3)]            # an account-number prefix: answered from the store
                    sms = _search(page, q)
                    searches.append(sms)
                    usable.append(t["ready_ms"] + sms)
                    result.setdefault("first_load", {"dom": page.dom(), "heap_mb": round(page.heap_mb(), 1), "bytes": page.bytes})
                    walks.append(_walk(page, server, centre))
                    impacts += [_impact_ms(page, switch_id) for _ in range(5)]
                    pans.append(_fast_pan(page, server, centre))
                    if rep == 0 and args.screenshots:
                        shots = Path(args.screenshots)
                        shots.mkdir(parents=True, exist_ok=True)
                        for zoom in (12, 15, 18):
                            page.page.evaluate("""([z, c]) => { const g = window.gridatlas; g.map.setView([c[1], c[0]], z, {animate: false});
                                                  return Promise.all([g.grid.update(), g.loadViewport()]).then(() => true); }""", [zoom, list(centre)])
                            page.page.wait_for_timeout(300)
                            page.page.screenshot(path=str(shots / f"{label}-{variant}-z{zoom}.png"))
                if "heat" in args.scenarios and before is None:   # after the walk: its figures stay the plain map's
                    heat_walks.append(_heat_walk(page, server, centre))
                    if rep == 0 and args.screenshots:
                        Path(args.screenshots).mkdir(parents=True, exist_ok=True)
                        page.page.screenshot(path=str(Path(args.screenshots) / f"{label}-heat-last.png"))
                result.setdefault("console_errors", page.errors)
            finally:
                page.close()
        result["ready_ms"] = _stats(loads)
        if heat_walks:
            result["heat"] = _heat_stats(heat_walks)
        if "walk" not in args.scenarios:
            return result
        result["search_ms"] = _stats(searches)
        result["usable_ms"] = _stats(usable)
        result["impact_ms"] = _stats(impacts)
        moves = [m for w in walks for m in w]
        result["per_move"] = {
            "bytes": _stats([m["bytes"] for m in moves]),
            "server_ms_max": _stats([m["server_ms_max"] for m in moves]),
            "server_ms_sum": _stats([m["server_ms_sum"] for m in moves]),
            "wall_ms": _stats([m["wall_ms"] for m in moves]),
            "requests": _stats([m["requests"] for m in moves]),
            "refused_429": sum(m["refused_429"] for m in moves),
        }
        result["fast_pan"] = {"refused_429": [p["refused_429"] for p in pans], "requests": [p["requests"] for p in pans],
                              "tile_requests": [p["tile_requests"] for p in pans],
                              "server_ms_max": _stats([p["server_ms_max"] for p in pans])}
        result["dom_max"] = max(m["dom"] for m in moves)
        result["heap_mb_max"] = max(m["heap_mb"] for m in moves)
        result["moves_first_walk"] = walks[0]
        print(json.dumps({k: v for k, v in result.items() if k != "moves_first_walk"}, ensure_ascii=False), file=sys.stderr, flush=True)
        if args.baseline and old is not None:
            page = Page(browser, server.base + "/map-old/")
            try:
                t0 = time.perf_counter()
                page.page.goto(page.url + f"#key={key}", wait_until="commit")
                page.page.wait_for_function("() => Boolean(window.gridatlas && window.gridatlas.ready)")
                page.page.evaluate("() => { window.__gaDone = 'pending'; window.gridatlas.ready.then("
                                   "() => { window.__gaDone = 'ready'; }, e => { window.__gaDone = 'failed: ' + e.message; }); }")
                try:
                    page.page.wait_for_function("() => window.__gaDone !== 'pending'", timeout=args.baseline_timeout * 1000)
                    done = page.page.evaluate("() => window.__gaDone")
                except Exception:  # not ready within the timeout: record how far it got
                    done = f"not ready after {args.baseline_timeout} s"
                status = page.page.evaluate("() => (document.querySelector('.ga-status-line') || {}).textContent")
                result["baseline"] = {"ready_ms": round((time.perf_counter() - t0) * 1000), "completed": done, "status": status,
                                      "dom": page.dom(), "heap_mb": round(page.heap_mb(), 1), "bytes": page.bytes}
            finally:
                page.close()
    finally:
        server.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", action="append", default=[], help="database URL of a loaded city (a copy: keys are written)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scenarios", default="walk", type=lambda v: set(v.split(",")),
                        help="walk (load, search, pan/zoom walk, impact), heat (the heat layer's steps), or walk,heat")
    parser.add_argument("--baseline", action="store_true", help="also load main's map (pages every layer whole)")
    parser.add_argument("--screenshots", help="folder for city/district/street screenshots")
    parser.add_argument("--baseline-timeout", type=int, default=300, help="seconds to wait for the baseline map (then its progress is recorded)")
    parser.add_argument("--chromium", default=os.environ.get("GRIDATLAS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--old-map", help=argparse.SUPPRESS)
    parser.add_argument("--before", help="also measure the map and rate limiting of this git ref (e.g. main), same run")
    parser.add_argument("--no-rate-limit", action="store_true", help="serve without rate limits (default: the defaults)")
    parser.add_argument("--before-map", help=argparse.SUPPRESS)
    parser.add_argument("--single-bucket", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve, args.port, args.old_map, args.before_map, args.single_bucket, args.no_rate_limit)
        return
    from playwright.sync_api import sync_playwright

    results = {"load_average_before": os.getloadavg(), "runs": []}
    with tempfile.TemporaryDirectory(prefix="ga-map-bench-") as tmpdir, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=LAUNCH_ARGS)
        try:
            before = _before_map(Path(tmpdir), args.before) if args.before else None
            for url in args.store:
                label = "postgis" if url.startswith("postgresql") else "sqlite"
                for variant in ([before] if before else []) + [None]:
                    results["runs"].append(_bench_store(browser, url, args, Path(tmpdir), label, before=variant))
                    print(json.dumps(results["runs"][-1], ensure_ascii=False), file=sys.stderr)
        finally:
            browser.close()
    results["load_average_after"] = os.getloadavg()
    print(json.dumps(results, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
