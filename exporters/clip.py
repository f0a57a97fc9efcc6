"""CLIP export: a matched pair `<name>_img.onnx` (Nx image tower) + `<name>_txt.onnx` (text tower,
input `tokens-` int64 (1, L)), the tokenizer beside them, and optionally `<name>_zeroshot.onnx`: the
image tower with the class prompts' text embeddings baked in, a plain Nx `scores-` classifier.

Everything is built, checked and compared with PyTorch in memory; files appear only when all passed.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nxport.conventions.kinds import TEXT_INPUT
from nxport.conventions.kinds.embedding import format_name as format_embedding_name
from nxport.conventions.kinds.scores import format_name as format_scores_name
from nxport.conventions.normalization import Normalization
from nxport.exporters.artifact import check_conformance
from nxport.exporters.classification import INPUT_NAME, input_shape, provenance_of
from nxport.exporters.clip_sources import ClipModel, load_hf_clip, load_open_clip
from nxport.exporters.config import DEFAULT_OPSET, PreprocessingOverrides, resolve_preprocessing, validate_opset
from nxport.exporters.labels import read_labels_file, validate_labels
from nxport.conventions.contract import read_provenance
from nxport.conventions.contract import stamp_contract
from nxport.exporters.parity import classifier_parity, embedding_parity, nx_feeds, parity_photos
from nxport.exporters.verification import VerifiedGraph, export_verified
from nxport.exporters.registry import register_task
from nxport.exporters.report import StageTimer, build_report
from nxport.exporters.templates import TEMPLATES
from nxport.core.atomic import atomic_path, prepare_output_dir, refuse_existing
from nxport.core.errors import ConfigError, ParityError

DEFAULT_TEMPLATES = ("a photo of a {}.",)
PAIR_PROMPTS = ("a photo of a cat", "a cup of coffee", "an astronaut in a space suit", "a rocket on a launch pad",
                "a motorcycle", "a portrait of a woman in uniform")


@dataclass
class ClipConfig:
    model: str  # HF id (or any label for a local dir), or an open_clip config name / JSON file
    source: str = "auto"  # auto | hf | open_clip
    weights: Path | None = None
    pretrained: bool = False
    random_init: bool = False
    hf_config: dict | None = None  # HF random init: CLIPConfig kwargs
    zero_shot: list[str] | Path | None = None  # class names, or a labels file
    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    replace_char: str | None = None
    opset: int = DEFAULT_OPSET
    preprocessing: PreprocessingOverrides = field(default_factory=PreprocessingOverrides)
    output_dir: Path = Path("build")
    name: str | None = None
    overwrite: bool = False
    parity_images: Path | None = None
    pair_atol: float = 1e-4

    def __post_init__(self):
        self.output_dir = Path(self.output_dir)
        self.weights = Path(self.weights) if self.weights is not None else None
        if self.source not in ("auto", "hf", "open_clip"):
            raise ConfigError(f"source {self.source!r} not in auto, hf, open_clip", fix="pass --source hf")
        if not self.templates or any("{}" not in t for t in self.templates):
            raise ConfigError(f"prompt templates {list(self.templates)} must each contain '{{}}'",
                              fix='pass e.g. --template "a photo of a {}."')

    @property
    def artifact_name(self) -> str:
        return self.name or Path(self.model).stem.replace("/", "_").replace("-", "_").replace(".", "_")


class ZeroShotClassifier(nn.Module):
    """image -> softmax(logit_scale * normalized_image_embedding @ class_embeddings.T)."""

    def __init__(self, image_tower: nn.Module, class_embeddings: torch.Tensor, logit_scale: float):
        super().__init__()
        self.image_tower = image_tower
        self.register_buffer("class_embeddings", class_embeddings)
        self.logit_scale = logit_scale

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logit_scale * self.image_tower(image) @ self.class_embeddings.T, dim=1)


def load_clip(config: ClipConfig) -> ClipModel:
    source = config.source
    if source == "auto":
        source = "open_clip" if config.model.endswith(".json") or _is_open_clip_name(config.model) else "hf"
    if source == "open_clip":
        return load_open_clip(config.model, weights=config.weights, random_init=config.random_init)
    return load_hf_clip(config.model, weights=config.weights, pretrained=config.pretrained,
                        random_init=config.random_init, config_kwargs=config.hf_config)


def _is_open_clip_name(name: str) -> bool:
    try:
        import open_clip
    except ImportError:
        return False
    return name in open_clip.list_models()


def class_embeddings(clip: ClipModel, names: list[str], templates) -> torch.Tensor:
    """Mean of each class's normalized prompt embeddings, renormalized (CLIP's prompt ensembling)."""
    rows = []
    with torch.no_grad():
        for name in names:
            tokens = torch.from_numpy(clip.tokenizer([t.format(name) for t in templates]))
            mean = clip.text_tower(tokens).mean(dim=0)
            rows.append(mean / mean.norm())
    return torch.stack(rows)


@dataclass
class ClipResult:
    paths: dict[str, Path]
    report: dict

    def summary(self) -> str:
        lines = []
        for kind, artifact in self.report["artifacts"].items():
            checks = artifact["conformance"]
            lines.append(f"{kind:9} {self.paths[kind]}  ({artifact['size_bytes'] / 1e6:.1f} MB, opset "
                         f"{artifact['opset']}, IR {artifact['ir_version']}) {artifact['inputs'][0]['name']} -> "
                         f"{artifact['outputs'][0]['name'][:60]}  "
                         f"{'CONFORMANT' if checks['conformant'] else 'NOT CONFORMANT'}")
        pair = self.report["pair_agreement"]
        lines.append(f"pair      {pair['photos']} photos x {pair['prompts']} prompts: image-text cosine ONNX vs "
                     f"PyTorch max |d| {pair['max_abs_diff']:.1e} (tolerance {pair['tolerance']:.0e})")
        lines.append(f"tokenizer {self.paths['tokenizer']}/  (context length {self.report['tokenizer']['context_length']})")
        lines.append(f"report    {self.paths['report']}")
        return "\n".join(lines)


def _zero_shot_labels(config: ClipConfig) -> list[str] | None:
    if config.zero_shot is None:
        return None
    if isinstance(config.zero_shot, (list, tuple)):
        names, source = [n.strip() for n in config.zero_shot], "--zero-shot list"
    else:
        names, source = read_labels_file(config.zero_shot), f"file {Path(config.zero_shot).name}"
    if len(names) < 2:
        raise ConfigError(f"zero-shot needs at least 2 classes, got {names}", fix='pass --zero-shot "cat,dog"')
    return validate_labels(names, len(names), source, config.replace_char)


def pair_agreement(img: VerifiedGraph, txt: VerifiedGraph, atol: float) -> dict:
    """Image-text cosine matrix from the two ONNX graphs vs PyTorch: the pair must share one space.
    Both sides come from each tower's single verification pass."""
    onnx_img, onnx_txt = np.concatenate(img.run.outputs), np.concatenate(txt.run.outputs)
    torch_img, torch_txt = np.concatenate(img.expected), np.concatenate(txt.expected)
    worst = float(np.max(np.abs(onnx_img @ onnx_txt.T - torch_img @ torch_txt.T)))
    result = {"photos": len(onnx_img), "prompts": len(onnx_txt), "max_abs_diff": worst, "tolerance": atol}
    if worst > atol:
        raise ParityError(f"image-text cosines from the ONNX pair differ from PyTorch by {worst:.2e} > {atol:.0e}",
                          fix="try --opset 17; if it persists report the model")
    return result


