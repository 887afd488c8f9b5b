"""Mine the localization cases of ``benchmarks/localization.py`` from real history.

Each case is one bug-fix commit of a public Python repository that nobody here wrote:

* the commit has exactly one parent, and its subject describes a behaviour (it says
  fix/bug/handle/don't/should/correct/avoid/raise/error/... and not typo, docs,
  release, bump, merge, changelog, test, style, lint, typing, ...; 20-120 characters
  once PR references like ``(#123)`` are stripped);
* its diff changes 1-3 ``.py`` files outside tests, docs, examples and vendored code
  (other files, tests and changelogs included, may change too: they are not gold);
* every changed hunk of those files lies inside a function or method that exists in
  the parent (a hunk's old line range within ``[def line, end_lineno]``, found with
  ``ast`` on the parent's file; a pure insertion strictly inside), and the code of
  at least one of them really changes (its ``ast`` without the docstring differs);
  a commit that only adds functions, or touches imports or module-level code, is
  skipped;
* the question is the subject, the tree is the parent commit, the gold answer is the
  touched functions: path, qualified name (``Class.method``; a function nested in
  another one counts as the outer one), def line and end line in the parent.

At most ``--cap`` cases a repository (evenly spread over its qualifying history, so
that no repository and no era dominates; one case per distinct subject).

What is stored under ``benchmarks/data/localization/``:

* ``cases.json``: plain and human-readable: the repositories (split, the head
  mined, licence name) and every case (repo, split, commit, parent, date, subject,
  question, gold list, changed files);
* ``trees/<owner>+<name>.json.xz``: per repository, a content-addressed blob store
  (each unique file version once, keyed by its git blob id, ordered by path then
  age so that xz sees neighbouring versions together) and the parent trees
  (path -> blob id), plus the repository's licence text. A tree holds what the
  context engine would read: ``.py`` files and ``pyproject.toml``/``setup.cfg``/
  ``setup.py``, without vendored code, files over 512 KB, or past 2 MB in all.

The benchmark reads only those files: no ``fetch``, no network.

Regenerating (the mirrors are bare git directories, as the search tool's ``fetch``
brings them, e.g. ``fetch github:pallets/click`` -> ``/work/.mirror/pallets+click/repo``)::

    python benchmarks/localization_mine.py --mirrors /work/.mirror [--cap 25]

Repositories and their fixed split (``tune`` for tuning the ranking, ``heldout``
for judging it) are in ``REPOS`` below; the mirrors' heads are recorded in
``cases.json``, and ``--pin`` mines again at exactly those heads.
"""

from __future__ import annotations

import argparse
import ast
import json
import lzma
import re
import subprocess
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "localization"

#: repository -> (split, licence); the split is fixed here and never tuned
REPOS = {
    "pallets/click": ("tune", "BSD-3-Clause"),
    "python-attrs/attrs": ("tune", "MIT"),
    "marshmallow-code/marshmallow": ("tune", "MIT"),
    "pallets/jinja": ("tune", "BSD-3-Clause"),
    "more-itertools/more-itertools": ("tune", "MIT"),
    "psf/requests": ("heldout", "Apache-2.0"),
    "pallets/werkzeug": ("heldout", "BSD-3-Clause"),
    "encode/httpx": ("heldout", "BSD-3-Clause"),
    "pytest-dev/pluggy": ("heldout", "MIT"),
    "pallets/itsdangerous": ("heldout", "BSD-3-Clause"),
}

MIN_SUBJECT, MAX_SUBJECT = 20, 120
MAX_CHANGED_FILES = 3
MAX_GOLD = 4  #: functions a case may have as its answer
MAX_FILE_BYTES = 512 * 1024
MAX_TREE_BYTES = 2 * 1024 * 1024
TREE_NAMES = {"pyproject.toml", "setup.cfg", "setup.py"}

_GOOD = re.compile(
    r"\b(fix(e[sd])?|fixing|bug|bugs|handle[sd]?|handling|don'?t|doesn'?t|do not|should|shouldn'?t|correct(ly|ed|s)?|"
    r"avoid(s|ed)?|raises?|raised|raising|errors?|exceptions?|crash(es|ed)?|broken|wrong|incorrect(ly)?|"
    r"prevent(s|ed)?|fail(s|ed|ing|ure)?|ensure[sd]?|respect(s|ed)?|preserve[sd]?|properly|missing)\b",
    re.IGNORECASE)
