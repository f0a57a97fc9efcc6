"""Real NPU toolchains as oracles: the preflight's static verdict, confirmed or refuted by the vendor compiler.

    from nxport.conventions.targets._oracles import run_oracle
    verdict = run_oracle("model.onnx", "qnn")      # OracleVerdict: compiles whole / refuses N nodes

Each toolchain lives in its own side environment (never the project's .venv: it pins its own
onnxruntime and numpy), created by ./setup.sh, and runs a standalone probe script there under the
checker's sandbox limits (conventions/_sandbox.py): a vendor crash, a hang or a memory blow-up is a
verdict (finding T-<target>-oracle), never a traceback. A missing environment is an INFO finding that
names how to create it, never a pass. Plumbing, private: the CLI is `--target NAME --oracle`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from nxport.conventions._reference.env import run_probe
from nxport.conventions._sandbox import Limits
from nxport.conventions.checking.findings import Finding, Level
from nxport.conventions.checking.registry import producer

REPO = Path(__file__).resolve().parents[3]
_SHOW_REJECTED = 6  # nodes named in the text line; the JSON report carries all of them
ORACLE = producer("NPU oracle", ("T-<target>-oracle",),
                  "--target NAME --oracle: the target's real toolchain compiles the model (conventions/targets/_oracles/)")


@dataclass(frozen=True)
class Oracle:
    """One real toolchain: where its environment lives and which probe compiles a model in it."""

    target: str
    toolchain: str  # the pip distribution, e.g. onnxruntime-qnn
    version: str
    backend: str  # what actually compiles, as the user should read it
    env_dir: str  # side environment at the repo root, created by ./setup.sh
    env_var: str  # overrides the interpreter (a path to its python)
    probe: str  # standalone script next to this module
    probe_args: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.toolchain} {self.version} ({self.backend})"

    def python(self) -> Path | None:
        configured = os.environ.get(self.env_var)
        candidate = Path(configured) if configured else REPO / self.env_dir / "bin" / "python"
        return candidate if candidate.is_file() else None


# Qualcomm HTP through onnxruntime-qnn's Linux x86_64 wheel: the HTP backend is emulated on the host.
# htp_arch 73 (Snapdragon 8 Gen 2 class), the value ../shared/NPU_TARGETS.md measured with.
ORACLES: dict[str, Oracle] = {o.target: o for o in (
    Oracle("qnn", "onnxruntime-qnn", "2.7.0", "QNN HTP, emulated", ".venv-npu-qnn", "NXPORT_QNN_PYTHON",
           "_qnn_probe.py", ("73",)),
)}


@dataclass(frozen=True)
class Rejection:
    node: str
    op: str
    reason: str

    def format(self) -> str:
        return f"{self.node} ({self.op}): {self.reason}" if self.reason else f"{self.node} ({self.op})"


@dataclass
class OracleVerdict:
    """What the real toolchain said about one model. `ran` False: no verdict (no environment, no oracle)."""

    target: str
    label: str
    ran: bool
    compiles: bool = False
    rejected: list[Rejection] = field(default_factory=list)
    compile_s: float | None = None
    error: str = ""
    findings: list[Finding] = field(default_factory=list)

    def line(self) -> str:
        if not self.ran:
            return f"{self.target}: not confirmed: {self.findings[0].message}"
        head = f"{self.target}: confirmed by {self.label}: "
        took = f" ({self.compile_s:.1f} s)" if self.compile_s is not None else ""
        if self.compiles:
            return head + "compiles whole" + took
        if not self.rejected:
            return head + f"will not compile{took}: {self.error}"
        shown = "; ".join(r.format() for r in self.rejected[:_SHOW_REJECTED])
        more = f" (+{len(self.rejected) - _SHOW_REJECTED} more)" if len(self.rejected) > _SHOW_REJECTED else ""
        n = len(self.rejected)
        return head + f"refuses {n} node{'s' * (n != 1)}{took}: {shown}{more}"

    def to_dict(self) -> dict:
        return {"target": self.target, "toolchain": self.label, "ran": self.ran, "compiles": self.compiles,
                "rejected": [r.__dict__ for r in self.rejected], "compile_s": self.compile_s, "error": self.error,
                "line": self.line(), "findings": [f.to_dict() for f in self.findings]}


def has_oracle(target: str) -> bool:
    return target in ORACLES


def run_oracle(path: str | Path, target: str, limits: Limits | None = None) -> OracleVerdict:
    """Compile the ONNX file at `path` with `target`'s real toolchain, in its side environment, bounded."""
    oracle = ORACLES.get(target)
    if oracle is None:
        message = (f"no oracle for {target} in nxport yet (oracles: {', '.join(ORACLES)}); "
                   f"its verdict stays predicted")
        return OracleVerdict(target, "", ran=False, findings=[ORACLE.finding(
            f"T-{target}-oracle", message, level=Level.INFO, fix="compile once with the vendor toolchain")])
    python = oracle.python()
    if python is None:
        message = f"no {oracle.toolchain} {oracle.version} environment ({oracle.env_dir}/)"
        return OracleVerdict(target, oracle.label, ran=False, findings=[ORACLE.finding(
            f"T-{target}-oracle", message, level=Level.INFO,
            fix=f"run ./setup.sh (creates {oracle.env_dir}/) or set {oracle.env_var} to its python")])
    result = run_probe(python, str(Path(__file__).with_name(oracle.probe)),
                       [str(Path(path).resolve()), *oracle.probe_args], limits or Limits())
    return _verdict(oracle, result)


def _verdict(oracle: Oracle, result: dict) -> OracleVerdict:
    if not result.get("ok"):  # the toolchain crashed, hung or ran out of memory: that is its verdict
        what = {"H1": "did not finish within the time limit", "H2": "crashed or ran out of memory"}.get(
            result.get("limit", ""), "failed before giving a verdict")
        error = f"{oracle.label} {what}: {result.get('error', '')}".strip()
        made = OracleVerdict(oracle.target, oracle.label, ran=True, compiles=False, error=error)
        made.findings.append(ORACLE.finding(f"T-{oracle.target}-oracle", error,
                                            fix="raise --timeout / --memory-limit, or report it to the vendor"))
        return made
    rejected = [Rejection(r["node"], r["op"], r.get("reason", "")) for r in result.get("rejected", [])]
    made = OracleVerdict(oracle.target, oracle.label, ran=True, compiles=bool(result["compiles"]), rejected=rejected,
                         compile_s=result.get("compile_s"), error=result.get("error") or "")
    if made.compiles:
        made.findings.append(ORACLE.finding(f"T-{oracle.target}-oracle", made.line(), level=Level.INFO,
                                            fix="none: the real compiler took every node"))
    else:
        made.findings.append(ORACLE.finding(f"T-{oracle.target}-oracle", made.line()))
    return made
