"""``Net``: the node / segment / switch tables of the sample network while it is built.

Steps of ``network`` append vectorized batches; ``tables`` concatenates them once,
settles node kinds and lays out segment vertices and lengths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["Net"]


class Net:
    """Accumulates nodes, segments and switches; ``tables`` freezes them into frames."""

    def __init__(self) -> None:
        self._nodes: list[dict[str, np.ndarray]] = []
        self._segs: list[dict[str, np.ndarray]] = []
        self._vias: dict[int, np.ndarray] = {}
        self._switches: list[dict[str, np.ndarray]] = []
        self.n_nodes = 0
        self.n_segs = 0
        self.n_switches = 0

    def add_nodes(self, x, y, kind, voltage, feeder, substation=-1) -> np.ndarray:
        """Append nodes; returns their indices."""
        x = np.asarray(x, dtype=np.float64)
        n = len(x)
        self._nodes.append(
            {
                "x": x,
                "y": np.asarray(y, dtype=np.float64),
                "kind": np.broadcast_to(np.asarray(kind, dtype=object), n),
                "voltage_kv": np.broadcast_to(np.float64(voltage), n),
                "substation": np.broadcast_to(np.asarray(substation, dtype=np.int64), n),
                "feeder": np.broadcast_to(np.asarray(feeder, dtype=np.int64), n),
            }
        )
        self.n_nodes += n
        return np.arange(self.n_nodes - n, self.n_nodes)

    def add_segments(self, a, b, kind, feeder, vias: list[np.ndarray] | None = None) -> None:
        """Append segments; ``vias`` are optional intermediate vertices per segment."""
        a = np.asarray(a, dtype=np.int64)
        n = len(a)
        if vias is not None:
            for k, via in enumerate(vias):
                if len(via):
                    self._vias[self.n_segs + k] = via
        self._segs.append(
            {
                "a": a,
                "b": np.asarray(b, dtype=np.int64),
                "kind": np.broadcast_to(np.asarray(kind, dtype=object), n),
                "feeder": np.broadcast_to(np.asarray(feeder, dtype=np.int64), n),
            }
        )
        self.n_segs += n

    def add_switches(self, a, b, kind, normal_open, feeder, name) -> np.ndarray:
        """Append switches; returns their indices."""
        a = np.asarray(a, dtype=np.int64)
        n = len(a)
        self._switches.append(
            {
                "name": np.asarray(name, dtype=object),
                "kind": np.broadcast_to(np.asarray(kind, dtype=object), n),
                "a": a,
                "b": np.asarray(b, dtype=np.int64),
                "normal_open": np.broadcast_to(np.asarray(normal_open, dtype=bool), n),
                "feeder": np.broadcast_to(np.asarray(feeder, dtype=np.int64), n),
            }
        )
        self.n_switches += n
        return np.arange(self.n_switches - n, self.n_switches)

    def xy(self) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates of all nodes added so far."""
        return (
            np.concatenate([p["x"] for p in self._nodes]),
            np.concatenate([p["y"] for p in self._nodes]),
        )

    def tables(self, feeder_cable: np.ndarray):
        """Final node, segment (+ flat vertices) and switch tables.

        A 10 kV node that is a branch point (degree ≥ 3) or on a cable feeder is a
        ``junction``, other 10 kV line nodes are ``pole``s.
        """
        nodes = pd.DataFrame({k: np.concatenate([p[k] for p in self._nodes]) for k in self._nodes[0]})
        segs = pd.DataFrame({k: np.concatenate([p[k] for p in self._segs]) for k in self._segs[0]})
        sw = pd.DataFrame({k: np.concatenate([p[k] for p in self._switches]) for k in self._switches[0]})
        x, y = nodes["x"].to_numpy(), nodes["y"].to_numpy()

        ends = np.concatenate([segs["a"], segs["b"], sw["a"], sw["b"]])
        degree = np.bincount(ends, minlength=len(nodes))
        feeder = nodes["feeder"].to_numpy()
        line = nodes["kind"].to_numpy() == "pole"
        cable = np.zeros(len(nodes), dtype=bool)
        cable[line] = feeder_cable[feeder[line]]
        nodes.loc[line & ((degree >= 3) | cable), "kind"] = "junction"

        n_via = np.zeros(len(segs), dtype=np.int64)
        via_keys = np.array(sorted(self._vias), dtype=np.int64)
        n_via[via_keys] = [len(self._vias[k]) for k in via_keys.tolist()]
        counts = n_via + 2
        seg_index = np.repeat(np.arange(len(segs)), counts)
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        seg_xy = np.empty((counts.sum(), 2))
        a, b = segs["a"].to_numpy(), segs["b"].to_numpy()
        seg_xy[start] = np.stack([x[a], y[a]], axis=1)
        seg_xy[start + counts - 1] = np.stack([x[b], y[b]], axis=1)
        for k in via_keys.tolist():
            seg_xy[start[k] + 1 : start[k] + 1 + n_via[k]] = self._vias[k]
        step = np.hypot(*np.diff(seg_xy, axis=0).T)
        inner = seg_index[1:] == seg_index[:-1]
        segs["length_m"] = np.bincount(seg_index[1:][inner], step[inner], len(segs))

        sw["x"] = (x[sw["a"]] + x[sw["b"]]) / 2
        sw["y"] = (y[sw["a"]] + y[sw["b"]]) / 2
        return nodes, segs, seg_xy, seg_index, sw
