"""The sandbox on real files in tmp_path: confinement, secrets, limits and discovery."""

from __future__ import annotations

import os
from collections import Counter

import pathspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiex_kernel.errors import (
    FileTooLarge,
    PathNotFound,
    PathOutsideRoot,
    SandboxError,
    SecretFileRefused,
)
from aiex_kernel.runtime.sandbox import (
    DEFAULT_SECRET_PATTERNS,
    MAX_SKIPPED_PATHS,
    FileEntry,
    Sandbox,
    _anonymous_groups,
    _any_pattern,
    _component_pattern,
    _ignored,
    _Rule,
    is_binary,
)
from trees import write  # tests/trees.py, loaded by conftest



@pytest.fixture
def root(tmp_path):
    (tmp_path / "project").mkdir()
    return tmp_path / "project"


@pytest.fixture
def outside(tmp_path):
    return write(tmp_path, "outside/leak.py", "SECRET = 1\n")


def names(scan):
    return [f.relpath for f in scan.files]


# -- resolving ---------------------------------------------------------------


def test_root_must_be_an_existing_directory(tmp_path):
    with pytest.raises(PathNotFound, match="nope.*--root"):
        Sandbox(tmp_path / "nope")
    write(tmp_path, "file.py")
    with pytest.raises(PathNotFound, match="not a directory"):
        Sandbox(tmp_path / "file.py")


def test_resolve_and_relpath(root):
    write(root, "src/a.py")
    sb = Sandbox(root)
    assert sb.root == root.resolve()
    assert sb.resolve("src/a.py") == root.resolve() / "src" / "a.py"
    assert sb.resolve(root / "src" / "a.py") == root.resolve() / "src" / "a.py"
    assert sb.relpath("src/../src/a.py") == "src/a.py"
    assert sb.relpath(".") == "."
    assert sb.relpath(root) == "."


def test_dotdot_escape_is_refused(root, outside):
    sb = Sandbox(root)
    with pytest.raises(PathOutsideRoot) as info:
        sb.read_bytes("../outside/leak.py")
    message = str(info.value)
    assert "../outside/leak.py" in message
    assert str(root.resolve()) in message
    assert "--root" in message


def test_absolute_path_outside_is_refused(root, outside):
    sb = Sandbox(root)
    with pytest.raises(PathOutsideRoot, match="leak.py"):
        sb.resolve(outside)
    with pytest.raises(PathOutsideRoot):
        sb.stat(outside)


def test_symlinks_pointing_outside_are_refused(root, outside):
    os.symlink(outside, root / "link.py")
    os.symlink(outside.parent, root / "linkdir")
    sb = Sandbox(root)
    with pytest.raises(PathOutsideRoot, match="link.py resolves through a symlink"):
        sb.read_bytes("link.py")
    with pytest.raises(PathOutsideRoot, match="linkdir/leak.py"):
        sb.read_text("linkdir/leak.py")


def test_symlink_inside_root_is_allowed(root):
    write(root, "src/real.py", "real = 1\n")
    os.symlink(root / "src" / "real.py", root / "alias.py")
    os.symlink(root / "src", root / "srclink")
    sb = Sandbox(root)
    assert sb.read_bytes("alias.py") == b"real = 1\n"
    assert sb.relpath("alias.py") == "src/real.py"
    assert sb.read_text("srclink/real.py") == ("real = 1\n", False)


# -- reading -----------------------------------------------------------------


@pytest.mark.parametrize("name", [".env", ".env.local", "deploy/server.pem", "tls.key", "id_rsa", "id_ed25519.pub",
                                  ".netrc", "conf/credentials.json", "secrets.yaml", "keys.p12", ".aws/credentials"])
def test_secrets_refused_by_default(root, name):
    write(root, name, "TOKEN=abc\n")
    sb = Sandbox(root)
    assert sb.is_secret(name)
    with pytest.raises(SecretFileRefused) as info:
        sb.read_bytes(name)
    message = str(info.value)
    assert name in message
    assert "allow_secrets" in message and "AIEX_ALLOW_SECRETS" in message


@pytest.mark.parametrize("name", [".env.example", ".env.sample", "config/.env.template", "environment.py", "keys.py"])
def test_not_secrets(root, name):
    write(root, name, "A=1\n")
    sb = Sandbox(root)
    assert not sb.is_secret(name)
    assert sb.read_bytes(name) == b"A=1\n"


