"""The Nx conventions: the spec as data, and a checker for any ONNX file.

    report = conventions.check("model.onnx")          # CheckReport; report.conformant, report.exit_code
    conventions.assert_conformant("model.onnx")       # raises core.errors.ConformanceError on a MUST
    python -m nxport.conventions model.onnx [--json]         # exits 0 conformant / 1 MUST failed / 2 unreadable

`import nxport.conventions` stays light (the exporter imports nxport.conventions.names on every run): onnx is
imported on the first check(), onnxruntime only by the runtime stage.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from nxport.conventions.checking.findings import CheckReport, Finding, Level

if TYPE_CHECKING:
    import onnx

__all__ = ["CheckReport", "Finding", "Level", "assert_conformant", "check", "list_rules"]


def check(model: str | os.PathLike | bytes | onnx.ModelProto, *, runtime: bool = True, image=None,
          profile: str | None = None, reference: bool = False, limits=None, evidence=None) -> CheckReport:
    """Check `model` (path, bytes or ModelProto) against every rule; never raises for a bad file.

    reference: also run it in onnxruntime 1.17, the Nx reference runtime, from the environment
    ./setup.sh creates (a missing environment is an INFO finding, never a pass in disguise).
    runtime: also run it in onnxruntime on a real photo (`image`: None = the chelsea photo nxport ships, a path,
    a PIL image or a uint8 RGB array). profile: "image", "text" (CLIP text tower) or None to detect
    it (an input named `tokens-` means text). limits: conventions.sandbox.Limits (wall clock, memory
    cap, feed size); its wall clock bounds the whole call, every stage together (from `limits.started`
    when set, else from the call); None = the spec's defaults (60 s, 4096 MB).
    evidence: outputs of a run the caller already did on this very graph (conventions.runtime.RunEvidence,
    an exporter's verification pass), checked instead of opening a second onnxruntime session.
    """
    from nxport.conventions.checking.checker import check as _check

    return _check(model, runtime=runtime, image=image, profile=profile, reference=reference, limits=limits,
                  evidence=evidence)


def assert_conformant(model, **kw) -> CheckReport:
    """check(), then raise core.errors.ConformanceError listing every MUST finding."""
    from nxport.conventions.checking.checker import assert_conformant as _assert_conformant

    return _assert_conformant(model, **kw)


def list_rules(pattern: str = "*", profile: str | None = None):
    """Registered rule checks whose id or function name matches `pattern` (e.g. 'B*')."""
    from nxport.conventions.checking.rulebook import list_rules as _list_rules

    return _list_rules(pattern, profile)
