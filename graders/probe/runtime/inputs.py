"""Piece 4 of the probe runtime (see ``graders.probe.runtime``): a probe's arguments, rebuilt.

``Inputs`` reads what ``graders.probe.spec`` wrote: plain data, tagged tuples, records, data frames
and graphs, arrays from ``.npy`` (never pickle), and resources built fresh here.
"""


class Inputs:
    """Rebuilds the grader's arguments: arrays from .npy, resources built fresh here."""

    def __init__(self, folder):
        self.folder = folder
        self.generators = {}  # one generator per probe, kept across its repeats

    def reset(self):
        self.generators = {}

    def decode(self, v):
        if _isinstance(v, list):
            return [self.decode(x) for x in v]
        if _isinstance(v, dict):
            if "$tuple" in v:
                return tuple(self.decode(x) for x in v["$tuple"])
            if "$record" in v:  # a namedtuple argument: rebuilt as a namedtuple of that name
                r = v["$record"]
                fields = list(r["fields"])
                cls = _namedtuple(str(r["type"]), fields)
                return cls(*[self.decode(r["fields"][f]) for f in fields])
            if "$dataframe" in v:  # a pandas DataFrame argument
                import pandas as pd

                d = v["$dataframe"]
                frame = pd.DataFrame({i: self.decode(col) for i, col in enumerate(d["data"])})
                frame.columns = [self.decode(c) for c in d["columns"]]
                frame.index = [self.decode(i) for i in d["index"]]
                frame.index.name = self.decode(d.get("index_name"))
                return frame
            if "$graph" in v:  # a networkx graph argument, rebuilt in insertion order
                import networkx as nx

                g = v["$graph"]
                graph = nx.DiGraph() if g.get("directed") else nx.Graph()
                for node, attrs in g["nodes"]:
                    graph.add_node(self.decode(node), **self.decode(attrs))
                for u, w, attrs in g["edges"]:
                    graph.add_edge(self.decode(u), self.decode(w), **self.decode(attrs))
                return graph
            if "$array" in v:
                a = _np_load(_os.path.join(self.folder, v["$array"]), allow_pickle=False)
                if v.get("kind") == "torch":
                    import torch

                    return torch.from_numpy(a.copy())
                return a
            if "$resource" in v:
                if v["$resource"] == "generator":
                    key = _dump(v)
                    if key not in self.generators:
                        self.generators[key] = resource("generator", v.get("options", {}))
                    return self.generators[key]
                return resource(v["$resource"], v.get("options", {}))
            return {k: self.decode(x) for k, x in v.items()}
        return v
