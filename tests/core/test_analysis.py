from aiex_kernel.core.analysis import analyze
from aiex_kernel.core.chunking import chunk_source

SRC_A = b'''import os

def simple():
    return 1

def branchy(x, y):
    if x and y:
        return 1
    elif x:
        return 2
    for i in range(3):
        while i:
            i -= 1
    return 3 if y else 4

class K:
    def m(self):
        pass
'''
SRC_B = b"def broken(:\n    pass\n"


def test_analyze_counts_and_rankings():
    files = [chunk_source(SRC_A, "a.py", complexity=True), chunk_source(SRC_B, "pkg/b.py", complexity=True)]
    report = analyze(files, {"binary": 2, "too large": 1}, top=2)
    assert report["totals"] == {"files": 2, "lines": 20, "bytes": len(SRC_A) + len(SRC_B), "chunks": 7,
                                "skipped": 3}
    assert report["languages"] == {"python": {"files": 2, "lines": 20, "bytes": len(SRC_A) + len(SRC_B), "chunks": 7}}
    assert report["kinds"] == {"module": 2, "function": 3, "class": 1, "method": 1}
    # branchy: if, and, elif, for, while, conditional -> 1 + 6
    assert report["most_complex"][0] == {"path": "a.py", "qualname": "branchy", "kind": "function",
                                         "start_line": 6, "lines": 9, "tokens": report["most_complex"][0]["tokens"],
                                         "complexity": 7}
    assert [f["qualname"] for f in report["largest"]] == ["branchy", "simple"]
    assert report["syntax_errors"] == ["pkg/b.py"]
    assert report["decode_errors"] == []
    assert report["skipped"] == {"binary": 2, "too large": 1}


def test_analyze_empty():
    report = analyze([], {})
    assert report["totals"]["files"] == 0
    assert report["largest"] == [] and report["most_complex"] == []