_BAD = re.compile(
    r"\b(typos?|docs?|documentation|docstrings?|readme|release|releasing|bump(ed)?|merge[sd]?|revert(s|ed)?|"
    r"changelog|changes|news|tests?|testing|pytest|tox|style|lint(ing)?|flake8|ruff|mypy|pyright|black|isort|"
    r"pre-commit|typing|type hints?|annotations?|annotate|version|ci|coverage|spelling|grammar|wording|"
    r"comments?|whitespace|formatting|deprecation warnings?|py2|python ?2)\b",
    re.IGNORECASE)
_PR = re.compile(r"\s*(\(\s*#\d+\s*\)|\[\s*#\d+\s*\]|\(?\b(fixes|closes|refs?|see|resolves|issue|gh|pr)\s*#\d+\)?|#\d+)", re.IGNORECASE)
_SKIP_PATH = re.compile(r"(^|/)(tests?|testing|docs?|examples?|benchmarks?|bench|scripts|tools|artwork)(/|$)|test|conftest|"
                        r"(^|/)setup\.py$|(^|/)noxfile\.py$")
_VENDORED = re.compile(r"(^|/)(_vendor|vendor|vendored|packages|extern|_compat_vendor)(/|$)|(^|/)\.")


def git(mirror: Path, *args: str, text: bool = True):
    out = subprocess.run(["git", f"--git-dir={mirror}", *args], check=True, capture_output=True)
    return out.stdout.decode("utf-8", "surrogateescape") if text else out.stdout


def question_of(subject: str) -> str:
    q = _PR.sub(" ", subject)
    q = re.sub(r"^\s*(\[[^\]]*\]\s*)+", "", q)  # "[bugfix] ..." tags
    q = re.sub(r"\s+([:,;])", r"\1", " ".join(q.split())).strip(" .:")
    first = re.split(r"(?<=[a-z0-9)`'\"])\.\s+(?=[A-Z])", q, maxsplit=1)[0]  # a paragraph joined into the subject
    return first if len(first) >= MIN_SUBJECT else q


#: words that say a fix happened but not what it does ("fixed gevent problem", "fixed bug and updated logo")
_GENERIC = set("""fix fixed fixes fixing bug bugs bugfix issue issues problem problems error errors and the for with
some small minor another more other stuff things thing regression broken update updated logo case cases this that
from into when was were has have been also initial quick""".split())  # noqa: SIM905


def subject_ok(subject: str) -> bool:
    q = question_of(subject)
    if not MIN_SUBJECT <= len(q) <= MAX_SUBJECT:
        return False
    if re.search(r"\b[0-9a-f]{7,40}\b", q) and re.search(r"[0-9]", q):  # "Correct 1049dd6b2a..."
        return False
    if re.search(r"\b(for|the|a|an|to|of|in|with|and|or|this|that|when|on|by|from)$", q, re.IGNORECASE):  # a wrapped line
        return False
    content = [w for w in re.findall(r"[A-Za-z][A-Za-z0-9_]{2,}", q) if w.lower() not in _GENERIC]
    if len(content) < 2:  # it must say what behaves how
        return False
    if subject.lower().startswith(("merge", "revert", "release", "bump", "version")):
        return False
    return bool(_GOOD.search(q)) and not _BAD.search(q)


