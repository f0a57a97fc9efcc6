"""results.json, RESULTS.md (tables with units), PNG charts (matplotlib Agg) and the stdout summary."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.export_stages import BASELINE_STAGES, OURS_STAGES

SPEEDUP_NOTE = "ratio > 1 means ours (the nxport ONNX artifact in onnxruntime) is faster"
PEAK_IS_WRONG = "peak is wrong"


def write_json(results: dict, path: Path) -> None:
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _ok(models: list[dict], section: str) -> list[dict]:
    return [m for m in models if isinstance(m.get(section), dict) and "error" not in m[section]
            and "skipped" not in m[section]]


def header_lines(results: dict) -> list[str]:
    mach, s = results["machine"], results["settings"]
    v = results["versions"]
    return [
        f"Run {results['started']} ({'quick' if s['quick'] else 'full'}), {results['wall_s']:.0f} s wall.",
        f"Machine: {mach['cpu']} ({mach['vendor']} family {mach['family']} model {mach['model']}), "
        f"{mach['logical_cpus']} logical CPUs{', VM' if mach['hypervisor'] else ''}, flags {' '.join(mach['flags'])}; "
        f"load average {results['load_average']['start']} at start, {results['load_average']['end']} at end.",
        f"Threads: {s['threads']} (torch.set_num_threads and onnxruntime intra_op_num_threads), batch 1, "
        f"224x224, {s['runs']} interleaved runs after {s['warmup']} warm-up, export stages: median of "
        f"{s['export_repeats']} repeat(s).",
        f"Versions: torch {v['torch']}, onnxruntime {v['onnxruntime']}, onnx {v['onnx']}, onnxsim {v['onnxsim']}, "
        f"timm {v['timm']}.",
        "The machine was shared with other work while this ran: read medians and ratios, not absolute times.",
    ]


def _join(seconds: dict, stages) -> str:
    return " / ".join(f"{seconds[s]:.2f}" for s in stages)


def export_table(models: list[dict]) -> list[str]:
    rows = ["| model | ours: " + " / ".join(OURS_STAGES) + " (s) | ours total (s) | bare: "
            + " / ".join(BASELINE_STAGES) + " (s) | bare total (s) | ours load+export+simplify / bare total |",
            "| --- | --- | ---: | --- | ---: | ---: |"]
    for m in _ok(models, "export"):
        e = m["export"]
        ours, bare = _join(e["ours_s"], OURS_STAGES), _join(e["baseline_s"], BASELINE_STAGES)
        rows.append(f"| {m['model']} | {ours} | {e['ours_total_s']:.2f} | {bare} | {e['baseline_total_s']:.2f} | "
                    f"{e['shared_stages_ratio']:.2f} |")
    return rows


def latency_table(models: list[dict]) -> list[str]:
    rows = ["| model | weights | ORT ours (ms) | ORT bare export (ms) | torch eager (ms) | torch / ORT ours "
            "(speed-up, > 1 = ours faster) | ORT bare / ORT ours |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for m in _ok(models, "latency"):
        lat = m["latency"]
        rows.append(f"| {m['model']} | {m['weights']} | {lat['ort']['median_ms']:.2f} | "
                    f"{lat['ort_bare']['median_ms']:.2f} | {lat['torch']['median_ms']:.2f} | "
                    f"**{lat['speedup_vs_torch']:.2f}** | {lat['bare_vs_ours']:.2f} |")
    return rows


def int8_table(models: list[dict]) -> list[str]:
    rows = ["| model | recipe | FP32 (MB) | INT8 (MB) | size ratio INT8/FP32 | FP32 (ms) | INT8 (ms) | "
            "latency ratio INT8/FP32 (< 1 = INT8 faster) | agreement on calib. images |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for m in _ok(models, "int8"):
        q = m["int8"]
        rows.append(f"| {m['model']} | {q['recipe']} | {q['fp32_bytes'] / 1e6:.1f} | {q['int8_bytes'] / 1e6:.1f} | "
                    f"**{q['size_ratio']:.2f}** | {q['fp32']['median_ms']:.2f} | {q['int8']['median_ms']:.2f} | "
                    f"**{q['latency_ratio']:.2f}** | {q['metric']} {q['agreement']:.2f} |")
    return rows


def roofline_table(models: list[dict]) -> list[str]:
    rows = ["| model | GFLOP (ONNX graph) | GFLOP (FlopCounterMode) | ORT (GFLOP/s) | torch (GFLOP/s) | "
            "peak (GFLOP/s) | ORT / peak | torch / peak | ORT / measured SGEMM | torch / measured SGEMM |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for m in _ok(models, "roofline"):
        r = m["roofline"]
        rows.append(f"| {m['model']} | {r['gflops_onnx']:.3f} | {r['gflops_torch_counter']:.3f} | "
                    f"{r['ort']['gflops_per_s']:.1f} | {r['torch']['gflops_per_s']:.1f} | "
                    f"{r['peak_gflops_per_s']:.1f} | "
                    f"{fraction(r['ort']['fraction_of_peak'])} | {fraction(r['torch']['fraction_of_peak'])} | "
                    f"**{fraction(r['ort']['fraction_of_gemm'])}** | {fraction(r['torch']['fraction_of_gemm'])} |")
    return rows


def fraction(value: float) -> str:
    return f"{value:.1%}" + (f" ({PEAK_IS_WRONG})" if value > 1.0 else "")


def peak_problems(results: dict) -> list[str]:
    """Every ratio above 100%, and every measured ceiling above the theoretical peak: nothing runs faster
    than the machine can, so each one means a denominator (clock, FLOPs/cycle, ceiling) is wrong."""
    mach = results["machine"]
    why = f"{mach['flops_per_cycle_source']}; clock {mach['clock_mhz']} MHz from {mach['clock_source']}"
    problems = [f"measured SGEMM {measured} GFLOP/s on {threads} thread(s) > theoretical peak {peak} GFLOP/s: "
                f"{PEAK_IS_WRONG} ({why})"
                for measured, peak, threads in (
                    (mach["gemm_gflops_per_s"], mach["peak_gflops_per_s"], mach["threads_used"]),
                    (mach.get("gemm_all_cpus_gflops_per_s", 0), mach.get("peak_all_cpus_gflops_per_s", 0),
                     mach.get("gemm_all_cpus_threads")))
                if measured > peak > 0]
    for m in _ok(results["models"], "roofline"):
        for runtime in ("ort", "torch"):
            for key, limit in (("fraction_of_peak", "the theoretical peak"),
                               ("fraction_of_gemm", "the measured SGEMM ceiling")):
                value = m["roofline"][runtime][key]
                if value > 1.0:
                    problems.append(f"{m['model']} {runtime}: {m['roofline'][runtime]['gflops_per_s']} GFLOP/s is "
                                    f"{value:.1%} of {limit}: {PEAK_IS_WRONG}")
    return problems


def markdown(results: dict) -> str:
    models = results["models"]
    lines = ["# nxport benchmarks: latest results", "",
             "Produced by `python benchmarks/run.py` (see the README); regenerate rather than edit.", ""]
    lines += [f"- {line}" for line in header_lines(results)]
    mach = results["machine"]
    lines += [f"- Peak: {mach['peak_formula']} = {mach['peak_gflops_per_s']} GFLOP/s FP32 "
              f"({mach['flops_per_cycle_source']}; clock from {mach['clock_source']}).",
              f"- Measured ceiling: {mach['gemm_gflops_per_s']} GFLOP/s ({mach['gemm_note']}).", ""]
    sections = [
        ("Inference latency, batch 1 (median)", f"{SPEEDUP_NOTE}. Ours and torch run interleaved in shuffled "
         "rounds on the same input; 'bare export' is the baseline artifact below in the same session settings.",
         latency_table(models)),
        ("Export pipeline, wall time per stage (median)", "Ours also proves parity against PyTorch on real photos "
         "and runs the Nx conformance checker; the bare baseline does neither. Last column: ours on the stages "
         "both share, relative to the bare total (> 1 = ours slower there).", export_table(models)),
        ("INT8 vs FP32 (onnxruntime CPU, interleaved)", "Size ratio < 1 = INT8 smaller; latency ratio < 1 = INT8 "
         "faster. CPUs without VNNI have no fast int8 dot product, so INT8 can be slower here and still pay off "
         "on an NPU.", int8_table(models)),
        ("Closeness to the limit (FP32)", "Achieved GFLOP/s = counted FLOPs / median latency; fraction of this "
         "CPU's FP32 peak for the threads used, and of the measured SGEMM ceiling on the same threads (above). "
         f"No ratio can exceed 100%: one that does is marked '{PEAK_IS_WRONG}' and fails the run. FLOPs: "
         "Conv/Gemm/MatMul, 2 per multiply-accumulate; achieved GFLOP/s always uses the graph count. "
         "FlopCounterMode does not see PyTorch's fused CPU attention kernel, so it reports less for ViTs.",
         roofline_table(models)),
    ]
    for title, note, table in sections:
        lines += [f"## {title}", "", note, ""] + (table if len(table) > 2 else ["(not measured in this run)"]) + [""]
    lines += error_lines(results)
    lines += ["Charts: " + ", ".join(f"![{c}]({c})" for c in results["charts"]), ""]
    return "\n".join(lines)


def error_lines(results: dict) -> list[str]:
    failures = [f"{m['model']} / {k}: {m[k]['error']}" for m in results["models"]
                for k in ("export", "latency", "int8", "roofline") if isinstance(m.get(k), dict) and "error" in m[k]]
    failures += peak_problems(results)
    if not failures:
        return []
    return ["## Failures", ""] + [f"- {failure}" for failure in failures] + [""]


def write_charts(results: dict, output_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name, draw in (("latency.png", _latency_chart), ("export_stages.png", _stages_chart)):
        fig, ax = plt.subplots(figsize=(8, 3.6), dpi=90)
        if draw(ax, results["models"], results["settings"]["threads"]):
            fig.tight_layout()
            fig.savefig(output_dir / name)
            written.append(name)
        plt.close(fig)
    return written


def _latency_chart(ax, models: list[dict], threads: int) -> bool:
    import numpy as np

    ok = _ok(models, "latency")
    if not ok:
        return False
    xs, width = np.arange(len(ok)), 0.27
    bars = (("ort", "ONNX Runtime, nxport artifact"), ("ort_bare", "ONNX Runtime, bare export"),
            ("torch", "PyTorch eager"))
    for i, (key, label) in enumerate(bars):
        ax.bar(xs + (i - 1) * width, [m["latency"][key]["median_ms"] for m in ok], width, label=label)
    for x, m in zip(xs, ok):
        ax.annotate(f"x{m['latency']['speedup_vs_torch']:.2f}", (x - width, m["latency"]["ort"]["median_ms"]),
                    ha="center", va="bottom", fontsize=8)
    ax.set_xticks(xs, [m["model"] for m in ok], fontsize=8)
    ax.set_ylabel("median latency (ms)")
    ax.set_title(f"CPU latency, batch 1, {threads} thread(s); xN = torch / ours (> 1: ours faster)", fontsize=9)
    ax.legend(fontsize=8)
    return True


def _stages_chart(ax, models: list[dict], threads: int) -> bool:
    import numpy as np

    ok = _ok(models, "export")
    if not ok:
        return False
    xs, width = np.arange(len(ok)), 0.38
    colors = dict(zip(OURS_STAGES, ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3")))
    for offset, key, stages in ((-width / 2, "ours_s", OURS_STAGES), (width / 2, "baseline_s", BASELINE_STAGES)):
        bottom = np.zeros(len(ok))
        for stage in stages:
            values = np.array([m["export"][key][stage] for m in ok])
            ax.bar(xs + offset, values, width * 0.95, bottom=bottom, color=colors[stage],
                   label=stage if key == "ours_s" else None, edgecolor="white", linewidth=0.5)
            bottom += values
    ax.set_xticks(xs, [f"{m['model']}\nours | bare" for m in ok], fontsize=8)
    ax.set_ylabel("wall time (s, median)")
    ax.set_title("Export pipeline per stage: nxport (left) vs bare torch.onnx.export + onnxsim (right)", fontsize=9)
    ax.legend(fontsize=8, ncol=5)
    return True


def stdout_summary(results: dict) -> str:
    lines = [f"{'model':<24} {'ORT ms':>8} {'torch ms':>9} {'torch/ORT':>9} {'ours exp s':>10} {'bare exp s':>10} "
             f"{'INT8 size':>9} {'INT8 lat':>8} {'ORT %peak':>9} {'ORT %sgemm':>10}"]
    for m in results["models"]:
        lat, exp, q, r = (m.get(k) or {} for k in ("latency", "export", "int8", "roofline"))
        lines.append(f"{m['model']:<24} {_g(lat, 'ort', 'median_ms'):>8} {_g(lat, 'torch', 'median_ms'):>9} "
                     f"{_g(lat, 'speedup_vs_torch'):>9} {_g(exp, 'ours_total_s'):>10} "
                     f"{_g(exp, 'baseline_total_s'):>10} {_g(q, 'size_ratio'):>9} {_g(q, 'latency_ratio'):>8} "
                     f"{_g(r, 'ort', 'fraction_of_peak', pct=True):>9} "
                     f"{_g(r, 'ort', 'fraction_of_gemm', pct=True):>10}")
    s = results["settings"]
    lines += [f"torch/ORT: {SPEEDUP_NOTE}. INT8 columns: INT8/FP32 ratios (< 1 = smaller / faster). "
              "%peak: of the theoretical FP32 peak; %sgemm: of the measured SGEMM ceiling; "
              f"! = above 100%: {PEAK_IS_WRONG}.",
              f"{s['threads']} thread(s) for both runtimes, medians of {s['runs']} interleaved runs; the machine "
              "was shared with other work, so compare ratios, not absolute times."]
    return "\n".join(lines)


def _g(section: dict, *keys, pct: bool = False) -> str:
    value = section
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return "-"
        value = value[key]
    return (f"{value:.1%}" + ("!" if value > 1.0 else "")) if pct else f"{value:.2f}"
