"""Time ``reindex_customers`` on an existing store: full, and partial sets of N customers.

Each run is rolled back, so the store is unchanged. Phases are timed by wrapping the module's
helpers (select + Python rows, delete, write). Run against a COPY of a cached 1M store::

    PYTHONPATH=$PWD python bench/reindex_bench.py URL --sizes full 100000 100 --repeat 1
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import defaultdict

from gis.db import make_engine
import gis.search.reindex as reindex

_PHASES = defaultdict(float)


def _wrap(name: str) -> None:
    fn = getattr(reindex, name, None)
    if fn is None:
        return

    def timed(*a, **kw):
        t = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            _PHASES[name] += time.perf_counter() - t

    setattr(reindex, name, timed)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--sizes", nargs="+", default=["100", "100000", "full"])
    p.add_argument("--repeat", type=int, default=1)
    a = p.parse_args()
    for name in ("search_rows", "_delete", "_copy", "_write", "_rebuild_indexes", "_drop_indexes"):
        _wrap(name)
    engine = make_engine(a.url)
    with engine.connect() as conn:
        all_ids = [r[0] for r in conn.exec_driver_sql("SELECT account_no FROM customers")]
    rng = random.Random(4)
    for size in a.sizes:
        ids = None if size == "full" else rng.sample(all_ids, int(size))
        times = []
        for _ in range(a.repeat):
            _PHASES.clear()
            with engine.connect() as conn:
                tx = conn.begin()
                t = time.perf_counter()
                n = reindex.reindex_customers(conn, ids)
                times.append(time.perf_counter() - t)
                tx.rollback()
        phases = " ".join(f"{k}={v:.2f}s" for k, v in _PHASES.items())
        print(f"{engine.dialect.name} size={size} rows={n} median={statistics.median(times):.2f}s "
              f"range={min(times):.2f}-{max(times):.2f}s last-run phases: {phases}", flush=True)


if __name__ == "__main__":
    main()
