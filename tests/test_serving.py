"""`python -m nxport.serving`: real HTTP requests to real servers on loopback.

Two servers per run: the CLI in a subprocess on the real EfficientNet-Lite0 artifacts (classifier +
embedding, exported by the project's own example scripts), and an in-process uvicorn thread on tiny
hand-built graphs (a CLIP-like pair with a stand-in tokenizer, a graph that cannot batch, an API key).
"""

from __future__ import annotations

import base64
import io
import json
import socket
import struct
import signal
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import httpx  # serving's dependencies are required: a missing one fails, never skips

REPO = Path(__file__).resolve().parents[1]
MAX_IMAGES, MAX_PAYLOAD = 8, 3_000_000
API_KEY = "s3cret-test-key"


# ---------------------------------------------------------------- helpers

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen | None = None, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not become healthy in {timeout}s")


def encode(image, fmt: str = "PNG", **save) -> bytes:
    from PIL import Image

    img = image if isinstance(image, Image.Image) else Image.fromarray(image)
    buf = io.BytesIO()
    img.save(buf, fmt, **save)
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def direct_run(artifact: Path, data: bytes) -> np.ndarray:
    """What the device computes: nx_preprocess from the artifact's own doc_string and shape, batch 1."""
    import onnx
    import onnxruntime as ort

    from nxport.conventions.normalization import parse_doc_string
    from nxport.conventions.nx_input import InputLayout, nx_preprocess
    from nxport.core.images import load_image

    model = onnx.load(str(artifact))
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    tensor = nx_preprocess(load_image(data), InputLayout.from_shape(shape), parse_doc_string(model.graph.doc_string))
    session = ort.InferenceSession(str(artifact), providers=["CPUExecutionProvider"])
    return session.run(None, {model.graph.input[0].name: tensor})[0][0]


def png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


# ---------------------------------------------------------------- tiny graphs

