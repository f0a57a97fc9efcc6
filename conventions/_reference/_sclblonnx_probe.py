"""sclblonnx.check on one file, from the reference interpreter (sclblonnx 0.3.0 needs onnx 1.15).

Standalone on purpose, like _reference_probe.py. Usage: python _sclblonnx_probe.py MODEL
Prints one JSON line {"ok", "sclblonnx", "onnx", "passed", "messages"}; sclblonnx prints its
reasons (with terminal colours) instead of returning them, so they are captured from stdout.
"""

import contextlib
import io
import json
import re
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def main(model_path: str) -> None:
    result = {}
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            import onnx
            import sclblonnx
            from sclblonnx.version import __version__

            result.update(sclblonnx=__version__, onnx=onnx.__version__)
            graph = sclblonnx.graph_from_file(model_path)
            passed = bool(graph) and bool(sclblonnx.check(graph, _verbose=False))
        result.update(ok=True, passed=passed)
    except Exception as exc:
        result.update(ok=False, error=f"{type(exc).__name__}: {str(exc)[:400]}")
    lines = [ANSI.sub("", line).strip() for line in buffer.getvalue().splitlines()]
    result["messages"] = [line[:400] for line in lines if line][:10]
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
