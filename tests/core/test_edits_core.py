"""Edit blocks as the model writes them: parsed, placed at one place or refused, split into hunks, written back
as the same bytes, and applied to notebooks cell by cell."""

from __future__ import annotations

import json

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from aiex_kernel.core.edits import Ambiguous, Block, NoMatch, apply_blocks, locate, parse_blocks, touches_placeholder
from aiex_kernel.core.hunks import hunks, partial, unified
from aiex_kernel.core.notebook_edits import (
    apply_notebook_blocks,
    cell_changes,
    cell_view,
    notebook_from_percent,
    partial_notebook,
    render_notebook,
)
from aiex_kernel.core.textfile import NotText, decode, encode


def block(search: str, replace: str, path: str = "f.py") -> str:
    """One search/replace block as the model writes it, path line first."""
    return f"{path}\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def apply_one(text: str | None, search: str, replace: str):
    applied = apply_blocks(text, [Block("f.py", search, replace)])
    assert len(applied.results) == 1
    return applied, applied.results[0]


# -- parse_blocks --------------------------------------------------------------------------------------


def test_a_path_line_names_the_file_of_the_block_below_it():
    parsed = parse_blocks("I will change the constant.\n\nlib/calc.py\n<<<<<<< SEARCH\nPI = 3\n=======\nPI = 3.14\n"
                          ">>>>>>> REPLACE\n")
    assert parsed.problems == []
    assert [(b.path, b.search, b.replace, b.action, b.target, b.number) for b in parsed.blocks] == [
        ("lib/calc.py", "PI = 3", "PI = 3.14", "replace", "", 1)]


def test_a_path_inside_the_fence_line_names_the_file():
    parsed = parse_blocks("Here:\n```python lib/calc.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n```\n")
    assert parsed.problems == []
    assert [(b.path, b.search, b.replace) for b in parsed.blocks] == [("lib/calc.py", "x = 1", "x = 2")]


@pytest.mark.parametrize("gap", ["", "\n"])
def test_a_bare_path_above_a_fence_names_the_file(gap):
    parsed = parse_blocks(f"src/app/main.py\n{gap}```python\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n```\n")
    assert parsed.problems == []
    assert [(b.path, b.search, b.replace) for b in parsed.blocks] == [("src/app/main.py", "x = 1", "x = 2")]


@pytest.mark.parametrize("line", [
    "**`src/a.py`**", "File: src/a.py", "# src/a.py", "src/a.py:",
    "`src/a.py`:",
])
def test_decorated_path_lines_give_the_bare_path(line):
    parsed = parse_blocks(f"{line}\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n")
    assert [b.path for b in parsed.blocks] == ["src/a.py"]


def test_blocks_without_a_path_line_inherit_the_one_before_even_across_prose():
    answer = (block("a = 1", "a = 2", "pkg/one.py")
              + "<<<<<<< SEARCH\nb = 1\n=======\nb = 2\n>>>>>>> REPLACE\n"
              + "\nThen the second change:\n\n<<<<<<< SEARCH\nc = 1\n=======\nc = 2\n>>>>>>> REPLACE\n"
              + block("d = 1", "d = 2", "pkg/two.py")
              + "<<<<<<< SEARCH\ne = 1\n=======\ne = 2\n>>>>>>> REPLACE\n")
    parsed = parse_blocks(answer)
    assert parsed.problems == []
    assert [(b.path, b.search, b.number) for b in parsed.blocks] == [
        ("pkg/one.py", "a = 1", 1), ("pkg/one.py", "b = 1", 2), ("pkg/one.py", "c = 1", 3),
        ("pkg/two.py", "d = 1", 4), ("pkg/two.py", "e = 1", 5)]


def test_multiline_sides_keep_their_lines_and_indentation_and_crlf_answers_parse_the_same():
    answer = block("def f():\n    return 1", "def f():\n\n    return 2", "m.py")
    parsed = parse_blocks(answer)
    assert [(b.search, b.replace) for b in parsed.blocks] == [("def f():\n    return 1", "def f():\n\n    return 2")]
    assert parse_blocks(answer.replace("\n", "\r\n")).blocks == parsed.blocks


def test_an_empty_search_is_a_new_file():
    parsed = parse_blocks("docs/new.md\n<<<<<<< SEARCH\n=======\n# New\n\ntext\n>>>>>>> REPLACE\n")
    assert parsed.problems == []
    assert [(b.path, b.search, b.replace, b.action) for b in parsed.blocks] == [
        ("docs/new.md", "", "# New\n\ntext", "replace")]


def test_a_delete_block_deletes_the_named_file():
    parsed = parse_blocks("old/unused.py\n<<<<<<< DELETE\n>>>>>>> DELETE\n" + block("x", "y", "kept.py"))
    assert parsed.problems == []
    assert [(b.path, b.action, b.number) for b in parsed.blocks] == [("old/unused.py", "delete", 1),
                                                                     ("kept.py", "replace", 2)]


@pytest.mark.parametrize("line,target", [
    ("nb.ipynb cell abc", "cell abc"),
    ("nb.ipynb new markdown cell after abc", "new markdown cell after abc"),
    ("nb.ipynb new code cell at end", "new code cell at end"),
    ("work/nb.ipynb   new  code  cell   at  start", "new code cell at start"),
    ("nb.ipynb: cell 7f3a2c", "cell 7f3a2c"),
])
def test_a_notebook_path_line_names_its_cell_apart(line, target):
    parsed = parse_blocks(f"{line}\n<<<<<<< SEARCH\n=======\nprint(1)\n>>>>>>> REPLACE\n")
    assert parsed.problems == []
    assert [(b.path, b.target) for b in parsed.blocks] == [(line.split()[0].rstrip(":"), target)]
    assert parsed.blocks[0].where == f"{parsed.blocks[0].path} {target}"


