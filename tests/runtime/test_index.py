"""The context index for real: build, incremental rebuilds, crashes, the cluster, ranking, budgets."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from aiex_kernel.config import load_settings
from aiex_kernel.runtime.index import cached_view, open_sandbox
from aiex_kernel.runtime.index.build import build_index
from aiex_kernel.runtime.index.context import assemble_context
from aiex_kernel.runtime.index.store import SCHEMA_VERSION, IndexStore
from aiex_kernel.runtime.index.view import load_index
from aiex_kernel.runtime.tokenizers import TokenCounter, conservative_estimate, token_counter

FILES = {
    "pyproject.toml": "[project]\nname = 'shop'\n",
    "shop/config.py": '''
        """Configuration loading."""
        import json


        def parse_config(path):
            """Read the JSON configuration file at path."""
            with open(path) as fh:
                return json.load(fh)


        class Settings:
            def __init__(self, data):
                self.data = data
        ''',
    "shop/cart.py": '''
        from shop.config import parse_config


        class Cart:
            def __init__(self):
                self.items = []

            def add(self, item, price):
                self.items.append((item, price))

            def total(self):
                return sum(price for _, price in self.items)


        def load_cart(path):
            settings = parse_config(path)
            return Cart()
        ''',
    "shop/app.py": '''
        from shop.cart import load_cart
        from shop.config import parse_config


        def main():
            config = parse_config("shop.json")
            cart = load_cart(config["cart"])
            print(cart.total())
        ''',
    "web/server.js": '''
        function startServer(port) {
          return listen(port);
        }
        export function parseConfig(text) { return JSON.parse(text); }
        ''',
}


def write(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "shop-project"
    write(root, FILES)
    return root


def build(root, **kw):
    settings = load_settings(root)
    return build_index(open_sandbox(root, settings), settings=settings, progress=False, **kw)


def view_of(root):
    return load_index(IndexStore(str(root / ".aiex" / "index")))


def live_paths(root):
    return sorted(f["path"] for f in view_of(root).files)


def test_build_and_rebuild_nothing_changed(project):
    report = build(project, cluster="never")
    assert (report.added, report.changed, report.deleted) == (4, 0, 0)
    assert report.skipped["unsupported"] == 1  # pyproject.toml
    view = view_of(project)
    assert live_paths(project) == ["shop/app.py", "shop/cart.py", "shop/config.py", "web/server.js"]
    names = {c.qualname for c in view.chunks(range(view.n_chunks)).values()}
    assert {"parse_config", "Cart.add", "Cart.total", "load_cart", "startServer", "parseConfig"} <= names
    again = build(project, cluster="never")
    assert again.up_to_date and again.unchanged == 4 and again.files == 4
    assert json.loads((project / ".aiex/index/manifest.json").read_text())["schema"] == SCHEMA_VERSION


def test_incremental_edit_add_delete_rename(project):
    build(project, cluster="never")
    (project / "shop/cart.py").write_text("def checkout(cart):\n    return cart\n")
    (project / "shop/tax.py").write_text("def vat(amount):\n    return amount * 0.2\n")
    (project / "web/server.js").unlink()
    (project / "shop/app.py").rename(project / "shop/main.py")
    report = build(project, cluster="never")
    assert (report.added, report.changed, report.deleted, report.unchanged) == (2, 1, 2, 1)
    view = view_of(project)
    assert live_paths(project) == ["shop/cart.py", "shop/config.py", "shop/main.py", "shop/tax.py"]
    names = {c.qualname for c in view.chunks(range(view.n_chunks)).values()}
    assert "checkout" in names and "vat" in names and "main" in names
    assert not names & {"Cart.add", "startServer", "parseConfig"}  # gone with the edit and the delete
    # a file touched but not changed is not re-indexed
    os.utime(project / "shop/tax.py")
    touched = build(project, cluster="never")
    assert touched.up_to_date and touched.unchanged == 4


def test_compaction_keeps_every_live_chunk(project, monkeypatch):
    from aiex_kernel.core import merge_policy

    monkeypatch.setattr(merge_policy, "MAX_LOOSE", 8)
    build(project, cluster="never")
    for i in range(10):  # each edit adds a segment; past the limit they are merged
        (project / "shop/tax.py").write_text(f"def vat_{i}(amount):\n    return amount * 0.{i}\n")
        report = build(project, cluster="never")
    assert report.segments <= 8
    view = view_of(project)
    names = {c.qualname for c in view.chunks(range(view.n_chunks)).values()}
    assert "vat_9" in names and "vat_8" not in names and "parse_config" in names
    segments = os.listdir(project / ".aiex/index/segments")
    assert len(segments) == report.segments  # unreferenced segments were deleted


def test_schema_change_rebuilds_with_a_message(project):
    build(project, cluster="never")
    manifest_path = project / ".aiex/index/manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["schema"] = 1
    manifest_path.write_text(json.dumps(manifest))
    report = build(project, cluster="never")
    assert report.rebuilt and "schema 1" in report.rebuilt and "Rebuilding" in report.rebuilt
    assert report.added == 4


def test_with_a_cluster_up_a_tiny_job_is_indexed_here_and_a_larger_one_there(project, runtime):
    from aiex_kernel.runtime.file_batches import LOCAL_JOB_BYTES

    runtime.client  # up: under --cluster auto, jobs go to it
    assert build(project, cluster="never").added == 4
    (project / "shop" / "cart.py").write_text("def total(items):\n    return sum(items)\n")
    tiny = build(project, runtime=runtime)
    assert tiny.changed == 1 and tiny.where == "in-process"  # a round trip would cost more than the work
    body = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(LOCAL_JOB_BYTES // 30))
    (project / "shop" / "many.py").write_text(body)
    larger = build(project, runtime=runtime)
    assert larger.added == 1 and larger.where == runtime.client.scheduler.address
    assert set(live_paths(project)) >= {"shop/cart.py", "shop/many.py"}


def test_aiexignore_keeps_files_out(project):
    (project / ".aiexignore").write_text("web/\n")
    build(project, cluster="never")
    assert "web/server.js" not in live_paths(project)


def test_build_on_a_real_cluster(project, runtime):
    report = build(project, cluster="always", runtime=runtime)
    assert report.where.startswith(("inproc://", "tcp://")) and report.added == 4
    assert report.written_by == "workers (they read the files)"  # the client merged only the manifest
    manifest = IndexStore(str(project / ".aiex" / "index")).read_manifest()
    assert set(manifest["generations"]) == set(manifest["segments"])
    local = project.parent / "copy"
    write(local, FILES)
    build(local, cluster="never")
    a, b = view_of(project), view_of(local)
    assert a.n_chunks == b.n_chunks
    assert sorted(c.qualname for c in a.chunks(range(a.n_chunks)).values()) == \
        sorted(c.qualname for c in b.chunks(range(b.n_chunks)).values())


def test_new_files_go_to_the_workers_while_the_scan_walks(tmp_path, runtime, monkeypatch):
    from aiex_kernel.runtime.index import stream

    monkeypatch.setattr(stream, "STREAM_BYTES", 400)  # a batch every few files of this small tree
    monkeypatch.setattr(stream, "STREAM_MIN_FILES", 2)
    tree = {f"pkg{d}/mod{i}.py": f"def f{d}_{i}(x):\n    return x + {i}\n\n\nclass C{d}{i}:\n    pass\n"
            for d in range(4) for i in range(6)}
    tree["pyproject.toml"] = "[project]\nname = 'many'\n"
    streamed, local = tmp_path / "streamed", tmp_path / "local"
    write(streamed, tree)
    write(local, tree)
    report = build(streamed, cluster="always", runtime=runtime)
    assert report.streamed >= 2 and report.added == 24 and report.written_by.startswith("workers")
    build(local, cluster="never")
    a, b = view_of(streamed), view_of(local)
    assert [(f["path"], f["hash"], f["n_chunks"]) for f in sorted(a.files, key=lambda f: f["path"])] == \
        [(f["path"], f["hash"], f["n_chunks"]) for f in sorted(b.files, key=lambda f: f["path"])]
    assert a.n_chunks == b.n_chunks
    write(streamed, {"pkg0/mod0.py": "def changed():\n    pass\n"})  # known files are never streamed
    again = build(streamed, cluster="always", runtime=runtime)
    assert again.changed == 1 and again.streamed == 0 and again.files == 24


def test_what_the_scan_leaves_after_streaming_goes_out_as_two_batches_a_worker_thread(tmp_path, runtime,
                                                                                        monkeypatch):
    """Large files stream during the scan; the many small ones after them never fill a streamed batch, and are
    cut into two batches per worker thread (TAIL_PER_THREAD), not the planner's eight: the workers already
    have a queue, and each task costs a segment of its own."""
    from aiex_kernel.runtime.index import stream

    monkeypatch.setattr(stream, "STREAM_BYTES", 2000)
    monkeypatch.setattr(stream, "STREAM_MIN_FILES", 2)
    tree = {f"a_big/mod{i}.py": f"def big_{i}(x):\n" + "    x += 1\n" * 110 + "    return x\n" for i in range(6)}
    tree.update({f"z_small/m{i:03d}.py": f"V{i} = {i}\n" for i in range(100)})  # 100 files, about 1 kB in all
    tree["pyproject.toml"] = "[project]\nname = 'tail'\n"
    write(tmp_path / "tail", tree)
    report = build(tmp_path / "tail", cluster="always", runtime=runtime)
    threads = sum(runtime.client.nthreads().values())
    assert report.streamed == 3 and report.added == 106 and not report.compacted
    assert report.segments == report.streamed + stream.TAIL_PER_THREAD * threads


def test_index_on_an_fsspec_url(project):
    settings = load_settings(project, index_path="memory://aiex-test-index")
    sandbox = open_sandbox(project, settings)
    report = build_index(sandbox, settings=settings, progress=False, cluster="never")
    assert report.location == "memory://aiex-test-index" and report.added == 4
    view = cached_view(IndexStore("memory://aiex-test-index"))
    assert len(view.files) == 4
    assert not (project / ".aiex").exists()


def test_ranking_puts_the_definition_first(project):
    build(project, cluster="never")
    view = view_of(project)
    sandbox = open_sandbox(project, load_settings(project))
    result = assemble_context(view, sandbox, "how does parse_config read the file?", 2000,
                              TokenCounter(conservative_estimate, "estimate", False))
    from aiex_kernel.core.ranking import QueryTerms, rank_chunks

    scores = rank_chunks(view.arrays, QueryTerms("how does parse_config read the file?"),
                         file_prior=view.file_prior(QueryTerms("parse_config").name_hashes))
    best = view.chunks([int(scores.argmax())])[int(scores.argmax())]
    assert (best.path, best.qualname) == ("shop/config.py", "parse_config")
    assert 'def parse_config(path):\n    """Read the JSON configuration file at path."""' in result.text


def test_graph_links_users_to_definitions(project):
    build(project, cluster="never")
    view = view_of(project)
    index = {f["path"]: i for i, f in enumerate(view.files)}
    graph = view.graph()
    assert graph.weight_of(index["shop/app.py"], index["shop/config.py"]) > 0  # app uses parse_config
    assert graph.weight_of(index["shop/app.py"], index["shop/cart.py"]) > 0  # ... and load_cart
    assert graph.weight_of(index["shop/config.py"], index["shop/app.py"]) == 0
    prior = view.file_prior([], files=[index["shop/app.py"]])
    assert prior[index["shop/config.py"]] > prior[index["web/server.js"]]


def test_a_loaded_version_is_kept_for_the_next_process(project):
    import numpy as np

    from aiex_kernel.runtime import index as index_module

    build(project, cluster="never")
    store = IndexStore(str(project / ".aiex" / "index"))
    fresh = cached_view(store)  # from the segments: kept as views/<stamp>.npz
    fresh_graph = fresh.graph()
    kept = sorted((project / ".aiex/index/views").iterdir())
    assert len(kept) == 1 and kept[0].suffix == ".npz" and len(list((project / ".aiex/index/graph").iterdir())) == 1

    index_module._VIEWS.clear()  # as a new process would
    again = cached_view(store)
    assert again is not fresh and again.files == fresh.files and again.n_chunks == fresh.n_chunks
    assert set(again.arrays) == set(fresh.arrays)
    for name, values in fresh.arrays.items():
        assert values.dtype == again.arrays[name].dtype and np.array_equal(values, again.arrays[name]), name
    assert again.chunks([0])[0] == fresh.chunks([0])[0]  # records found through the kept offsets
    assert again._term_df is not None  # the terms' document frequencies came with it, not computed again
    assert all(np.array_equal(a, b) for a, b in zip(again.term_df(), fresh.term_df()))
    assert np.array_equal(again.graph().weight, fresh_graph.weight) and np.allclose(again.global_rank,
                                                                                 fresh.global_rank)

    kept[0].write_bytes(b"PK\x03\x04 cut short")  # damaged (or another aiex's): ignored, then written again
    index_module._VIEWS.clear()
    damaged = cached_view(store)
    assert damaged.files == fresh.files and kept[0].stat().st_size > 100

    (project / "shop/tax.py").write_text("def vat(amount):\n    return amount * 0.2\n")
    build(project, cluster="never")
    newer = cached_view(store)
    assert "shop/tax.py" in {f["path"] for f in newer.files}
    assert [p.name for p in (project / ".aiex/index/views").iterdir()] != [kept[0].name]  # the old one is gone
    assert len(list((project / ".aiex/index/views").iterdir())) == 1


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.integers(min_value=0, max_value=1500), query=st.sampled_from(
    ["parse_config", "cart total price", "", "server port", "settings data json"]))
def test_budget_is_never_exceeded(indexed_project, budget, query):
    root, view, counter = indexed_project
    result = assemble_context(view, open_sandbox(root, load_settings(root)), query, budget, counter)
    assert result.tokens <= budget
    assert result.tokens == counter.count(result.text)


@pytest.fixture(scope="module")
def indexed_project(tmp_path_factory):
    root = tmp_path_factory.mktemp("budget") / "shop"
    write(root, FILES)
    build(root, cluster="never")
    return root, view_of(root), token_counter("openai", "gpt-4o")


KILLER = textwrap.dedent("""
    import sys
    from aiex_kernel.config import load_settings
    from aiex_kernel.runtime.index import open_sandbox
    from aiex_kernel.runtime.index.build import build_index
    root = sys.argv[1]
    settings = load_settings(root)
    print("start", flush=True)
    build_index(open_sandbox(root, settings), settings=settings, progress=False, cluster="never", rebuild=True)
    print("done", flush=True)
