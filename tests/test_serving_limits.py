"""Serving under pressure (issue 11): 429 when too many requests are in flight, 503 before the
server is ready, a bound on open connections - and never a 5xx for bad input."""

from __future__ import annotations

import base64
import io
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from test_serving import tiny_image_embedding  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_image_embedding(tmp_path_factory.mktemp("limits") / "tiny.onnx", 4)


def _app(path, **overrides):
    from serving import Settings, create_app, load_models

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
    assert "limit is 1" in second.json()["error"]
    assert first["r"].status_code == 200 and len(first["r"].json()[0]) == 4


def test_open_connections_are_bounded(tiny, monkeypatch):
    """`--max-connections` reaches uvicorn's limit_concurrency (503 beyond it, before reading a request)."""
    import uvicorn

    from serving.cli import serve
    from serving.settings import resolve_settings

    settings = resolve_settings({"models": [str(tiny)], "max_connections": "3"}, env={})
    seen = {}

    class FakeServer:
        def __init__(self, config):
            seen["limit"] = config.limit_concurrency

        def run(self):
            seen["ran"] = time.monotonic()

    monkeypatch.setattr(uvicorn, "Server", FakeServer)
    assert serve(settings) == 0
    assert seen["limit"] == 3 and "ran" in seen
    assert resolve_settings({}, env={}).max_connections == 256