def hunks(mirror: Path, parent: str, commit: str, path: str) -> list[tuple[int, int]]:
    """Old-side line ranges of the changed hunks; a pure insertion after line a is (a + 0.5, a + 0.5)."""
    diff = git(mirror, "diff", "-U0", "--no-color", "--no-ext-diff", parent, commit, "--", path)
    out = []
    for m in re.finditer(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", diff, re.MULTILINE):
        a, n = int(m.group(1)), int(m.group(2) if m.group(2) is not None else 1)
        out.append((a, a + n - 1) if n else (a + 0.5, a + 0.5))
    return out


def functions(source: str) -> list[dict]:
    """Top-level functions and methods (classes nested in classes included; not functions nested in functions)."""
    tree = ast.parse(source)
    found = []

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([d.lineno for d in child.decorator_list] + [child.lineno])
                found.append({"qualname": prefix + child.name, "def_line": child.lineno, "start_line": start,
                              "end_line": child.end_lineno, "node": child})
            elif isinstance(child, ast.ClassDef):
                walk(child, prefix + child.name + ".")
            elif isinstance(child, (ast.If, ast.Try, ast.With)) and not prefix:  # `if sys.version...: def f()`
                walk(child, prefix)
    walk(tree, "")
    return found


def _code(node) -> str:
    body = list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return ast.dump(ast.Module(body=body, type_ignores=[])) + ast.dump(node.args) + \
        "".join(ast.dump(d) for d in node.decorator_list)


def gold_of(mirror: Path, parent: str, commit: str, path: str) -> list[dict] | None:
    try:
        old = git(mirror, "show", f"{parent}:{path}")
        new = git(mirror, "show", f"{commit}:{path}")
        old_fns, new_fns = functions(old), functions(new)
    except (subprocess.CalledProcessError, SyntaxError, ValueError, RecursionError):
        return None
    ranges = hunks(mirror, parent, commit, path)
    if not ranges:
        return None
    touched: dict[str, dict] = {}
    for a, b in ranges:
        inside = [f for f in old_fns if f["def_line"] <= a and b <= f["end_line"]
                  and (a == int(a) or a < f["end_line"])]
        if not inside:
            return None
        f = min(inside, key=lambda f: f["end_line"] - f["def_line"])
        touched[f["qualname"]] = f
    by_name = {f["qualname"]: f for f in new_fns}
    really = [q for q, f in touched.items() if q not in by_name or _code(by_name[q]["node"]) != _code(f["node"])]
    if not really:
        return None
    return [{"path": path, "qualname": q, "def_line": f["def_line"], "start_line": f["start_line"],
             "end_line": f["end_line"]} for q, f in sorted(touched.items(), key=lambda kv: kv[1]["def_line"])
            if q in really]


def tree_of(mirror: Path, commit: str) -> dict[str, tuple[str, int]] | None:
    """path -> (blob id, size) of what the context engine would read; None past the size cap."""
    out = {}
    for line in git(mirror, "ls-tree", "-r", "-l", "--full-tree", commit).splitlines():
        meta, path = line.split("\t", 1)
        mode, kind, sha, size = meta.split()
        if kind != "blob" or mode == "120000" or size == "-" or _VENDORED.search(path):
            continue
        if not (path.endswith(".py") or path.rsplit("/", 1)[-1] in TREE_NAMES) or int(size) > MAX_FILE_BYTES:
            continue
        out[path] = (sha, int(size))
    if sum(s for _, s in out.values()) > MAX_TREE_BYTES:
        return None
    return out


def candidates(mirror: Path) -> list[dict]:
    log = git(mirror, "log", "--no-merges", "--format=%H%x00%P%x00%cI%x00%s", "HEAD")
    seen: set[str] = set()
    found = []
    for line in log.splitlines():
        commit, parents, date, subject = line.split("\x00", 3)
        if len(parents.split()) != 1 or not subject_ok(subject):
            continue
        q = question_of(subject)
        if q.lower() in seen:
            continue
        parent = parents.strip()
        status = git(mirror, "diff-tree", "-r", "--no-commit-id", "--name-status", "--no-renames", parent, commit)
        changed = [ln.split("\t") for ln in status.splitlines() if ln.strip()]
        code = [(st, p) for st, *ps in changed for p in ps if p.endswith(".py")]
        lib = [(st, p) for st, p in code if not _SKIP_PATH.search(p.lower()) and not _VENDORED.search(p)]
        if any(_VENDORED.search(p) for _, p in code) or not 1 <= len(lib) <= MAX_CHANGED_FILES:
            continue
        if any(st != "M" for st, _ in lib):
            continue
        gold = []
        for _, path in lib:
            g = gold_of(mirror, parent, commit, path)
            if g is None:
                gold = None
                break
            gold.extend(g)
        if not gold or len(gold) > MAX_GOLD:
            continue
        seen.add(q.lower())
        found.append({"commit": commit, "parent": parent, "date": date, "subject": subject, "question": q,
                      "gold": gold, "changed_files": [p for _, *ps in changed for p in ps]})
    found.reverse()  # oldest first
    return found


def spread(items: list, cap: int) -> list:
    if len(items) <= cap:
        return items
    return [items[round(i * (len(items) - 1) / (cap - 1))] for i in range(cap)]


def mine(mirrors: Path, cap: int, pins: dict[str, str], out: Path = DATA) -> None:
    all_cases = []
    repos = {}
    (out / "trees").mkdir(parents=True, exist_ok=True)
    for repo, (split, licence) in REPOS.items():
        mirror = mirrors / repo.replace("/", "+") / "repo"
        head = pins.get(repo) or git(mirror, "rev-parse", "HEAD").strip()
        found = candidates(mirror) if not pins.get(repo) else _at(mirror, head)
        kept, trees = [], {}
        for case in found:
            tree = tree_of(mirror, case["parent"])
            if tree is None or any(g["path"] not in tree for g in case["gold"]):
                continue
            kept.append(case)
            trees[case["parent"]] = tree
        kept = spread(kept, cap)
        blobs: dict[str, tuple[str, str]] = {}  # sha -> (path, date) of its first use
        for case in kept:
            for path, (sha, _) in trees[case["parent"]].items():
                blobs.setdefault(sha, (path, case["date"]))
        texts = {}
        for sha in sorted(blobs, key=lambda s: blobs[s]):
            data = git(mirror, "cat-file", "blob", sha, text=False)
            texts[sha] = data.decode("utf-8", "surrogateescape")
        licence_text = ""
        for name in ("LICENSE", "LICENSE.txt", "LICENSE.rst", "LICENSE.md", "LICENCE"):
            try:
                licence_text = git(mirror, "show", f"{head}:{name}")
                break
            except subprocess.CalledProcessError:
                continue
        store = {"repo": repo, "licence": licence, "licence_text": licence_text, "blobs": texts,
                 "trees": {c["parent"]: {p: s for p, (s, _) in sorted(trees[c["parent"]].items())} for c in kept}}
        raw = json.dumps(store, ensure_ascii=True, separators=(",", ":")).encode()
        target = out / "trees" / f"{repo.replace('/', '+')}.json.xz"
        target.write_bytes(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME))
        for i, case in enumerate(kept):
            all_cases.append({"id": f"{repo.split('/')[1]}-{i:03d}", "repo": repo, "split": split, **case})
        repos[repo] = {"split": split, "licence": licence, "head": head, "qualifying": len(found),
                       "cases": len(kept), "blobs": len(texts), "xz_bytes": target.stat().st_size}
        print(f"{repo}: {len(found)} qualifying, {len(kept)} kept, {len(texts)} blobs, "
              f"{target.stat().st_size / 1e6:.2f} MB")
    doc = {"about": "Localization cases mined from real history by benchmarks/localization_mine.py; trees in "
                    "trees/<owner>+<name>.json.xz (licences inside).",
           "repos": repos, "cases": all_cases}
    (out / "cases.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{len(all_cases)} cases")


def _at(mirror: Path, head: str) -> list[dict]:
    """Candidates as of a pinned head (the mirror may have moved on)."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:  # a throwaway ref namespace, so HEAD stays as it is
        env_dir = Path(tmp) / "shallow"
        subprocess.run(["git", "init", "-q", "--bare", str(env_dir)], check=True)
        alt = env_dir / "objects" / "info" / "alternates"
        alt.write_text(str(Path(os.path.abspath(mirror)) / "objects") + "\n")
        subprocess.run(["git", f"--git-dir={env_dir}", "update-ref", "HEAD", head], check=True)
        return candidates(env_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirrors", default="/work/.mirror", help="folder of <owner>+<name>/repo bare mirrors")
    parser.add_argument("--cap", type=int, default=25, help="cases per repository at most")
    parser.add_argument("--pin", action="store_true", help="mine at the heads recorded in cases.json")
    parser.add_argument("--out", type=Path, default=DATA, help="where the data goes (default: %(default)s)")
    args = parser.parse_args()
    pins = {}
    if args.pin:
        pins = {r: v["head"] for r, v in json.loads((args.out / "cases.json").read_text())["repos"].items()}
    mine(Path(args.mirrors), args.cap, pins, args.out)


if __name__ == "__main__":
    main()
