"""Benchmark of sensitive-word matching, trouble-call roll-up and alert delivery (issue 15).

    python bench/alerts_bench.py match --words 10000 --messages 200000 --repeat 5
    python bench/alerts_bench.py rollup --store /work/bench-data/city-1m.sqlite --calls 500 --repeat 30
    python bench/alerts_bench.py live --messages 30

``match``: a lexicon of random 2–4 character words (from the 3,500 common characters) with a
category and severity each, plus allow-list phrases; 60-character messages of common
characters and punctuation, one in ten carrying a lexicon word behind an evasion (spaces,
symbols, a traditional character, full-width letters). Reports messages/s on one core for
:meth:`Matcher.find` (normalization, Aho–Corasick, allow-list, offsets) and, beside it, the
library's raw rate (``ahocorasick-rs``, overlapping matches, over texts normalized beforehand).

``rollup``: the compiled topology of a loaded store, repair calls planted on transformers and
fuses plus random noise; times :func:`interactions.trouble_calls.analyze` (the per-version
protection index is built once first and reported separately).

``live``: a real server (uvicorn, in this process) over a copy of the sample city; an SSE
subscriber on ``/api/v1/events?channels=alerts``; WeChat messages posted one at a time;
reports the time from posting a message to its alert arriving on the stream.

Each prints JSON with median, p95, min and max, the machine's load average and CPU count.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COMMON = ("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学"
          "法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政"
          "四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立"
          "代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运"
          "农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六"
          "共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况"
          "今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响"
          "约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识"
          "适属圆包火住调满县局照参红细引听该铁价严首底液官德随病苏失尔死讲配女黄推显谈罪神艺呢席含企望密批营项防举球英氧势告李台落"
          "木帮轮破亚师围注远字材排供河态封另施减树溶怎止案言士均武固叶鱼波视仅费紧爱左章早朝害续轻服试食充兵源判护司足某练差致板田")
PUNCT = "，。！？、 "


def _stats(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {"median": round(statistics.median(s), 3), "p95": round(s[min(len(s) - 1, int(0.95 * len(s)))], 3),
            "min": round(s[0], 3), "max": round(s[-1], 3), "n": len(s)}


def _machine() -> dict[str, object]:
    return {"loadavg": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}


def _lexicon(n: int, rnd: random.Random):
    from interactions.matching import Entry

    categories = ("媒体曝光", "投诉升级", "人身安全", "群体事件", "监管投诉", "法律诉讼")
    words = set()
    while len(words) < n:
        size = 2 if rnd.random() < 0.1 else (3 if rnd.random() < 0.45 else 4)  # few 2-character words, as in practice
        words.add("".join(rnd.choice(COMMON) for _ in range(size)))
    entries = [Entry(w, rnd.choice(categories), rnd.choice(("low", "medium", "high")), pinyin=rnd.random() < 0.05)
               for w in sorted(words)]
    return entries, ["不" + e.word for e in entries[:200]]


def _evade(word: str, rnd: random.Random) -> str:
    trick = rnd.randrange(4)
    if trick == 0:
        return " ".join(word)
    if trick == 1:
        return "*".join(word)
    if trick == 2:
        return "\u200b".join(word)
    return word


def _messages(n: int, length: int, entries, rnd: random.Random) -> list[str]:
    out = []
    for _ in range(n):
        chars = [rnd.choice(COMMON) if rnd.random() > 0.08 else rnd.choice(PUNCT) for _ in range(length)]
        text = "".join(chars)
        if rnd.random() < 0.1:
            word = _evade(rnd.choice(entries).word, rnd)
            at = rnd.randrange(0, length - len(word))
            text = text[:at] + word + text[at + len(word):]
        out.append(text[:length])
    return out


def bench_match(args) -> dict[str, object]:
    from interactions.matching import Matcher, _bmp_table, normalize

    rnd = random.Random(args.seed)
    entries, allow = _lexicon(args.words, rnd)
    t = time.perf_counter()
    _bmp_table()
    table_s = time.perf_counter() - t
    t = time.perf_counter()
    matcher = Matcher(entries, allow)
    build_s = time.perf_counter() - t
    messages = _messages(args.messages, args.length, entries, rnd)
    normalized = [normalize(m) for m in messages]
    automaton = matcher._automaton
    raw_find = automaton.find_matches_as_indexes
    ours, raw, ours_wall, raw_wall = [], [], [], []
    hits = 0
    for _ in range(args.repeat):  # CPU time of this process: the rate per core on a shared machine
        t, w = time.process_time(), time.perf_counter()
        hits = sum(1 for m in messages if matcher.find(m))
        ours.append(len(messages) / (time.process_time() - t))
        ours_wall.append(len(messages) / (time.perf_counter() - w))
        t, w = time.process_time(), time.perf_counter()
        for s in normalized:
            raw_find(s, overlapping=True)
        raw.append(len(messages) / (time.process_time() - t))
        raw_wall.append(len(messages) / (time.perf_counter() - w))
    return {"bench": "match", "words": len(entries), "allow": len(allow), "messages": len(messages),
            "length": args.length, "messages_with_hits": hits, "table_build_s": round(table_s, 3),
            "matcher_build_s": round(build_s, 3), "find_msgs_per_cpu_s": _stats(ours), "library_raw_msgs_per_cpu_s": _stats(raw),
            "find_msgs_per_wall_s": _stats(ours_wall), "library_raw_msgs_per_wall_s": _stats(raw_wall),
            "ratio_ours_to_raw": round(statistics.median(ours) / statistics.median(raw), 3), "machine": _machine()}


def bench_rollup(args) -> dict[str, object]:
    import numpy as np

    from api.state import load_snapshot
    from gis.db import make_engine
    from interactions.trouble_calls import Call, analyze
    from topology.protection import protection_index

    engine = make_engine(f"sqlite:///{args.store}")
    t = time.perf_counter()
    snapshot = load_snapshot(engine)
    load_s = time.perf_counter() - t
    engine.dispose()
    ix = snapshot.index
    t = time.perf_counter()
    prot = protection_index(ix)
    prot_s = time.perf_counter() - t
    rnd = np.random.default_rng(args.seed)
    transformers = np.flatnonzero((prot.kind == "transformer") & (prot.customers >= 20))
    planted = rnd.choice(transformers, size=args.faults, replace=False)
    calls: list[Call] = []
    for d in planted:
        lo, hi = ix.customer_range(int(prot.start[d]), int(prot.end[d]))
        for p in rnd.choice(np.arange(lo, hi), size=min(8, hi - lo), replace=False):
            calls.append(Call(f"f{len(calls)}", str(ix.accounts(np.array([p]))[0])))
    live = int(np.searchsorted(ix.cust_pos, ix.n_live))
    for p in rnd.choice(live, size=args.calls - len(calls), replace=False):
        calls.append(Call(f"n{len(calls)}", str(ix.accounts(np.array([p]))[0])))
    times, cpu = [], []
    result = None
    for _ in range(args.repeat):
        t, c = time.perf_counter(), time.process_time()
        result = analyze(ix, calls, with_customers=False)  # counts, as the API answers by default
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    found = {p.device for p in result.predictions}
    expected = {str(prot.ids[d]) for d in planted}
    # what the API adds for the map (api.trouble_map): device points, affected areas, located calls
    from api.trouble_map import map_answer

    map_exact, map_masked = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        answer = map_answer(snapshot, result, calls, exact=True, decimals=None, with_customers=False)
        map_exact.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        map_answer(snapshot, result, calls, exact=False, decimals=2, with_customers=False)
        map_masked.append((time.perf_counter() - t) * 1000)
    return {"bench": "rollup", "customers": ix.n_customers, "devices": len(prot), "calls": len(calls),
            "planted_faults": len(planted), "predicted": len(result.predictions),
            "planted_found": len(found & expected), "unexplained": len(result.unexplained),
            "snapshot_load_s": round(load_s, 1), "protection_index_build_ms": round(prot_s * 1000, 1),
            "analyze_ms": _stats(times), "analyze_cpu_ms": _stats(cpu),
            "map_answer_exact_ms": _stats(map_exact), "map_answer_masked_ms": _stats(map_masked),
            "located_calls": len(answer["located_calls"]),
            "ratio_analyze_plus_map_to_analyze": round((statistics.median(times) + statistics.median(map_exact))
                                                        / statistics.median(times), 2),
            "machine": _machine()}


def bench_live(args) -> dict[str, object]:
    import hashlib
    import queue
    import shutil
    import socket
    import tempfile
    import threading

    import httpx
    import uvicorn

    from api.app import create_app
    from api.settings import Settings
    from gis.api_keys import create_key
    from gis.db import make_engine, migrate
    from loaders.city import import_city

    workdir = Path(tempfile.mkdtemp(prefix="alerts-bench-"))
    url = f"sqlite:///{workdir / 'store.sqlite'}"
    engine = make_engine(url)
    migrate(engine)
    sample = Path(__file__).resolve().parents[1] / "data" / "samples" / "foshan"
    import_city(engine, sample, service_area=(112.5, 22.5, 113.6, 23.6))
    token = create_key(engine, name="bench-agent", role="agent")[1]
    engine.dispose()
    import pandas as pd

    customers = pd.read_csv(sample / "customers.csv", dtype=str)
    openid = customers[customers.wechat_openid.notna()].iloc[0].wechat_openid
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(Settings(database_url=url, wechat_token="bench", rate_limit_per_s=0, log_level="WARNING"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(base + "/ready", timeout=1).json()["checks"]["topology"] != "compiling":
                break
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    arrived: queue.Queue = queue.Queue()

    def follow() -> None:
        with httpx.stream("GET", base + "/api/v1/events", params={"channels": "alerts"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=httpx.Timeout(30, read=120)) as resp:
            for line in resp.iter_lines():
                if line.startswith("data:"):
                    arrived.put((time.monotonic(), json.loads(line[5:])))

    threading.Thread(target=follow, daemon=True).start()
    time.sleep(1.0)
    while not arrived.empty():
        arrived.get()
    latencies = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in range(args.messages):
            ts, nonce = str(int(time.time())), f"n{i}"
            sig = hashlib.sha1("".join(sorted(("bench", ts, nonce))).encode()).hexdigest()
            body = (f"<xml><ToUserName>gh</ToUserName><FromUserName>{openid}</FromUserName><CreateTime>{ts}</CreateTime>"
                    f"<MsgType>text</MsgType><Content>第{i}次停电了，我要找记者曝光</Content><MsgId>{10**9 + i}</MsgId></xml>")
            sent = time.monotonic()
            assert client.post("/api/v1/wechat/callback", params={"signature": sig, "timestamp": ts, "nonce": nonce},
                               content=body.encode()).text == "success"
            while True:
                at, data = arrived.get(timeout=10)
                payload = data.get("payload", {})  # this message's alert: the fold count tells which
                if payload.get("type") in ("alert.new", "alert.folded") and payload.get("count") == i + 1:
                    latencies.append((at - sent) * 1000)
                    break
            time.sleep(0.05)
    server.should_exit = True
    shutil.rmtree(workdir, ignore_errors=True)
    return {"bench": "live", "store": "sqlite", "messages": args.messages, "post_to_sse_ms": _stats(latencies),
            "machine": _machine()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    m = sub.add_parser("match")
    m.add_argument("--words", type=int, default=10_000)
    m.add_argument("--messages", type=int, default=200_000)
    m.add_argument("--length", type=int, default=60)
    m.add_argument("--repeat", type=int, default=5)
    m.add_argument("--seed", type=int, default=7)
    r = sub.add_parser("rollup")
    r.add_argument("--store", default="/work/bench-data/city-1m.sqlite")
    r.add_argument("--calls", type=int, default=500)
    r.add_argument("--faults", type=int, default=20)
    r.add_argument("--repeat", type=int, default=30)
    r.add_argument("--seed", type=int, default=7)
    live = sub.add_parser("live")
    live.add_argument("--messages", type=int, default=30)
    args = parser.parse_args()
    result = {"match": bench_match, "rollup": bench_rollup, "live": bench_live}[args.what](args)
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