def test_a_block_without_its_divider_is_a_problem_and_the_next_block_still_parses():
    answer = "a.py\n<<<<<<< SEARCH\nx = 1\n\nb.py\n<<<<<<< SEARCH\ny = 1\n=======\ny = 2\n>>>>>>> REPLACE\n"
    parsed = parse_blocks(answer)
    assert len(parsed.problems) == 1 and "block 1" in parsed.problems[0] and "=======" in parsed.problems[0]
    assert [(b.path, b.search, b.replace, b.number) for b in parsed.blocks] == [("b.py", "y = 1", "y = 2", 2)]


def test_a_block_without_its_replace_line_is_a_problem():
    parsed = parse_blocks("a.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n")
    assert parsed.blocks == []
    assert len(parsed.problems) == 1 and "REPLACE" in parsed.problems[0]


def test_a_delete_without_its_end_line_is_a_problem():
    parsed = parse_blocks("a.py\n<<<<<<< DELETE\n")
    assert parsed.blocks == []
    assert len(parsed.problems) == 1 and "DELETE" in parsed.problems[0]


@pytest.mark.parametrize("prose", ["Here is the change you asked for", "Now update the config.",
                                   "This fixes it!", "Is that right?", ""])
def test_prose_before_the_first_block_is_not_a_path(prose):
    parsed = parse_blocks(f"{prose}\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n")
    assert parsed.blocks == []
    assert len(parsed.problems) == 1 and "no file path" in parsed.problems[0]


def test_an_answer_with_no_blocks_parses_to_nothing():
    parsed = parse_blocks("I do not think a change is needed.\n```python\nx = 1\n```\n")
    assert parsed.blocks == [] and parsed.problems == []


@given(st.text(alphabet="<=>SEARCHDLTEPa.py/ \n`", max_size=300))
@settings(max_examples=150, deadline=None)
def test_parse_blocks_never_crashes_and_every_block_has_a_path(answer):
    parsed = parse_blocks(answer)
    assert all(b.path for b in parsed.blocks)
    assert all(b.action in ("replace", "delete") for b in parsed.blocks)
    assert [b.number for b in parsed.blocks] == sorted(b.number for b in parsed.blocks)


def test_block_round_trips_through_a_dict():
    b = Block("nb.ipynb", "x", "y", target="cell 3", number=4)
    assert Block.from_dict(json.loads(json.dumps(b.to_dict()))) == b


# -- locate / apply_blocks ----------------------------------------------------------------------------------

SOURCE = "import math\n\n\ndef f():\n    x = 1\n    return x\n\n\ndef g():\n    return 2\n"


def test_an_exact_search_replaces_those_lines_only():
    applied, result = apply_one(SOURCE, "    x = 1\n    return x", "    x = 10\n    return x * 2")
    assert result.ok and result.how == "exact" and result.line == 5
    assert applied.text == SOURCE.replace("    x = 1\n    return x\n", "    x = 10\n    return x * 2\n")


def test_trailing_whitespace_in_the_file_is_forgiven():
    text = "def f():   \n    x = 1 \t\n    return x\n"
    applied, result = apply_one(text, "def f():\n    x = 1", "def f():\n    x = 2")
    assert result.ok and result.how == "trailing whitespace"
    assert applied.text == "def f():\n    x = 2\n    return x\n"


def test_a_search_at_a_shifted_indentation_is_reindented_by_the_same_shift():
    applied, result = apply_one(SOURCE, "x = 1\nreturn x", "x = 5\nif x:\n    return x * 2")
    assert result.ok and result.how == "indentation"
    assert applied.text == SOURCE.replace("    x = 1\n    return x\n",
                                          "    x = 5\n    if x:\n        return x * 2\n")


def test_a_single_unindented_line_lands_at_the_files_indentation():
    applied, result = apply_one("def f():\n    return 1\n", "return 1", "return 2")
    assert result.ok and result.how == "indentation"
    assert applied.text == "def f():\n    return 2\n"


def test_replace_lines_less_indented_than_the_search_lose_as_much_indentation():
    text = "class A:\n    def f(self):\n        if a:\n            b()\n        return 1\n"
    # SEARCH is 4 spaces too shallow; its last REPLACE line is 4 less indented still: it lands 4 spaces in
    applied, result = apply_one(text, "    if a:\n        b()\n    return 1", "    if a:\n        c()\nreturn 1")
    assert result.ok and result.how == "indentation"
    assert applied.text == "class A:\n    def f(self):\n        if a:\n            c()\n    return 1\n"


def test_a_search_that_is_deeper_than_the_file_is_dedented():
    text = "def f():\n    return 1\n"
    applied, result = apply_one(text, "        def f():\n            return 1", "        def f():\n            return 2")
    assert result.ok
    assert applied.text == "def f():\n    return 2\n"


@pytest.mark.parametrize("text,search", [
    ("a = 1\n\nb = 2\nc = 3\n", "a = 1\nb = 2"),  # the model dropped a blank line
    ("a = 1\nb = 2\nc = 3\n", "a = 1\n\nb = 2"),  # the model added one
    ("a = 1\nb = 2\nc = 3\n", "\na = 1\nb = 2\n\n"),  # blank edges that are not in the file
])
def test_blank_lines_added_or_dropped_in_search_still_match(text, search):
    applied, result = apply_one(text, search, "a = 1\nb = 3")
    assert result.ok
    assert applied.text == "a = 1\nb = 3\nc = 3\n"


ELIDED_FILE = "def f():\n    a = 1\n    b = 2\n    c = 3\n    return a\n\n\ndef g():\n    return 0\n"


