"""The runtime stage's detection profile: what a `bboxes-` artifact must do with real frames.

Rows (D3): finite, x1 <= x2, y1 <= y2, score in [0, 1]; class ids among the declared ones (E3).
Inputs (B9): a higher `nms_sensitivity-` never adds rows (greedy NMS keeps, at a higher threshold,
exactly the rows it kept before whose score passes it), and an all-false `mask-` removes every row.
"""

from __future__ import annotations

import numpy as np

from nxport.conventions import spec
from nxport.conventions.checking.context import ModelContext
from nxport.conventions.checking.findings import Finding
from nxport.conventions.kinds import bboxes
from nxport.conventions.names import is_decimal_id
from nxport.conventions.checking.registry import producer

THRESHOLD_INPUT, MASK_INPUT = bboxes.THRESHOLD_INPUT.name, bboxes.MASK_INPUT.name
SWEEP = (0.05, 0.25, 0.5, 0.9)  # low enough that real photos give rows, up to nearly nothing
DETECTOR_PROBE = producer("detector probe", ("B9", "D3", "E3"),
                          "detector artifacts on real frames: rows, class ids, and the threshold and mask inputs behave")


def declared_ids(ctx: ModelContext, output: str) -> set[int]:
    from nxport.conventions.checking.rules.output_rules import class_entries

    entries, _ = class_entries(ctx.parsed_outputs[output])
    return {int(e.key) for e in entries if is_decimal_id(e.key)}


def row_findings(name: str, rows: np.ndarray, ids: set[int], where: str) -> list[Finding]:
    label, found = name[:60], []
    if rows.ndim != 2 or rows.shape[-1] != 6:
        return [DETECTOR_PROBE.finding("D3", f"bboxes output {label!r} returns shape {list(rows.shape)} {where}; expected (N, 6)")]
    if not np.all(np.isfinite(rows)):
        return [DETECTOR_PROBE.finding("D3", f"bboxes output {label!r} has NaN/inf values {where}")]
    atol = spec.limit("probability_atol")
    checks = [(rows[:, 0] > rows[:, 2], "x1 > x2"), (rows[:, 1] > rows[:, 3], "y1 > y2"),
              ((rows[:, 4] < -atol) | (rows[:, 4] > 1 + atol), "score outside [0, 1]")]
    for bad, what in checks:
        if np.any(bad):
            found.append(DETECTOR_PROBE.finding("D3", f"bboxes output {label!r}: {int(bad.sum())} of {len(rows)} rows have {what} "
                                 f"{where} (first: {np.round(rows[bad][0], 3).tolist()}); rows are "
                                 "[x1, y1, x2, y2, score, class_id]"))
    classes = {float(c) for c in rows[:, 5]}
    unknown = sorted(c for c in classes if not c.is_integer() or int(c) not in ids)
    if unknown:
        found.append(DETECTOR_PROBE.finding("E3", f"bboxes output {label!r} returns class ids {unknown[:5]} {where} that its name "
                             f"does not declare (declared: {sorted(ids)[:10]}{'...' if len(ids) > 10 else ''})",
                             fix="emit integer class ids that the output name lists as `<id>:<name>`"))
    return found


def probe(ctx: ModelContext, session, feeds: dict, info: dict) -> list[Finding]:
    """Threshold sweep and mask checks for every bboxes- output; row counts go into the report."""
    names = [o.name for o in session.get_outputs()]
    findings: list[Finding] = []
    for t, _ in ctx.outputs_of_kind("bboxes"):
        index, ids = names.index(t.name), declared_ids(ctx, t.name)
        counts = {}
        for threshold in SWEEP if THRESHOLD_INPUT in feeds else (None,):
            run_feeds = feeds if threshold is None else {**feeds, THRESHOLD_INPUT: np.array([threshold], np.float32)}
            rows = session.run(None, run_feeds)[index]
            counts[str(threshold)] = int(rows.shape[0]) if rows.ndim else 0
            findings.extend(row_findings(t.name, rows, ids, f"at nms_sensitivity- {threshold}"))
        findings.extend(_monotone(t.name, counts))
        if MASK_INPUT in feeds:
            # at the threshold that gave the most rows, so that the mask has something to remove
            busiest = max(counts, key=counts.get)
            low = {**feeds, **({THRESHOLD_INPUT: np.array([float(busiest)], np.float32)} if busiest != "None" else {})}
            masked = session.run(None, {**low, MASK_INPUT: np.zeros_like(feeds[MASK_INPUT])})[index]
            info_rows = int(masked.shape[0]) if masked.ndim else -1
            if info_rows != 0:
                findings.append(DETECTOR_PROBE.finding("B9", f"bboxes output {t.name[:60]!r} still returns {info_rows} rows with an "
                                        "all-false mask-; a box must survive only where the mask is true at its "
                                        "bottom-centre (y2, (x1 + x2) / 2)",
                                        fix="gather mask-[y2, (x1+x2)/2] per row and keep the rows where it is true"))
            counts["all_false_mask"] = info_rows
        info[t.name[:60]] = {"rows_per_threshold": counts}
    return findings


def _monotone(name: str, counts: dict[str, int]) -> list[Finding]:
    values = list(counts.items())
    for (low, n_low), (high, n_high) in zip(values, values[1:]):
        if n_high > n_low:
            return [DETECTOR_PROBE.finding("B9", f"bboxes output {name[:60]!r} returns {n_high} rows at nms_sensitivity- {high} but "
                            f"{n_low} at {low}; a higher threshold must never add rows",
                            fix="use nms_sensitivity- as the score threshold (keep score > value), e.g. as "
                            "NonMaxSuppression's score_threshold")]
    return []
