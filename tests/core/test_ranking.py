"""Ranking chunks for a question: real chunks and postings from ``index_batch``, no index on disk."""

from __future__ import annotations

import textwrap
from unittest.mock import patch

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from aiex_kernel.core import ranking
from aiex_kernel.core.chunking import CHUNK_FIELDS
from aiex_kernel.core.indexing import KINDS, index_batch
from aiex_kernel.core.ranking import QueryTerms, is_test_path, rank_chunks
from aiex_kernel.core.terms import (STOP, flag_names, import_name, special_methods, term_hash, terms_of,
                                   word_forms)

_QUALNAME = CHUNK_FIELDS.index("qualname")


def indexed(files: dict[str, str]):
    """(arrays, qualnames in chunk order, test file mask) of the files, indexed as the build does."""
    batch = index_batch([(path, textwrap.dedent(text).encode()) for path, text in files.items()])
    names = [r[_QUALNAME] for r in batch.records()]
    tests = np.array([is_test_path(f["path"]) for f in batch.files])
    return batch.arrays, names, tests


def scores_of(files: dict[str, str], question: str) -> dict[str, float]:
    arrays, names, tests = indexed(files)
    scores = rank_chunks(arrays, QueryTerms(question), test_files=tests)
    return dict(zip(names, scores.tolist()))


def ranked(files: dict[str, str], question: str) -> list[str]:
    arrays, names, tests = indexed(files)
    scores = rank_chunks(arrays, QueryTerms(question), test_files=tests)
    return [names[i] for i in np.argsort(-scores, kind="stable") if scores[i] > 0]


# ---------------------------------------------------------------------------- word forms


def test_word_forms_singular_and_base_forms():
    assert word_forms("options") == ["option"]
    assert "hash" in word_forms("hashing")
    assert "handle" in word_forms("handling")
    assert "run" in word_forms("running")
    assert word_forms("pickles") == ["pickle"]
    assert word_forms("entries")[0] == "entry"
    assert word_forms("flies")[0] == "fly"
    assert word_forms("paths") == ["path"]


def test_word_forms_leave_short_and_uninflected_words_alone():
    for word in ("is", "status", "class", "process", "string", "bus", "this", "python"):
        assert word_forms(word) == []
    assert word_forms("using") == []  # "us" is too short; "use" would need a dictionary
    assert word_forms("vars") == []  # "var" is a keyword: no signal


@given(st.from_regex(r"[a-z]{1,16}", fullmatch=True))
def test_word_forms_invariants(word):
    out = word_forms(word)
    assert len(out) == len(set(out))
    assert word not in out
    for f in out:
        assert len(f) > 2 and f not in STOP and f == f.lower()
        assert f[:2] == word[:2]  # a form of the word, not another word ("flies" -> "fly" keeps two letters)


# ---------------------------------------------------------------------------- query terms


def test_words_that_say_nothing_about_where_are_not_terms():
    q = QueryTerms("Improve the error when using env vars before startup")
    assert not {"improve", "using", "before", "when"} & set(q.terms)
    assert {"error", "env", "vars", "startup"} <= set(q.terms)


def test_forms_and_pairs_are_searched_apart_from_the_words():
    q = QueryTerms("Fix hashing of env vars")
    assert "hash" in q.forms and "hashing" in q.terms and "hash" not in q.terms
    assert term_hash("envvars") in q.pair_hashes and term_hash("env_vars") in q.pair_hashes
    assert term_hash("envvar") in q.pair_hashes  # the pair's own singular
    assert not set(q.pair_hashes) & set(q.hashes) and not set(q.form_hashes) & set(q.hashes)


def test_a_contraction_makes_no_word_of_its_own():
    q = QueryTerms("Headers.linked doesn't exist; it\u2019s Gunicorn's timeout")
    assert {"linkedt", "t_exist", "gunicorns"}.isdisjoint(q.names)
    assert {"headers_linked", "gunicorn_timeout", "gunicorn", "timeout"} <= set(q.names)


def test_plural_word_names_the_singular_definition_at_its_weight():
    q = QueryTerms("wrong help for count options")
    weights = dict(zip(q.names, q.name_weights))
    assert weights["option"] == weights["options"] == ranking.PLAIN_WORD_SHARE
    assert weights["count_options"] == 1.0


