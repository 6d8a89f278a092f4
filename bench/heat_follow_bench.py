"""How long an API process takes to follow an ingest: full read of the rollup cubes, then the
update after an ingest of N new contacts (only the changed rollup rows are read and applied).

    python bench/heat_follow_bench.py --url postgresql+psycopg://postgres@127.0.0.1:5432/COPY --n 1000 --seed 12

Run it on a COPY of a loaded store (it ingests). Prints JSON: per cube the full read (ms), the
update (ms) and the rows applied, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from heat_bench import AREA, _records  # noqa: E402

from gis.db import make_engine  # noqa: E402
from interactions.heat import RollupCubes  # noqa: E402
from interactions.ingest import ingest  # noqa: E402

CUBES = (("transformer", None), ("feeder", None), ("cell", 7), ("cell", 9))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args()
    engine = make_engine(args.url)
    out: dict = {"load_before": os.getloadavg(), "cubes": {}}
    cubes = RollupCubes()
    with engine.connect() as conn:
        for by, res in CUBES:
            t0 = time.perf_counter()
            cubes.get(conn, by, res)
            out["cubes"][f"{by}{res or ''}"] = {"full_read_ms": round((time.perf_counter() - t0) * 1000, 1)}
        customers = pd.DataFrame(conn.exec_driver_sql("SELECT account_no, phone FROM customers").all(),
                                 columns=["account_no", "phone"])
    records = _records(customers, args.n, seed=args.seed)
    t0 = time.perf_counter()
    r = ingest(engine, records, service_area=AREA)
    out["ingest"] = {"records": args.n, "inserted": r.inserted, "s": round(time.perf_counter() - t0, 2)}
    with engine.connect() as conn:
        for by, res in CUBES:
            before = cubes.stats["rows_applied"]
            t0 = time.perf_counter()
            cube = cubes.get(conn, by, res)
            out["cubes"][f"{by}{res or ''}"].update(update_ms=round((time.perf_counter() - t0) * 1000, 1),
                                                    rows_applied=cubes.stats["rows_applied"] - before, layers=cube.layers)
    out["stats"] = cubes.stats
    out["load_after"] = os.getloadavg()
    engine.dispose()
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