def _save(graph, path: Path, doc: str | None = None) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    if doc is not None:
        model.graph.doc_string = doc
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def tiny_image_embedding(path: Path, dim: int, reshape_batch1: bool = False) -> Path:
    """image- (1,3,8,8) -> mean over H,W (or a Reshape to a constant (1, 192)) -> MatMul -> (1, dim), norm none."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(dim)
    name = f"embedding-dim:{dim};norm:none;pool:avg"
    if reshape_batch1:
        weights = numpy_helper.from_array(rng.standard_normal((192, dim)).astype(np.float32), "w")
        shape = numpy_helper.from_array(np.array([1, 192], dtype=np.int64), "shape")
        nodes = [helper.make_node("Reshape", ["image-", "shape"], ["flat"]),
                 helper.make_node("MatMul", ["flat", "w"], [name])]
        inits = [weights, shape]
    else:
        weights = numpy_helper.from_array(rng.standard_normal((3, dim)).astype(np.float32), "w")
        nodes = [helper.make_node("ReduceMean", ["image-"], ["pooled"], keepdims=0, axes=[2, 3]),
                 helper.make_node("MatMul", ["pooled", "w"], [name])]
        inits = [weights]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("image-", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, dim])], inits)
    return _save(graph, path, json.dumps({"means": [127.5] * 3, "vars": [127.5] * 3}))


def tiny_text_tower(path: Path, dim: int = 8) -> Path:
    """tokens- int64 (1, 77) -> embedding table -> mean over tokens -> (1, dim)."""
    from onnx import TensorProto, helper, numpy_helper

    name = f"embedding-dim:{dim};norm:none;pool:mean"
    table = numpy_helper.from_array(np.random.default_rng(1).standard_normal((1000, dim)).astype(np.float32), "table")
    nodes = [helper.make_node("Gather", ["table", "tokens-"], ["vectors"]),
             helper.make_node("ReduceMean", ["vectors"], [name], keepdims=0, axes=[1])]
    graph = helper.make_graph(nodes, "text", [helper.make_tensor_value_info("tokens-", TensorProto.INT64, [1, 77])],
                              [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, dim])], [table])
    return _save(graph, path)


def fake_tokenizer(texts: list[str]) -> np.ndarray:
    """Stand-in for exporters.clip_tokenizer: one id per character, padded to 77."""
    rows = [[ord(c) % 1000 for c in text[:77]] + [0] * (77 - len(text[:77])) for text in texts]
    return np.asarray(rows, dtype=np.int64)


# ---------------------------------------------------------------- servers

@pytest.fixture(scope="module")
def server(lite0_artifact, lite0_embedding_example_artifact, tmp_path_factory):
    """`python -m nxport.serving CLASSIFIER EMBEDDING --port N` in a subprocess; stopped at module end."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("serving") / "server.log"
    command = [sys.executable, "-m", "nxport.serving", str(lite0_artifact), str(lite0_embedding_example_artifact),
               "--port", str(port), "--max-images", str(MAX_IMAGES), "--max-payload-bytes", str(MAX_PAYLOAD),
               "--threads", "2"]
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(command, cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        with httpx.Client(base_url=url, timeout=60) as client:
            client.log_path = log_path
            yield client
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught: exit 0 or -15, never SIGKILL.
    assert proc.returncode in (0, -signal.SIGTERM), f"the server ignored SIGTERM (exit {proc.returncode})"


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    return {
        "clip_img": tiny_image_embedding(folder / "clip_img.onnx", 8),
        "clip_txt": tiny_text_tower(folder / "clip_txt.onnx"),
        "lonely_txt": tiny_text_tower(folder / "lonely_txt.onnx"),
        "flat": tiny_image_embedding(folder / "flat.onnx", 4, reshape_batch1=True),
    }


@pytest.fixture(scope="module")
def aux_server(tiny_models):
    """create_app + uvicorn in a thread, with an API key and a stand-in tokenizer for the CLIP pair."""
    import uvicorn

    from nxport.serving import Settings, create_app, load_models

    settings = Settings(models=tuple(tiny_models.values()), api_key=API_KEY, threads=1)
    models = load_models(settings.models, settings)
    next(m for m in models if m.name == "clip_txt").set_tokenizer(fake_tokenizer)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(models, settings), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
        with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {API_KEY}"}) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=15)
    assert not thread.is_alive()


# ---------------------------------------------------------------- real artifacts, subprocess server

def test_health_and_info_name_every_model(server):
    assert server.get("/health").json()["status"] == "ok"
    info = server.get("/info").json()
    models = {m["name"]: m for m in info["models"]}
    assert set(models) == {"efficientnet_lite0", "efficientnet_lite0_embedding"}
    cls, emb = models["efficientnet_lite0"], models["efficientnet_lite0_embedding"]
    assert (cls["task"], cls["labels_count"], cls["input"]["shape"]) == ("classification", 1000, [1, 3, 224, 224])
    assert (emb["task"], emb["dimension"], emb["normalized_in_graph"]) == ("embedding", 1280, True)
    for model in (cls, emb):
        assert model["opset"] == 17 and model["int8"] is False and model["batching"]["mode"] == "dynamic"
        assert model["preprocessing"]["means"] == [127.5] * 3 and model["versions"]["onnxruntime"]
    assert info["limits"]["max_images"] == MAX_IMAGES and info["auth"] is False


def test_embed_seed_shape_equals_device_computation(server, photos, lite0_embedding_example_artifact):
    jpegs = [encode(photos[name], "JPEG", quality=90) for name in ("chelsea", "coffee", "astronaut")]
    response = server.post("/embed", json={"inputs": [b64(j) for j in jpegs]})
    assert response.status_code == 200, response.text
    vectors = np.asarray(response.json())
    assert vectors.shape == (3, 1280)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    expected = np.stack([direct_run(lite0_embedding_example_artifact, j) for j in jpegs])
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    for header in ("X-Decode-Time", "X-Inference-Time", "X-Total-Time"):
        assert float(response.headers[header]) >= 0
    data_url = server.post("/embed", json={"inputs": "data:image/jpeg;base64," + b64(jpegs[0]), "normalize": False})
    np.testing.assert_allclose(data_url.json()[0], expected[0], atol=1e-5)  # normalized in the graph: as is


def test_classify_real_photos(server, photos):
    inputs = [b64(encode(photos["chelsea"], "JPEG")), b64(encode(photos["coffee"], "JPEG"))]
    response = server.post("/classify", json={"inputs": inputs, "top_k": 3})
    assert response.status_code == 200, response.text
    cat, coffee = response.json()
    assert len(cat) == 3 and cat[0]["score"] >= cat[1]["score"] >= cat[2]["score"]
    assert 281 <= cat[0]["id"] <= 285 and "cat" in cat[0]["label"]
    assert (coffee[0]["id"], coffee[0]["label"]) == (967, "espresso")


def test_batched_results_equal_per_image(server, photos):
    inputs = [b64(encode(photos[name])) for name in ("chelsea", "coffee", "rocket", "motorcycle")]
    batched = np.asarray(server.post("/embed", json={"inputs": inputs}).json())
    singles = np.asarray([server.post("/embed", json={"inputs": [x]}).json()[0] for x in inputs])
    with ThreadPoolExecutor(4) as pool:  # concurrent single-image requests share batches
        concurrent = np.asarray(list(pool.map(lambda x: server.post("/embed", json={"inputs": [x]}).json()[0], inputs)))
    np.testing.assert_allclose(batched, singles, atol=1e-5)
    np.testing.assert_allclose(concurrent, singles, atol=1e-5)


def test_exif_orientation_rgba_and_gray(server, photos, lite0_embedding_example_artifact):
    from PIL import Image

    upright = Image.fromarray(photos["chelsea"])
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a camera held sideways writes
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    rgba = upright.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(upright.size))
    inputs = [encode(upright), encode(stored, exif=exif.tobytes()), encode(stored), encode(rgba),
              encode(upright.convert("L"))]
    response = server.post("/embed", json={"inputs": [b64(x) for x in inputs]})
    assert response.status_code == 200, response.text
    up, rotated, sideways, alpha, gray = np.asarray(response.json())
    np.testing.assert_allclose(rotated, up, atol=1e-5)
    assert float(sideways @ up) < 0.999  # without the tag the picture really is different
    np.testing.assert_allclose(alpha, direct_run(lite0_embedding_example_artifact, inputs[3]), atol=1e-5)
    np.testing.assert_allclose(gray, direct_run(lite0_embedding_example_artifact, inputs[4]), atol=1e-5)
    assert float(gray @ up) < 0.999 and float(alpha @ up) < 0.999  # really gray, really composited


