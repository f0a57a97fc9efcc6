"""Report formats for many files: text, json, junit, sarif, github (`--format`).

Every format consumes a list of CheckReport (conventions.checking.findings, the one report type):
a path, its Findings, the ignored Findings with their reasons, and nothing checker-specific, so any
producer of Findings (the conformance checker, an NPU `--target` preflight) appears in every format.
Rule titles and fixes come from the spec data (T-<target>-<kind> ids included); an id the spec does
not know (a finding built outside nxport) gets neutral text.
"""

from __future__ import annotations

import enum
import json
import math
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable

from nxport.conventions import spec
from nxport.conventions.checking.findings import CheckReport, FailOn, Finding, Ignored, Level

__all__ = ["CheckReport", "FailOn", "Format", "Ignored", "exit_code", "render"]

TOOL_NAME = "nxport-conventions"
TOOL_URI = "https://github.com/nxport/nxport#conformance-checks-in-ci"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_LEVEL = {Level.MUST: "error", Level.SHOULD: "warning", Level.INFO: "note"}
GITHUB_COMMAND = {Level.MUST: "error", Level.SHOULD: "warning", Level.INFO: "notice"}


def exit_code(reports: list[CheckReport], fail_on: FailOn) -> int:
    """The worst verdict: 2 unreadable > 1 failed > 0."""
    return max((r.exit_for(fail_on) for r in reports), default=0)


def rule_info(rule_id: str) -> tuple[str, str]:
    """(title, fix) for a rule id; ids unknown to the spec (another producer's) get neutral text."""
    try:
        data = spec.rule_spec(rule_id)
    except KeyError:
        return rule_id, "see the finding's fix"
    return data["title"], data["fix"]


def _sorted(findings: list[Finding]) -> list[Finding]:
    order = {Level.MUST: 0, Level.SHOULD: 1, Level.INFO: 2}
    return sorted(findings, key=lambda f: (order[f.level], f.rule_id))


# --- text -----------------------------------------------------------------------------------------


def render_text(reports: list[CheckReport], fail_on: FailOn) -> str:
    lines = []
    for r in reports:
        lines.append(f"{r.path}: {r.status(fail_on)} ({r.count(Level.MUST)} MUST, {r.count(Level.SHOULD)} SHOULD, "
                     f"{r.seconds:.1f} s)")
        lines += [f"  {f.format()}" for f in _sorted(r.findings) if f.level is not Level.INFO or fail_on is FailOn.INFO]
        lines += [f"  [ignored] {i.finding.rule_id} {i.finding.message[:120]}  reason: {i.reason}" for i in r.ignored]
    lines += ["", *summary_table(reports, fail_on)]
    return "\n".join(lines)


def summary_table(reports: list[CheckReport], fail_on: FailOn) -> list[str]:
    rows = [(r.path, r.status(fail_on), str(r.count(Level.MUST)), str(r.count(Level.SHOULD)), r.slowest)
            for r in reports]
    header = ("file", "verdict", "MUST", "SHOULD", "slowest")
    widths = [min(60, max(len(row[i]) for row in [header, *rows])) for i in range(5)]
    fmt = "  ".join(f"{{:{'<' if i in (0, 1, 4) else '>'}{w}}}" for i, w in enumerate(widths))
    out = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*(cell if len(cell) <= widths[i] else "..." + cell[-(widths[i] - 3):]
                         for i, cell in enumerate(row))) for row in rows]
    failed = sum(1 for r in reports if r.exit_for(fail_on))
    out.append(f"{len(reports)} files, {failed} failed (fail-on {fail_on.value}); exit {exit_code(reports, fail_on)}")
    return out


# --- json -----------------------------------------------------------------------------------------


def render_json(reports: list[CheckReport], fail_on: FailOn) -> str:
    files = [{"path": r.path, "verdict": r.status(fail_on), "exit_code": r.exit_for(fail_on),
              "readable": r.readable, "seconds": round(r.seconds, 3), "slowest": r.slowest,
              "counts": {level.value: r.count(level) for level in Level},
              "findings": [f.to_dict() for f in _sorted(r.findings)],
              "ignored": [{**i.finding.to_dict(), "reason": i.reason} for i in r.ignored],
              **r.file_details()} for r in reports]
    data = _finite({"fail_on": fail_on.value, "exit_code": exit_code(reports, fail_on), "files": files})
    return json.dumps(data, indent=2, allow_nan=False, default=str)