def test_allow_secrets_patterns(root):
    write(root, ".env", "A=1\n")
    write(root, "certs/dev.pem", "PEM\n")
    write(root, "id_rsa", "KEY\n")
    sb = Sandbox(root, allow_secrets=[".env", "certs/*.pem"])
    assert sb.read_bytes(".env") == b"A=1\n"
    assert sb.read_bytes("certs/dev.pem") == b"PEM\n"
    with pytest.raises(SecretFileRefused):
        sb.read_bytes("id_rsa")


def test_link_with_harmless_name_to_a_secret_is_refused(root):
    write(root, ".env", "A=1\n")
    os.symlink(root / ".env", root / "notes.py")
    with pytest.raises(SecretFileRefused, match=r"^\.env looks like a secret"):
        Sandbox(root).read_bytes("notes.py")


def test_default_patterns_are_a_tuple_of_strings():
    assert isinstance(DEFAULT_SECRET_PATTERNS, tuple)
    assert ".env" in DEFAULT_SECRET_PATTERNS and "!.env.example" in DEFAULT_SECRET_PATTERNS



# -- the one-regex shortcut before pathspec's exact match -----------------------

_SEGMENTS = [".env", ".env.example", ".env.local", "a", "b", "src", "id_rsa", "id_rsa.pub", "x.pem", ".aws",
             "credentials", "foo.py", "[x].py", "build", "ab", "a.b", "node_modules", "ENV", "a b", "x", "c.pyc", "a.PY"]
_PATTERNS = [".env", ".env.*", "!.env.example", "*.pem", "!x.pem", "id_rsa*", "**/.aws/credentials", "build/",
             "/src", "a/**/b", "!a", "[ab]", "a?", "*.py", "!foo.py", "\\[x].py", "# comment", "", "node_modules/",
             "!build/", "src/*.py", "**/b", "*.py[cod]", "[ab]/b", "[!a]", "a/*", "*", "x/**", "a b", "b ",
             "*.P[Yy]"]
_path = st.lists(st.sampled_from(_SEGMENTS), min_size=1, max_size=4).map("/".join)


def test_secret_hint_exists_for_the_default_patterns_despite_their_negations():
    # it used to be None as soon as one negation (!.env.example) was there: a full match for every path
    spec = pathspec.GitIgnoreSpec.from_lines(DEFAULT_SECRET_PATTERNS)
    hint = _any_pattern(spec)
    assert hint is not None
    assert hint.match(".env") and hint.match(".env.example")  # a hint, not the answer: the spec decides
    assert not hint.match("src/app.py") and not hint.match("docs/environment.md")


@pytest.mark.parametrize("name", [".env", ".env.example", "a/.env", "a/.env.example", "a/.env.sample.bak",
                                  ".env.example/key", "deploy/server.pem", "x.pem.py", "environment.py",
                                  ".aws/credentials", "a/.aws/credentials", "credentials", "id_rsa", "id_rsa.py"])
def test_hinted_secret_check_equals_the_full_spec(root, name):
    sb = Sandbox(root)
    assert sb._secret_hint is not None
    assert sb.is_secret(name) == pathspec.GitIgnoreSpec.from_lines(DEFAULT_SECRET_PATTERNS).match_file(name)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PATTERNS), max_size=8), st.lists(_path, min_size=1, max_size=10))
def test_pre_filters_never_miss_a_path_the_spec_matches(patterns, paths):
    spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    hint, every = _any_pattern(spec), _any_pattern(spec, negations=True)
    names, every_name = _component_pattern(spec), _component_pattern(spec, negations=True)
    rule = _Rule(".", patterns)
    assert hint is not None and every is not None
    for path in paths:
        for candidate in (path, path + "/"):  # files, and directories as scan asks about them
            parts = [c for c in candidate.split("/") if c]
            if spec.match_file(candidate):
                assert hint.match(candidate), (patterns, candidate)
                assert names is None or any(names.match(c) for c in parts), (patterns, candidate)
            if spec.check_file(candidate).include is not None:
                assert every.match(candidate), (patterns, candidate)
                assert every_name is None or any(every_name.match(c) for c in parts), (patterns, candidate)
                # the scan's filters, walked down the path's directories, let its last name pass
                where = rule.top
                for c in parts[:-1]:
                    where = rule.descend(where, c)
                assert rule.passes(where, parts[-1]), (patterns, candidate)