def _bad_inputs(photos_jpeg: str) -> list:
    return [
        ("bad base64", "/embed", {"inputs": ["not base64 at all!"]}, 400, "Decode"),
        ("not an image", "/embed", {"inputs": [b64(b"hello, I am text, not a picture")]}, 400, "Decode"),
        ("truncated jpeg", "/classify", {"inputs": [photos_jpeg[:400]]}, 400, "Decode"),
        ("data url without base64", "/embed", {"inputs": ["data:image/png,abc"]}, 400, "Decode"),
        ("empty list", "/embed", {"inputs": []}, 400, "Empty"),
        ("bomb over PIL limit", "/embed", {"inputs": [b64(png_bomb(100_000, 100_000))]}, 400, "Decode"),
        ("bomb over server limit", "/classify", {"inputs": [b64(png_bomb(8000, 8000))]}, 400, "Decode"),
        ("too many images", "/embed", {"inputs": [photos_jpeg] * (MAX_IMAGES + 1)}, 413, "Validation"),
        ("payload too large", "/embed", {"inputs": ["A" * (MAX_PAYLOAD + 10)]}, 413, "PayloadTooLarge"),
        ("inputs not a list", "/embed", {"inputs": 5}, 422, "Validation"),
        ("inputs of numbers", "/classify", {"inputs": [1, 2]}, 422, "Validation"),
        ("normalize not a bool", "/embed", {"inputs": [photos_jpeg], "normalize": "yes"}, 422, "Validation"),
        ("top_k zero", "/classify", {"inputs": [photos_jpeg], "top_k": 0}, 422, "Validation"),
        ("body is a list", "/embed", [photos_jpeg], 422, "Validation"),
        ("unknown model", "/embed", {"inputs": [photos_jpeg], "model": "resnet9000"}, 422, "Validation"),
        ("embed on classifier", "/embed", {"inputs": [photos_jpeg], "model": "efficientnet_lite0"}, 422, "Validation"),
        ("classify on embedding", "/classify", {"inputs": [photos_jpeg], "model": "efficientnet_lite0_embedding"},
         422, "Validation"),
        ("text on image model", "/embed", {"inputs": ["a photo of a cat"], "kind": "text"}, 422, "Tokenizer"),
    ]


