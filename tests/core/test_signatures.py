"""Short Python signatures for candidates listed without their bodies."""

from __future__ import annotations

import ast
import keyword

from hypothesis import given, settings
from hypothesis import strategies as st

from aiex_kernel.core.signatures import DEFAULT_CHARS, python_head


def test_annotations_and_return_types_go_names_and_short_defaults_stay():
    head = python_head("def parse_statements(\n    self, end_tokens: t.Tuple[str, ...], drop_needle: bool = False\n"
                       ") -> t.Union[nodes.Node, t.List[nodes.Node]]:")
    assert head == "def parse_statements(end_tokens, drop_needle=False):"  # a method's self says nothing


def test_every_kind_of_parameter_keeps_its_marker():
    head = python_head("async def call(a, b: int = 1, /, c=2, *args: str, d, e='x', **kw: object) -> None:")
    assert head == "async def call(a, b=1, /, c=2, *args, d, e='x', **kw):"
    assert python_head("def only_keywords(*, key: str = 'k'):") == "def only_keywords(*, key='k'):"
    assert python_head("def method(self, a, /, b):") == "def method(a, /, b):"
    assert python_head("def method(self, /, b):") == "def method(b):"


def test_long_defaults_are_elided_and_only_decorators_that_say_what_it_is_stay():
    long_default = "x" * (DEFAULT_CHARS + 5)
    head = python_head(f"@app.route('/users', methods=['GET'])\n@property\ndef users(self, q='{long_default}'):")
    assert head == "@property def users(q=…):"  # an attribute, wherever it is routed
    assert python_head("@contextlib.contextmanager\n@functools.wraps(f)\ndef opened(path):") == (
        "@contextlib.contextmanager def opened(path):")
    assert python_head("@pytest.fixture(scope='module')\ndef server():") == "@pytest.fixture def server():"
    assert python_head("@functools.cached_property\ndef size(self):") == "@functools.cached_property def size():"


def test_a_decorated_method_as_the_chunker_cuts_it():
    # the chunk starts at its decorator's first byte, so only the lines after it keep the class body's indent
    assert python_head("@property\n    def deadline(self) -> float:") == "@property def deadline():"
    head = python_head("@classmethod\n    @overload\n    async def create(\n"
                       "        cls, raw: socket, path: None = None\n"
                       "    ) -> Stream:")
    assert head == "async def create(raw, path=None):"


def test_a_head_the_chunker_cut_keeps_its_whole_parameters_and_says_more_follow():
    typed = ",\n".join(f"    option_{i}: typing.Mapping[str, str] | None = None" for i in range(12))
    cut = f"def configure(\n    self,\n{typed}"[:400 - 1] + "…"  # as MAX_SIGNATURE_CHARS leaves it
    head = python_head(cut)
    assert head is not None and head.startswith("def configure(option_0=None, option_1=None, ")
    assert head.endswith(", …):") and "typing" not in head
    assert python_head("def cut_off(first, second, thi…") == "def cut_off(first, second, …):"
    assert python_head("@pytest.mark.parametrize(\n    ('a', 'b'), [(1, …") is None  # cut in a decorator


def test_a_class_head_shows_its_bases_by_name_and_keeps_its_decorators():
    head = python_head('class Url(\n    typing.NamedTuple(\n        "Url",\n        [("scheme", typing.Optional[str])],'
                       "\n    )\n):")
    assert head == "class Url(typing.NamedTuple(…)):"
    assert python_head("class Context(Base, metaclass=Meta):") == "class Context(Base, metaclass=Meta):"
    assert python_head("@dataclass(frozen=True)\nclass Point:") == "@dataclass(frozen=True) class Point:"
    assert python_head("class Plain:") == "class Plain:"


def test_what_is_not_a_whole_head_is_left_to_the_caller():
    assert python_head("def broken(:") is None
    assert python_head("class Cut(Base, …") is None
    assert python_head("") is None


_NAME = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: not keyword.iskeyword(n) and not keyword.issoftkeyword(n))


@settings(max_examples=80, deadline=None)
@given(st.lists(_NAME, min_size=0, max_size=6, unique=True), st.integers(0, 6), st.booleans(), st.booleans())
def test_the_short_head_is_itself_a_function_head_with_the_same_parameters(names, typed, star, kwargs):
    """Whatever the parameters, the short head parses, and names the same parameters in the same order (but a
    first ``self`` or ``cls``)."""
    params = [f"{n}: list[int] = [1, 2, 3]" if i < typed else n for i, n in enumerate(names)]
    # parameters with defaults must come last: sort the typed (defaulted) ones after the plain ones
    params = [p for p in params if "=" not in p] + [p for p in params if "=" in p]
    if star:
        params.append("*rest: str")
    if kwargs:
        params.append("**options: object")
    head = python_head(f"def target({', '.join(params)}) -> dict[str, int]:")
    assert head is not None and ":" not in head[:-1].split("(", 1)[1]
    tree = ast.parse(head + "\n    pass").body[0]
    got = [a.arg for a in [*tree.args.args, *([tree.args.vararg] if tree.args.vararg else []),
                            *([tree.args.kwarg] if tree.args.kwarg else [])]]
    want = [p.split(":")[0].split("=")[0].strip("* ") for p in params]
    want = want[1:] if want[:1] in (["self"], ["cls"]) and not params[0].startswith("*") else want
    assert got == want
