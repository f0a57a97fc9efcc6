"""Check many files the way CI runs linters: paths, folders and globs; a bounded worker pool;
ignores with reasons from the command line or the repository's config.

Config (the first found walking up from the current folder; `--config FILE` to name one):
`.nxport.toml` (keys at the top level or under [tool.nxport.conventions]) or pyproject.toml's
[tool.nxport.conventions]:

    fail-on = "must"                       # must | should | info
    [[tool.nxport.conventions.ignore]]
    rules = ["B2"]
    paths = ["models/legacy/*.onnx"]       # optional, relative to the config file; default: every file
    reason = "legacy input name, renamed in v2"   # required, echoed in every report format
"""

from __future__ import annotations

import fnmatch
import glob
import os
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from nxport.conventions.checking.findings import CheckReport, FailOn, Ignored
from nxport.core.errors import ConfigError, NxportError

CONFIG_FILES = (".nxport.toml", "pyproject.toml")
CLI_REASON = "--ignore on the command line"


@dataclass(frozen=True)
class IgnoreRule:
    rules: tuple[str, ...]
    reason: str
    paths: tuple[str, ...] = ()  # fnmatch patterns relative to `root`; empty = every file
    root: str = "."

    def matches(self, rule_id: str, path: str) -> bool:
        if rule_id not in self.rules and "*" not in self.rules:
            return False
        if not self.paths:
            return True
        rel = os.path.relpath(os.path.abspath(path), self.root).replace(os.sep, "/")
        return any(fnmatch.fnmatch(rel, pattern) for pattern in self.paths)


@dataclass(frozen=True)
class BatchOptions:
    """What every file is checked with; picklable for the worker processes."""

    runtime: bool = True
    reference: bool = False
    image: str | None = None
    profile: str | None = None
    limits: object = None  # conventions.sandbox.Limits
    ignores: tuple[IgnoreRule, ...] = ()
    targets: tuple[str, ...] = ()  # NPU preflight (conventions.preflight) instead of the conventions check


@dataclass(frozen=True)
class Config:
    fail_on: FailOn | None = None
    ignores: tuple[IgnoreRule, ...] = ()
    source: str | None = None


def _table(data: dict, path: Path) -> dict | None:
    nested = data.get("tool", {}).get("nxport", {}).get("conventions")
    if nested is not None or path.name == "pyproject.toml":
        return nested
    return data


def _ignore(entry, index: int, source: str, root: str) -> IgnoreRule:
    where = f"{source}: ignore entry {index}"
    if not isinstance(entry, dict) or not isinstance(entry.get("reason"), str) or not entry["reason"].strip():
        raise ConfigError(f"{where} has no reason: {entry!r}", fix='give every ignore a reason, e.g. '
                          'reason = "legacy input name, renamed in v2"; it is echoed in every report')
    rules = entry.get("rules", entry.get("rule"))
    rules = [rules] if isinstance(rules, str) else rules
    if not rules or not all(isinstance(r, str) for r in rules):
        raise ConfigError(f"{where}: rules = {rules!r} is not a list of rule ids", fix='rules = ["B2"]')
    paths = entry.get("paths", [])
    paths = [paths] if isinstance(paths, str) else paths
    return IgnoreRule(tuple(rules), entry["reason"].strip(), tuple(paths), root)