@pytest.mark.parametrize("marker", ["...", "# ...", "# ... existing code ...", "…"])
def test_elided_lines_are_kept_where_replace_repeats_the_marker(marker):
    search = f"def f():\n    {marker}\n    return a"
    replace = f"def f(n):\n    setup()\n    {marker}\n    return a + n"
    applied, result = apply_one(ELIDED_FILE, search, replace)
    assert result.ok and result.how == "elided lines"
    assert applied.text == ("def f(n):\n    setup()\n    a = 1\n    b = 2\n    c = 3\n    return a + n\n\n\n"
                            "def g():\n    return 0\n")


def test_an_elision_does_not_reach_past_the_block_it_stands_in():
    text = "def f():\n    a = 1\ndef g():\n    return a\n"
    applied, result = apply_one(text, "def f():\n    ...\n    return a", "def f():\n    ...\n    return b")
    assert not result.ok
    assert applied.text == text


def test_an_elision_in_search_but_not_in_replace_is_refused():
    applied, result = apply_one(ELIDED_FILE, "def f():\n    ...\n    return a", "def f():\n    return a + 1")
    assert not result.ok and "REPLACE" in result.reason and "..." in result.reason
    assert applied.text == ELIDED_FILE


def test_an_elision_comment_only_in_replace_is_refused():
    applied, result = apply_one(ELIDED_FILE, "    a = 1\n    b = 2", "    a = 10\n    # ... existing code ...")
    assert not result.ok and "REPLACE leaves lines out" in result.reason
    assert applied.text == ELIDED_FILE


def test_a_bare_ellipsis_in_replace_is_python_not_an_elision():
    applied, result = apply_one("def f():\n    return 1\n", "def f():\n    return 1", "def f():\n    ...")
    assert result.ok
    assert applied.text == "def f():\n    ...\n"


TWINS = "def f():\n    return 1\n\n\ndef f():\n    return 1\n"


def test_a_search_matching_two_identical_functions_is_refused_naming_both_places():
    applied, result = apply_one(TWINS, "def f():\n    return 1", "def f():\n    return 2")
    assert not result.ok
    assert "1-2" in result.reason and "5-6" in result.reason
    assert applied.text == TWINS
    with pytest.raises(Ambiguous, match="2 places"):
        locate(TWINS.removesuffix("\n"), "def f():\n    return 1", "def f():\n    return 2")


def test_an_indentation_level_match_in_two_places_is_ambiguous():
    text = "if x:\n  y = 1\nif z:\n    y = 1\n"
    applied, result = apply_one(text, "y = 1", "y = 2")
    assert not result.ok and "2-2" in result.reason and "4-4" in result.reason
    assert applied.text == text


def test_an_exact_search_of_one_of_two_near_duplicates_applies_there_only():
    text = "def f():\n    x = 1\n    return x\n\ndef f():\n    x = 2\n    return x\n"
    applied, result = apply_one(text, "def f():\n    x = 2\n    return x", "def f():\n    x = 20\n    return x")
    assert result.ok and result.how == "exact" and result.line == 5
    assert applied.text == "def f():\n    x = 1\n    return x\n\ndef f():\n    x = 20\n    return x\n"


def test_a_search_that_matches_nowhere_names_the_closest_line():
    text = "import os\n\n\ndef f():\n    x = 1\n    return x\n"
    applied, result = apply_one(text, "def f():\n    x = 1\n    return y", "def f():\n    return 0")
    assert not result.ok
    assert "line 4" in result.reason and "'return x'" in result.reason and "'return y'" in result.reason
    assert applied.text == text
    with pytest.raises(NoMatch, match="'nowhere\\(\\)' is not in it"):
        locate(text, "nowhere()", "x")


@pytest.mark.parametrize("ending", ["", "\n"])
def test_the_final_newline_is_kept_or_absent_as_it_was(ending):
    applied, result = apply_one(f"a = 1\nb = 2{ending}", "b = 2", "b = 3")
    assert result.ok
    assert applied.text == f"a = 1\nb = 3{ending}"


def test_blocks_apply_in_order_and_a_later_search_may_name_what_an_earlier_wrote():
    text = "a = 1\nb = 2\nc = 3\n"
    blocks = [Block("f.py", "a = 1", "a = 1\nnew = 0"), Block("f.py", "new = 0\nb = 2", "new = 1\nb = 2"),
              Block("f.py", "c = 3", "c = 30")]
    applied = apply_blocks(text, blocks)
    assert [r.ok for r in applied.results] == [True, True, True]
    assert applied.text == "a = 1\nnew = 1\nb = 2\nc = 30\n"


def test_a_refused_block_does_not_stop_the_others():
    text = "a = 1\nb = 2\nc = 3\n"
    blocks = [Block("f.py", "a = 1", "a = 10"), Block("f.py", "zzz = 9", "q"), Block("f.py", "c = 3", "c = 30")]
    applied = apply_blocks(text, blocks)
    assert [r.ok for r in applied.results] == [True, False, True]
    assert [r.block for r in applied.failed] == [blocks[1]]
    assert applied.text == "a = 10\nb = 2\nc = 30\n"


@pytest.mark.parametrize("search,replace", [
    ("API_KEY = '[REDACTED:api-key]'", "API_KEY = os.environ['KEY']"),
    ("API_KEY = None", "API_KEY = '[REDACTED:api-key]'"),
    ("token = '[REDACTED]'", "token = ''"),
])
def test_a_block_touching_a_redaction_placeholder_is_refused(search, replace):
    text = "import os\nAPI_KEY = None\ntoken = '[REDACTED]'\nAPI_KEY = '[REDACTED:api-key]'\n"
    b = Block("f.py", search, replace)
    assert touches_placeholder(b)
    applied = apply_blocks(text, [b])
    assert not applied.results[0].ok and "REDACTED" in applied.results[0].reason
    assert applied.text == text


def test_text_that_merely_mentions_redaction_is_not_a_placeholder():
    assert not touches_placeholder(Block("f.py", "# REDACTED: see below", "redacted = [1]"))


