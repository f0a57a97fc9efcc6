"""One target's verdict: runs fully / runs with N host partitions / will not compile / unknown ops."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field

from nxport.conventions.checking.findings import Finding, Level
from nxport.conventions.checking.registry import producer
from nxport.conventions.targets.preflight.artifact import Issue
from nxport.conventions.targets.preflight.classify import NodeStatus
from nxport.conventions.targets.preflight.partition import Crop
from nxport.conventions.targets import OpStatus, TargetProfile

_SHOW_NODES = 4  # node names listed per finding; the JSON report carries all of them
# Every id is emitted per target (T-rknn-op, T-hailo8-crop...); the spec describes each kind once.
PREFLIGHT = producer("NPU preflight", (
    "T-<target>-opset", "T-<target>-ir", "T-<target>-shape", "T-<target>-dtype", "T-<target>-artifact", "T-<target>-qdq",
    "T-<target>-qout", "T-<target>-op", "T-<target>-cond", "T-<target>-dynamic", "T-<target>-unknown", "T-<target>-partition",
    "T-<target>-crop"), "what each NPU toolchain will take (conventions/targets/*.json), per target")


class Verdict(enum.Enum):
    RUNS_FULLY = "runs fully"
    HOST_PARTITIONS = "runs with host partitions"
    WILL_NOT_COMPILE = "will not compile"
    UNKNOWN_OPS = "unknown ops"


@dataclass
class TargetVerdict:
    target: str
    family: str
    toolchain: str
    verdict: Verdict
    precision: str
    findings: list[Finding] = field(default_factory=list)
    host_partitions: list[list[str]] = field(default_factory=list)
    unknown_ops: dict = field(default_factory=dict)  # op -> node count
    blocking_rules: list[str] = field(default_factory=list)
    crop: Crop | None = None
    nodes: int = 0
    ops_supported: int = 0  # nodes whose op (and its conditions) the NPU takes, counted op by op
    coverage_note: str = ""
    sources: dict = field(default_factory=dict)
    basis: str = ""  # how the verdict knows: "predicted from targets/<name>.json (<sources>)"
    float_nodes: list[str] = field(default_factory=list)  # int8 model, nodes the NPU keeps in float16

    @property
    def compiles(self) -> bool:
        return self.verdict is not Verdict.WILL_NOT_COMPILE

    @property
    def nodes_on_npu(self) -> int:
        """A build that stops puts nothing on the NPU, however many of its ops the NPU supports one by one
        (a dynamic input or a float model on an INT8-only toolchain stops it before any op is placed)."""
        return self.ops_supported if self.compiles else 0

    def headline(self) -> str:
        if self.verdict is Verdict.HOST_PARTITIONS:
            n = len(self.host_partitions)
            what = f"runs with {n} host partition{'s' * (n != 1)}"
        elif self.verdict is Verdict.WILL_NOT_COMPILE:
            what = f"WILL NOT COMPILE ({', '.join(self.blocking_rules)})"
        elif self.verdict is Verdict.UNKNOWN_OPS:
            what = f"unknown ops: {', '.join(f'{op} x{n}' for op, n in self.unknown_ops.items())}"
        else:
            what = "runs fully"
        placed = f"{self.nodes_on_npu}/{self.nodes} nodes on the NPU"
        if not self.compiles:
            placed += f"; {self.ops_supported} of them have ops it supports"
        precision = self.precision
        if self.float_nodes and self.compiles:
            precision += f", {len(self.float_nodes)} node{'s' * (len(self.float_nodes) != 1)} kept float16"
        return f"{self.target} [{self.toolchain}]: {what} ({placed}, {precision})"

    def to_dict(self) -> dict:
        return {
            "target": self.target, "family": self.family, "toolchain": self.toolchain,
            "verdict": self.verdict.value, "headline": self.headline(), "precision": self.precision,
            "nodes": self.nodes, "nodes_on_npu": self.nodes_on_npu, "ops_supported": self.ops_supported,
            "host_partitions": self.host_partitions, "unknown_ops": self.unknown_ops,
            "blocking_rules": self.blocking_rules, "crop": self.crop.to_dict() if self.crop else None,
            "coverage_note": self.coverage_note, "basis": self.basis, "float_nodes": self.float_nodes,
            "findings": [f.to_dict() for f in self.findings], "sources": self.sources,
        }

    def format_text(self) -> str:
        lines = [self.headline(), f"  {self.basis}"] + [f"  {f.format()}" for f in self.findings]
        if self.coverage_note:
            lines.append(f"  note: {self.coverage_note}")
        return "\n".join(lines)


def _names(labels: list[str]) -> str:
    more = f" (+{len(labels) - _SHOW_NODES} more)" if len(labels) > _SHOW_NODES else ""
    return ", ".join(labels[:_SHOW_NODES]) + more


def issue_finding(profile: TargetProfile, issue: Issue) -> Finding:
    return PREFLIGHT.finding(f"T-{profile.target}-{issue.kind}", f"{issue.message} [src: {profile.cite(issue.source)}]",
                             level=issue.level, fix=issue.fix)


def node_findings(profile: TargetProfile, statuses: list[NodeStatus]) -> list[Finding]:
    """One finding per (op, reason): unsupported, failed condition, data-dependent shape, unknown."""
    groups: dict[tuple, list[NodeStatus]] = {}
    for s in statuses:
        if s.status is not OpStatus.SUPPORTED:
            kind = "unknown" if s.status is OpStatus.UNKNOWN else _kind(s)
            groups.setdefault((kind, s.op, "; ".join(s.reasons), s.source, s.blocks), []).append(s)
    fixes = {
        "op": "replace the op in the export (or crop the model before it and run the rest on the host)",
        "cond": "change the export so the condition holds (attributes, constant inputs, shapes), "
                "or accept the host partition",
        "dynamic": "move data-dependent post-processing (NMS, NonZero) out of the model or crop before it",
        "unknown": "compile once with the vendor toolchain to learn this op's status; nothing public says it",
    }
    findings, unknown = [], []
    for (kind, op, reason, source, blocks), members in groups.items():
        names = _names([m.label for m in members])
        src = profile.cite(source) if source in profile.sources else source
        if kind == "unknown":
            unknown.append((op, len(members), members[0].label, reason, src))
            continue
        where = "the build stops" if blocks else "runs on the host CPU"
        findings.append(PREFLIGHT.finding(f"T-{profile.target}-{kind}",
                                          f"{op} x{len(members)}: {reason}; {where}; nodes: {names} [src: {src}]",
                                          level=Level.MUST if blocks else Level.SHOULD, fix=fixes[kind]))
    if unknown:  # one line: what is not public is the same story for every op
        ops = ", ".join(f"{op} x{n} (e.g. {label})" for op, n, label, _, _ in unknown)
        reasons = sorted({r for *_, r, _ in unknown})
        sources = sorted({s for *_, s in unknown})
        findings.append(PREFLIGHT.finding(
            f"T-{profile.target}-unknown",
            f"no public support data for {ops} ({'; '.join(reasons)}) [src: {', '.join(sources)}]",
            level=Level.INFO, fix=fixes["unknown"]))
    return findings


def decide(profile: TargetProfile, issues: list[Issue], statuses: list[NodeStatus],
           partitions: list[list[int]]) -> tuple[Verdict, list[str]]:
    blocking = sorted({f"T-{profile.target}-{i.kind}" for i in issues if i.blocking})
    blocking += sorted({f"T-{profile.target}-{_kind(s)}" for s in statuses if s.blocks} - set(blocking))
    if blocking:
        return Verdict.WILL_NOT_COMPILE, blocking
    if any(s.status is OpStatus.UNKNOWN for s in statuses):
        return Verdict.UNKNOWN_OPS, []
    return (Verdict.HOST_PARTITIONS if partitions else Verdict.RUNS_FULLY), []


def _kind(s: NodeStatus) -> str:
    return "dynamic" if s.dynamic else "cond" if s.conditional else "op"


def unknown_counts(statuses: list[NodeStatus]) -> dict:
    return dict(Counter(s.op for s in statuses if s.status is OpStatus.UNKNOWN).most_common())