""")


def test_killed_build_leaves_the_previous_index_readable(tmp_path):
    root = tmp_path / "big"
    files = {f"pkg/mod_{i}.py": "\n".join(f"def f_{i}_{j}(x):\n    return x + {j}\n" for j in range(300))
             for i in range(60)}
    write(root, {"pyproject.toml": "", **files})
    build(root, cluster="never")
    before = sorted(live_paths(root))
    # how long one rebuild takes here, to kill the next ones at points spread across it
    proc = subprocess.Popen([sys.executable, "-c", KILLER, str(root)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "start"
    started = time.perf_counter()
    assert proc.stdout.readline().strip() == "done"
    duration = time.perf_counter() - started
    proc.wait()
    mid_build = 0
    for fraction in (0.1, 0.3, 0.5, 0.7, 0.85, 0.95):
        delay = duration * fraction
        proc = subprocess.Popen([sys.executable, "-c", KILLER, str(root)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "start"
        time.sleep(delay)
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        mid_build += not finished
        view = view_of(root)  # always readable: the old manifest or a complete new one
        assert sorted(f["path"] for f in view.files) == before
        assert view.n_chunks == 60 * 300 + 60
    assert mid_build >= 3  # most kills landed while the build was writing
    # a later build takes over the dead build's lock and cleans its leftovers
    report = build(root, cluster="never")
    assert report.up_to_date
    segments = os.listdir(root / ".aiex/index/segments")
    manifest = json.loads((root / ".aiex/index/manifest.json").read_text())
    assert sorted(segments) == sorted(manifest["segments"])


def test_top_level_code_reaches_the_context(tmp_path):
    root = tmp_path / "cfg"
    write(root, {"pyproject.toml": "", "app/settings.py": "TIMEOUT_SECONDS = 30\nRETRY_POLICY = {'max': 3}\n",
                 "app/util.py": "def add(a, b):\n    return a + b\n"})
    build(root, cluster="never")
    result = assemble_context(view_of(root), open_sandbox(root, load_settings(root)),
                              "where is the RETRY_POLICY defined", 300, token_counter("openai", "gpt-4o"))
    assert "RETRY_POLICY = {'max': 3}" in result.text and result.tokens <= 300


def test_a_file_the_question_names_is_searched_even_when_it_is_an_example(tmp_path):
    """"... in chatdemo.py": that file's code comes first, although examples weigh a quarter otherwise and the
    library has the same words; a name that many files share ("__init__.py") pins none."""
    from aiex_kernel.core.ranking import mentioned_files

    handler = ("def wait_for_messages(self, cursor=None):\n    reference = self.waiters.add(callback)\n"
               "    return callback, reference\n")
    library = "".join(f"def run_callback_{i}(callback, reference):\n    return callback(reference, callback)\n\n\n"
                      for i in range(6))
    root = tmp_path / "web"
    write(root, {"pyproject.toml": "", "examples/chat/chatdemo.py": handler, "web/ioloop.py": library,
                 "web/__init__.py": "", "examples/__init__.py": "", "examples/chat/__init__.py": "", "web/util/__init__.py": "", "setup.py": ""})
    build(root, cluster="never")
    view = view_of(root)
    paths = [f["path"] for f in view.files]
    assert [paths[i] for i in mentioned_files("a dangling callback in chatdemo.py", paths)] == [
        "examples/chat/chatdemo.py"]
    assert [paths[i] for i in mentioned_files("see examples/chat/chatdemo.py and setup.py", paths)] == [
        "examples/chat/chatdemo.py", "setup.py"]
    assert mentioned_files("fix __init__.py imports, e.g. attr.s or v1.5", paths) == []

    def first(question):
        result = assemble_context(view, open_sandbox(root, load_settings(root)), question, 2000,
                                  token_counter("openai", "gpt-4o"))
        return result.sources[0]["name"]

    assert first("Fix a dangling reference to callback") != "wait_for_messages"
    assert first("Fix a dangling reference to callback in chatdemo.py") == "wait_for_messages"


def test_a_long_signature_is_cut_to_one_short_line(tmp_path):
    """A candidate shown without its body is one line: its start line and its head (annotations dropped), a
    long parameter list cut, so a budget holds many of them; the name and the first parameters stay."""
    from aiex_kernel.runtime.index.context import SIGNATURE_LINE_CHARS

    params = ", ".join(f"option_number_{i}: int = {i}" for i in range(30))
    filler = "\n".join(f"    step_{i} = {i}" for i in range(200))
    root = tmp_path / "long"
    write(root, {"pyproject.toml": "",
                 "lib/configure.py": f"def configure_everything({params}):\n{filler}\n    return step_0\n"})
    build(root, cluster="never")
    result = assemble_context(view_of(root), open_sandbox(root, load_settings(root)),
                              "how does configure_everything work", 120, token_counter("openai", "gpt-4o"))
    assert [(s["name"], s["level"]) for s in result.sources] == [("configure_everything", "signature")]
    (line,) = [ln for ln in result.text.splitlines() if ln.startswith("1 def ")]
    assert re.fullmatch(r"1 def configure_everything\(option_number_0=0, option_number_1=1, .*…", line)
    assert len(line) == len("1 ") + SIGNATURE_LINE_CHARS  # the cut says the rest is left out: no " …" after it
    assert "step_0" not in result.text and result.tokens <= 120


def test_a_listed_signature_says_its_body_is_left_out(tmp_path):
    """A Python head ends in its colon, which says the body is left out; a brace-language one (no brace) gets
    `` …``."""
    filler = "\n".join(f"  const step{i} = {i};" for i in range(200))
    root = tmp_path / "braces"
    code = f"function configureEverything(a, b) {{\n{filler}\n}}\n"
    write(root, {"pyproject.toml": "", "web/configure.js": code})
    build(root, cluster="never")
    result = assemble_context(view_of(root), open_sandbox(root, load_settings(root)),
                              "how does configureEverything work", 100, token_counter("openai", "gpt-4o"))
    assert [(s["name"], s["level"]) for s in result.sources] == [("configureEverything", "signature")]
    assert "1 function configureEverything(a, b) …" in result.text.splitlines()


def test_a_typed_python_signature_is_listed_without_its_annotations(tmp_path):
    filler = "\n".join(f"    step_{i} = {i}" for i in range(200))
    root = tmp_path / "typed"
    write(root, {"pyproject.toml": "",
                 "lib/users.py": f"def fetch_user(session: Session, user_id: int, *, retries: int = 3) -> User:\n"
                                 f"{filler}\n    return step_0\n"})
    build(root, cluster="never")
    result = assemble_context(view_of(root), open_sandbox(root, load_settings(root)),
                              "how does fetch_user work", 120, token_counter("openai", "gpt-4o"))
    assert [(s["name"], s["level"]) for s in result.sources] == [("fetch_user", "signature")]
    assert "1 def fetch_user(session, user_id, *, retries=3):" in result.text.splitlines()


def test_overload_stubs_are_not_listed_beside_their_implementation(tmp_path):
    """A ``.py`` file's ``@overload`` stubs only repeat the implementation's name: the implementation is listed,
    they are not (a ``.pyi`` file's stubs are all it has, so they stay). A decorated method's head is short
    too (the chunk starts at the decorator, the def below it is indented)."""
    filler = "\n".join(f"        step_{i} = {i}" for i in range(200))
    stubs = "".join(f"    @overload\n    def convert(self, value: {t}) -> {t}: ...\n\n" for t in ("int", "str"))
    code = (f"from typing import overload\n\n\nclass Converter:\n{stubs}"
            f"    @staticmethod\n    def convert(value: object) -> object:\n{filler}\n        return value\n")
    root = tmp_path / "overloads"
    write(root, {"pyproject.toml": "", "lib/convert.py": code,
                 "lib/typed.pyi": "from typing import overload\n@overload\ndef convert(value: int) -> int: ...\n"})
    build(root, cluster="never")
    result = assemble_context(view_of(root), open_sandbox(root, load_settings(root)),
                              "how does Converter.convert work", 200, token_counter("openai", "gpt-4o"))
    listed = [(s["path"], s["name"], s["level"]) for s in result.sources]
    assert [x for x in listed if x[1] == "Converter.convert"] == [("lib/convert.py", "Converter.convert", "signature")]
    assert "11 def convert(value):" in result.text.splitlines()  # the implementation
    assert "@overload" not in result.text.split("### lib/typed.pyi")[0]
    assert any(x[:2] == ("lib/typed.pyi", "convert") for x in listed)
    # the outline names each method once, at its implementation
    assert "method Converter.convert (L11)" in result.text and "(L5)" not in result.text


def test_a_method_shown_in_full_says_which_class_and_function_it_is_in(tmp_path):
    root = tmp_path / "nested"
    filler = "".join(f"        x{i} = compute_step_{i}(value)\n" for i in range(60))  # a long outer function
    others = "".join(f"\n\ndef encode_header_{i}(value):\n    return encoded_form(value, {i})\n" for i in range(12))
    write(root, {"pyproject.toml": "", "app/server.py": (
        "class RequestHandler:\n"
        "    def handle(self):\n"
        "        status = 200\n"
        f"{filler}"
        "        def write_chunked_body(data):\n"
        "            return encode_chunked_transfer(data)\n"
        "        return status\n"
        f"{others}")})
    build(root, cluster="never")
    result = assemble_context(view_of(root), open_sandbox(root, load_settings(root)),
                              "how is `write_chunked_body` encoded?", 200, token_counter("openai", "gpt-4o"))
    shown = [(s["name"], s["level"]) for s in result.sources]
    # the nested function in full, then the function and the class it lies in (which share none of the
    # question's words), as signatures, before the functions that only say "encoded"
    assert shown[:3] == [("RequestHandler.handle.write_chunked_body", "full"),
                         ("RequestHandler.handle", "signature"), ("RequestHandler", "signature")]
    text = result.text
    assert re.search(r"^\d+ def handle\(\):$", text, re.MULTILINE)  # one line, no body, no self
    assert text.index("class RequestHandler:\n") < text.index("def handle():\n") < text.index(
        "def write_chunked_body(data):")
    assert "x59 = compute_step_59" not in text and result.tokens <= 200


def test_the_function_the_best_match_calls_is_listed_right_after_it(tmp_path):
    """The best chunk shown in full often hands the work to a function that shares none of the question's
    words ("launch" -> open_url): the first project function it calls comes next, as a signature, unless the
    name is defined in several files (which one is meant is unknown); a decorator is not a call of the body."""
    root = tmp_path / "callee"
    others = "".join(f"\n\ndef launch_step_{i}(url):\n    return 'launch on windows {i}'\n" for i in range(15))
    write(root, {"pyproject.toml": "",
                 "lib/termui.py": ("from ._impl import open_url\nfrom .cache import cached\n\n\n"
                                   "@cached(size=3)\ndef launch(url, wait=False):\n"
                                   "    \"\"\"Launch the url in the browser; on windows too.\"\"\"\n"
                                   "    render_page(url)\n    return open_url(url, wait)\n" + others),
                 "lib/_impl.py": "def open_url(address, block):\n" + "".join(
                     f"    step_{i} = start_process(address, {i})\n" for i in range(30)) + "    return step_0\n",
                 "lib/cache.py": "def cached(size):\n    return lambda f: f\n",
                 "lib/a.py": "def render_page(x):\n    return x\n",
                 "lib/b.py": "def render_page(y):\n    return y\n"})
    build(root, cluster="never")
    result = assemble_context(view_of(root), open_sandbox(root, load_settings(root)),
                              "the launch function fails on windows", 160, token_counter("openai", "gpt-4o"))
    shown = [(s["name"], s["level"]) for s in result.sources]
    assert shown[:2] == [("launch", "full"), ("open_url", "signature")], shown
    assert "1 def open_url(address, block):" in result.text.splitlines()
    names = {name for name, _ in shown}
    assert "cached" not in names and "render_page" not in names and result.tokens <= 160


def test_a_class_listed_as_the_callee_still_brings_its_members(tmp_path):
    """The best match calls a class, listed after it as the callee; when the class comes up in rank order its
    relevant methods follow it, as for any class shown as a signature, and it is not listed twice."""
    root = tmp_path / "callee-class"
    others = "".join(f"\n\ndef windows_step_{i}(x):\n    return 'windows console windows {i}'\n" for i in range(15))
    write(root, {"pyproject.toml": "",
                 "lib/cli.py": "from .runner import Runner\n\n\ndef main(argv):\n    return Runner(argv).start()\n",
                 "lib/runner.py": ("class Runner:\n    \"\"\"Runs the tool on windows.\"\"\"\n\n"
                                   "    def __init__(self, argv):\n        self.argv = argv\n\n"
                                   "    def start(self):\n        return spawn_console_on_windows(self.argv)\n"),
                 "lib/steps.py": others.lstrip()})
    build(root, cluster="never")
    result = assemble_context(view_of(root), open_sandbox(root, load_settings(root)),
                              "`main()` fails on windows", 200, token_counter("openai", "gpt-4o"))
    shown = [(s["name"], s["level"]) for s in result.sources]
    assert shown[:2] == [("main", "full"), ("Runner", "signature")], shown
    assert "Runner.start" in {name for name, _ in shown} and result.tokens <= 200, shown
    assert len(set(shown)) == len(shown), shown  # the class once, though it is also the method's parent


def test_a_class_shown_as_its_signature_brings_its_five_best_members(tmp_path):
    """A class too large to send in full comes as its signature, and its five best-scoring methods follow it
    at once, ahead of better-scoring code elsewhere in the file: the fix is often in the fourth or fifth
    method (the localization benchmark: three members -> five, one more tuning case at 1,024 and 2,048
    tokens, three and two more held-out ones; eight lost four tuning cases at 1,024)."""
    root = tmp_path / "members"
    filler = "".join(f"        step_{i} = prepare(part_{i})\n" for i in range(12))
    names = ["config", "workers", "routes", "logging", "certificates", "cache"]
    methods = "".join(f"\n    def apply_{n}(self):\n        \"\"\"Apply the {n} again.\"\"\"\n{filler}"
                      f"        return reload(self, {k})\n" for k, n in enumerate(names))
    helpers = "".join(f"\n\ndef reload_server_{i}(app):\n    return reload(app, reload, reload, {i})\n" for i in range(6))
    write(root, {"pyproject.toml": "",
                 "lib/server.py": "class Server:\n    \"\"\"The server.\"\"\"\n" + methods + helpers})
    build(root, cluster="never")
    result = assemble_context(view_of(root), open_sandbox(root, load_settings(root)), "`Server` reload is slow",
                              1000, token_counter("openai", "gpt-4o"))
    shown = [(s["name"], s["level"]) for s in result.sources]
    assert shown[0] == ("Server", "signature")
    assert [name for name, _ in shown[1:6]] == [f"Server.apply_{n}" for n in names[:5]], shown
    assert shown[6][0].startswith("reload_server_") and result.tokens <= 1000, shown


def test_a_long_docstring_is_cut_to_its_first_paragraph_in_a_full_body(tmp_path):
    """A body sent in full keeps a long docstring's first paragraph and says how many lines were cut, so the
    budget goes to code; the code after it, and a short docstring, are sent as they are."""
    from aiex_kernel.runtime.index.context import DOCSTRING_LINES

    details = "".join(f"    detail line {i} about the parameters.\n" for i in range(30))
    root = tmp_path / "docs"
    write(root, {"pyproject.toml": "", "lib/render.py": (
        "def render_invoice(order):\n"
        '    """Render an invoice for the order.\n\n'
        f"{details}"
        '    """\n'
        "    total = sum(line.price for line in order.lines)\n"
        "    return format_total(total)\n\n\n"
        "def format_total(total):\n"
        '    """Format a total of an invoice."""\n'
        "    return f'{total:.2f}'\n")})
    build(root, cluster="never")
    result = assemble_context(view_of(root), open_sandbox(root, load_settings(root)),
                              "how does render_invoice compute the total of an invoice", 2000,
                              token_counter("openai", "gpt-4o"))
    assert [(s["name"], s["level"]) for s in result.sources][:1] == [("render_invoice", "full")]
    text = result.text
    # the docstring's 33 lines (first line, blank, 30 details, closing quotes), less the first one kept
    assert ('def render_invoice(order):\n    """Render an invoice for the order.\n'
            '    … (32 docstring lines cut)"""\n    total = sum(line.price for line in order.lines)\n') in text
    assert "detail line" not in text and DOCSTRING_LINES < 33
    assert 'def format_total(total):\n    """Format a total of an invoice."""\n    return' in text


def test_cutting_a_docstring_never_loses_code_around_odd_line_breaks():
    """Form feeds are no line breaks to Python, and CRLF files count lines as LF ones: the cut lands inside the
    docstring, and every line of code after it stays."""
    from aiex_kernel.runtime.index.context import _cut_docstring

    feed = 'def f(x):\n    """Sum.\n\n    a\n    b\x0c\n    c\n    d\n    """\n    y = x\x0c + 1\n    return y\n'
    assert _cut_docstring(feed) == ('def f(x):\n    """Sum.\n    … (6 docstring lines cut)"""\n'
                                    '    y = x\x0c + 1\n    return y\n')
    crlf = "def g():\r\n    '''One.\r\n    two\r\n    three\r\n    four\r\n    five\r\n    '''\r\n    return 2\r\n"
    assert _cut_docstring(crlf) == ("def g():\n    '''One.\n    two\n    three\n    four\n"
                                    "    … (2 docstring lines cut)'''\n    return 2\n")
    short = 'def h():\n    """Short."""\n    return 3\n'
    broken = 'def k(:\n    """A\n\n    b\n    c\n    d\n    e\n    """\n'
    assert _cut_docstring(short) == short and _cut_docstring(broken) == broken