def test_bad_inputs_are_typed_errors_never_500(server, photos):
    jpeg = b64(encode(photos["chelsea"], "JPEG"))
    failures = []
    for name, route, body, status, error_type in _bad_inputs(jpeg):
        response = server.post(route, json=body)
        got = (response.status_code, response.json().get("error_type"))
        if got != (status, error_type) or not response.json().get("error"):
            failures.append(f"{name}: expected {status} {error_type}, got {got} {response.text[:200]}")
    malformed = server.post("/embed", content=b"{not json", headers={"content-type": "application/json"})
    if malformed.status_code != 400:
        failures.append(f"malformed JSON: {malformed.status_code}")
    assert not failures, "\n".join(failures)
    unknown = server.post("/embed", json={"inputs": [jpeg], "model": "resnet9000"}).json()["error"]
    assert "efficientnet_lite0" in unknown and "efficientnet_lite0_embedding" in unknown
    assert "/classify" in server.post("/embed", json={"inputs": [jpeg], "model": "efficientnet_lite0"}).json()["error"]
    assert server.get("/health").status_code == 200  # still serving after all that


def test_one_log_line_per_request_with_timings(server, photos):
    server.post("/classify", json={"inputs": [b64(encode(photos["coffee"], "JPEG"))], "top_k": 1})
    time.sleep(0.2)
    lines = [line for line in Path(server.log_path).read_text().splitlines() if "POST /classify 200" in line]
    assert lines and all(key in lines[-1] for key in ("model=efficientnet_lite0", "decode_ms=", "inference_ms=",
                                                      "total_ms="))


# ---------------------------------------------------------------- tiny graphs, in-thread server

def test_api_key(aux_server):
    url = str(aux_server.base_url)
    assert httpx.get(url + "/health").status_code == 200  # probes need no key
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY}):
        response = httpx.get(url + "/info", headers=headers)
        assert (response.status_code, response.json()["error_type"]) == (401, "Unauthorized")
    assert aux_server.get("/info").status_code == 200


def test_clip_pair_text_goes_through_the_text_tower(aux_server, tiny_models, photos):
    import onnxruntime as ort

    models = {m["name"]: m for m in aux_server.get("/info").json()["models"]}
    assert models["clip_img"]["text_tower"] == "clip_txt" and models["clip_txt"]["task"] == "text-embedding"
    text = "a photo of a cat"
    for body in ({"inputs": [text], "kind": "text", "model": "clip_img"}, {"inputs": [text], "model": "clip_txt"}):
        response = aux_server.post("/embed", json={**body, "normalize": False})
        assert response.status_code == 200, response.text
        session = ort.InferenceSession(str(tiny_models["clip_txt"]), providers=["CPUExecutionProvider"])
        expected = session.run(None, {"tokens-": fake_tokenizer([text])})[0][0]
        np.testing.assert_allclose(response.json()[0], expected, atol=1e-5)
    image = aux_server.post("/embed", json={"inputs": [b64(encode(photos["coffee"]))], "model": "clip_txt",
                                            "kind": "image"})
    assert image.status_code == 200 and len(image.json()[0]) == 8
    missing = aux_server.post("/embed", json={"inputs": [text], "model": "lonely_txt"})
    assert (missing.status_code, missing.json()["error_type"]) == (422, "Tokenizer")
    assert "tokenizer" in missing.json()["error"]


def test_graph_that_cannot_batch_falls_back_to_per_image(aux_server, tiny_models, photos):
    flat = next(m for m in aux_server.get("/info").json()["models"] if m["name"] == "flat")
    assert flat["batching"]["mode"] == "per-image" and "batch 2" in flat["batching"]["reason"]
    assert flat["normalized_in_graph"] is False
    pngs = [encode(photos[name]) for name in ("chelsea", "coffee", "rocket")]
    raw = aux_server.post("/embed", json={"inputs": [b64(p) for p in pngs], "model": "flat", "normalize": False})
    expected = np.stack([direct_run(tiny_models["flat"], p) for p in pngs])
    np.testing.assert_allclose(raw.json(), expected, rtol=1e-5, atol=1e-4)
    unit = np.asarray(aux_server.post("/embed", json={"inputs": [b64(pngs[0])], "model": "flat"}).json())
    np.testing.assert_allclose(unit[0], expected[0] / np.linalg.norm(expected[0]), atol=1e-5)


# ---------------------------------------------------------------- no server

