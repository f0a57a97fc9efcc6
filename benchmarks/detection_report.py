"""DETECTION.md from detection.json: two short tables (latency with its ratio, export stages), units
in the headers, and what each ratio means."""

from __future__ import annotations

LATENCY_ROWS = {  # model -> (contender key, label) in table order
    "yolov8n": (("ort_artifact", "Nx artifact (network + decode + NMS tail), onnxruntime"),
                ("ort_artifact_low_threshold", "same artifact fed threshold 0.01 (many NMS candidates)"),
                ("ort_raw_network", "raw network as shipped (fixed 320x320), onnxruntime")),
    "yolos": (("ort_artifact", "Nx artifact (network + tail), onnxruntime"),
              ("torch_end_to_end", "PyTorch eager + transformers post_process_object_detection"),
              ("torch_network", "PyTorch eager, forward only")),
}
STAGE_ORDER = ("load", "tail", "parity", "split", "check")
RATIOS = {  # model -> (key, label)
    "yolov8n": (("tail_cost_ratio", "tail cost: artifact / raw network (> 1: the tail adds that factor)"),
                ("tail_ms", "tail cost: artifact - raw network, ms"),
                ("tail_cost_ratio_low_threshold", "tail cost at threshold 0.01: artifact / raw network"),
                ("tail_ms_low_threshold", "tail cost at threshold 0.01: artifact - raw network, ms")),
    "yolos": (("speedup_end_to_end",
               "speed-up end to end: PyTorch + post-processing / artifact (> 1: artifact faster)"),
              ("speedup_network_only", "speed-up, forward only: PyTorch forward / artifact (which includes its tail)")),
}


def latency_table(models: list[dict]) -> list[str]:
    lines = ["| model | contender | median ms | p25-p75 ms | rounds |", "|---|---|---|---|---|"]
    for m in models:
        if "error" in m:
            lines.append(f"| {m['model']} | FAILED: {m['error']} | | | |")
            continue
        lat = m["latency"]
        for key, label in LATENCY_ROWS[m["model"]]:
            s = lat[key]
            lines.append(f"| {m['model']} | {label} | {s['median_ms']:.2f} | {s['p25_ms']:.2f}-{s['p75_ms']:.2f} | "
                         f"{s['runs']} |")
        for key, label in RATIOS[m["model"]]:
            lines.append(f"| {m['model']} | **{label}** | **{lat[key]}** | | |")
    return lines


def export_table(models: list[dict]) -> list[str]:
    ok = [m for m in models if "error" not in m]
    seen = {s for m in ok for s in m["export"]["stages_s"]}  # the JSON is key-sorted: pipeline order here
    stages = [s for s in STAGE_ORDER if s in seen] + sorted(seen - set(STAGE_ORDER))
    lines = ["| model | " + " | ".join(f"{s} s" for s in stages) + " | sum of stages s | wall s | artifact MB |",
             "|---|" + "---|" * (len(stages) + 3)]
    for m in ok:
        e = m["export"]
        cells = [f"{e['stages_s'][s]:.2f}" if s in e["stages_s"] else "-" for s in stages]
        lines.append(f"| {m['model']} | " + " | ".join(cells)
                     + f" | {e['total_s']:.2f} | {e['wall_s']:.2f} | {m['artifact_bytes'] / 1e6:.2f} |")
    return lines


def markdown(results: dict) -> str:
    machine, settings = results["machine"], results["settings"]
    models = results["models"]
    lines = ["# Detection benchmark", "",
             f"{results['started']} on {machine['cpu']} ({machine['logical_cpus']} logical CPUs), "
             f"{settings['threads']} thread(s) for onnxruntime and torch, batch 1, {settings['runs']} interleaved "
             f"rounds after {settings['warmup']} warm-up, medians; load average at start "
             f"{results['load_average']['start'][0]}, at end {results['load_average']['end'][0]}. "
             "Regenerate: `python -m benchmarks.detection --output-dir DIR`.", ""]
    for m in models:
        if "error" not in m:
            lat = m["latency"]
            low = (f", {lat['rows_low_threshold']} at {lat['low_threshold']}" if "low_threshold" in lat else "")
            lines.append(f"- **{m['model']}**: {m['weights']}; input {m['input']}, real photo `{m['photo']}`, "
                         f"{lat['rows']} detection row(s) at threshold {lat['threshold']}{low}.")
    lines += ["", "## Latency (median, ms)", "", *latency_table(models), ""]
    lines += [f"- {note}" for note in results["notes"]]
    lines += ["", "## Export wall time per stage (from the export report's `timings_s`)", "",
              "load = read or build the network (YOLOS: transformers model + torch.onnx.export); tail = build and "
              "compose the onnx.helper decode/NMS tail; parity = rows vs an independent reference on real "
              "photos; check = the conformance checker. Wall includes imports and file writes.", "",
              *export_table(models), ""]
    return "\n".join(lines)