# ---------------------------------------------------------------------------- ranking

_HOMONYM = {
    "pkg/config.py": '''
        def stop(server):
            """Shut the server down."""
            server.close()
    ''',
    "pkg/words.py": '''
        def skip_words(text):
            """Drop every stop word from the text: a stop word says nothing, so stop here."""
            return [w for w in text.split() if w not in STOP_WORDS]
    ''',
}


def test_backticked_name_outranks_an_english_homonym():
    # "stop" as an English word: the body that talks about stop words wins over a def named stop
    plain = ranked(_HOMONYM, "why does the stop word filter miss words")
    assert plain[0] == "skip_words"
    # named in backticks (or as a call) it is the definition the question means
    for question in ("why does `stop` miss words", "why does stop() miss words"):
        assert ranked(_HOMONYM, question)[0] == "stop"


def test_plain_word_definition_bonus_is_a_share():
    plain = scores_of(_HOMONYM, "stop")
    code = scores_of(_HOMONYM, "`stop`")
    assert code["stop"] > plain["stop"] > 0


def test_a_definition_a_plain_word_names_earns_a_sixth_of_the_best_content_score_at_most():
    """A plain English word of the question that equals a definition's name (`stop`, `get`) adds 0.15 of the best
    content score (PLAIN_WORD_SHARE; 0.2 let the tuning split's `get` definitions crowd out the function a question
    meant); the name written as code adds the whole bonus, the best content score itself."""
    with patch.object(ranking, "FEEDBACK_WEIGHT", 0.0):  # the bonus alone: feedback would move the base too
        for question, low, high in (("stop", 0.1, 1 / 6), ("`stop`", 0.95, 1.05)):
            with patch.object(ranking, "DEFINITION_BONUS", 0.0):
                base = scores_of(_HOMONYM, question)
            added = scores_of(_HOMONYM, question)["stop"] - base["stop"]
            assert low <= added / max(base.values()) <= high, question


_SHOP = {
    "shop/cart.py": '''
        class Cart:
            """A basket of items."""

            def add(self, item):
                self.items.append(item)

            def total(self):
                return sum(i.price for i in self.items)


        def total_weight(parcels):
            return sum(p.weight for p in parcels)
    ''',
    "shop/hashes.py": '''
        def _make_hash(fields):
            return hash(tuple(fields))


        def describe(obj):
            return repr(obj)
    ''',
    "tests/test_cart.py": '''
        def test_total():
            cart = Cart()
            assert cart.total() == 0
    ''',
    "examples/demo.py": '''
        def show_total(cart):
            print(cart.total())
    ''',
}


def test_methods_of_a_named_class_come_before_other_matches():
    order = ranked(_SHOP, "Cart total is wrong")
    assert order[0] == "Cart"
    assert order.index("Cart.total") < order.index("total_weight")
    assert "Cart.add" in order  # no word of the question in it, but a member of Cart
    named = ranked(_SHOP, "`Cart` total is wrong")  # the class named as code: its members weigh more
    assert named.index("Cart.add") < named.index("total_weight")


def test_other_forms_of_a_word_find_the_definition():
    s = scores_of(_SHOP, "Fix hashing of fields")
    assert s["_make_hash"] > s["describe"]
    assert s["_make_hash"] > 0


_TABLE = {
    "toml/table.py": '''
        class Table:
            def __init__(self, items):
                self.items = items

            def __repr__(self):
                return f"Table({self.items!r})"

            def __eq__(self, other):
                return isinstance(other, Table) and other.items == self.items

            def render(self, keys):
                """Render the table as text: dotted keys joined, one per line."""
                return "\\n".join(".".join(k) for k in keys)
    ''',
}


def test_english_for_a_special_method_finds_it():
    # "representation" is what __repr__ makes; no word of the question is in its body or name
    assert special_methods("Representation") == ("repr",) and special_methods("table") == ()
    q = QueryTerms("Fix table representation for dotted keys")
    assert "repr" in q.forms and dict(zip(q.names, q.name_weights))["repr"] == ranking.PLAIN_WORD_SHARE
    order = ranked(_TABLE, "Fix table representation for dotted keys")
    assert order.index("Table.__repr__") < order.index("Table.__eq__")
    equality = ranked(_TABLE, "wrong equality of tables")
    assert equality.index("Table.__eq__") < equality.index("Table.__repr__")
    # the word is what lifts __repr__: without it, __eq__ (which names the table twice) is ahead
    without = ranked(_TABLE, "Fix table for dotted keys")
    assert without.index("Table.__eq__") < without.index("Table.__repr__")


