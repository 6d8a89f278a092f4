"""pandapower's own answers, served over stdin/stdout to the GridAtlas tests.

Runs in a separate interpreter that has pandapower (and simbench), because pandapower
3.x pins pandas<3 and GridAtlas runs on pandas 3 (see loaders/pandapower_json.py). One JSON
request per line, one JSON reply per line:

* ``{"cmd": "build", "name": N, "source": "networks.mv_oberrhein" | "simbench:CODE" | "code", "code": PY}``
  builds the network (``code`` is Python that assigns ``net`` using ``pp``), writes it
  with ``pandapower.to_json`` to ``OUT_DIR/N.json`` and replies ``{"path", "switches": [[i, closed]],
  "lines": [i]}``.
* ``{"cmd": "lost", "name": N, "toggle": [switch i], "lines_out": [line i]}`` replies
  ``{"lost": [load ids], "joined": bool}``: the loads at buses supplied in the normal state
  and not supplied after toggling the switches and taking the lines out of service, by
  ``pandapower.topology.unsupplied_buses(net, respect_switches=True)`` with its default
  slacks (in-service ext_grids and slack gens; sgens and PV gens are not slacks, as in
  GridAtlas). ``joined``: a component of the new state holds slack buses that were in
  different components in the normal state.
"""

from __future__ import annotations

import copy
import json
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

import networkx as nx  # noqa: E402
import pandapower as pp  # noqa: E402
import pandapower.networks as pn  # noqa: E402
import pandapower.topology as top  # noqa: E402


def _slacks(net) -> set[int]:
    return (set(net.ext_grid.bus[net.ext_grid.in_service].tolist())
            | set(net.gen.bus[net.gen.in_service & net.gen.slack].tolist()))


def _supplied(net) -> tuple[set[int], nx.MultiGraph]:
    graph = top.create_nxgraph(net, respect_switches=True)
    unsupplied = top.unsupplied_buses(net, mg=graph)
    return set(graph.nodes) - set(unsupplied), graph


def _component_of(graph: nx.MultiGraph, buses: set[int]) -> dict[int, int]:
    out = {}
    for k, comp in enumerate(nx.connected_components(graph)):
        for b in comp & buses:
            out[b] = k
    return out


def main(out_dir: Path) -> None:
    replies, sys.stdout = sys.stdout, sys.stderr  # keep pandapower's prints off the reply channel
    nets: dict[str, object] = {}
    normal: dict[str, tuple[set[int], nx.MultiGraph]] = {}
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["cmd"] == "build":
                source = req["source"]
                if source == "code":
                    scope = {"pp": pp}
                    exec(req["code"], scope)  # noqa: S102 - test code from our own test files
                    net = scope["net"]
                elif source.startswith("simbench:"):
                    import simbench

                    net = simbench.get_simbench_net(source.split(":", 1)[1])
                else:
                    net = getattr(pn, source.split(".", 1)[1])()
                nets[req["name"]] = net
                path = out_dir / f"{req['name']}.json"
                pp.to_json(net, str(path))
                reply = {"path": str(path),
                         "switches": [[int(i), bool(c)] for i, c in zip(net.switch.index, net.switch.closed)],
                         "lines": [int(i) for i in net.line.index]}
            elif req["cmd"] == "lost":
                base = nets[req["name"]]
                if req["name"] not in normal:
                    normal[req["name"]] = _supplied(base)
                before, g0 = normal[req["name"]]
                net = copy.deepcopy(base)
                for s in req.get("toggle", []):
                    net.switch.loc[s, "closed"] = not bool(net.switch.at[s, "closed"])
                for i in req.get("lines_out", []):
                    net.line.loc[i, "in_service"] = False
                after, g1 = _supplied(net)
                gone = before - after
                lost = sorted(f"load:{i}" for i, b in zip(net.load.index, net.load.bus) if b in gone)
                slacks = _slacks(net)
                normal = _component_of(g0, slacks)
                now = _component_of(g1, slacks)
                groups: dict[int, set[int]] = {}
                for b, k in now.items():
                    groups.setdefault(k, set()).add(normal.get(b, -1))
                supplied = sorted(f"load:{i}" for i, b in zip(net.load.index, net.load.bus) if b in before)
                reply = {"lost": lost, "joined": any(len(v) > 1 for v in groups.values()), "supplied_before": supplied}
            else:
                reply = {"error": f"unknown cmd {req['cmd']!r}"}
        except Exception as exc:  # noqa: BLE001 - report any failure to the test as a reply
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