def test_name_pre_filter_of_the_default_secret_patterns():
    names = _component_pattern(pathspec.GitIgnoreSpec.from_lines(DEFAULT_SECRET_PATTERNS))
    assert names is not None
    assert names.match(".env") and names.match("server.pem") and names.match("credentials")
    assert not names.match("app.py") and not names.match("environment.py")
    # build/** matches what is below a directory named build: that name is the test
    assert _component_pattern(pathspec.GitIgnoreSpec.from_lines(["build/**"])).pattern == r"(?:build)\Z"
    assert _component_pattern(pathspec.GitIgnoreSpec.from_lines(["*.pyc", "*"])) is None  # any name may match


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_PATTERNS), min_size=1, max_size=6), st.lists(st.sampled_from(_PATTERNS), max_size=4),
       st.sets(_path, min_size=1, max_size=12))
def test_scan_with_pre_filters_equals_the_exact_rules(tmp_path_factory, top, nested, paths):
    """A real tree with a .gitignore at the top and one in a/: the scan (pre-filtered) keeps and skips
    exactly what git's rules, applied path by path without any shortcut, say."""
    base = tmp_path_factory.mktemp("tree")
    made = set()
    for path in sorted(paths):
        target = base / (path + ".py")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("x = 1\n")
        except OSError:  # a file where a directory should be, or the reverse
            continue
        made.add(path)
    (base / ".gitignore").write_text("\n".join(top) + "\n")
    (base / "a").mkdir(exist_ok=True)
    (base / "a" / ".gitignore").write_text("\n".join(nested) + "\n")
    sb = Sandbox(base)
    scan = sb.scan()
    rules = [_Rule.of(".", top), _Rule.of("a", nested)]

    def expected(rel: str) -> str | None:  # what the exact rules say, walking down from the top
        parts = rel.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            applicable = [r for r in rules if r.base == "." or (prefix.startswith("a/") and r.base == "a")]
            if _ignored(applicable, prefix, depth < len(parts)):
                return None
        if sb._secret_exact(rel):
            return "secret"
        return "kept"

    kept = {f.relpath for f in scan.files}
    for path in made:
        rel = path + ".py"
        want = expected(rel)
        if want == "kept":
            assert rel in kept, (top, nested, rel)
        else:
            assert rel not in kept, (top, nested, rel)


def test_anonymous_groups_keeps_escapes_and_classes():
    assert _anonymous_groups(r"^(?:.+/)?a(?:(?P<ps_d>/)|$)") == r"^(?:.+/)?a(?:(?:/)|$)"
    assert _anonymous_groups(r"\\(?P<x>a)") == r"\\(?:a)"  # an escaped backslash, then a real group
    assert _anonymous_groups(r"\(?P<x>a)") == r"\(?P<x>a)"  # an escaped parenthesis: no group
    assert _anonymous_groups(r"[(?P<x>]") == r"[(?P<x>]"  # inside a class
    assert _anonymous_groups(r"[]](?P<x>a)") == r"[]](?:a)" and _anonymous_groups(r"[^]](?P<x>a)") == r"[^]](?:a)"
    assert _anonymous_groups(r"(?P<x>a)(?P=x)") is None and _anonymous_groups(r"(a)\1") is None

def test_size_limit(root):
    write(root, "big.py", b"a" * 101)
    write(root, "fits.py", b"a" * 100)
    sb = Sandbox(root, max_file_bytes=100)
    assert len(sb.read_bytes("fits.py")) == 100
    with pytest.raises(FileTooLarge) as info:
        sb.read_bytes("big.py")
    message = str(info.value)
    assert "big.py is 101 bytes" in message and "limit of 100 bytes" in message and "max_file_bytes" in message
    assert sb.read_bytes("big.py", max_bytes=200) == b"a" * 101
    with pytest.raises(FileTooLarge, match="limit of 50 bytes"):
        sb.read_bytes("fits.py", max_bytes=50)


def test_missing_and_directory(root):
    (root / "pkg").mkdir()
    sb = Sandbox(root)
    with pytest.raises(PathNotFound, match="missing.py does not exist"):
        sb.read_bytes("missing.py")
    with pytest.raises(PathNotFound, match="missing.py"):
        sb.stat("missing.py")
    with pytest.raises(SandboxError, match="pkg is a directory"):
        sb.read_bytes("pkg")