_SCHEMAS = {
    "api/schemas.py": '''
        try:
            import yaml
        except ImportError:
            yaml = None


        def parse_docstring(func):
            return yaml.safe_load(func.__doc__)


        def installed_plugins(registry):
            return [plugin for plugin in registry if plugin.enabled]
        ''',
}


def test_a_package_named_as_installed_finds_the_code_importing_it():
    # "pyyaml" is what pip installs; the code says yaml: the question's word alone finds no body
    assert import_name("PyYAML") == ("yaml",) and import_name("table") == ()
    assert "yaml" in QueryTerms("Ensure pyyaml is installed before using it").forms
    assert "parse_docstring" in ranked(_SCHEMAS, "Ensure pyyaml is installed before using it")
    assert ranked(_SCHEMAS, "Ensure pyjson is installed before using it") == ["installed_plugins"]


_SERVER = {
    "server/config.py": '''
        class Config:
            def __init__(self, app, log_config=None, reload=False):
                self.app = app
                self.log_config = log_config
                self.reload = reload

            def configure_logging(self):
                if self.log_config is not None:
                    load_logging_file(self.log_config)

        def reload(server):
            server.stop()
            server.start()


        def restart_workers(server):
            for worker in server.workers:
                worker.restart()
        ''',
    "server/main.py": '''
        def run(app, **options):
            """Start the server: the log level, the config file and reloading come from the options."""
            server = Server(Config(app, **options))
            server.run()
        ''',
}


def test_a_command_line_option_names_the_identifier_it_sets():
    assert flag_names("Fixes --log-config with --reload, not -v or x--y") == ["log_config", "reload"]
    q = QueryTerms("Fixes bug where --log-config disables loggers")
    assert "log_config" in q.terms and dict(zip(q.names, q.name_weights))["log_config"] == 1.0
    # the option is the identifier: the methods reading it come before the function that only mentions config
    assert set(ranked(_SERVER, "Fixes bug where --log-config disables the loggers")[:2]) == {
        "Config.__init__", "Config.configure_logging"}
    # a one-word option is an identifier, not a plain English word: the definition it names gains on the others
    flag, word = scores_of(_SERVER, "--reload restarts twice"), scores_of(_SERVER, "reload restarts twice")
    assert flag["reload"] / flag["restart_workers"] > 1.5 * word["reload"] / word["restart_workers"]


_LOADER = {
    "conf/loader.py": '''
        def modules(name):
            """Load the dotted module."""
            package = __import__(name, globals(), locals(), [""])
            return package


        def load_plugins(names):
            import importlib
            return [importlib.import_module(n) for n in names]
        ''',
}


def test_a_dunder_name_that_is_a_keyword_without_its_underscores_is_searched():
    # __import__ is the builtin's name, not the keyword import (a stop word, which finds nothing)
    assert terms_of("__import__") == ["__import__"] and terms_of("import") == [] and terms_of("_type") == ["_type"]
    assert ranked(_LOADER, "Fixed incorrect usage of __import__")[:1] == ["modules"]


_CONSOLE = {
    "process/console.py": '''
        def start(bus):
            bus.log("Handler for console events already set.", level=20)


        def stop(bus):
            bus.running = False


        def restart(bus):
            bus.running = True
        ''',
}


def test_words_run_together_are_also_searched_as_the_codes_parts():
    # "loglevel" is one word of the question; the code says log(..., level=...): both parts are in the index
    arrays, names, tests = indexed(_CONSOLE)
    question = QueryTerms("Correct the loglevel for the console")
    scores = rank_chunks(arrays, question, test_files=tests, term_df=ranking.term_df(arrays))
    assert names[int(np.argmax(scores))] == "start" and scores[names.index("stop")] < scores.max() / 2
    off = ranking.SPLIT_WORDS
    ranking.SPLIT_WORDS = False
    try:
        unsplit = rank_chunks(arrays, question, test_files=tests, term_df=ranking.term_df(arrays))
    finally:
        ranking.SPLIT_WORDS = off
    assert unsplit[names.index("start")] < scores[names.index("start")]


