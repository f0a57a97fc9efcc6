"""One export pipeline for every task (issue 22 item 2): `--target` on CLIP and detector exports through
the real CLI, and the all-or-nothing finish of a multi-file artifact (a failed or interrupted write
leaves none of its files, and an --overwrite that fails keeps the old ones)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import torch

import nxport.core.atomic as atomic
from nxport.cli import main
from nxport.core.atomic import PendingFile, write_together

from test_clip import TINY_HF
from test_detection import nudenet_onnx


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory) -> Path:
    """A tiny random CLIP saved as a Hugging Face directory, as `nxport export clip --weights` reads it."""
    import transformers

    from nxport.exporters.clip_tokenizer import ClipTokenizer

    folder = tmp_path_factory.mktemp("tiny_clip")
    torch.manual_seed(5)
    transformers.CLIPModel(transformers.CLIPConfig(**TINY_HF)).eval().save_pretrained(folder)
    transformers.CLIPImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}).save_pretrained(
        folder)
    ClipTokenizer.from_bpe_file().save(folder)
    return folder


def _verdicts(provenance: dict) -> dict:
    return {target: v["verdict"] for target, v in provenance["npu_preflight"]["targets"].items()}


def test_target_on_a_clip_export_preflights_every_tower(tiny_clip_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["export", "clip", "--model", "tiny", "--weights", str(tiny_clip_dir), "--zero-shot", "cat,dog",
                 "--opset", "18", "--target", "rknn", "--output-dir", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    report = json.loads((out / "tiny.report.json").read_text())
    assert set(report["artifacts"]) == {"img", "txt", "zeroshot"}
    for kind, artifact in report["artifacts"].items():
        assert artifact["conformance"]["conformant"], kind
        assert _verdicts(artifact["provenance"]) == {"rknn": "runs fully"}, kind
        assert artifact["provenance"]["npu_preflight"]["all_compile"] and artifact["opset"] == 18  # in rknn's window
    assert f"python -m nxport.conventions {out / 'tiny_img.onnx'} --target rknn" in " ".join(report["next_steps"])
    assert sum(line.startswith("npu ") and "rknn" in line and "runs fully" in line
               for line in printed.splitlines()) == 3, printed


def test_target_on_a_split_detector_preflights_the_artifact_and_its_network(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["export", "detection", "--weights", str(nudenet_onnx()), "--name", "yolo", "--split",
                 "--target", "rknn", "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "yolo.report.json").read_text())
    record = report["provenance"]["npu_preflight"]
    # The whole artifact ends in NonMaxSuppression (data-dependent shapes): RKNN's toolkit refuses it ...
    assert record["targets"]["rknn"]["verdict"] == "will not compile" and not record["all_compile"]
    assert "T-rknn-dynamic" in record["targets"]["rknn"]["blocking_rules"]
    # ... while the network half written beside it (what --split is for) compiles fully.
    network = record["parts"]["network"]
    assert network["targets"]["rknn"]["verdict"] == "runs fully" and network["all_compile"]
    assert report["conformance"]["conformant"] and report["sha256"]
    assert "WILL NOT COMPILE" in printed and "npu        network: rknn" in printed
    assert {p.name for p in out.iterdir()} == {"yolo.onnx", "yolo.network.onnx", "yolo.post.onnx", "yolo.report.json"}


def test_unknown_target_fails_before_any_work_on_every_task(tmp_path, capsys):
    for task in (["clip", "--model", "t", "--random-init"], ["detection", "--weights", str(nudenet_onnx())]):
        assert main(["export", *task, "--target", "coral", "--output-dir", str(tmp_path)]) == 2
        assert "unknown NPU target 'coral'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# --- the all-or-nothing finish -------------------------------------------------------------------

def _fail_on_rename(monkeypatch, folder: Path, number: int, error: type[BaseException] = KeyboardInterrupt) -> list:
    """os.replace as the finish uses it, raising on its `number`-th rename into `folder` (an interrupt
    mid-finish); renames elsewhere (library caches) pass untouched."""
    real, calls = os.replace, []

    def replace(src, dst):
        if Path(dst).parent != folder:
            return real(src, dst)
        calls.append(Path(dst))
        if len(calls) == number:
            raise error("interrupted while renaming the artifact into place")
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    return calls


def _pending(folder: Path, tag: bytes) -> list[PendingFile]:
    def tokenizer(path: Path) -> None:
        (path / "vocab.json").write_bytes(tag)

    return [PendingFile(folder / f"m_{kind}.onnx", lambda p, k=kind: p.write_bytes(tag + k.encode()))
            for kind in ("img", "txt", "zeroshot")] + [
        PendingFile(folder / "m_tokenizer", tokenizer, directory=True),
        PendingFile(folder / "m.report.json", lambda p: p.write_bytes(tag))]


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("failing_rename", [1, 3, 4])
def test_interrupted_finish_leaves_none_of_the_files(tmp_path, monkeypatch, failing_rename):
    calls = _fail_on_rename(monkeypatch, tmp_path, failing_rename)
    with pytest.raises(KeyboardInterrupt):
        write_together(_pending(tmp_path, b"new"))
    assert len(calls) == failing_rename  # the renames before it had happened, and were taken back
    assert list(tmp_path.iterdir()) == []


def test_interrupted_overwrite_keeps_the_previous_artifact(tmp_path, monkeypatch):
    write_together(_pending(tmp_path, b"old"))
    before = _snapshot(tmp_path)
    _fail_on_rename(monkeypatch, tmp_path, 4, OSError)  # the tokenizer folder's rename fails, three files are in place
    with pytest.raises(OSError):
        write_together(_pending(tmp_path, b"new"))
    assert _snapshot(tmp_path) == before and sorted(tmp_path.glob(".*")) == []
    monkeypatch.undo()
    write_together(_pending(tmp_path, b"new"))  # and a finish that succeeds replaces every file, folder included
    after = _snapshot(tmp_path)
    assert set(after) == set(before) and all(v.startswith(b"new") for v in after.values())
    assert sorted(tmp_path.glob(".*")) == []  # no backup or temporary left
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.rglob("*")}
    assert modes["m_img.onnx"] == 0o644 and modes["m_tokenizer"] == 0o755 and modes["vocab.json"] == 0o644


def test_failure_while_staging_a_clip_export_leaves_nothing(tmp_path, monkeypatch):
    """The real CLIP export: its three graphs are staged first, then the tokenizer folder, which fails
    half written; everything staged before it must go, and the report never appears."""
    from nxport.exporters.clip import ClipConfig, export_clip
    from nxport.exporters.clip_tokenizer import ClipTokenizer

    def half_written(self, folder):
        (Path(folder) / "vocab.json").write_text("{")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(ClipTokenizer, "save", half_written)
    with pytest.raises(OSError, match="No space left"):
        export_clip(ClipConfig(model="t", source="hf", random_init=True, hf_config=TINY_HF, zero_shot=["cat", "dog"],
                               output_dir=tmp_path, targets=("rknn",)))
    assert list(tmp_path.iterdir()) == []


def test_interrupted_clip_overwrite_keeps_the_previous_pair(tmp_path, monkeypatch):
    from nxport.exporters.clip import ClipConfig, export_clip

    config = ClipConfig(model="t", source="hf", random_init=True, hf_config=TINY_HF, zero_shot=["cat", "dog"],
                        output_dir=tmp_path)
    export_clip(config)
    before = _snapshot(tmp_path)
    config.overwrite = True
    _fail_on_rename(monkeypatch, tmp_path, 3)  # img and txt are in place when the interrupt comes
    with pytest.raises(KeyboardInterrupt):
        export_clip(config)
    assert _snapshot(tmp_path) == before and sorted(tmp_path.glob(".*")) == []
