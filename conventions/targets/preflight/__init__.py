"""NPU preflight: which accelerators will take this artifact, and where to cut it.

    from nxport.conventions.targets.preflight import preflight
    for v in preflight("model.onnx", ["rknn", "hailo8"]):   # or ["all"]
        print(v.headline())

Per target (profiles in conventions/targets/*.json, each rule citing its source) the verdict is one of
runs fully / runs with N host partitions (which nodes, why) / will not compile (which rule) /
unknown ops (which). Crop-based targets (Hailo) get suggested end nodes right before the first op the
NPU will not take (for detectors: before the decode/NMS tail). Findings are made like every other
finding (checking.registry, producer PREFLIGHT) with rule ids `T-<target>-<kind>`, described once per kind in
the spec (`T-<target>-opset`...; see conventions/targets/README.md); `preflight_report` gathers the
verdicts of one file into the one CheckReport, whose exit rule (a MUST = a target will not compile) decides.
"""

from __future__ import annotations

from nxport.conventions.checking.context import load_source
from nxport.conventions.checking.findings import CheckReport, Finding, Level
from nxport.conventions.targets.preflight.artifact import float_output_nodes, graph_issues
from nxport.conventions.targets.preflight.classify import classify
from nxport.conventions.targets.preflight.conditions import validate_conditions
from nxport.conventions.targets.preflight.graph import GraphView, read_graph
from nxport.conventions.targets.preflight.partition import crop_before, host_partitions
from nxport.conventions.targets.preflight.verdict import (PREFLIGHT, TargetVerdict, Verdict, decide, issue_finding,
                                                          node_findings, unknown_counts)
from nxport.conventions.targets import (FallbackPolicy, FloatOutputEffect, OpStatus, Precision, TargetProfile,
                                        load_profile, resolve_targets)
from nxport.core.errors import NxportError

__all__ = ["preflight", "preflight_report", "preflight_view", "TargetVerdict", "Verdict", "UnreadableModelError"]


class UnreadableModelError(NxportError):
    def __init__(self, label: str, reason: str):
        super().__init__(f"cannot read {label!r} as an ONNX model: {reason}",
                         fix="pass the path of a valid .onnx file (or an onnx.ModelProto)")
        self.label, self.reason = label, reason


def preflight(model_or_path, targets) -> list[TargetVerdict]:
    """A verdict per target ("all" expands to every profile); raises UnknownTargetError / UnreadableModelError."""
    names = resolve_targets([targets] if isinstance(targets, str) else targets)
    loaded = load_source(model_or_path)
    if loaded.model is None:
        raise UnreadableModelError(loaded.label, loaded.error)
    view = read_graph(loaded.model)
    return [preflight_view(view, load_profile(name)) for name in names]


def preflight_report(source: str, verdicts: list[TargetVerdict]) -> CheckReport:
    """One file's verdicts as the one report type. Its exit code (a MUST finding -> 1) is the verdicts'
    own: a target will not compile exactly when one of its findings is a MUST (the blocking ones)."""
    findings = [f for v in verdicts for f in v.findings]
    return CheckReport(source=str(source), readable=True, findings=findings,
                       rules_checked=sorted({f.rule_id for f in findings}), preflight=list(verdicts))


def preflight_view(view: GraphView, profile: TargetProfile) -> TargetVerdict:
    validate_conditions(profile)
    precision = view.precision
    issues = graph_issues(view, profile, precision)
    statuses = classify(view, profile, precision)
    partitions = host_partitions(view, statuses)
    verdict, blocking = decide(profile, issues, statuses, partitions)
    fails = verdict is Verdict.WILL_NOT_COMPILE
    findings = [issue_finding(profile, i) for i in issues] + node_findings(profile, statuses)
    labels = [[view.labels[i] for i in group] for group in partitions]
    if partitions and not fails:
        findings.append(_partition_finding(profile, labels))
    crop = None
    if profile.fallback is FallbackPolicy.CROP and partitions:
        crop = crop_before(view, {group[0] for group in partitions})
        if crop:
            findings.append(_crop_finding(profile, crop))
    return TargetVerdict(
        target=profile.target, family=profile.family, toolchain=f"{profile.toolchain} {profile.toolchain_version}",
        verdict=verdict, precision=precision.value, findings=findings, host_partitions=labels,
        unknown_ops=unknown_counts(statuses), blocking_rules=blocking, crop=crop, nodes=len(statuses),
        ops_supported=sum(1 for s in statuses if s.status is OpStatus.SUPPORTED),
        coverage_note=profile.op_coverage_note,
        sources={k: profile.cite(k) for k in profile.sources},
        basis=predicted_from(profile), float_nodes=_kept_float16(view, profile, precision),
    )


def predicted_from(profile: TargetProfile) -> str:
    """The verdict's provenance: the profile file and what its data comes from (no toolchain ran)."""
    return f"predicted from targets/{profile.target}.json (sources: {', '.join(profile.sources)}; no toolchain ran here)"


def _kept_float16(view: GraphView, profile: TargetProfile, precision: Precision) -> list[str]:
    rule = profile.artifact.quantized_output
    if precision is not Precision.INT8 or rule is None or rule.effect is not FloatOutputEffect.FLOAT16:
        return []
    return [view.labels[i] for i in float_output_nodes(view)]


def _partition_finding(profile: TargetProfile, labels: list[list[str]]) -> Finding:
    parts = "; ".join(f"#{n + 1}: {', '.join(group[:4])}{' ...' if len(group) > 4 else ''}"
                      for n, group in enumerate(labels))
    return PREFLIGHT.finding(f"T-{profile.target}-partition",
                             f"{len(labels)} host partition(s) (each costs an NPU<->CPU round trip): {parts} "
                             f"[src: {profile.cite(profile.fallback_source)}]", level=Level.SHOULD,
                             fix="remove or replace the ops above in the export to keep the whole graph on the NPU")


def _crop_finding(profile: TargetProfile, crop) -> Finding:
    return PREFLIGHT.finding(f"T-{profile.target}-crop",
                             f"compile between start {crop.start} and end {crop.end} (after nodes {crop.end_nodes}); "
                             f"the host runs the remaining {len(crop.tail)} node(s) "
                             f"[src: {profile.cite(profile.fallback_source)}]", level=Level.INFO,
                             fix="pass these start/end node names to the vendor parser "
                             "(Hailo: start_node_names / end_node_names)")
