"""Serving under pressure (issue 11): 429 when too many requests are in flight, 503 before the
server is ready, a bound on open connections - and never a 5xx for bad input."""

from __future__ import annotations

import base64
import io
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from test_serving import free_port, tiny_image_embedding  # noqa: E402


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_image_embedding(tmp_path_factory.mktemp("limits") / "tiny.onnx", 4)


def _app(path, **overrides):
    from nxport.serving import Settings, create_app, load_models

    settings = Settings(models=(path,), threads=1, **overrides)
    return create_app(load_models(settings.models, settings), settings)


def _png(photo: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(photo[:32, :32]).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_not_ready_is_503_never_500(tiny, photos):
    """Before the lifespan starts (and after it stops) every route but /info says 503, typed."""
    app = _app(tiny)
    client = TestClient(app)  # no `with`: the lifespan never runs, so the batchers never start
    health = client.get("/health")
    embed = client.post("/embed", json={"inputs": [_png(photos["coffee"])]})
    for response in (health, embed):
        assert response.status_code == 503 and response.json()["error_type"] == "Unhealthy", response.text
        assert response.headers["retry-after"] == "1"


def test_backpressure_is_429_while_a_request_is_in_flight(tiny, photos):
    app = _app(tiny, max_concurrent_requests=1)
    release, entered = threading.Event(), threading.Event()
    with TestClient(app) as client:
        batcher = next(iter(app.state.runtime.batchers.values()))
        run = batcher.runner.run

        def blocked(batch):  # the one request in flight waits here until the test lets it go
            entered.set()
            release.wait(30)
            return run(batch)

        batcher.runner.run = blocked
        body = {"inputs": [_png(photos["coffee"])]}
        first: dict = {}
        worker = threading.Thread(target=lambda: first.update(r=client.post("/embed", json=body)))
        worker.start()
        assert entered.wait(30)
        second = client.post("/embed", json=body)
        release.set()
        worker.join(30)
    assert second.status_code == 429 and second.json()["error_type"] == "Backpressure", second.text
    assert second.headers["retry-after"] == "1"
    assert "limit is 1" in second.json()["error"]
    assert first["r"].status_code == 200 and len(first["r"].json()[0]) == 4


def test_open_connections_are_bounded(tiny, monkeypatch):
    """`--max-connections` reaches uvicorn's limit_concurrency (503 beyond it, before reading a request)."""
    import uvicorn

    from nxport.serving.cli import serve
    from nxport.serving.settings import resolve_settings

    settings = resolve_settings({"models": [str(tiny)], "max_connections": "3", "port": str(free_port())}, env={})
    seen = {}

    class FakeServer:
        def __init__(self, config):
            seen["limit"] = config.limit_concurrency

        def run(self, sockets):
            seen["listening"] = [sock.getsockname()[1] for sock in sockets]

    monkeypatch.setattr(uvicorn, "Server", FakeServer)
    assert serve(settings) == 0
    assert seen["limit"] == 3 and seen["listening"] == [settings.port]
    assert resolve_settings({}, env={}).max_connections == 256


def _serve_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nxport.serving", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)


@pytest.mark.parametrize("port", ["80800", "0", "-1", "http"])
def test_a_port_outside_1_to_65535_is_one_typed_error(tiny, port):
    proc = _serve_cli(str(tiny), "--port", port)
    assert proc.returncode == 2, proc.stderr
    first, *rest = proc.stderr.strip().splitlines()
    assert first.startswith("error: ConfigError: --port = ") and repr(port) in first and len(rest) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "ready" not in proc.stderr


def test_a_port_in_use_is_refused_before_ready(tiny):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = _serve_cli(str(tiny), "--port", str(port))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: PortUnavailableError: Cannot listen on 127.0.0.1:{port}: the port is in use")
    assert "Traceback" not in proc.stderr and "ready" not in proc.stderr and "uvicorn" not in proc.stderr.lower()


def test_ready_is_said_once_the_socket_accepts_and_is_the_last_startup_line(tiny):
    import httpx

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "nxport.serving", str(tiny), "--port", str(port), "--threads", "1"],
                            stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        before = []
        for line in proc.stderr:
            before.append(line)
            if " ready on " in line:
                break
        assert f"ready on http://127.0.0.1:{port}: tiny" in before[-1], "".join(before)
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)  # no retry: it must accept now
        assert health.status_code == 200
    finally:
        proc.terminate()
        _, after = proc.communicate(timeout=30)
    assert proc.returncode in (0, -signal.SIGTERM), after
    # uvicorn's own lines ("Uvicorn running on ...", "Application startup complete") are not printed at all.
    assert "uvicorn" not in "".join(before + [after]).lower()
    assert [line for line in after.splitlines() if "GET /health 200" not in line and "stopping" not in line] == []


def test_429_over_http_carries_retry_after(tiny, photos):
    import httpx
    import uvicorn

    from nxport.serving import Settings, create_app, load_models

    settings = Settings(models=(tiny,), threads=1, max_concurrent_requests=1)
    app = create_app(load_models(settings.models, settings), settings)
    batcher = next(iter(app.state.runtime.batchers.values()))
    run, release, entered = batcher.runner.run, threading.Event(), threading.Event()

    def blocked(batch):
        entered.set()
        release.wait(30)
        return run(batch)

    batcher.runner.run = blocked
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url, body = f"http://127.0.0.1:{port}", {"inputs": [_png(photos["coffee"])]}
    try:
        from test_serving import wait_healthy

        wait_healthy(url)
        first: dict = {}
        worker = threading.Thread(target=lambda: first.update(r=httpx.post(url + "/embed", json=body, timeout=30)))
        worker.start()
        assert entered.wait(30)
        second = httpx.post(url + "/embed", json=body, timeout=30)
        release.set()
        worker.join(30)
    finally:
        release.set()
        server.should_exit = True
        thread.join(15)
    assert second.status_code == 429 and second.headers["retry-after"] == "1", second.headers
    assert first["r"].status_code == 200