def test_an_empty_search_on_a_missing_file_creates_it():
    applied, result = apply_one(None, "", "print('hi')\nprint('bye')")
    assert result.ok and result.how == "created"
    assert applied.text == "print('hi')\nprint('bye')\n"


def test_an_empty_search_on_an_empty_file_writes_it():
    applied, result = apply_one("", "", "x = 1\n")
    assert result.ok
    assert applied.text == "x = 1\n"


def test_an_empty_search_on_an_existing_file_is_refused():
    applied, result = apply_one("x = 1\n", "", "y = 2")
    assert not result.ok and "SEARCH is empty" in result.reason
    assert applied.text == "x = 1\n"


def test_a_search_on_a_missing_file_is_refused():
    applied, result = apply_one(None, "x = 1", "y = 2")
    assert not result.ok and "does not exist" in result.reason
    assert applied.text is None


def test_a_delete_block_deletes_and_a_missing_file_cannot_be_deleted():
    applied = apply_blocks("x = 1\n", [Block("f.py", action="delete")])
    assert applied.results[0].ok and applied.text is None
    missing = apply_blocks(None, [Block("f.py", action="delete")])
    assert not missing.results[0].ok and missing.text is None


def test_parsed_blocks_apply_end_to_end():
    answer = ("Renaming the constant.\n\n```python lib/calc.py\n<<<<<<< SEARCH\ndef area(r):\n    return 3.14 * r * r\n"
              "=======\ndef area(r):\n    return math.pi * r * r\n>>>>>>> REPLACE\n```\n"
              "lib/calc.py\n<<<<<<< SEARCH\nimport os\n=======\nimport math\nimport os\n>>>>>>> REPLACE\n")
    text = "import os\n\n\ndef area(r):\n    return 3.14 * r * r\n"
    applied = apply_blocks(text, parse_blocks(answer).blocks)
    assert [r.ok for r in applied.results] == [True, True]
    assert applied.text == "import math\nimport os\n\n\ndef area(r):\n    return math.pi * r * r\n"


def test_a_blank_last_line_of_replace_is_written():
    parsed = parse_blocks("f.py\n<<<<<<< SEARCH\nimport os\n=======\nimport os\n\n>>>>>>> REPLACE\n")
    assert parsed.blocks[0].replace == "import os\n"  # the parser keeps it
    applied = apply_blocks("import os\nx = 1\n", parsed.blocks)
    assert applied.text == "import os\n\nx = 1\n"


def test_a_blank_last_line_of_search_is_replaced():
    parsed = parse_blocks("f.py\n<<<<<<< SEARCH\nimport os\n\n=======\nimport os\n>>>>>>> REPLACE\n")
    assert parsed.blocks[0].search == "import os\n"
    applied = apply_blocks("import os\n\nx = 1\n", parsed.blocks)
    assert applied.text == "import os\nx = 1\n"


# -- the invariant: one place or not at all ------------------------------------------------------------------

PLAIN_LINES = ["a = 1", "b = 2", "    c()", "", "return x", "  d", "\tt", "x = 1  ", "# note"]
MARKER_LINES = ["...", "    # ... existing code ...", "# ..."]


def _expected_text(lines: list[str]) -> str:
    body = "\n".join(lines)
    return body + "\n" if body else ""  # a file left with nothing in it is empty


def _occurrences(lines: list[str], piece: list[str]) -> int:
    return sum(lines[k:k + len(piece)] == piece for k in range(len(lines) - len(piece) + 1))


@st.composite
def file_and_slice(draw, pool):
    lines = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=12).filter(lambda ls: any(s.strip() for s in ls)))
    i = draw(st.integers(0, len(lines) - 1))
    j = draw(st.integers(i + 1, len(lines)))
    # one blank line and no lines are the same REPLACE text (""), so [""] is left out
    replace = draw(st.lists(st.sampled_from(pool), max_size=4).filter(lambda r: r != [""]))
    return lines, i, j, replace


@given(file_and_slice(PLAIN_LINES + MARKER_LINES))
@settings(max_examples=200, deadline=None)
def test_a_slice_of_the_file_applies_exactly_there_or_is_refused(case):
    lines, i, j, replace = case
    text = "\n".join(lines) + "\n"
    piece = lines[i:j]
    applied, result = apply_one(text, "\n".join(piece), "\n".join(replace))
    if result.ok:
        assert applied.text == _expected_text(lines[:i] + replace + lines[j:])
        assert _occurrences(lines, piece) == 1
        assert result.line == i + 1
    else:
        assert applied.text == text
        assert result.reason


@given(file_and_slice(PLAIN_LINES))
@settings(max_examples=150, deadline=None)
def test_a_unique_slice_with_a_real_line_is_always_applied(case):
    lines, i, j, replace = case
    piece = lines[i:j]
    if _occurrences(lines, piece) != 1 or not any(s.strip() for s in piece):
        return
    applied, result = apply_one("\n".join(lines) + "\n", "\n".join(piece), "\n".join(replace))
    assert result.ok and result.how == "exact"
    assert applied.text == _expected_text(lines[:i] + replace + lines[j:])


@given(st.lists(st.sampled_from(PLAIN_LINES + MARKER_LINES), max_size=4),
       st.lists(st.sampled_from(PLAIN_LINES + MARKER_LINES), min_size=1, max_size=4).filter(
           lambda p: any(s.strip() for s in p)),
       st.lists(st.sampled_from(PLAIN_LINES), max_size=4),
       st.lists(st.sampled_from(PLAIN_LINES), max_size=4),
       st.lists(st.sampled_from(PLAIN_LINES), max_size=3))
