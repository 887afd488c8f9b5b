"""Localization from real history: does the context hold the code a real fix changed?

Each case is a bug-fix commit of a public Python repository nobody here wrote (mined
by ``benchmarks/localization_mine.py``; the cases are ``benchmarks/data/localization/cases.json``):
the question is the commit's subject ("Fix hashing for custom `eq` objects"), the gold
answer is the functions the fix changed, and the tree is a released **sdist** of the
repository's PyPI package, pinned in the case (name, version, sha256 of the archive, its
top folder), in which every gold function has exactly the source it has in the fix's
parent commit. The trees are not in this repository because code that ``fetch``
brought may not be committed; a pinned sdist makes every case reproducible on a fresh
machine without ``fetch``: ``--fetch`` downloads the pinned sdists with pip
(``pip download --no-deps --no-binary NAME NAME==VERSION --require-hashes``) into
``benchmarks/.cache/sdists/`` (git-ignored); without it the run uses that cache and
names any sdist missing from it. A case's tree is the sdist's files that the context
engine would read (``.py`` files and ``pyproject.toml``/``setup.cfg``/``setup.py``, no
vendored code), extracted into a temporary project root (a ``pyproject.toml`` added
if it has none); the cases sharing an sdist share one index build. Before anything is
asked, each gold function is checked to be in that tree at its recorded def line
with its source unchanged (its sha256, dedented, decorators to last line); a case
failing the check is counted and not scored.

For every case and budget (1,024, 2,048, 4,096 tokens, counted with o200k_base) it
asks aiex's context engine the question the way ``aiex show context -q Q --budget N`` does (index built first, then
``assemble_context`` with the project's settings; no model, no network) and records:

* **file**: a gold file is in the context (a chunk of that path, in full or as a
  signature; ``file_any`` also counts an outline line);
* **function**: a gold function's definition is shown: a chunk sent in full whose
  lines hold its def line, or its own chunk sent as a signature (``full``: in full);
* the tokens used (never over the budget: violations are counted) and the ms of the
  query alone, with the index loaded (the build, graph included, is timed apart).

Splits are fixed by repository in the data, never by this script: **tune** (pallets/click,
python-attrs/attrs, marshmallow-code/marshmallow, pallets/jinja,
more-itertools/more-itertools, and, added later so that tuning has more misses to learn
from, dateutil/dateutil, agronholm/anyio, hynek/structlog, arrow-py/arrow, mahmoud/boltons,
python-poetry/tomlkit, and, when it was saturated, six web and HTTP libraries: urllib3/urllib3,
python-hyper/h11, encode/starlette, bottlepy/bottle, falconry/falcon, encode/uvicorn) is for tuning the
ranking; **heldout** (psf/requests, pallets/werkzeug, encode/httpx, pytest-dev/pluggy,
pallets/itsdangerous, and, mined later, benoitc/gunicorn, jpadilla/pyjwt, Pylons/waitress, and later
still Pylons/webob, jd/tenacity, pallets/flask, each set unseen by any ranking change when it was added)
judges it, so the ranking is not tuned on its own test. Tables are printed per split (tune, heldout, all)
and budget.

Side by side in the same run, with ``--aider-python PATH`` (or ``AIDER_PYTHON``) naming an
interpreter where ``aider`` is importable: aider's repo map (``aider.repomap.RepoMap``,
in that interpreter as one subprocess, with ``LITELLM_LOCAL_MODEL_COST_MAP=True``,
analytics and update checks off) on the same trees, questions and budgets (its
no-chat-files multiplier set to 1, so the budget is the budget), the question's words
and file names passed as aider's chat would pass them; scored the same way from the
map's text (a file's header; a function's def line shown). Without it, the run says
aider was skipped and why.

A diagnosis per case (not timed): where the gold function lands in a 32,768-token
context (its position among the chunks sent, most relevant first), so a miss can be
told apart as "ranked but cut" or "not ranked", and how much of each context is tests.

Usage::

    python benchmarks/localization.py --fetch     # once per machine: the pinned sdists
    python benchmarks/localization.py [--split all|tune|heldout] [--repos click,attrs]
        [--limit N] [--budgets 1024,2048,4096] [--aider-python /path/to/venv/bin/python]

Writes ``benchmarks/results/localization.json`` (``--out``): the tables, the gold check,
and per case its sdist, the hits, tokens, timings, the first sources sent and the diagnosis.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import localization_mine as mine  # the miner's tree selection, hashing and pip download

DATA = HERE / "data" / "localization"
CACHE = mine.CACHE
BUDGETS = (1024, 2048, 4096)
DIAG_BUDGET = 32768
SPLITS = ("tune", "heldout", "all")
_TEST_PATH = re.compile(r"(^|/)(tests?|testing)(/|$)|(^|/)(test_[^/]*|[^/]*_tests?\.py|conftest\.py)$")


# ---------------------------------------------------------------- data

def load_cases(data: Path) -> tuple[dict, list[dict]]:
    doc = json.loads((data / "cases.json").read_text())
    return doc["repos"], doc["cases"]


def sdist_key(case: dict) -> str:
    return f"{case['sdist']['name']}=={case['sdist']['version']}"


def pinned_sdists(cases: list[dict]) -> dict[str, dict]:
    """name==version -> its pin (file, sha256, root), once each."""
    return {sdist_key(c): c["sdist"] for c in cases}


def cached(sd: dict, cache: Path) -> Path | None:
    path = cache / sd["file"]
    return path if path.is_file() and mine.file_sha256(path) == sd["sha256"] else None


def fetch(pins: dict[str, dict], cache: Path, jobs: int = 3) -> list[str]:
    """``pip download`` the pinned sdists not in the cache yet (``--require-hashes``); the errors."""
    from concurrent.futures import ThreadPoolExecutor

    todo = [sd for sd in pins.values() if cached(sd, cache) is None]
    print(f"fetch: {len(pins) - len(todo)} of {len(pins)} sdists already in {cache}; downloading {len(todo)}",
          flush=True)

    def one(sd):
        try:
            got = mine.pip_download(sd["name"], sd["version"], cache, sha256=sd["sha256"])
        except mine.SdistError as exc:
            return f"{sd['name']}=={sd['version']}: {exc}"
        if got.name != sd["file"]:
            return f"{sd['name']}=={sd['version']}: downloaded {got.name}, not {sd['file']}"
        return None

    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        errors = [e for e in pool.map(one, todo) if e]
    print(f"fetch: {len(todo) - len(errors)} downloaded, {len(errors)} failed in {time.perf_counter() - started:.0f} s",
          flush=True)
    for e in errors:
        print("  " + e, file=sys.stderr)
    return errors


def materialize(archive: Path, sd: dict, dst: Path) -> list[str]:
    """The sdist's tree (the miner's selection) under ``dst``, a project root (a pyproject.toml added if none)."""
    root, files = mine.sdist_tree(archive)
    if root != sd["root"]:
        raise RuntimeError(f"{archive.name}: its top folder is {root!r}, not {sd['root']!r}")
    for path, text in files.items():
        target = dst / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8", "surrogateescape"))
    if "pyproject.toml" not in files:
        (dst / "pyproject.toml").write_text('[project]\nname = "case"\nversion = "0"\n')
    return sorted(files)


def check_gold(root: Path, gold: list[dict]) -> list[str]:
    """What is wrong with the gold in the tree at ``root``: each function must be at its def line with its
    source unchanged (the sha256 of the parent's version); empty when all are."""
    problems = []
    for g in gold:
        path = root / g["path"]
        if not path.is_file():
            problems.append(f"{g['path']}: not in the sdist's tree")
            continue
        text = path.read_bytes().decode("utf-8", "surrogateescape")
        try:
            fns = mine.functions(text)
        except (SyntaxError, ValueError, RecursionError) as exc:
            problems.append(f"{g['path']}: does not parse ({exc})")
            continue
        at = [f for f in fns if f["qualname"] == g["qualname"] and f["def_line"] == g["def_line"]]
        if not at:
            problems.append(f"{g['path']}::{g['qualname']}: not at line {g['def_line']}")
        elif mine.function_hash(text, at[0]) != g["sha256"]:
            problems.append(f"{g['path']}::{g['qualname']}: its source differs from the parent's")
    return problems


def select(cases: list[dict], split: str, repos: str | None, limit: int | None) -> list[dict]:
    out = [c for c in cases if split == "all" or c["split"] == split]
    if repos:
        wanted = [r.strip().lower() for r in repos.split(",") if r.strip()]
        out = [c for c in out if any(w == c["repo"].lower() or w == c["repo"].split("/")[1].lower() for w in wanted)]
    if limit:
        # spread over the repositories rather than the first N of one
        by_repo: dict[str, list[dict]] = defaultdict(list)
        for c in out:
            by_repo[c["repo"]].append(c)
        picked, i = [], 0
        while len(picked) < limit and any(i < len(v) for v in by_repo.values()):
            picked += [v[i] for v in by_repo.values() if i < len(v)][: limit - len(picked)]
            i += 1
        keep = {c["id"] for c in picked}
        out = [c for c in out if c["id"] in keep]
    return out


# ---------------------------------------------------------------- scoring

def is_test(path: str) -> bool:
    return bool(_TEST_PATH.search(path))


TOP_LEVEL = "(top-level code)"


def function_shown(g: dict, sources: list[dict], *, full_only: bool = False, owns=None) -> bool:
    """Whether ``sources`` show gold function ``g``: a full piece that holds its definition line, or its
    signature. A file's top-level code (the text outside every definition) holds it only where ``owns(path,
    line)`` says that line lies outside every definition chunk (a function defined inside a top-level
    ``if``/``try``); without ``owns``, never."""
    for s in sources:
        if s["path"] != g["path"] or not s["start_line"] <= g["def_line"] <= s["end_line"]:
            continue
        if s["name"] == TOP_LEVEL:
            if s["level"] == "full" and owns is not None and owns(g["path"], g["def_line"]):
                return True
            continue
        if s["level"] == "full":
            return True
        if not full_only and s["level"] == "signature" and s["name"] == g["qualname"]:
            return True
    return False


def score(gold: list[dict], sources: list[dict], files: list[str], owns=None) -> dict:
    paths = {s["path"] for s in sources}
    return {
        "file": any(g["path"] in paths for g in gold),
        "file_any": any(g["path"] in files for g in gold),
        "function": any(function_shown(g, sources, owns=owns) for g in gold),
        "full": any(function_shown(g, sources, full_only=True, owns=owns) for g in gold),
        "all_functions": all(function_shown(g, sources, owns=owns) for g in gold),
    }


def diagnose(gold: list[dict], sources: list[dict], owns=None) -> dict:
    """Where the gold lands among the chunks of a large context (most relevant first)."""
    for i, s in enumerate(sources):
        if any(function_shown(g, [s], owns=owns) for g in gold):
            return {"position": i, "level": s["level"], "of": len(sources)}
    file_pos = next((i for i, s in enumerate(sources) if any(s["path"] == g["path"] for g in gold)), None)
    return {"position": None, "file_position": file_pos, "of": len(sources)}


# ---------------------------------------------------------------- aiex

class AiexRunner:
    def __init__(self, tokenizer: str):
        from aiex_kernel.runtime.tokenizers import token_counter

        provider, _, model = tokenizer.partition(":")
        self.counter = token_counter(provider, model)
        self.counter.count("warm up")

    def open(self, root: Path):
        from aiex_kernel.config import load_settings
        from aiex_kernel.runtime.index import cached_view, open_sandbox
        from aiex_kernel.runtime.index.build import build_index, index_location
        from aiex_kernel.runtime.index.store import IndexStore

        started = time.perf_counter()
        settings = load_settings(root)
        sandbox = open_sandbox(root, settings)
        report = build_index(sandbox, settings=settings, cluster="never", progress=False)
        view = cached_view(IndexStore(index_location(root, settings)))
        view.graph()  # computed once per index version and kept next to it, as the first query would
        self.settings, self.sandbox, self.view = settings, sandbox, view
        return time.perf_counter() - started, report

    def query(self, question: str, budget: int):
        from aiex_kernel.runtime.index import file_summaries, query_similarity
        from aiex_kernel.runtime.index.context import assemble_context

        started = time.perf_counter()
        result = assemble_context(self.view, self.sandbox, question, budget, self.counter,
                                  similarity=query_similarity(self.view, self.settings, question),
                                  summaries=file_summaries(self.view), redact_secrets=self.settings.redact_secrets)
        return (time.perf_counter() - started) * 1000, result

    def owns(self, path: str, line: int) -> bool:
        """Whether ``line`` of ``path`` is part of the file's top-level code: outside every definition chunk
        (what a top-level-code piece shows; :func:`aiex_kernel.runtime.index.context._module_text`)."""
        import numpy as np

        from aiex_kernel.core.indexing import KINDS

        a = self.view.arrays
        index_of = getattr(self, "_index_of", None)
        if index_of is None or index_of[0] is not self.view:
            index_of = self._index_of = (self.view, {f["path"]: i for i, f in enumerate(self.view.files)})
        f = index_of[1].get(path)
        if f is None:
            return False
        mine = (a["chunk_file"] == f) & (a["chunk_kind"] != KINDS.index("module"))
        return not np.any(mine & (a["chunk_start_line"] <= line) & (line <= a["chunk_end_line"]))


# ---------------------------------------------------------------- aider

AIDER_RUNNER = r'''
import json, os, re, sys, time
out = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)  # whatever aider prints goes to stderr, not into the protocol
from aider.repomap import RepoMap
from aider.io import InputOutput

class Counter:
    """aider's own model token counting where it works offline, else chars/4."""
    def __init__(self, name):
        self.name, self.how = name, "chars/4"
        self.model = None
        try:
            from aider import models
            # model metadata from the local cost map only: no download attempt (and no time-out) per run
            models.model_info_manager._update_cache = lambda: None
            m = models.Model(name)
            m.token_count("def f(x):\n    return x\n")
            self.model, self.how = m, f"aider Model({name!r}).token_count"
        except Exception as exc:
            sys.stderr.write(f"aider: model token counting unavailable ({exc!r}); using chars/4\n")
        self.info = getattr(self.model, "info", {}) or {}
    def token_count(self, text):
        if self.model is not None:
            return self.model.token_count(text)
        return len(text) // 4
    def __getattr__(self, name):
        return getattr(self.model, name)

def ident_mentions(text):
    return set(w for w in re.split(r"\W+", text) if w)

def file_mentions(text, rel_files):
    words = set(w.rstrip(",.!;:?").strip("\"'`*_") for w in text.split())
    found, by_base = set(), {}
    for rel in rel_files:
        if rel in words:
            found.add(rel)
        base = os.path.basename(rel)
        if any(c in base for c in "/\\._-"):
            by_base.setdefault(base, []).append(rel)
    for base, rels in by_base.items():
        if len(rels) == 1 and base in words:
            found.add(rels[0])
    return found

def ident_filename_matches(idents, rel_files):
    stems = {}
    for rel in rel_files:
        stem = os.path.splitext(os.path.basename(rel))[0].lower()
        if len(stem) >= 5:
            stems.setdefault(stem, set()).add(rel)
    found = set()
    for ident in idents:
        if len(ident) >= 5:
            found |= stems.get(ident.lower(), set())
    return found

io = InputOutput(pretty=False, yes=True)
counter = None
out.write(json.dumps({"ready": True}) + "\n"); out.flush()
for line in sys.stdin:
    job = json.loads(line)
    if counter is None:
        counter = Counter(job["model"])
    root = job["root"]
    files = [os.path.join(root, p) for p in job["files"]]
    results = {}
    started = time.perf_counter()
    rm = RepoMap(map_tokens=job["budgets"][0], root=root, main_model=counter, io=io, verbose=False,
                 map_mul_no_files=1, refresh="always")
    rm.get_repo_map([], files, mentioned_fnames=set(), mentioned_idents=set())  # cold: parses, fills the tags cache
    build_s = time.perf_counter() - started
    for q in job["queries"]:
        # what aider's Coder.get_repo_map passes for a chat message
        idents = ident_mentions(q["question"])
        fn = file_mentions(q["question"], job["files"]) | ident_filename_matches(idents, job["files"])
        per = {}
        for budget in job["budgets"]:
            rm.max_map_tokens = budget
            t = time.perf_counter()
            text = rm.get_repo_map([], files, mentioned_fnames=fn, mentioned_idents=idents, force_refresh=True)
            per[str(budget)] = {"ms": (time.perf_counter() - t) * 1000, "map": text or ""}
        results[q["id"]] = per
    out.write(json.dumps({"build_s": build_s, "results": results, "counter": counter.how}) + "\n"); out.flush()
'''


def aider_env(home: Path | None = None) -> dict:
    env = dict(os.environ)
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", AIDER_ANALYTICS="false", AIDER_ANALYTICS_DISABLE="true",
               AIDER_CHECK_UPDATE="false", AIDER_SHOW_RELEASE_NOTES="false", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", LITELLM_TELEMETRY="False", PYTHONUNBUFFERED="1")
    if home is not None:  # aider's ~/.aider caches stay in the run's temporary directory
        env["HOME"] = str(home)
    return env


class AiderRunner:
    """aider's RepoMap in its own interpreter, one subprocess for the whole run."""

    def __init__(self, python: str, model: str, tmp: Path):
        self.model = model
        script = tmp / "aider_repomap_runner.py"
        script.write_text(AIDER_RUNNER)
        self.log = open(tmp / "aider.stderr", "w")  # noqa: SIM115 (open for the subprocess's life)
        self.proc = subprocess.Popen([python, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, env=aider_env(tmp / "home"), cwd=str(tmp))
        ready = self.proc.stdout.readline()
        if not ready:
            raise RuntimeError("the aider runner exited: see " + self.log.name)

    def run(self, root: Path, files: list[str], queries: list[dict], budgets) -> dict:
        job = {"root": str(root), "files": files, "queries": queries, "budgets": list(budgets), "model": self.model}
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the aider runner died: see " + self.log.name)
        return json.loads(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def aider_available(python: str | None) -> tuple[bool, str]:
    if not python:
        return False, "no --aider-python (or AIDER_PYTHON) given"
    try:
        done = subprocess.run([python, "-c", "import aider, aider.repomap; print(aider.__version__)"],
                              capture_output=True, text=True, timeout=180, env=aider_env(), check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{python}: {exc}"
    if done.returncode:
        return False, f"aider is not importable in {python}: {done.stderr.strip().splitlines()[-1:]}"
    return True, done.stdout.strip()


def parse_map(text: str) -> dict[str, list[str]]:
    """aider's map text -> file -> the code lines it shows."""
    files: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith(("│", "⋮", "█", "|")):
            if current is not None and line[:1] in "│█|":
                files[current].append(line[1:])
            continue
        current = line.rstrip().rstrip(":")
        files.setdefault(current, [])
    return files


def score_aider(gold: list[dict], shown: dict[str, list[str]], tree_lines) -> dict:
    def one(g):
        lines = shown.get(g["path"])
        if lines is None:
            return False
        src = tree_lines(g["path"])
        want = src[g["def_line"] - 1].strip() if g["def_line"] - 1 < len(src) else ""
        stripped = [ln.strip() for ln in lines]
        if not want or want not in stripped:
            return False
        if sum(1 for ln in src if ln.strip() == want) > 1 and "." in g["qualname"]:  # `def __init__(self):` ...
            cls = g["qualname"].split(".")[-2]
            return any(re.match(rf"class\s+{re.escape(cls)}\b", ln) for ln in stripped)
        return True

    return {"file": any(g["path"] in shown for g in gold), "function": any(one(g) for g in gold)}


# ---------------------------------------------------------------- report

def pct(xs) -> float:
    xs = list(xs)
    return 100.0 * sum(xs) / len(xs) if xs else float("nan")


def p95(xs) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(0.95 * len(xs)))] if xs else float("nan")


def tables(records: list[dict], budgets, with_aider: bool) -> dict:
    out = {}
    for split in SPLITS:
        rs = [r for r in records if split == "all" or r["split"] == split]
        if not rs:
            continue
        rows = {}
        for b in budgets:
            key = str(b)
            ms = [r["aiex"][key]["ms"] for r in rs]
            row = {
                "cases": len(rs),
                "file_pct": pct(r["aiex"][key]["file"] for r in rs),
                "file_any_pct": pct(r["aiex"][key]["file_any"] for r in rs),
                "function_pct": pct(r["aiex"][key]["function"] for r in rs),
                "function_full_pct": pct(r["aiex"][key]["full"] for r in rs),
                "median_ms": statistics.median(ms), "p95_ms": p95(ms),
                "over_budget": sum(r["aiex"][key]["tokens"] > b for r in rs),
                "test_share_pct": 100 * statistics.mean(r["aiex"][key]["test_share"] for r in rs),
            }
            if with_aider and all("aider" in r for r in rs):
                ams = [r["aider"][key]["ms"] for r in rs]
                row.update(aider_file_pct=pct(r["aider"][key]["file"] for r in rs),
                           aider_function_pct=pct(r["aider"][key]["function"] for r in rs),
                           aider_median_ms=statistics.median(ams), aider_p95_ms=p95(ams),
                           aider_over_budget=sum(r["aider"][key]["tokens"] > b for r in rs))
            rows[key] = row
        out[split] = rows
    return out


def print_tables(t: dict, with_aider: bool) -> None:
    for split, rows in t.items():
        n = next(iter(rows.values()))["cases"]
        print(f"\n{split} ({n} cases)")
        head = f"  {'budget':>6}  {'file %':>6}  {'func %':>6}  {'full %':>6}  {'med ms':>6}  {'p95 ms':>6}  {'over':>4}  {'tests %':>7}"
        if with_aider:
            head += f"  | {'aider file %':>12}  {'aider func %':>12}  {'med ms':>6}  {'over':>4}"
        print(head)
        for b, r in rows.items():
            line = (f"  {b:>6}  {r['file_pct']:6.1f}  {r['function_pct']:6.1f}  {r['function_full_pct']:6.1f}  "
                    f"{r['median_ms']:6.1f}  {r['p95_ms']:6.1f}  {r['over_budget']:>4}  {r['test_share_pct']:7.1f}")
            if with_aider and "aider_file_pct" in r:
                line += (f"  | {r['aider_file_pct']:12.1f}  {r['aider_function_pct']:12.1f}  "
                         f"{r['aider_median_ms']:6.0f}  {r['aider_over_budget']:>4}")
            print(line)


def failure_modes(records: list[dict], budget: int) -> dict:
    key = str(budget)
    modes = defaultdict(list)
    for r in records:
        a = r["aiex"][key]
        d = r["diagnosis"]
        if a["function"]:
            mode = "hit"
        elif d["position"] is not None:
            mode = "ranked, cut by the budget"
        elif d.get("file_position") is not None:
            mode = "file ranked, function not"
        else:
            mode = "not ranked"
        modes[mode].append(r["id"])
    return {k: {"count": len(v), "cases": v} for k, v in modes.items()}


# ---------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=SPLITS, default="all")
    parser.add_argument("--repos", help="comma-separated repositories (owner/name or name)")
    parser.add_argument("--limit", type=int, help="at most N cases, spread over the repositories")
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    parser.add_argument("--tokenizer", default="openai:gpt-4o", help="provider:model whose tokenizer counts budgets")
    parser.add_argument("--aider-python", default=os.environ.get("AIDER_PYTHON"),
                        help="an interpreter where aider is importable (its own venv)")
    parser.add_argument("--aider-model", default="gpt-4o", help="the model aider counts tokens for")
    parser.add_argument("--data", type=Path, default=DATA, help="the folder of cases.json (default: %(default)s)")
    parser.add_argument("--fetch", action="store_true",
                        help="first download the pinned sdists missing from the cache (pip, sha256 checked)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where the sdists are (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "localization.json")
    parser.add_argument("--no-diagnosis", dest="diagnosis", action="store_false")
    parser.add_argument("-v", "--verbose", action="store_true", help="a line per case")
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]

    repos_meta, cases = load_cases(args.data)
    cases = select(cases, args.split, args.repos, args.limit)
    if not cases:
        sys.exit("no cases selected")
    pins = pinned_sdists(cases)
    if args.fetch and fetch(pins, args.cache):
        sys.exit("fetch: some pinned sdists could not be downloaded (above)")
    archives = {k: cached(sd, args.cache) for k, sd in pins.items()}
    missing = sorted(k for k, a in archives.items() if a is None)
    if missing:
        sys.exit(f"{len(missing)} of the {len(pins)} pinned sdists are not in {args.cache} (or differ from their "
                 f"sha256): {', '.join(missing)}\nrun `python benchmarks/localization.py --fetch"
                 f"{'' if args.cache == CACHE else ' --cache ' + str(args.cache)}` to download them")
    with_aider, aider_note = aider_available(args.aider_python)
    print(f"{len(cases)} cases from {len({c['repo'] for c in cases})} repositories on {len(pins)} sdists; "
          f"budgets {budgets}")
    print(f"aider: {'version ' + aider_note if with_aider else 'skipped (' + aider_note + ')'}")

    records, gold_failures = [], []
    build_times = []
    with tempfile.TemporaryDirectory(prefix="aiex-localization-") as tmp_name:
        tmp = Path(tmp_name)
        # the user's own config and data stay out of it
        os.environ["AIEX_CONFIG_DIR"] = str(tmp / "config")
        os.environ["AIEX_DATA_DIR"] = str(tmp / "data")
        aiex = AiexRunner(args.tokenizer)
        aider = AiderRunner(args.aider_python, args.aider_model, tmp) if with_aider else None
        by_tree: dict[str, list[dict]] = defaultdict(list)  # cases sharing an sdist share its index
        for c in cases:
            by_tree[sdist_key(c)].append(c)
        started = time.perf_counter()
        try:
            for n, (key, group) in enumerate(by_tree.items()):
                repo = group[0]["repo"]
                root = tmp / "trees" / re.sub(r"[^A-Za-z0-9._-]+", "-", key)
                files = materialize(archives[key], pins[key], root)
                checked = []
                for c in group:  # the gold is there, unchanged, before anything is asked
                    problems = check_gold(root, c["gold"])
                    if problems:
                        gold_failures.append({"id": c["id"], "sdist": key, "problems": problems})
                        print(f"  {c['id']}: gold check failed: {'; '.join(problems)}", file=sys.stderr)
                    else:
                        checked.append(c)
                if not checked:
                    _rmtree(root)
                    continue
                group = checked
                build_s, report = aiex.open(root)
                build_times.append(build_s)
                aider_out = None
                if aider is not None:
                    aider_out = aider.run(root, files, [{"id": c["id"], "question": c["question"]} for c in group],
                                          budgets)
                tree_lines = _lines_of(root)

                for c in group:
                    rec = {"id": c["id"], "repo": repo, "split": c["split"], "question": c["question"],
                           "commit": c["commit"], "sdist": key,
                           "gold": [f"{g['path']}::{g['qualname']}" for g in c["gold"]],
                           "files": report.files, "chunks": report.chunks, "build_s": build_s, "aiex": {}}
                    for b in budgets:
                        ms, result = aiex.query(c["question"], b)
                        hit = score(c["gold"], result.sources, result.files, aiex.owns)
                        tests = [s for s in result.sources if is_test(s["path"])]
                        rec["aiex"][str(b)] = {
                            **hit, "tokens": result.tokens, "ms": ms, "sources": len(result.sources),
                            "test_share": len(tests) / len(result.sources) if result.sources else 0.0,
                            "top": [f"{s['path']}::{s['name']}:{s['level'][0]}" for s in result.sources[:6]],
                        }
                    if args.diagnosis:
                        _, big = aiex.query(c["question"], DIAG_BUDGET)
                        rec["diagnosis"] = diagnose(c["gold"], big.sources, aiex.owns)
                    if aider_out is not None:
                        rec["aider"] = {}
                        for b in budgets:
                            got = aider_out["results"][c["id"]][str(b)]
                            shown = parse_map(got["map"])
                            rec["aider"][str(b)] = {**score_aider(c["gold"], shown, tree_lines), "ms": got["ms"],
                                                    "tokens": aiex.counter.count(got["map"]),
                                                    "files": len(shown)}
                        rec["aider_build_s"] = aider_out["build_s"]
                        rec["aider_counter"] = aider_out.get("counter")
                    records.append(rec)
                    if args.verbose:
                        marks = " ".join(f"{b}:{'F' if rec['aiex'][str(b)]['file'] else '-'}"
                                         f"{'D' if rec['aiex'][str(b)]['function'] else '-'}" for b in budgets)
                        print(f"  {c['id']:<22} {marks}  {c['question'][:70]}")
                _rmtree(root)
                if not args.verbose and (n + 1) % 20 == 0:
                    print(f"  {n + 1}/{len(by_tree)} sdists, {time.perf_counter() - started:.0f} s", flush=True)
        finally:
            if aider is not None:
                aider.close()
    total_s = time.perf_counter() - started

    if not records:
        sys.exit(f"no case passed its gold check ({len(gold_failures)} failed)")
    t = tables(records, budgets, aider is not None)
    print_tables(t, aider is not None)
    print(f"\ngold check (each gold function in its sdist, at its line, source unchanged): "
          f"{len(cases) - len(gold_failures)} of {len(cases)} cases passed, {len(gold_failures)} failed"
          + (" (not scored: " + ", ".join(f["id"] for f in gold_failures) + ")" if gold_failures else ""))
    print(f"index build per sdist (graph included): median {statistics.median(build_times) * 1000:.0f} ms, "
          f"p95 {p95(build_times) * 1000:.0f} ms over {len(build_times)} sdists; whole run {total_s:.0f} s")
    if aider is not None:
        ab = [r["aider_build_s"] for r in records]
        print(f"aider cold map per sdist (tags parsed): median {statistics.median(ab) * 1000:.0f} ms; "
              f"token counter: {records[0].get('aider_counter')}")
    modes = {str(b): failure_modes(records, b) for b in budgets} if args.diagnosis else {}
    if modes:
        print(f"\nwhere the gold function went (its place in a {DIAG_BUDGET:,}-token context tells cut from unranked):")
        for b, m in modes.items():
            print(f"  {b:>6}: " + ", ".join(f"{k} {v['count']}" for k, v in sorted(m.items())))
    per_repo = defaultdict(lambda: [0, 0])
    for r in records:
        per_repo[r["repo"]][0] += 1
        per_repo[r["repo"]][1] += r["aiex"][str(budgets[-1])]["function"]
    print(f"function recall at {budgets[-1]} by repository: " +
          ", ".join(f"{k.split('/')[1]} {v[1]}/{v[0]}" for k, v in per_repo.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "config": {"split": args.split, "repos": args.repos, "limit": args.limit, "budgets": budgets,
                   "tokenizer": args.tokenizer, "aider": aider_note if with_aider else f"skipped: {aider_note}",
                   "splits": {r: m["split"] for r, m in repos_meta.items()}, "sdists": sorted(pins)},
        "tables": t, "failure_modes": modes,
        "gold_check": {"cases": len(cases), "failed": len(gold_failures), "failures": gold_failures},
        "build_ms": {"median": statistics.median(build_times) * 1000, "p95": p95(build_times) * 1000},
        "seconds": total_s, "cases": records,
    }, indent=1))
    print(f"wrote {args.out}")


def _lines_of(root: Path):
    """path -> its lines in the tree at ``root`` (read once)."""
    cache: dict[str, list[str]] = {}

    def lines(path: str) -> list[str]:
        if path not in cache:
            cache[path] = mine.split_lines((root / path).read_bytes().decode("utf-8", "surrogateescape"))
        return cache[path]

    return lines


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