def test_settings_precedence_cli_over_env_over_default():
    from nxport.core.errors import ConfigError
    from nxport.serving.settings import BatchingMode, resolve_settings

    env = {"NXPORT_MODELS": "a.onnx,b.onnx", "NXPORT_MAX_BATCH": "4", "NXPORT_PORT": "9000",
           "NXPORT_BATCHING": "per-image"}
    settings = resolve_settings({"port": "9100", "models": []}, env)
    assert [p.name for p in settings.models] == ["a.onnx", "b.onnx"]
    assert (settings.port, settings.max_batch, settings.batching) == (9100, 4, BatchingMode.PER_IMAGE)
    assert settings.host == "127.0.0.1" and settings.api_key is None
    assert resolve_settings({"models": ["c.onnx"]}, {"NXPORT_MODEL": "d.onnx"}).models == (Path("c.onnx"),)
    with pytest.raises(ConfigError, match="NXPORT_MAX_BATCH"):
        resolve_settings({}, {"NXPORT_MAX_BATCH": "0"})


def test_int8_detection_and_unservable_artifacts(tmp_path, tiny_models):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from nxport.conventions.contract import read_contract
    from nxport.core.errors import ArtifactContractError
    from nxport.serving.models import int8_info, load_model
    from nxport.serving.settings import Settings

    assert int8_info(read_contract(tiny_models["clip_img"])) is None
    scale = numpy_helper.from_array(np.array(0.1, dtype=np.float32), "scale")
    zero = numpy_helper.from_array(np.array(0, dtype=np.int8), "zero")
    nodes = [helper.make_node("QuantizeLinear", ["image-", "scale", "zero"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["dq"])]
    graph = helper.make_graph(nodes, "q", [helper.make_tensor_value_info("image-", TensorProto.FLOAT, [1, 3, 2, 2])],
                              [helper.make_tensor_value_info("dq", TensorProto.FLOAT, [1, 3, 2, 2])], [scale, zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    model.metadata_props.add(key="nxport.int8", value=json.dumps({"format": "QDQ"}))
    info = int8_info(read_contract(model))
    assert info["qdq_nodes"] == 2 and info["settings"] == {"format": "QDQ"}
    _save(graph, tmp_path / "raw.onnx", json.dumps({"means": [0] * 3, "vars": [1] * 3}))
    with pytest.raises(ArtifactContractError, match="rule.s. D1") as refused:
        load_model(tmp_path / "raw.onnx", Settings())
    assert refused.value.rule_ids == ("D1",)
    undocumented = tiny_image_embedding(tmp_path / "nodoc.onnx", 4)
    m = onnx.load(str(undocumented))
    m.graph.doc_string = ""
    onnx.save(m, str(undocumented))
    with pytest.raises(ArtifactContractError, match="C2: graph.doc_string is empty"):
        load_model(undocumented, Settings())


def test_exported_clip_pair_serves_text_with_its_own_tokenizer(tmp_path, photos, tiny_clip_config):
    """The CLIP exporter's real output (pair + <name>_tokenizer/), served: text and image share one space."""
    import onnxruntime as ort
    import uvicorn

    from nxport.exporters.clip import ClipConfig, export_clip
    from nxport.exporters.clip_tokenizer import load_tokenizer
    from nxport.serving import Settings, create_app, load_models

    result = export_clip(ClipConfig(model="pair", source="hf", random_init=True, hf_config=tiny_clip_config, output_dir=tmp_path))
    settings = Settings(models=(result.paths["img"], result.paths["txt"]), threads=1)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(load_models(settings.models, settings), settings),
                                           host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url)
        text = "a photo of a cat"
        got = httpx.post(url + "/embed", json={"inputs": [text], "kind": "text", "model": "pair_img"}, timeout=30)
        assert got.status_code == 200, got.text
        tokens = load_tokenizer(result.paths["tokenizer"])([text])
        session = ort.InferenceSession(str(result.paths["txt"]), providers=["CPUExecutionProvider"])
        np.testing.assert_allclose(got.json()[0], session.run(None, {"tokens-": tokens})[0][0], atol=1e-5)
        image = httpx.post(url + "/embed", json={"inputs": [b64(encode(photos["chelsea"]))], "model": "pair_img"},
                           timeout=30)
        assert image.status_code == 200 and len(image.json()[0]) == 16
    finally:
        server.should_exit = True
        thread.join(timeout=15)
