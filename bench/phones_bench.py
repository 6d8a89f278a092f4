"""What parsing customers' phones (gis.phones, libphonenumber) costs `gridatlas import city`.

Two measurements in one run, interleaved so that a change of machine load hits both alike:

* ``parse``: :func:`gis.phones.parse_phones` over a city's ``phone`` and ``phone_alt`` columns
  (wall and CPU seconds), against ``phonenumbers.parse`` on a sample of the same values
  (per-value µs: what a plain loop over the library would cost);
* ``load``: ``import_city`` (read + validate, the step the parsing is part of, and total) into a
  fresh SQLite file with the parsing on, and with it replaced by the previous behaviour (phones
  stored as written): the difference is the parsing's cost in a real load.

    python bench/phones_bench.py --customers 100000 --repeat 3
    python bench/phones_bench.py --city /work/bench-data/city-1m --parse-only

The city folder is generated once like ``load_bench.py`` does (seed 7, ``--cache``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

import loaders.city as city  # noqa: E402
from bench.load_bench import _Split, city_dir  # noqa: E402
from gis.db import make_engine, migrate  # noqa: E402
from gis.phones import PhoneError, parse_phone, parse_phones  # noqa: E402

AREA = (112.5, 22.5, 113.6, 23.6)


def _parse(directory: Path, sample: int) -> dict:
    df = pd.read_csv(directory / "customers.csv", dtype=str, keep_default_na=False, na_values=[""],
                     usecols=["phone", "phone_alt"])
    values = {c: [v if isinstance(v, str) else None for v in df[c]] for c in ("phone", "phone_alt")}
    w0, c0 = time.perf_counter(), time.process_time()
    refused = sum(len(parse_phones(v)[1]) for v in values.values())
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    texts = [v for v in values["phone"] + values["phone_alt"] if v][:sample]
    c1 = time.process_time()
    for v in texts:
        try:
            parse_phone(v)
        except PhoneError:
            pass
    per_value_us = (time.process_time() - c1) / max(len(texts), 1) * 1e6
    filled = sum(v is not None for col in values.values() for v in col)
    return {"values": filled, "refused": refused, "wall_s": wall, "cpu_s": cpu,
            "library_us_per_value": per_value_us, "library_loop_s_estimate": per_value_us * filled / 1e6}


def _load(directory: Path, parse: bool) -> dict:
    original = city._parse_phones
    if not parse:
        city._parse_phones = lambda df: []  # the previous behaviour: phones stored as written
    try:
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{tmp}/store.sqlite")
            migrate(engine)
            engine.dispose()
            split = _Split()
            t0 = time.perf_counter()
            city.import_city(engine, directory, service_area=AREA, progress=split)
            t1 = time.perf_counter()
            engine.dispose()
    finally:
        city._parse_phones = original
    return {"total_s": t1 - t0, "read_validate_s": (split.first_write or t1) - t0}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--city", help="use this city folder as is (no generation)")
    parser.add_argument("--cache", default=os.environ.get("GRIDATLAS_BENCH_DIR", "/tmp/gridatlas-bench"))
    parser.add_argument("--parse-only", action="store_true", help="skip the loads")
    parser.add_argument("--sample", type=int, default=20_000, help="values timed through phonenumbers.parse")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    directory = city_dir(args)
    out: dict = {"city": str(directory), "load_average": os.getloadavg(), "parse": [], "load": {"parsed": [], "as_written": []}}
    for _ in range(args.repeat):
        out["parse"].append(_parse(directory, args.sample))
        if not args.parse_only:
            for mode in ("parsed", "as_written"):
                out["load"][mode].append(_load(directory, parse=mode == "parsed"))
    out["load_average_after"] = os.getloadavg()

    def summary(rows: list[dict], key: str) -> str:
        vals = [r[key] for r in rows]
        return f"{statistics.median(vals):.2f} ({min(vals):.2f}–{max(vals):.2f})"

    p = out["parse"]
    print(f"{directory}: {p[0]['values']} phone values, {p[0]['refused']} refused; load average "
          f"{out['load_average'][0]:.1f} → {out['load_average_after'][0]:.1f}")
    print(f"parse_phones: wall {summary(p, 'wall_s')} s, CPU {summary(p, 'cpu_s')} s; phonenumbers.parse "
          f"{summary(p, 'library_us_per_value')} µs/value (a loop: ~{summary(p, 'library_loop_s_estimate')} s)")
    if not args.parse_only:
        for mode, rows in out["load"].items():
            print(f"import_city, phones {mode:<10}: total {summary(rows, 'total_s')} s, "
                  f"read+validate {summary(rows, 'read_validate_s')} s")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