def load_config(explicit: str | None = None, start: Path | None = None) -> Config:
    """The repository's config (see the module doc); an empty Config when there is none."""
    candidates = [Path(explicit)] if explicit else [
        folder / name for folder in [(start or Path.cwd()).resolve(), *(start or Path.cwd()).resolve().parents]
        for name in CONFIG_FILES]
    for path in candidates:
        if not path.is_file():
            if explicit:
                raise ConfigError(f"--config {explicit}: no such file", fix="pass the path of a .nxport.toml")
            continue
        try:
            table = _table(tomllib.loads(path.read_text(encoding="utf-8")), path)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}", fix="fix the syntax (https://toml.io)") from exc
        if table is None:
            continue  # a pyproject.toml without our table: keep looking upward
        return _config(table, path)
    return Config()


def _config(table: dict, path: Path) -> Config:
    fail_on = table.get("fail-on")
    if fail_on is not None and fail_on not in [f.value for f in FailOn]:
        raise ConfigError(f"{path}: fail-on = {fail_on!r}; allowed: {', '.join(f.value for f in FailOn)}",
                          fix='fail-on = "must"')
    entries = table.get("ignore", [])
    ignores = tuple(_ignore(e, i, str(path), str(path.parent.resolve())) for i, e in enumerate(entries))
    return Config(FailOn(fail_on) if fail_on else None, ignores, str(path))


MODEL_GLOB = "**/*.onnx"


class NoModelsFoundError(NxportError):
    """A folder or glob with no model in it: a CI job pointed at the wrong place must go red, not pass on 0 files."""

    def __init__(self, arg: str, searched: str):
        super().__init__(f"no model found: {searched} matches no .onnx file",
                         fix=f"check the path {arg!r}; name .onnx files, folders that contain them, or a glob "
                         f"such as 'models/{MODEL_GLOB}'")
        self.arg = arg


def _models_below(folder: str) -> list[str]:
    found = sorted(str(p) for p in Path(folder).glob(MODEL_GLOB) if p.is_file())
    if not found:
        raise NoModelsFoundError(folder, f"folder {folder!r} (searched with the glob {MODEL_GLOB!r})")
    return found


def _glob_matches(pattern: str) -> list[str]:
    found = []
    for match in sorted(glob.glob(pattern, recursive=True)):
        if os.path.isdir(match):  # a folder a glob reaches, even one named x.onnx, is searched like a folder
            found += sorted(str(p) for p in Path(match).glob(MODEL_GLOB) if p.is_file())
        else:
            found.append(match)
    if not found:
        raise NoModelsFoundError(pattern, f"the glob {pattern!r}")
    return found


def expand_paths(args: list[str]) -> list[str]:
    """Files as given, folders -> every *.onnx file below them (sorted), globs -> their matches.
    A folder or glob without a model raises NoModelsFoundError (exit 2); a file path that does not
    exist is kept, so its report says "does not exist"."""
    out: list[str] = []
    for arg in args:
        if os.path.isdir(arg):  # a folder named x.onnx is a folder, not a model
            out += _models_below(arg)
        elif glob.has_magic(arg) and not os.path.exists(arg):
            out += _glob_matches(arg)
        else:
            out.append(arg)
    return list(dict.fromkeys(out))  # a file named twice is checked once


def _slowest(runtime: dict) -> str:
    timings = dict(runtime.get("rule_seconds", {}))
    if runtime.get("sandbox", {}).get("seconds") is not None:
        timings["onnxruntime"] = runtime["sandbox"]["seconds"]
    if not timings:
        return ""
    name = max(timings, key=timings.get)
    return f"{name} {timings[name]:.2f} s"


def _preflight_file(path: str, options: BatchOptions, started: float) -> CheckReport:
    """--target: every target's findings are the file's findings, so every report format shows them."""
    from nxport.conventions.checking.checker import LOADER
    from nxport.conventions.targets.preflight import UnreadableModelError, preflight, preflight_report

    try:
        verdicts = preflight(path, options.targets)
    except UnreadableModelError as exc:
        return CheckReport(path, readable=False, findings=[LOADER.finding("A3", f"cannot read {path}: {exc.reason}")],
                           rules_checked=["A3"], seconds=time.perf_counter() - started, preflight=[])
    report = preflight_report(path, verdicts)
    report.findings, report.ignored = _apply_ignores(report.findings, path, options)
    report.seconds = time.perf_counter() - started
    return report


def _apply_ignores(findings, path: str, options: BatchOptions):
    kept, ignored = [], []
    for f in findings:
        rule = next((r for r in options.ignores if r.matches(f.rule_id, path)), None)
        (kept if rule is None else ignored).append(f if rule is None else Ignored(f, rule.reason))
    return kept, ignored


def check_file(path: str, options: BatchOptions) -> CheckReport:
    """One file -> CheckReport, ignores applied. Runs in a worker process."""
    from nxport.conventions.checking.checker import check

    started = time.perf_counter()
    if options.targets:
        return _preflight_file(path, options, started)
    report = check(path, runtime=options.runtime, image=options.image, profile=options.profile,
                   reference=options.reference, limits=options.limits)
    report.source = path  # as named on the command line (check() labels it Path(path): "./a.onnx" -> "a.onnx")
    report.findings, report.ignored = _apply_ignores(report.findings, path, options)
    report.seconds, report.slowest = time.perf_counter() - started, _slowest(report.runtime)
    return report


def check_many(paths: list[str], options: BatchOptions, jobs: int = 1) -> list[CheckReport]:
    """Every path, in order; `jobs` worker processes (each still runs its model in a bounded child)."""
    if jobs <= 1 or len(paths) <= 1:
        return [check_file(p, options) for p in paths]
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(paths)), mp_context=context) as pool:
        return list(pool.map(check_file, paths, [options] * len(paths)))

