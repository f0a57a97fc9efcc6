"""What an export accepts before the heavy work: training checkpoints (.pth.tar, EMA), names and paths
checked before torch is imported, weights that contradict the named model, the hub probe, and timm's
reparameterization (issue 21: items 6, 7, 10, 12, 13, 15)."""

from __future__ import annotations

import argparse
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from nxport.core.errors import CheckpointKeyError, ModelMismatchError, UnknownModelError
from nxport.exporters.early_checks import check_hf_family, timm_architectures

REPO = Path(__file__).resolve().parents[1]
LITE0 = "tf_efficientnet_lite0"


def nxport(*args, env=None, python_flags=()) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *python_flags, "-m", "nxport", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def lite0_state(lite0_weights) -> dict:
    """The real lite0 ImageNet weights under timm's own key names."""
    from nxport.exporters.timm_source import load_timm_model

    return load_timm_model(LITE0, weights=lite0_weights).module.state_dict()


def save_training_checkpoint(path: Path, plain: dict, ema: dict | None) -> Path:
    """timm train.py's layout: plain and EMA weights, optimizer state, epoch and argparse args."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9)
    checkpoint = {"epoch": 41, "arch": LITE0, "state_dict": plain, "optimizer": optimizer.state_dict(),
                  "version": 2, "args": argparse.Namespace(model=LITE0, lr=0.1), "metric": 75.1}
    if ema is not None:
        checkpoint["state_dict_ema"] = ema
    torch.save(checkpoint, path)
    return path


def perturbed(state: dict) -> dict:
    """Other trained-looking weights: learned tensors moved by 1 %, BatchNorm statistics kept valid."""
    generator = torch.Generator().manual_seed(0)
    return {k: v * (1 + 0.01 * torch.randn(v.shape, generator=generator))
            if v.is_floating_point() and "running_" not in k else v.clone() for k, v in state.items()}


def test_training_checkpoint_plain_or_ema_weights(lite0_state, tmp_path, capsys):
    from nxport.exporters.timm_source import load_timm_model

    ema = perturbed(lite0_state)
    path = save_training_checkpoint(tmp_path / "model_best.pth.tar", {f"module.{k}": v for k, v in lite0_state.items()},
                                    {f"module.{k}": v for k, v in ema.items()})
    plain = load_timm_model(LITE0, weights=path)
    assert "model_best.pth.tar also holds EMA weights (state_dict_ema)" in capsys.readouterr().err
    averaged = load_timm_model(LITE0, weights=path, ema=True)
    assert plain.weights["checkpoint_key"] == "state_dict" and averaged.weights["checkpoint_key"] == "state_dict_ema"
    assert torch.equal(plain.module.classifier.weight, lite0_state["classifier.weight"])
    assert torch.equal(averaged.module.classifier.weight, ema["classifier.weight"])
    assert not torch.equal(plain.module.classifier.weight, averaged.module.classifier.weight)

    no_ema = save_training_checkpoint(tmp_path / "checkpoint-3.pth.tar", lite0_state, None)
    with pytest.raises(CheckpointKeyError, match="no EMA weights.*arch, args, epoch, metric, optimizer, state_dict"):
        load_timm_model(LITE0, weights=no_ema, ema=True)


def test_export_of_a_pth_tar_checkpoint_with_ema_weights(lite0_state, tmp_path):
    """The CLI as a user runs it on timm's model_best.pth.tar: EMA weights (here the real ones, the
    plain ones perturbed), parity on real photos, and a progress line for every slow stage. (The plain
    weights' choice is proven above without a second export.)"""
    path = save_training_checkpoint(tmp_path / "model_best.pth.tar", perturbed(lite0_state), lite0_state)
    proc = nxport("export", "classification", "--model", LITE0, "--weights", path, "--ema", "--output-dir",
                  tmp_path / "ema")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "ema/tf_efficientnet_lite0.report.json").read_text())
    assert report["provenance"]["weights"]["checkpoint_key"] == "state_dict_ema"
    assert report["provenance"]["parity"]["top1"]["coffee"][1] == "espresso"  # the real weights were exported
    assert report["provenance"]["parity"]["max_abs_diff"] <= 1e-4
    for line in ("importing torch", "loading the model and its weights", "torch.onnx.export", "onnxsim",
                 "running PyTorch and onnxruntime", "checking the Nx conventions"):
        assert f"nxport: {line}" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def _imported_modules(stderr: str) -> set[str]:
    """Module names from `python -X importtime` lines ('import time: self | cumulative | name')."""
    return {line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("args,message", [
    (["classification", "--model", "resnt18", "--weights", "missing.pth"], "Unknown timm model 'resnt18'"),
    (["classification", "--model", "resnet18", "--weights", "missing.pth"], "'missing.pth' does not exist"),
    (["classification", "--model", "resnet18"], "No weights given"),
    (["embedding", "--model", "resnt18", "--random-init"], "Unknown timm model"),
    (["clip", "--model", "ViT-B-32", "--weights", "missing.bin"], "does not exist"),
    (["preconfigured", "facebook/dinov3-small"], "Unknown preconfigured model"),
])
def test_typos_are_reported_before_torch_is_imported(args, message):
    proc = nxport("export", *args, python_flags=("-X", "importtime"))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    heavy = {m for m in _imported_modules(proc.stderr) if m.split(".")[0] in ("torch", "timm", "transformers")}
    assert not heavy, sorted(heavy)[:5]


def test_cached_timm_names_are_timm_s_own():
    """exporters/timm_models.txt is what timm would answer (regenerate with
    exporters.early_checks.write_timm_names_cache() after a timm upgrade)."""
    from timm.models._registry import _model_entrypoints

    assert timm_architectures() == sorted(_model_entrypoints)
    with pytest.raises(UnknownModelError, match="model .resnt18.. Did you mean: resnet18"):
        from nxport.exporters.early_checks import check_timm_name

        check_timm_name("resnt18.a1_in1k")


def _hf_dir(directory: Path, model_type: str) -> Path:
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps({"model_type": model_type}))
    (directory / "model.safetensors").write_bytes(b"not read before the check")
    return directory