@settings(max_examples=150, deadline=None)
def test_a_slice_that_occurs_twice_is_refused(pre, piece, mid, post, replace):
    lines = pre + piece + mid + piece + post
    text = "\n".join(lines) + "\n"
    applied, result = apply_one(text, "\n".join(piece), "\n".join(replace))
    assert not result.ok
    assert applied.text == text


# -- hunks -----------------------------------------------------------------------------------------------

LINE_POOL = ["a\n", "b\n", "c\n", "\n", "d\r\n", "e\n", "f\n", "g\n"]


@st.composite
def old_and_new(draw):
    """Two versions of a text: random lines, and the same lines with a few kept, changed, dropped or added, so
    that changes fall both close together and far apart."""
    old = draw(st.lists(st.sampled_from(LINE_POOL), max_size=30))
    actions = draw(st.lists(st.sampled_from(["keep"] * 8 + ["drop", "change", "add"]), min_size=len(old),
                            max_size=len(old)))
    new = []
    for line, action in zip(old, actions):
        if action == "keep":
            new.append(line)
        elif action == "change":
            new.append(draw(st.sampled_from(LINE_POOL)))
        elif action == "add":
            new += [line, draw(st.sampled_from(LINE_POOL))]
    tail = draw(st.sampled_from(["", "no newline", "x\r\n"]))
    return "".join(old), "".join(new) + tail


@given(old_and_new())
@settings(max_examples=150, deadline=None)
def test_all_hunks_give_the_new_text_and_none_give_the_old(case):
    old, new = case
    hs = hunks(old, new)
    assert partial(old, hs) == new
    assert partial(old, []) == old
    assert partial(old, list(reversed(hs))) == new
    assert (hs == []) == (old == new)


@given(old_and_new(), st.data())
@settings(max_examples=100, deadline=None)
def test_any_subset_of_hunks_changes_only_their_lines(case, data):
    old, new = case
    hs = hunks(old, new, context=1)
    chosen = data.draw(st.lists(st.sampled_from(hs), unique=True) if hs else st.just([]))
    out = partial(old, chosen).splitlines(keepends=True)
    a = old.splitlines(keepends=True)
    # walk the old lines: chosen hunks' spans read as their new lines, everything else as it was
    expected, at = [], 0
    for h in sorted(hs, key=lambda h: h.start):
        expected += a[at:h.start] + list(h.new if h in chosen else h.old)
        at = h.end
    assert out == expected + a[at:]


def test_choosing_one_of_two_hunks_applies_that_one_only():
    old = "".join(f"line {k}\n" for k in range(30))
    new = old.replace("line 2\n", "LINE 2\n").replace("line 20\n", "LINE 20\nextra\n")
    hs = hunks(old, new)
    assert len(hs) == 2 and [h.index for h in hs] == [0, 1]
    assert hs[0].header == "@@ -3,1 +3,1 @@" and hs[1].header == "@@ -21,1 +21,2 @@"
    assert partial(old, [hs[1]]) == old.replace("line 20\n", "LINE 20\nextra\n")
    assert partial(old, [hs[0]]) == old.replace("line 2\n", "LINE 2\n")
    assert partial(old, hs) == partial(old, [hs[1], hs[0]]) == new


def test_close_changes_join_into_one_hunk():
    old = "".join(f"{k}\n" for k in range(20))
    new = old.replace("5\n", "five\n").replace("8\n", "eight\n")
    assert len(hunks(old, new, context=3)) == 1
    assert len(hunks(old, new, context=1)) == 2


def test_unified_marks_created_and_deleted_files_with_dev_null():
    created = unified(None, "x\ny\n", "pkg/new.py")
    assert created.startswith("--- /dev/null\n+++ b/pkg/new.py\n") and "+x\n+y\n" in created
    deleted = unified("x\n", None, "pkg/old.py")
    assert deleted.startswith("--- a/pkg/old.py\n+++ /dev/null\n") and "-x\n" in deleted
    changed = unified("x", "y", "f.py")
    assert changed.startswith("--- a/f.py\n+++ b/f.py\n")
    assert changed.count("\\ No newline at end of file\n") == 2
    assert unified("same\n", "same\n", "f.py") == ""


# -- textfile ------------------------------------------------------------------------------------------

ROUND_TRIP = {
    "crlf": b"a = 1\r\nb = 2\r\n",
    "latin-1": "caf\xe9 = 1\n".encode("latin-1"),
    "cp1252 coding line": "# -*- coding: cp1252 -*-\nq = '\u201cquoted\u201d \u20ac'\n".encode("cp1252"),
    "utf-8 bom": b"\xef\xbb\xbfx = '\xc3\xa9'\n",
    "mixed crlf and lf": b"a\r\nb\nc\r\n",
    "empty": b"",
    "bom only": b"\xef\xbb\xbf",
    "no final newline": b"a\r\nb",
    "lone cr": b"a\rb\n",
}


@pytest.mark.parametrize("data", list(ROUND_TRIP.values()), ids=list(ROUND_TRIP))
def test_decoded_text_encodes_back_to_the_same_bytes(data):
    d = decode(data)
    assert "\r\n" not in d.text or d.newline == "\n"
    assert encode(d.text, d) == data


def test_decode_finds_encoding_newline_and_bom():
    crlf = decode(b"a\r\nb\r\n")
    assert (crlf.text, crlf.newline, crlf.encoding, crlf.bom) == ("a\nb\n", "\r\n", "utf-8", False)
    mixed = decode(b"a\r\nb\n")
    assert (mixed.text, mixed.newline) == ("a\r\nb\n", "\n")
    assert decode("caf\xe9\n".encode("latin-1")).text == "caf\xe9\n"
    cp = decode("# coding: cp1252\nq = '\u201cx\u201d'\n".encode("cp1252"))
    assert cp.encoding == "cp1252" and "\u201cx\u201d" in cp.text
    bom = decode(b"\xef\xbb\xbfhi\n")
    assert bom.bom and bom.text == "hi\n"