def _export_tower(module, feeds, input_name, output_name, opset, timer, label, part) -> VerifiedGraph:
    return export_verified(module, feeds, input_name, output_name, opset, simplify_graph=True, timer=timer,
                           label=label, part=part)


def _zero_shot(clip, labels, config, photos, feeds, opset, timer):
    with timer("zero_shot", f"{len(labels)} classes x {len(config.templates)} prompts"), torch.no_grad():
        embeddings = class_embeddings(clip, labels, config.templates)
    classifier = ZeroShotClassifier(clip.image_tower, embeddings, clip.logit_scale).eval()
    graph = _export_tower(classifier, feeds, INPUT_NAME, format_scores_name(labels), opset, timer,
                          f"parity photo {photos[0].name}", "zero-shot classifier")
    parity = classifier_parity(graph.expected, graph.run.outputs, photos, labels, 1e-4, graph.blame(feeds))
    extra = {"classes": len(labels), "templates": list(config.templates), "logit_scale": clip.logit_scale,
             "simplify": graph.simplify_info, "parity": parity.to_dict()}
    return graph, extra


def write_outputs(models: dict[str, bytes], paths: dict[str, Path], report: dict, clip: ClipModel) -> None:
    """All files or none: the tokenizer is staged in a temporary directory, the ONNX files and the
    report in temporary files, and everything is renamed into place only after all were written."""
    tokenizer_dir = paths["tokenizer"]
    staging = Path(tempfile.mkdtemp(prefix=f".{tokenizer_dir.name}.", dir=tokenizer_dir.parent))
    try:
        clip.tokenizer.save(staging)
        with contextlib.ExitStack() as stack:
            for kind, data in models.items():
                stack.enter_context(atomic_path(paths[kind])).write_bytes(data)
            stack.enter_context(atomic_path(paths["report"])).write_text(
                json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            if tokenizer_dir.exists():
                shutil.rmtree(tokenizer_dir)
            staging.rename(tokenizer_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _clip_paths(config: ClipConfig) -> dict[str, Path]:
    out = prepare_output_dir(config.output_dir)
    name = config.artifact_name
    paths = {"img": out / f"{name}_img.onnx", "txt": out / f"{name}_txt.onnx",
             "tokenizer": out / f"{name}_tokenizer", "report": out / f"{name}.report.json"}
    if config.zero_shot is not None:
        paths["zeroshot"] = out / f"{name}_zeroshot.onnx"
    refuse_existing(list(paths.values()), config.overwrite)
    return paths


@register_task("clip", ClipConfig, "CLIP -> <name>_img.onnx + <name>_txt.onnx (+ <name>_zeroshot.onnx)")
def export_clip(config: ClipConfig) -> ClipResult:
    timer = StageTimer()
    opset = validate_opset(config.opset)
    paths = _clip_paths(config)
    with timer("load"):
        clip = load_clip(config)
        labels = _zero_shot_labels(config)
        pre = resolve_preprocessing(("explicit", config.preprocessing), ("weights-config", clip.preprocessing),
                                    ("template:clip", TEMPLATES["clip"].preprocessing))
        photos = parity_photos(config.parity_images)
    norm, shape = Normalization.from_unit_scale(pre.mean, pre.std), input_shape(pre)
    feeds = nx_feeds(photos, INPUT_NAME, shape, norm)
    token_feeds = [{TEXT_INPUT: clip.tokenizer(p)} for p in PAIR_PROMPTS]
    img_graph = _export_tower(clip.image_tower, feeds, INPUT_NAME,
                              lambda ref: format_embedding_name(int(ref.shape[-1]), "l2", "cls"), opset, timer,
                              f"parity photo {photos[0].name}", "image tower")
    dim = int(img_graph.expected[0].shape[-1])
    txt_graph = _export_tower(clip.text_tower, token_feeds, TEXT_INPUT, format_embedding_name(dim, "l2", "eot"),
                              opset, timer, f"prompt {PAIR_PROMPTS[0]!r}", "text tower")
    img_parity = embedding_parity(img_graph.expected, img_graph.run.outputs, 0.9999, img_graph.blame(feeds))
    txt_parity = embedding_parity(txt_graph.expected, txt_graph.run.outputs, 0.9999, txt_graph.blame(token_feeds))
    pair = pair_agreement(img_graph, txt_graph, config.pair_atol)
    img, txt = img_graph.model, txt_graph.model
    img_simplified, txt_simplified = img_graph.simplify_info, txt_graph.simplify_info
    evidence = {"img": img_graph.run.evidence, "txt": txt_graph.run.evidence}
    base = provenance_of("clip", clip.source, clip.weights, pre, opset)
    pair_info = {"image": paths["img"].name, "text": paths["txt"].name, "tokenizer": paths["tokenizer"].name,
                 "logit_scale": clip.logit_scale, "context_length": clip.tokenizer.context_length}
    models = {"img": img, "txt": txt}
    stamp_contract(img, norm, {**base, "task": "clip-image", "pair": pair_info, "simplify": img_simplified,
                      "parity": img_parity.to_dict()})
    stamp_text(txt, {**base, "task": "clip-text", "pair": pair_info, "simplify": txt_simplified,
                     "parity": txt_parity.to_dict()}, clip.tokenizer.context_length)
    if labels is not None:
        zeroshot, extra = _zero_shot(clip, labels, config, photos, feeds, opset, timer)
        stamp_contract(zeroshot.model, norm, {**base, "task": "clip-zero-shot", "pair": pair_info, **extra})
        models["zeroshot"], evidence["zeroshot"] = zeroshot.model, zeroshot.run.evidence
    return _finish_clip(models, paths, clip, pair, timer, evidence)


def stamp_text(model, provenance: dict, context_length: int) -> None:
    """Text towers have no image normalization (rules C* do not apply); the doc_string says how to feed it."""
    stamp_contract(model, Normalization.identity(), provenance)
    model.graph.doc_string = json.dumps({"tokens": {"context_length": context_length, "dtype": "int64",
                                                    "layout": "<|startoftext|> bpe... <|endoftext|> 0..."}})


def _finish_clip(models, paths, clip, pair, timer, evidence) -> ClipResult:
    data = {kind: model.SerializeToString() for kind, model in models.items()}
    artifacts = {}
    with timer("check", ", ".join(data)):
        checks = {kind: check_conformance(blob, evidence[kind]) for kind, blob in data.items()}
    for kind, model in models.items():
        report = build_report(model, data[kind], paths[kind], read_provenance(model)["task"],
                              read_provenance(model), checks[kind], {}, [])
        artifacts[kind] = {k: v for k, v in report.__dict__.items() if k not in ("timings_s", "next_steps")}
    report = {"artifacts": artifacts, "pair_agreement": pair, "timings_s": timer.seconds,
              "tokenizer": {"directory": paths["tokenizer"].name, "context_length": clip.tokenizer.context_length,
                            "vocab_size": len(clip.tokenizer.vocab), "source": clip.source.get("tokenizer")},
              "next_steps": [f"python -m nxport.conventions {paths['img']}",
                             f"python -m nxport.conventions {paths['txt']}   # text profile: tokens- input",
                             "tokenize queries with exporters.clip_tokenizer.load_tokenizer(<name>_tokenizer)"]}
    with timer("tokenizer"):
        write_outputs(data, paths, report, clip)
    return ClipResult(paths, report)