def test_the_module_a_commit_subject_starts_with_names_its_file():
    paths = ["tornado/http1connection.py", "cherrypy/lib/cptools.py", "pkg/stdlib/__init__.py", "tools/fix.py",
             "a/util.py", "b/util.py", "c/util.py", "d/util.py"]
    named = {q: [paths[i] for i in ranking.mentioned_files(q, paths)] for q in (
        "http1connection: Improve error logging", "cptools.SessionAuth: fix login_screen",
        "stdlib.render_to_log_kwargs: fix kwargs", "fix: a crash", "Bug: a crash", "util: too many files",
        "no prefix: here")}
    assert named == {"http1connection: Improve error logging": ["tornado/http1connection.py"],
                     "cptools.SessionAuth: fix login_screen": ["cherrypy/lib/cptools.py"],
                     "stdlib.render_to_log_kwargs: fix kwargs": ["pkg/stdlib/__init__.py"],
                     "fix: a crash": [], "Bug: a crash": [], "util: too many files": [], "no prefix: here": []}


def test_code_of_a_file_the_question_names_that_matches_its_words_comes_first():
    files = {
        "demos/chat/chatdemo.py": """
            class MessageBuffer:
                def wait_for_messages(self, cursor=None):
                    result = Future()
                    result.set_result(callback(self.cache))
                    return result

                def cancel_wait(self, future):
                    self.waiters.remove(future)
            """,
        "tornado/ioloop.py": """
            class IOLoop:
                def add_callback(self, fn, *args):
                    self._callbacks.append((fn, args))

                def remove_callback(self, fn):
                    self._callbacks.remove(fn)
            """,
    }
    arrays, names, tests = indexed(files)
    question = "Fix a dangling reference to callback in chatdemo.py"
    named = ranking.mentioned_files(question, list(files))
    assert named == [0]
    plain = rank_chunks(arrays, QueryTerms(question), test_files=tests)
    lifted = rank_chunks(arrays, QueryTerms(question), test_files=tests, mentioned=named)
    order = [names[i] for i in np.argsort(-lifted, kind="stable")]
    assert order[0] == "MessageBuffer.wait_for_messages"  # in the named file, and it calls `callback`
    assert plain[names.index("MessageBuffer.wait_for_messages")] < plain[names.index("IOLoop.add_callback")]
    cancel = names.index("MessageBuffer.cancel_wait")  # in the named file, no word of the question: no lift
    assert lifted[cancel] == plain[cancel]


def test_tests_and_examples_weigh_less_unless_the_question_is_about_tests():
    s = scores_of(_SHOP, "cart total")
    assert s["Cart.total"] > s["test_total"] and s["Cart.total"] > s["show_total"]
    asked = scores_of(_SHOP, "the cart total test fails")
    assert asked["test_total"] / asked["Cart.total"] > s["test_total"] / s["Cart.total"]


def test_is_test_path():
    for path in ("tests/test_a.py", "pkg/tests/util.py", "test_x.py", "a/b_test.py", "conftest.py",
                 "examples/demo.py", "docs/conf.py", "benchmarks/run.py", "testing/helpers.py"):
        assert is_test_path(path), path
    for path in ("pkg/testament.py", "src/contest.py", "pkg/example_config.py", "docsgen/x.py"):
        assert not is_test_path(path), path


def test_container_kinds_are_the_indexed_containers():
    assert {KINDS[k] for k in ranking.CONTAINER_KINDS} == {
        "class", "struct", "impl", "interface", "trait", "enum", "object"}
    assert KINDS[0] == "module"


_WORDS = ["alpha", "beta", "parse_config", "Cart", "total", "hashing", "hash", "env_vars", "env", "vars", "x"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=6), min_size=1, max_size=6),
       st.lists(st.sampled_from([*_WORDS, "`total`", "Stop", "the", "fix"]), max_size=5))
