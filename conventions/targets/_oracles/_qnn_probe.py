"""Compile one model for the Qualcomm HTP (onnxruntime-qnn, backend emulated on x86), from its own interpreter.

Standalone on purpose: onnxruntime-qnn pulls its own onnxruntime and numpy, which live in .venv-npu-qnn,
never beside the project's versions. Usage: python _qnn_probe.py MODEL HTP_ARCH
Prints one JSON line: {"ok": true, "compiles": bool, "rejected": [{"node", "op", "reason"}], "compile_s", ...}.
Exits 0 when the backend refuses the model (the refusal is the verdict).

With CPU fallback disabled, session creation succeeds only if the QNN EP took every node: it is a
whole-graph compile verdict. At log severity 0 the EP names each node it rejects and why; onnxruntime
writes that log to fd 2 from C++, so the probe points fd 2 at a file while the session is created.
"""

import json
import os
import re
import sys
import tempfile
import time

# The log shapes of onnxruntime-qnn 2.7.0 (onnxruntime 1.32): the EP's summary of what it left out,
# the per-node-unit validation blocks with their REASON, and the HTP backend's own <E> messages.
UNSUPPORTED = re.compile(r"Unsupported nodes in QNN EP: (.*)")
UNSUPPORTED_NODE = re.compile(r"\{ name: (.*?), type: (.*?) \}")
FAILED_BLOCK = re.compile(r"Validation FAILED for \d+ nodes in OrtNodeUnit \((.*?)\) :\n((?:\t.*\n)+)")
BLOCK_NODE = re.compile(r"Operator type: (\S+) Node name: (.*?) Node index:")
BLOCK_REASON = re.compile(r"REASON : (.*)")
BACKEND_ERROR = re.compile(r"<E> (.*?in the node '(.*?)'.*)")


def _capture_fd2(path):
    sys.stderr.flush()
    saved = os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 2)
    os.close(fd)
    return saved


def _restore_fd2(saved):
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)


def main(model_path: str, htp_arch: str) -> None:
    import onnxruntime as ort
    import onnxruntime_qnn as qnn

    from importlib.metadata import version

    result = {"onnxruntime": ort.__version__, "onnxruntime_qnn": version("onnxruntime-qnn"), "htp_arch": htp_arch}
    ort.set_default_logger_severity(0)
    with tempfile.TemporaryDirectory(prefix="nxport-qnn-") as tmp:
        log_path = os.path.join(tmp, "ort.log")
        saved = _capture_fd2(log_path)
        error = None
        started = time.monotonic()
        try:
            ort.register_execution_provider_library(qnn.EP_NAME, qnn.get_library_path())
            options = ort.SessionOptions()
            options.log_severity_level = 0
            options.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
            devices = [d for d in ort.get_ep_devices() if d.ep_name == qnn.EP_NAME]
            options.add_provider_for_devices(devices, {"backend_path": qnn.get_qnn_htp_path(), "htp_arch": htp_arch})
            ort.InferenceSession(model_path, sess_options=options)
        except Exception as exc:  # the backend's refusal: the verdict, reported below
            error = f"{type(exc).__name__}: {str(exc).strip()[:1000]}"
        finally:
            result["compile_s"] = round(time.monotonic() - started, 3)
            _restore_fd2(saved)
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            log = fh.read()
    result.update(ok=True, compiles=error is None, error=error, rejected=rejected_nodes(log),
                  log_lines=log.count("\n"))
    print(json.dumps(result))


def rejected_nodes(log: str) -> list:
    """[{"node", "op", "reason"}] for every node the EP left to the CPU, in log order, each once: the
    backend's own message for that node when it gave one, else the EP's REASON line."""
    nodes = {}
    for line in UNSUPPORTED.findall(log):
        for name, op in UNSUPPORTED_NODE.findall(line):
            nodes.setdefault(name, op)
    reasons = {}
    for _unit, body in FAILED_BLOCK.findall(log):
        reason = BLOCK_REASON.search(body)
        for _op, name in BLOCK_NODE.findall(body):
            if reason:
                reasons.setdefault(name, reason.group(1).strip())
    backend = {}
    for message, name in BACKEND_ERROR.findall(log):
        backend.setdefault(name, message.strip())
    return [{"node": name, "op": op, "reason": backend.get(name) or reasons.get(name, "")}
            for name, op in nodes.items()]


if __name__ == "__main__":
    main(*sys.argv[1:3])
