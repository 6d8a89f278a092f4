"""Load benchmark of the HTTP API: N worker processes over one PostGIS, wrk on loopback.

    python bench/api_load_bench.py --city /tmp/gridatlas-bench/city-1m --workers 2 --duration 60

Loads the city into a PostGIS database once (reused while its content hash is unchanged),
creates a dispatcher key, starts ``gridatlas serve --workers N`` as a subprocess, waits for
``/ready`` and runs `wrk <https://github.com/wg/wrk>`_ (``apt-get install wrk``) against:

* ``lookup``  — ``GET /api/v1/search?q=<full mobile number>``, cycling through 2,000 real
  customers' numbers (the caller-lookup of a dispatcher);
* ``lookup_analyst`` — the same as an analyst: masked results, so no PII-read audit event
  (the difference to ``lookup`` is the cost of the audit trail);
* ``impact``  — ``POST /api/v1/impact?limit=50&area=false`` opening one switch, cycling
  through 200 normally closed switches (summary + the first page of customers, computed
  every time: ad-hoc plans are not cached; without the map polygon, which list consumers
  do not need).

Each scenario runs twice: at light load (``--light-connections``, the latency a user sees)
and at saturation (``--connections``, the throughput). wrk counts every non-2xx response
and socket error; the report is JSON with median/p90/p99 latency, requests/s, errors and
the server processes' CPU milliseconds per request (user + system, read from /proc: the
figure other jobs on a shared machine disturb least).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SERVICE_AREA = (112.5, 22.5, 113.6, 23.6)


def _db_url(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def prepare_store(city: Path, db: str) -> str:
    """Create (once) a PostGIS database holding ``city``; returns its URL."""
    from sqlalchemy import create_engine, text

    from gis.db import make_engine, migrate
    from loaders.city import import_city

    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": db}).first():
            conn.execute(text(f'CREATE DATABASE "{db}"'))
    admin.dispose()
    url = _db_url(db)
    engine = make_engine(url)
    try:
        migrate(engine)
        started = time.perf_counter()
        result = import_city(engine, city, service_area=SERVICE_AREA)
        how = "unchanged" if result.unchanged else f"loaded in {time.perf_counter() - started:.1f} s"
        print(f"store {db}: data version {result.data_version} ({how})", file=sys.stderr)
    finally:
        engine.dispose()
    return url


def _samples(url: str, n_phones: int, n_switches: int, seed: int) -> tuple[list[str], list[str]]:
    from sqlalchemy import text

    from gis.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            phones = [r[0] for r in conn.execute(text(
                "SELECT phone FROM customers WHERE phone IS NOT NULL ORDER BY account_no"))]
            switches = [r[0] for r in conn.execute(text(
                "SELECT id FROM switches WHERE NOT normal_open AND kind IN ('load_switch', 'breaker', 'fuse') "
                "ORDER BY id"))]
    finally:
        engine.dispose()
    rng = random.Random(seed)
    return rng.sample(phones, min(n_phones, len(phones))), rng.sample(switches, min(n_switches, len(switches)))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(url: str, workers: int) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    # One key drives all the load: its per-key rate limit is lifted for the run (the access log
    # stays on: it is part of a request's cost in production).
    env = dict(os.environ, GRIDATLAS_DATABASE_URL=url, GRIDATLAS_RELOAD_INTERVAL_S="0",
               GRIDATLAS_RATE_LIMIT_PER_S="0")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    ready_hits = 0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            # every worker compiles its own snapshot: wait until a run of probes all say ready
            ready_hits = ready_hits + 1 if httpx.get(base + "/ready", timeout=5).status_code == 200 else 0
            if ready_hits >= 4 * workers:
                return proc, base
        except httpx.HTTPError:
            ready_hits = 0
        time.sleep(0.5)
    raise RuntimeError("the server did not become ready")


def server_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the server's processes (its process group:
    the supervisor and its workers). Per request, this is the figure the other jobs on a shared
    machine disturb least: they steal wall time, not the server's CPU time."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[2]) == pgid:  # fields[0] is the state; pgrp, then utime/stime at 11, 12
            total += int(fields[11]) + int(fields[12])
    return total / tick


def stop_server(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


_LUA = """
local key = "%(key)s"
local items = {%(items)s}
local i = 0
request = function()
  i = i + 1
  local item = items[(i %% #items) + 1]
  %(request)s
end
"""


def _lua(key: str, items: list[str], request: str) -> str:
    quoted = ",".join(json.dumps(x) for x in items)
    return _LUA % {"key": key, "items": quoted, "request": request}


LOOKUP = ('return wrk.format("GET", "/api/v1/search?limit=10&q=" .. item, '
          '{["Authorization"] = "Bearer " .. key})')
IMPACT = ('return wrk.format("POST", "/api/v1/impact?limit=50&area=false", '
          '{["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}, '
          '"{\\"open\\": [\\"" .. item .. "\\"]}")')


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def run_wrk(base: str, script: str, *, connections: int, threads: int, duration: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s",
             "-s", fh.name, base],
            capture_output=True, text=True, check=True,
        ).stdout
    finally:
        os.unlink(fh.name)
    dist = dict(re.findall(r"^\s+(50|75|90|99)(?:\.0+)?%\s+(\S+)\s*$", out, re.M))
    if not {"50", "90", "99"} <= dist.keys():
        raise RuntimeError(f"cannot read wrk's latency distribution from:\n{out}")
    result = {
        "connections": connections,
        "median_ms": round(_ms(dist["50"]), 2),
        "p90_ms": round(_ms(dist["90"]), 2),
        "p99_ms": round(_ms(dist["99"]), 2),
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non_2xx": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0,
        "socket_errors": sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out)),
    }
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--city", type=Path, default=Path("/tmp/gridatlas-bench/city-1m"))
    ap.add_argument("--db", default="gridatlas_bench_api", help="PostGIS database name (created once)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--duration", type=int, default=60, help="seconds per saturation run")
    ap.add_argument("--light-duration", type=int, default=15)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--light-connections", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, help="write the JSON report here too")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    from gis.api_keys import create_key
    from gis.db import make_engine

    url = prepare_store(args.city, args.db)
    phones, switches = _samples(url, 2000, 200, args.seed)
    engine = make_engine(url)
    try:
        token = create_key(engine, name="bench", role="dispatcher")[1]
        analyst = create_key(engine, name="bench-analyst", role="analyst")[1]
    finally:
        engine.dispose()
    proc, base = start_server(url, args.workers)
    report: dict[str, object] = {"city": str(args.city), "workers": args.workers, "cpus": os.cpu_count()}
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            for path, kwargs in (("/api/v1/search", {"params": {"q": phones[0]}}),
                                 ("/api/v1/impact", {"params": {"limit": 50, "area": "false"}, "json": {"open": [switches[0]]}})):
                r = client.request("POST" if "json" in kwargs else "GET", path, **kwargs)
                if r.status_code != 200:
                    raise RuntimeError(f"{path} answered {r.status_code}: {r.text[:300]}")
        for name, key, items, request in (("lookup", token, phones, LOOKUP),
                                          ("lookup_analyst", analyst, phones, LOOKUP),
                                          ("impact", token, switches, IMPACT)):
            script = _lua(key, items, request)
            runs = []
            for connections, threads, duration in ((args.light_connections, 1, args.light_duration),
                                                   (args.connections, 2, args.duration)):
                cpu = server_cpu_s(proc.pid)
                run = run_wrk(base, script, connections=connections, threads=threads, duration=duration)
                run["server_cpu_ms_per_request"] = round(1e3 * (server_cpu_s(proc.pid) - cpu) / run["requests"], 3)
                runs.append(run)
            light, heavy = runs
            report[name] = {"light": light, "saturated": heavy}
            print(f"{name}: light {light}  saturated {heavy}", file=sys.stderr)
    finally:
        stop_server(proc)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
