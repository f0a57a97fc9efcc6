"""check(): load any source, run the static rules, then the onnxruntime stage; never raise on a bad file."""

from __future__ import annotations

from nxport.conventions import spec
from nxport.conventions.checking.context import PROFILES, build_context, load_source
from nxport.conventions.checking.findings import CheckReport, Finding, Level
from nxport.conventions.checking.registry import producer
from nxport.conventions.checking.rulebook import run_rules

LOADER = producer("loader", ("A3", "H4"),
                  "reads the source: unreadable, unparseable or too large to read (H4); a stage that could not complete")


def check(model, *, runtime: bool = True, image=None, profile: str | None = None,
          reference: bool = False, limits=None, evidence=None) -> CheckReport:
    """limits: conventions.sandbox.Limits (None: the spec's defaults); its wall clock bounds this whole
    call, from `limits.started` if set (a CLI sets it to the process start) or else from now.
    evidence: a conventions.runtime.RunEvidence from a run already done on this graph (the exporters'
    single verification pass); the runtime stage then checks it instead of running the model again."""
    if profile is not None and profile not in PROFILES:
        raise ValueError(f"profile {profile!r} is not one of {PROFILES} (or None to detect it)")
    from nxport.conventions._sandbox import Limits

    limits = (limits or Limits()).clock_started()
    loaded = load_source(model)
    report = CheckReport(source=loaded.label, readable=loaded.model is not None, spec_version=spec.spec_version(),
                         profile=profile or "image")
    if loaded.model is None:
        report.findings.append(LOADER.finding(loaded.rule_id, f"cannot read {loaded.label}: {loaded.error}",
                                       fix="pass a .onnx file written by onnx.save / torch.onnx.export"))
        report.rules_checked.append(loaded.rule_id)
        return report
    try:
        ctx = build_context(loaded, profile)
    except Exception as exc:  # a graph too malformed to even list its inputs is unreadable, not a crash
        report.readable = False
        report.findings.append(LOADER.finding("A3", f"cannot parse the graph of {loaded.label}: {type(exc).__name__}: {exc}"))
        return report
    report.profile = ctx.profile
    report.findings, report.rules_checked = run_rules(ctx)
    if runtime:
        _runtime_stage(ctx, image, report, limits, evidence)
    if reference:
        from nxport.conventions._reference.runtime import reference_stage

        reference_stage(ctx, image, report, limits)
    report.runtime["rule_seconds"] = ctx.rule_seconds
    return report


def _runtime_stage(ctx, image, report: CheckReport, limits, evidence=None) -> None:
    from nxport.conventions.checking import bounded_runtime
    from nxport.conventions.checking import runtime as rt
    from nxport.core.errors import NxportError

    try:
        if evidence is not None:  # the caller ran this graph itself, under its own control
            result = rt.run(ctx, image, evidence)
        else:
            result = bounded_runtime.run(ctx, image, limits)  # rt.run in a child under time/memory limits
    except NxportError:
        raise  # a bad --image is the caller's input error, not a property of the model
    except Exception as exc:  # a checker bug on an odd model must still end in a report
        result = rt.RuntimeResult(findings=[LOADER.finding(
            "A3", f"the onnxruntime stage could not complete: {type(exc).__name__}: {exc}",
            fix="run the model in onnxruntime by hand to see whether it is the model or the checker")])
    report.findings.extend(result.findings)
    report.runtime = result.info
    for rule_id in [*rt.RUNTIME.rule_ids, *bounded_runtime.LIMIT_RULES]:
        if rule_id not in report.rules_checked:
            report.rules_checked.append(rule_id)


def must_summary(findings: list[Finding]) -> str:
    return "\n".join(f"  {f.rule_id}: {f.message}" for f in findings if f.level is Level.MUST)


def assert_conformant(model, **kw) -> CheckReport:
    from nxport.core.errors import ConformanceError

    report = check(model, **kw)
    if not report.conformant:
        musts = report.must_findings
        raise ConformanceError(
            f"{report.source} breaks {len(musts)} MUST rule(s) of the Nx conventions {report.spec_version}:\n"
            + must_summary(musts),
            findings=musts,
            fix=f"run `python -m nxport.conventions {report.source}` for the fix of each finding",
        )
    return report