def test_weights_of_another_architecture_are_refused(tmp_path):
    vit = _hf_dir(tmp_path / "vit", "vit")
    with pytest.raises(ModelMismatchError, match="'facebook/dinov2-small' is a 'dinov2' model.*model_type 'vit'"):
        check_hf_family("facebook/dinov2-small", vit)
    check_hf_family("facebook/deit-base-patch16-224", vit)  # DeiT checkpoints are ViT architectures
    check_hf_family("acme/my-backbone", vit)  # a name that names no family cannot contradict
    for args in (["embedding", "--model", "facebook/dinov2-small"], ["preconfigured", "facebook/dinov2-small"]):
        proc = nxport("export", *args, "--weights", vit, "--output-dir", tmp_path / "out",
                      python_flags=("-X", "importtime"))
        assert "torch" not in _imported_modules(proc.stderr)
        assert proc.returncode == 2 and "ModelMismatchError" in proc.stderr and "'vit'" in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()


HUB_PROBE = "from nxport.exporters.hub import hub_reachable; print(hub_reachable(timeout=2))"


def _probe_hub(**env) -> str:
    full = {**os.environ, "PYTHONPATH": str(REPO), **env}
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
        full.pop(name, None)
    proc = subprocess.run([sys.executable, "-c", HUB_PROBE], capture_output=True, text=True, timeout=60, env=full)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_hub_probe_follows_huggingface_hub_settings():
    """huggingface_hub decides: its offline flag, and its endpoint (HF_ENDPOINT), not a fixed host."""
    assert _probe_hub(HF_HUB_OFFLINE="1", HF_ENDPOINT="http://127.0.0.1:1") == "False"
    assert _probe_hub(HF_HUB_OFFLINE="0", HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}") == "False"
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert _probe_hub(HF_HUB_OFFLINE="0", HF_ENDPOINT=f"http://127.0.0.1:{server.server_port}") == "True"
    finally:
        server.shutdown()
        server.server_close()


def test_reparameterizable_model_exports_folded(tmp_path):
    """MobileOne-S0 ships 191 Conv + 183 Add nodes unfolded; folded by timm it is 43 Conv, parity-proven."""
    import timm

    from nxport.exporters import ClassifierConfig, PreprocessingOverrides, export_classifier

    result = export_classifier(ClassifierConfig(model="mobileone_s0", random_init=True, output_dir=tmp_path,
                                                preprocessing=PreprocessingOverrides(input_size=(96, 96))))
    ops = Counter(node.op_type for node in onnx.load(str(result.onnx_path)).graph.node)
    record = result.report.provenance["reparameterization"]
    assert ops["Conv"] == 43 and ops["Add"] == 0, ops
    assert record["applied"] and record["max_abs_diff"] <= 1e-4 and record["images"] >= 3
    assert result.report.provenance["parity"]["max_abs_diff"] <= 1e-4
    unfolded = timm.create_model("mobileone_s0")
    assert sum(isinstance(m, torch.nn.Conv2d) for m in unfolded.modules()) == 191


def test_no_reparam_keeps_the_training_branches(tmp_path):
    from nxport.exporters.reparam import reparameterize_for_export

    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)).eval()
    feeds = [{"image-": np.zeros((1, 3, 8, 8), np.float32)}]
    same, record = reparameterize_for_export(module, feeds, "image-", enabled=False)
    assert same is module and record == {"applied": False, "reason": "--no-reparam"}
    same, record = reparameterize_for_export(module, feeds, "image-", enabled=True, atol=1e-4)
    assert same is module and record["reason"] == "no reparameterizable blocks"
