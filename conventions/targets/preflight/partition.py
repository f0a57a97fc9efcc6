"""Host partitions (connected groups of nodes the NPU will not take) and crop points for start/end flows."""

from __future__ import annotations

from dataclasses import dataclass

from nxport.conventions.targets.preflight.classify import NodeStatus
from nxport.conventions.targets.preflight.graph import GraphView
from nxport.conventions.targets import OpStatus


@dataclass(frozen=True)
class Crop:
    """Compile the NPU part between `start` (graph inputs) and `end` (tensors); the host runs the tail."""

    start: list[str]
    end: list[str]  # tensor names where the NPU part ends
    end_nodes: list[str]  # the nodes producing them
    tail: list[str]  # nodes left to the host (the first off-NPU node and everything after it)

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "end_nodes": self.end_nodes, "tail_nodes": len(self.tail)}


def host_partitions(view: GraphView, statuses: list[NodeStatus]) -> list[list[int]]:
    """Off-NPU nodes grouped into connected partitions (joined where one feeds the other directly)."""
    off = {s.index for s in statuses if s.status is OpStatus.UNSUPPORTED}
    parent = {i: i for i in off}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in off:
        for out in view.nodes[i].output:
            for j in view.consumers.get(out, []):
                if j in off:
                    parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in sorted(off):
        groups.setdefault(find(i), []).append(i)
    return sorted(groups.values())


def crop_before(view: GraphView, first_off: set[int]) -> Crop | None:
    """End nodes right before the first off-NPU op of every branch (the vendor's advice for crop flows)."""
    tail = set(first_off)
    for i in range(len(view.nodes)):  # graph order is topological: one pass collects every descendant
        if i in tail:
            continue
        if any(view.producer.get(t) in tail for t in view.nodes[i].input if t):
            tail.add(i)
    if len(tail) == len(view.nodes):
        return None
    end: list[str] = []
    for i in sorted(tail):
        for t in view.nodes[i].input:
            if t and t not in end and not view.is_constant(t) and view.producer.get(t) not in tail:
                end.append(t)
    end_nodes = [view.labels[view.producer[t]] for t in end if t in view.producer]
    return Crop(list(view.graph_inputs), end, end_nodes, [view.labels[i] for i in sorted(tail)])
