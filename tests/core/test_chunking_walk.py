"""The fast statement-level walk must find exactly what the tags query finds."""

import sysconfig
from pathlib import Path

import pytest

from aiex_kernel.core import chunking
from aiex_kernel.core.languages import LANGUAGES, get_parser

TRICKY = b'''
if X:
    def a(): pass
elif Y:
    class B: pass
else:
    def c(): pass
for i in x:
    def d(): pass
else:
    def e(): pass
while w:
    def f(): pass
try:
    def g(): pass
except E:
    def h(): pass
except* F:
    def h2(): pass
finally:
    def i(): pass
with ctx() as c:
    @deco
    async def j(): pass
match v:
    case 1:
        def k(): pass
class L:
    def m(self):
        def n(): pass
        class O: pass
def broken(:
    def p(): pass
'''


def spans(found):
    return sorted((d.node.start_byte, d.node.end_byte, d.kind, d.name, d.start) for d in found)


@pytest.mark.parametrize("language", [name for name, spec in LANGUAGES.items() if spec.walk_definitions])
def test_walk_equals_query(language):
    assert language == "python"  # the only language with a walk today; add corpora for others
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    corpus = sorted(Path(chunking.__file__).parents[1].rglob("*.py")) + sorted(stdlib.glob("*.py"))[::5]
    sources = [TRICKY] + [p.read_bytes() for p in corpus]
    spec = LANGUAGES[language]
    for src in sources:
        root = get_parser(language).parse(src).root_node
        assert spec.walk_definitions
        assert spans(chunking._walked(spec, root, src)) == spans(chunking._queried(spec, root, src))


def test_tricky_names_found():
    names = [c.qualname for c in chunking.chunk_source(TRICKY, "t.py").chunks[1:]]
    assert {"a", "B", "c", "d", "e", "f", "g", "h", "h2", "i", "j", "k", "L.m.n", "L.m.O"} <= set(names)