def test_stat(root):
    write(root, "a.py", "abc")
    assert Sandbox(root).stat("a.py").st_size == 3


def test_read_text_flags_invalid_utf8(root):
    write(root, "good.py", "s = 'é'\n")
    write(root, "bad.py", b"s = '\xff'\n")
    sb = Sandbox(root)
    assert sb.read_text("good.py") == ("s = 'é'\n", False)
    assert sb.read_text("bad.py") == ("s = '\ufffd'\n", True)


def test_is_binary():
    assert is_binary(b"abc\0def")
    assert not is_binary(b"plain text\n")
    assert not is_binary(b"")
    assert not is_binary(b"a" * 8192 + b"\0")  # only the first 8 KiB count
    assert is_binary(b"a" * 8191 + b"\0")


# -- scanning ----------------------------------------------------------------


def test_scan_finds_sources_sorted_with_languages(root):
    write(root, "src/b.py", "b = 1\n")
    write(root, "src/a.ts", "let a = 1;\n")
    write(root, "main.py", "")
    write(root, "README.md", "# hi\n")
    write(root, "data.csv", "1,2\n")
    write(root, ".git/config", "[core]\n")
    write(root, ".git/hooks/x.py", "")
    scan = Sandbox(root).scan()
    assert scan.files == [FileEntry("main.py", 0, "python"), FileEntry("src/a.ts", 11, "typescript"),
                          FileEntry("src/b.py", 6, "python")]
    assert scan.skipped == Counter({"unsupported": 2})
    assert scan.skipped_paths == []
    assert scan.total_bytes == 17


def test_scan_nested_gitignore_with_negation(root):
    write(root, ".gitignore", "*.gen.py\nbuild/\n")
    write(root, "a.py")
    write(root, "a.gen.py")
    write(root, "build/out.py")
    write(root, "build/more/deep.py")
    write(root, "pkg/.gitignore", "!keep.gen.py\nlocal.py\n")
    write(root, "pkg/keep.gen.py")
    write(root, "pkg/drop.gen.py")
    write(root, "pkg/local.py")
    write(root, "pkg/sub/local.py")
    write(root, "other/local.py")
    scan = Sandbox(root).scan()
    assert names(scan) == ["a.py", "other/local.py", "pkg/keep.gen.py"]
    # a.gen.py, build/ (once), pkg/drop.gen.py, pkg/local.py, pkg/sub/local.py
    assert scan.skipped["ignored"] == 5
    assert scan.skipped["unsupported"] == 2  # the two .gitignore files


def test_scan_anchored_pattern_is_relative_to_its_gitignore(root):
    write(root, "pkg/.gitignore", "/gen.py\n")
    write(root, "pkg/gen.py")
    write(root, "pkg/sub/gen.py")
    write(root, "gen.py")
    assert names(Sandbox(root).scan()) == ["gen.py", "pkg/sub/gen.py"]


def test_scan_aiexignore(root):
    write(root, ".gitignore", "*.log\n")
    write(root, ".aiexignore", "fixtures/\n")
    write(root, "tests/.aiexignore", "big_*.py\n")
    write(root, "a.py")
    write(root, "fixtures/f.py")
    write(root, "tests/big_case.py")
    write(root, "tests/test_a.py")
    scan = Sandbox(root).scan()
    assert names(scan) == ["a.py", "tests/test_a.py"]
    assert scan.skipped["ignored"] == 2


def test_ignored_directory_is_not_descended(root, outside):
    write(root, ".gitignore", "node_modules/\n")
    write(root, "node_modules/pkg/index.js")
    os.symlink(outside, root / "node_modules" / "leak.py")  # would count "outside root" if entered
    write(root, "index.js")
    scan = Sandbox(root).scan()
    assert names(scan) == ["index.js"]
    assert scan.skipped == Counter({"ignored": 1, "unsupported": 1})
    assert scan.skipped_paths == []


def test_scan_of_subdirectory_honours_parent_gitignore(root):
    write(root, ".gitignore", "*.gen.py\n")
    write(root, "src/a.py")
    write(root, "src/a.gen.py")
    scan = Sandbox(root).scan(["src"])
    assert names(scan) == ["src/a.py"]
    assert scan.skipped == Counter({"ignored": 1})