def _finite(value):
    """NaN/inf (e.g. a reference diff on NaN outputs) as strings: strict JSON parsers reject them."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


# --- junit ----------------------------------------------------------------------------------------


def render_junit(reports: list[CheckReport], fail_on: FailOn) -> str:
    """One testsuite per file, one testcase per rule: MUST -> failure, SHOULD -> skipped (JUnit has
    no warning), INFO -> system-out. A failing level below the threshold is still only skipped."""
    root = ET.Element("testsuites", name=TOOL_NAME)
    for r in reports:
        by_rule: dict[str, list[Finding]] = {}
        for rule_id in r.rules_checked:
            by_rule.setdefault(rule_id, [])
        for f in r.findings:
            by_rule.setdefault(f.rule_id, []).append(f)
        suite = ET.SubElement(root, "testsuite", name=r.path, tests=str(len(by_rule) or 1), time=f"{r.seconds:.3f}")
        failures = skipped = 0
        if not r.readable:
            case = ET.SubElement(suite, "testcase", name="readable", classname=r.path)
            ET.SubElement(case, "error", message="unreadable file", type="unreadable").text = \
                "\n".join(f.format() for f in r.findings)
        for rule_id, findings in by_rule.items():
            case = ET.SubElement(suite, "testcase", name=f"{rule_id} {rule_info(rule_id)[0][:80]}", classname=r.path)
            failing = [f for f in findings if f.level in fail_on.levels()]
            if failing:
                failures += 1
                ET.SubElement(case, "failure", message=failing[0].message[:500], type=failing[0].level.value).text = \
                    "\n".join(f.format() for f in failing)
            elif any(f.level is Level.SHOULD for f in findings):
                skipped += 1
                first = next(f for f in findings if f.level is Level.SHOULD)
                ET.SubElement(case, "skipped", message=f"SHOULD: {first.message[:500]}")
            rest = [f.format() for f in findings if f not in failing]
            rest += [f"ignored: {i.finding.format()} reason: {i.reason}" for i in r.ignored if i.finding.rule_id == rule_id]
            if rest:
                ET.SubElement(case, "system-out").text = "\n".join(rest)
        suite.set("failures", str(failures))
        suite.set("skipped", str(skipped))
        suite.set("errors", "0" if r.readable else "1")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


# --- sarif ----------------------------------------------------------------------------------------


def _sarif_rule(rule_id: str) -> dict:
    title, fix = rule_info(rule_id)
    try:
        level = Level(spec.rule_spec(rule_id)["level"])
    except KeyError:
        level = Level.MUST
    return {"id": rule_id, "name": rule_id, "shortDescription": {"text": title},
            "help": {"text": f"fix: {fix}"}, "helpUri": TOOL_URI,
            "defaultConfiguration": {"level": SARIF_LEVEL[level]}}


def _sarif_result(f: Finding, path: str, index: int, suppression: str | None = None) -> dict:
    result = {"ruleId": f.rule_id, "ruleIndex": index, "level": SARIF_LEVEL[f.level],
              "message": {"text": f"{f.message} (fix: {f.fix})"},
              "locations": [{"physicalLocation": {"artifactLocation": {"uri": path}}}]}
    if suppression is not None:
        result["suppressions"] = [{"kind": "external", "justification": suppression}]
    return result


def _sarif_uri(path: str) -> str:
    """A file path as artifactLocation.uri, which SARIF types as a URI reference: a space, '#', '%'
    or a non-ASCII letter in a file name is percent-encoded (unencoded, '#' cuts the path short)."""
    return urllib.parse.quote(path.replace("\\", "/"), safe="/")


def render_sarif(reports: list[CheckReport], fail_on: FailOn) -> str:
    from nxport.core import __version__

    ids = sorted({f.rule_id for r in reports for f in [*r.findings, *(i.finding for i in r.ignored)]})
    index = {rule_id: i for i, rule_id in enumerate(ids)}
    results = []
    for r in reports:
        uri = _sarif_uri(r.path)
        results += [_sarif_result(f, uri, index[f.rule_id]) for f in _sorted(r.findings)]
        results += [_sarif_result(i.finding, uri, index[i.finding.rule_id], i.reason) for i in r.ignored]
    run = {"tool": {"driver": {"name": TOOL_NAME, "version": __version__, "informationUri": TOOL_URI,
                               "rules": [_sarif_rule(rule_id) for rule_id in ids]}},
           "results": results,
           "invocations": [{"executionSuccessful": True, "exitCode": exit_code(reports, fail_on)}]}
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2)


# --- github ---------------------------------------------------------------------------------------


def _escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def render_github(reports: list[CheckReport], fail_on: FailOn) -> str:
    """GitHub workflow commands: `::error file=...,title=...::message`, shown inline on the PR."""
    lines = []
    for r in reports:
        for f in _sorted(r.findings):
            if f.level is Level.INFO and fail_on is not FailOn.INFO:
                continue
            command = "error" if f.level in fail_on.levels() else GITHUB_COMMAND[f.level]
            title = _escape(f"{f.rule_id} {rule_info(f.rule_id)[0]}"[:120], prop=True)
            lines.append(f"::{command} file={_escape(r.path, prop=True)},title={title}::"
                         f"{_escape(f.message)} (fix: {_escape(f.fix)})")
    lines += summary_table(reports, fail_on)
    return "\n".join(lines)


class Format(str, enum.Enum):
    TEXT = "text"
    JSON = "json"
    JUNIT = "junit"
    SARIF = "sarif"
    GITHUB = "github"


RENDERERS: dict[Format, Callable[[list[CheckReport], FailOn], str]] = {
    Format.TEXT: render_text, Format.JSON: render_json, Format.JUNIT: render_junit,
    Format.SARIF: render_sarif, Format.GITHUB: render_github,
}


def render(reports: list[CheckReport], fmt: Format, fail_on: FailOn = FailOn.MUST) -> str:
    return RENDERERS[fmt](reports, fail_on)