def test_binary_data_is_not_text():
    with pytest.raises(NotText):
        decode(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")


def test_editing_one_line_of_a_crlf_file_keeps_crlf_on_every_line():
    data = b"def f():\r\n    x = 1\r\n    return x\r\n\r\nprint(f())\r\n"
    d = decode(data)
    applied = apply_blocks(d.text, [Block("f.py", "    x = 1", "    x = 2\n    y = 3")])
    out = encode(applied.text, d)
    assert out == b"def f():\r\n    x = 2\r\n    y = 3\r\n    return x\r\n\r\nprint(f())\r\n"
    assert out.count(b"\n") == out.count(b"\r\n")


def test_editing_a_line_of_a_mixed_file_leaves_the_other_lines_endings():
    data = b"a = 1\r\nb = 2\nc = 3\r\n"
    d = decode(data)
    applied = apply_blocks(d.text, [Block("f.py", "b = 2", "b = 20")])
    assert encode(applied.text, d) == b"a = 1\r\nb = 20\nc = 3\r\n"


def test_an_edited_latin1_file_stays_latin1():
    data = "# caf\xe9\nx = 1\n".encode("latin-1")
    d = decode(data)
    applied = apply_blocks(d.text, [Block("f.py", "x = 1", "x = 2")])
    assert encode(applied.text, d) == "# caf\xe9\nx = 2\n".encode("latin-1")


CHUNKS = [b"a", b" ", b"\n", b"\r\n", b"\r", b"\xe9", b"\x93", b"\x81", b"\xc3\xa9", b"\xe2\x82\xac", b"\xef\xbb\xbf",
          b"\xa1\xc1", b"\x82\xa0"]
CODING = [b"", b"# coding: cp1252\n", b"# -*- coding: koi8-r -*-\n", b"#!/usr/bin/env python\n# coding=shift_jis\n",
          b"# vim: set fileencoding=euc-jp :\n", b"# coding: no-such-codec\n"]


@given(st.sampled_from(CODING), st.lists(st.sampled_from(CHUNKS), max_size=30).map(b"".join))
@settings(max_examples=200, deadline=None)
def test_any_decodable_bytes_encode_back_unchanged(coding, body):
    data = coding + body
    d = decode(data)
    assert encode(d.text, d) == data


@given(st.binary(max_size=200))
@settings(max_examples=150, deadline=None)
def test_random_bytes_either_round_trip_or_are_binary(data):
    try:
        d = decode(data)
    except NotText:
        assert b"\0" in data
        return
    assert encode(d.text, d) == data


def test_a_file_whose_declared_codec_does_not_round_trip_keeps_its_bytes():
    data = b"# coding: cp932\nx = '\x87\x90'\n"  # cp932 maps this NEC pair to a character it encodes otherwise
    d = decode(data)
    assert encode(d.text, d) == data
    assert decode(b"# coding: cp932\nx = '\x82\xa0'\n").encoding == "cp932"  # one that does round-trip


# -- notebooks ---------------------------------------------------------------------------------------------


def make_notebook() -> str:
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [
        new_markdown_cell("# Analysis\nSome words.", id="intro"),
        new_code_cell("x = 1\nprint(x)", id="load", execution_count=1, metadata={"tags": ["setup"]},
                      outputs=[new_output("stream", name="stdout", text="printed-one\n")]),
        new_code_cell("y = x + 1\ny", id="calc", execution_count=2,
                      outputs=[new_output("execute_result", data={"text/plain": "result-two"}, execution_count=2)]),
    ]
    return nbformat.writes(nb) + "\n"


def cells(text: str):
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    return nb.cells


def sources(text: str) -> list[str]:
    return [c.source for c in cells(text)]


def nb_blocks(answer: str) -> list[Block]:
    parsed = parse_blocks(answer)
    assert parsed.problems == []
    return parsed.blocks


def test_render_notebook_shows_ids_types_and_sources_but_no_outputs():
    shown = render_notebook(make_notebook(), "work/nb.ipynb")
    assert "work/nb.ipynb cell ID" in shown
    assert '<cell id="intro" type="markdown">\n# Analysis\nSome words.\n</cell>' in shown
    assert '<cell id="load" type="code">\nx = 1\nprint(x)\n</cell>' in shown
    assert shown.index('id="intro"') < shown.index('id="load"') < shown.index('id="calc"')
    assert "printed-one" not in shown and "result-two" not in shown and "<outputs" not in shown


def test_render_notebook_shows_text_outputs_when_asked():
    shown = render_notebook(make_notebook(), "nb.ipynb", outputs=True)
    assert '<outputs of="load">\nprinted-one' in shown
    assert '<outputs of="calc">\nresult-two\n</outputs>' in shown


def test_editing_one_cell_keeps_every_output_and_the_metadata():
    old = make_notebook()
    applied = apply_notebook_blocks(old, nb_blocks(block("x = 1", "x = 10", "nb.ipynb cell load")))
    assert [r.ok for r in applied.results] == [True]
    before, after = cells(old), cells(applied.text)
    assert [c.source for c in after] == ["# Analysis\nSome words.", "x = 10\nprint(x)", "y = x + 1\ny"]
    for b, a in zip(before, after):
        assert {k: v for k, v in a.items() if k != "source"} == {k: v for k, v in b.items() if k != "source"}
    assert nbformat.reads(applied.text, as_version=4).metadata == nbformat.reads(old, as_version=4).metadata
    assert applied.text.endswith("\n")


def test_clear_outputs_clears_only_the_edited_code_cell():
    old = make_notebook()
    applied = apply_notebook_blocks(old, nb_blocks(block("x = 1", "x = 10", "nb.ipynb cell load")
                                                   + block("Some words.", "Other words.", "nb.ipynb cell intro")),
                                    clear_outputs=True)
    assert [r.ok for r in applied.results] == [True, True]
    intro, load, calc = cells(applied.text)
    assert load.outputs == [] and load.execution_count is None
    assert calc.outputs == cells(old)[2].outputs and calc.execution_count == 2
    assert "outputs" not in intro and intro.source == "# Analysis\nOther words."


NEW_CELLS = ("nb.ipynb new code cell after load\n<<<<<<< SEARCH\n=======\nz = 3\n>>>>>>> REPLACE\n"
             "nb.ipynb new markdown cell at start\n<<<<<<< SEARCH\n=======\n## Preface\n>>>>>>> REPLACE\n"
             "nb.ipynb new code cell at end\n<<<<<<< SEARCH\n=======\nprint('end')\n>>>>>>> REPLACE\n")


def test_new_cells_go_after_a_cell_at_the_start_and_at_the_end():
    applied = apply_notebook_blocks(make_notebook(), nb_blocks(NEW_CELLS))
    assert [r.ok for r in applied.results] == [True, True, True]
    got = cells(applied.text)
    assert [(c.cell_type, c.source) for c in got] == [
        ("markdown", "## Preface"), ("markdown", "# Analysis\nSome words."), ("code", "x = 1\nprint(x)"),
        ("code", "z = 3"), ("code", "y = x + 1\ny"), ("code", "print('end')")]
    ids = [c.id for c in got]
    assert len(set(ids)) == len(ids)
    assert [ids[k] for k in (1, 2, 4)] == ["intro", "load", "calc"]


def test_the_same_blocks_applied_twice_give_the_same_notebook():
    first = apply_notebook_blocks(make_notebook(), nb_blocks(NEW_CELLS)).text
    second = apply_notebook_blocks(make_notebook(), nb_blocks(NEW_CELLS)).text
    assert first == second
    assert first != make_notebook()


def test_two_identical_new_cells_get_distinct_ids():
    twice = "nb.ipynb new code cell at end\n<<<<<<< SEARCH\n=======\npass\n>>>>>>> REPLACE\n"
    b = nb_blocks(twice)[0]
    applied = apply_notebook_blocks(make_notebook(), [b, b])
    ids = [c.id for c in cells(applied.text)]
    assert len(set(ids)) == len(ids) == 5


def test_two_new_cells_after_one_cell_keep_the_order_written():
    answer = ("nb.ipynb new code cell after load\n<<<<<<< SEARCH\n=======\nfirst = 1\n>>>>>>> REPLACE\n"
              "nb.ipynb new code cell after load\n<<<<<<< SEARCH\n=======\nsecond = 2\n>>>>>>> REPLACE\n")
    applied = apply_notebook_blocks(make_notebook(), nb_blocks(answer))
    assert sources(applied.text)[2:4] == ["first = 1", "second = 2"]


def test_deleting_a_cell():
    applied = apply_notebook_blocks(make_notebook(), nb_blocks("nb.ipynb cell load\n<<<<<<< DELETE\n>>>>>>> DELETE\n"))
    assert applied.results[0].ok
    assert [c.id for c in cells(applied.text)] == ["intro", "calc"]


def test_an_unknown_cell_is_refused_naming_the_cells_there_are():
    old = make_notebook()
    applied = apply_notebook_blocks(old, nb_blocks(block("x = 1", "x = 2", "nb.ipynb cell nope")))
    assert not applied.results[0].ok
    assert "nope" in applied.results[0].reason and "intro, load, calc" in applied.results[0].reason
    assert applied.text == old


def test_a_new_cell_after_an_unknown_cell_is_refused():
    old = make_notebook()
    applied = apply_notebook_blocks(old, nb_blocks("nb.ipynb new code cell after nope\n<<<<<<< SEARCH\n=======\n"
                                                   "z = 1\n>>>>>>> REPLACE\n"))
    assert not applied.results[0].ok and "nope" in applied.results[0].reason
    assert applied.text == old


def test_a_block_without_a_cell_target_is_refused():
    old = make_notebook()
    applied = apply_notebook_blocks(old, nb_blocks(block("x = 1", "x = 2", "nb.ipynb")))
    assert not applied.results[0].ok and "cell" in applied.results[0].reason
    assert applied.text == old
    deleting = apply_notebook_blocks(old, [Block("nb.ipynb", action="delete")])
    assert not deleting.results[0].ok and deleting.text == old


def test_a_search_inside_a_cell_that_does_not_match_is_refused_and_the_others_apply():
    old = make_notebook()
    applied = apply_notebook_blocks(old, nb_blocks(block("x = 99", "x = 2", "nb.ipynb cell load")
                                                   + block("y = x + 1", "y = x + 2", "nb.ipynb cell calc")))
    assert [r.ok for r in applied.results] == [False, True]
    assert "cell load" in applied.results[0].reason
    assert sources(applied.text)[1:] == ["x = 1\nprint(x)", "y = x + 2\ny"]


def test_a_notebook_without_ids_is_addressed_by_position():
    nb = new_notebook()
    nb.nbformat_minor = 4
    nb.cells = [new_markdown_cell("# T"), new_code_cell("a = 1"), new_code_cell("b = 2")]
    for c in nb.cells:
        c.pop("id", None)
    old = nbformat.writes(nb)
    shown = render_notebook(old, "n.ipynb")
    assert '<cell id="2" type="code">\na = 1\n</cell>' in shown
    applied = apply_notebook_blocks(old, nb_blocks(
        block("a = 1", "a = 5", "n.ipynb cell 2")
        + "n.ipynb new code cell after 3\n<<<<<<< SEARCH\n=======\nc = 3\n>>>>>>> REPLACE\n"))
    assert [r.ok for r in applied.results] == [True, True]
    got = nbformat.reads(applied.text, as_version=4)
    nbformat.validate(got)
    assert got.nbformat_minor == 4 and not any("id" in c for c in got.cells)
    assert [c.source for c in got.cells] == ["# T", "a = 5", "b = 2", "c = 3"]


def test_cell_changes_lists_changed_new_and_deleted_cells():
    old = make_notebook()
    answer = (block("x = 1", "x = 10", "nb.ipynb cell load")
              + "nb.ipynb cell calc\n<<<<<<< DELETE\n>>>>>>> DELETE\n"
              + "nb.ipynb new code cell after load\n<<<<<<< SEARCH\n=======\nz = 3\n>>>>>>> REPLACE\n")
    new = apply_notebook_blocks(old, nb_blocks(answer)).text
    changes = cell_changes(old, new)
    assert [(c.index, c.kind, c.cell_type) for c in changes] == [(0, "changed", "code"), (1, "new", "code"),
                                                                 (2, "deleted", "code")]
    changed, added, deleted = changes
    assert (changed.cell, changed.old, changed.new) == ("load", "x = 1\nprint(x)", "x = 10\nprint(x)")
    assert "-x = 1\n+x = 10\n" in changed.diff
    assert added.new == "z = 3" and added.after == "load" and "/dev/null" in added.diff
    assert (deleted.cell, deleted.old) == ("calc", "y = x + 1\ny") and "/dev/null" in deleted.diff
    assert cell_changes(old, old) == []


def test_cell_changes_notices_outputs_that_changed():
    old = make_notebook()
    nb = nbformat.reads(old, as_version=4)
    nb.cells[2].outputs = []
    changes = cell_changes(old, nbformat.writes(nb))
    assert [(c.kind, c.cell) for c in changes] == [("changed", "calc")]
    assert "outputs or metadata" in changes[0].diff


def test_partial_notebook_takes_only_the_chosen_cell_changes():
    old = make_notebook()
    answer = (block("x = 1", "x = 10", "nb.ipynb cell load")
              + "nb.ipynb cell calc\n<<<<<<< DELETE\n>>>>>>> DELETE\n"
              + "nb.ipynb new code cell after load\n<<<<<<< SEARCH\n=======\nz = 3\n>>>>>>> REPLACE\n"
              + "nb.ipynb new markdown cell at start\n<<<<<<< SEARCH\n=======\nHi\n>>>>>>> REPLACE\n")
    new = apply_notebook_blocks(old, nb_blocks(answer)).text
    kinds = {(c.kind, c.new or c.old): c.index for c in cell_changes(old, new)}
    edit, delete = kinds[("changed", "x = 10\nprint(x)")], kinds[("deleted", "y = x + 1\ny")]
    add, start = kinds[("new", "z = 3")], kinds[("new", "Hi")]
    assert partial_notebook(old, new, set()) == old
    assert partial_notebook(old, new, {edit, delete, add, start}) == new
    assert sources(partial_notebook(old, new, {edit})) == ["# Analysis\nSome words.", "x = 10\nprint(x)",
                                                           "y = x + 1\ny"]
    assert sources(partial_notebook(old, new, {delete, add})) == ["# Analysis\nSome words.", "x = 1\nprint(x)",
                                                                  "z = 3"]
    assert sources(partial_notebook(old, new, {start})) == ["Hi", "# Analysis\nSome words.", "x = 1\nprint(x)",
                                                            "y = x + 1\ny"]
    kept = cells(partial_notebook(old, new, {edit}))
    assert kept[1].outputs == cells(old)[1].outputs  # the taken cell is the proposed one, outputs kept


def test_a_new_cell_taken_alone_goes_where_it_was_proposed():
    old = make_notebook()
    answer = ("nb.ipynb new markdown cell at start\n<<<<<<< SEARCH\n=======\nfirst\n>>>>>>> REPLACE\n"
              "nb.ipynb new markdown cell at start\n<<<<<<< SEARCH\n=======\nsecond\n>>>>>>> REPLACE\n")
    new = apply_notebook_blocks(old, nb_blocks(answer)).text
    assert sources(new)[:2] == ["first", "second"]  # in the order written
    for change in cell_changes(old, new):
        taken = sources(partial_notebook(old, new, {change.index}))
        assert taken[0] == change.new, taken  # both were proposed before "# Analysis"


def test_notebook_from_percent_makes_code_and_markdown_cells_that_validate():
    text = notebook_from_percent("# %%\nimport os\n\n# %% [markdown]\n# # Title\n# some text\n\n# %%\nprint(1)\n")
    got = cells(text)
    assert [(c.cell_type, c.source) for c in got] == [("code", "import os"), ("markdown", "# Title\nsome text"),
                                                      ("code", "print(1)")]
    assert all(c.outputs == [] for c in got if c.cell_type == "code")
    assert notebook_from_percent("x = 1\n# %% [md]\nplain\n") == notebook_from_percent("x = 1\n# %% [md]\nplain\n")
    assert [c.cell_type for c in cells(notebook_from_percent("x = 1\n# %% [md]\nplain\n"))] == ["code", "markdown"]


def test_a_new_notebook_is_created_from_percent_text_and_reads_back_as_cells():
    answer = "new.ipynb\n<<<<<<< SEARCH\n=======\n# %% [markdown]\n# Hello\n# %%\nx = 1\n>>>>>>> REPLACE\n"
    applied = apply_notebook_blocks(None, nb_blocks(answer))
    assert applied.results[0].ok and applied.results[0].how == "created"
    assert [(c.cell_type, c.source) for c in cells(applied.text)] == [("markdown", "Hello"), ("code", "x = 1")]
    view = cell_view(applied.text)
    assert "# %% [markdown] id=" in view and "\nx = 1\n" in view
    missing = apply_notebook_blocks(None, nb_blocks(block("x", "y", "new.ipynb cell 1")))
    assert not missing.results[0].ok and missing.text is None