def test_scores_are_finite_non_negative_and_zero_for_unrelated_code(bodies, words):
    files = {f"pkg/m{i}.py": f"def {body[0]}_{i}():\n    return {' + '.join(body)}\n" for i, body in enumerate(bodies)}
    files["pkg/other.py"] = "def unrelated():\n    return 42\n"
    arrays, names, tests = indexed(files)
    scores = rank_chunks(arrays, QueryTerms(" ".join(words)), test_files=tests)
    assert scores.shape == (len(names),)
    assert np.all(np.isfinite(scores)) and np.all(scores >= 0)
    assert scores[names.index("unrelated")] == 0.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=6), min_size=1, max_size=6),
       st.lists(st.sampled_from(["hashing", "env", "vars", "totals", "alpha", "parse"]), min_size=1, max_size=4))
def test_words_forms_and_pairs_add_up_as_weighted_bm25(bodies, words):
    from aiex_kernel.core.bm25 import bm25

    files = {f"pkg/m{i}.py": f"def f{i}():\n    return {' + '.join(body)}\n" for i, body in enumerate(bodies)}
    arrays, names, tests = indexed(files)
    q = QueryTerms(" ".join(words))  # no definition is named by these words
    post = arrays["post_chunk"], arrays["post_term"], arrays["post_count"], arrays["chunk_len"]
    k = {"k1": ranking.BM25_K1, "b": ranking.BM25_B}
    want = (bm25(q.hashes, *post, **k) + ranking.FORM_WEIGHT * bm25(q.form_hashes, *post, **k)
            + ranking.PAIR_WEIGHT * bm25(q.pair_hashes, *post, **k))
    want = np.where(arrays["chunk_kind"] == 0, want * ranking.MODULE_WEIGHT, want)
    with patch.object(ranking, "FEEDBACK_WEIGHT", 0.0):  # feedback adds terms of its own (tested below)
        assert np.allclose(rank_chunks(arrays, q), want, rtol=1e-12, atol=0)


_RETRY = {
    "net/retry.py": """
        def backoff_delay(attempt, policy):
            base = policy.initial_backoff * policy.multiplier ** attempt
            return jitter_spread(base, policy.jitter_fraction)
        """,
    "net/spread.py": """
        def jitter_spread(value, jitter_fraction):
            return value * (1 + jitter_fraction * uniform_sample())
        """,
    "net/files.py": """
        def copy_tree(source, target):
            return shutil_copy(source, target)
        """,
}


def test_feedback_finds_code_that_shares_the_best_matches_words_but_none_of_the_questions():
    """`jitter_spread` shares no word with the question, only with the best match: feedback ranks it, and
    code that shares nothing with either still scores 0."""
    with patch.object(ranking, "FEEDBACK_WEIGHT", 0.0):
        without = scores_of(_RETRY, "how long is the backoff delay")
    with_feedback = scores_of(_RETRY, "how long is the backoff delay")
    assert without["jitter_spread"] == 0.0 and with_feedback["jitter_spread"] > 0
    assert with_feedback["copy_tree"] == 0.0
    assert max(with_feedback, key=with_feedback.get) == "backoff_delay"


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=6), min_size=1, max_size=6),
       st.lists(st.sampled_from(_WORDS), min_size=1, max_size=4))
def test_feedback_with_the_kept_document_frequencies_scores_as_without(bodies, words):
    files = {f"pkg/m{i}.py": f"def f{i}():\n    return {' + '.join(body)}\n" for i, body in enumerate(bodies)}
    arrays, _, tests = indexed(files)
    q = QueryTerms(" ".join(words))
    assert np.allclose(rank_chunks(arrays, q, test_files=tests, term_df=ranking.term_df(arrays)),
                       rank_chunks(arrays, q, test_files=tests), rtol=1e-12, atol=0)


def test_document_frequencies_of_another_index_are_not_trusted():
    arrays, _, tests = indexed(_RETRY)
    q = QueryTerms("how long is the backoff delay")
    stale = (np.array([1, 2, 3], dtype=np.uint32), np.array([9, 9, 9]))
    assert np.allclose(rank_chunks(arrays, q, test_files=tests, term_df=stale),
                       rank_chunks(arrays, q, test_files=tests), rtol=1e-12, atol=0)