def test_explicit_paths_bypass_ignore_rules(root):
    write(root, ".gitignore", "build/\n*.gen.py\n")
    write(root, "a.gen.py")
    write(root, "build/out.py")
    write(root, "build/.gitignore", "skip.py\n")
    write(root, "build/skip.py")
    sb = Sandbox(root)
    assert names(sb.scan(["a.gen.py"])) == ["a.gen.py"]
    assert names(sb.scan(["build"])) == ["build/out.py"]
    assert names(sb.scan(["a.gen.py", "build", "a.gen.py", "."])) == ["a.gen.py", "build/out.py"]


def test_explicit_secret_and_unsupported_files_are_still_skipped(root):
    write(root, ".env", "A=1\n")
    write(root, "notes.txt", "hi\n")
    scan = Sandbox(root).scan([".env", "notes.txt"])
    assert scan.files == []
    assert scan.skipped == Counter({"secret": 1, "unsupported": 1})
    assert scan.skipped_paths == [(".env", "secret")]


def test_scan_explicit_path_errors(root, outside):
    sb = Sandbox(root)
    with pytest.raises(PathNotFound, match="nothere"):
        sb.scan(["nothere"])
    with pytest.raises(PathOutsideRoot, match=r"\.\./outside"):
        sb.scan(["../outside"])


def test_scan_depth(root):
    write(root, "top.py")
    write(root, "a/one.py")
    write(root, "a/b/two.py")
    write(root, "a/b/c/three.py")
    sb = Sandbox(root)
    assert names(sb.scan(depth=0)) == ["top.py"]
    assert names(sb.scan(depth=1)) == ["a/one.py", "top.py"]
    assert names(sb.scan(["a"], depth=1)) == ["a/b/two.py", "a/one.py"]
    assert names(sb.scan()) == ["a/b/c/three.py", "a/b/two.py", "a/one.py", "top.py"]


def test_scan_secrets_too_large_and_unsupported(root):
    write(root, "ok.py", b"a" * 10)
    write(root, "big.py", b"a" * 11)
    write(root, "big.csv", b"a" * 100)
    write(root, ".env", "A=1\n")
    write(root, ".env.example", "A=\n")
    write(root, "keys/server.pem", "PEM\n")
    write(root, "keys/deploy.py", "")
    scan = Sandbox(root, max_file_bytes=10).scan()
    assert names(scan) == ["keys/deploy.py", "ok.py"]
    assert scan.skipped == Counter({"secret": 2, "too large": 1, "unsupported": 2})
    assert sorted(scan.skipped_paths) == [(".env", "secret"), ("big.py", "too large"),
                                          ("keys/server.pem", "secret")]
    allowed = Sandbox(root, max_file_bytes=10, allow_secrets=["*.pem"]).scan()
    assert allowed.skipped["secret"] == 1 and allowed.skipped["unsupported"] == 3


def test_scan_symlinks(root, outside):
    write(root, "src/real.py", "r = 1\n")
    os.symlink(outside, root / "leak.py")
    os.symlink(outside.parent, root / "leakdir")
    os.symlink(root / "src" / "real.py", root / "alias.py")
    os.symlink(root / "nowhere.py", root / "broken.py")
    os.symlink(root, root / "src" / "loop")  # a cycle back to the root
    scan = Sandbox(root).scan()
    assert names(scan) == ["alias.py", "src/real.py"]
    assert scan.skipped == Counter({"outside root": 2, "unreadable": 1})
    assert sorted(scan.skipped_paths) == [("broken.py", "unreadable"), ("leak.py", "outside root"),
                                          ("leakdir", "outside root")]


def test_skipped_paths_are_capped(root):
    for i in range(MAX_SKIPPED_PATHS + 5):
        write(root, f"k{i}.pem", "")
    scan = Sandbox(root).scan()
    assert scan.skipped["secret"] == MAX_SKIPPED_PATHS + 5
    assert len(scan.skipped_paths) == MAX_SKIPPED_PATHS


def test_unreadable_directory_is_counted(root):
    if os.geteuid() == 0:
        pytest.skip("root can read any directory")
    write(root, "locked/a.py")
    (root / "locked").chmod(0)
    try:
        scan = Sandbox(root).scan()
    finally:
        (root / "locked").chmod(0o755)
    assert scan.skipped_paths == [("locked", "unreadable")]
