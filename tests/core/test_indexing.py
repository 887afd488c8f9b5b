"""index_batch's chunk records: one JSON line per chunk, whatever the file's name or text holds."""

from __future__ import annotations

import json

from aiex_kernel.core.chunking import CHUNK_FIELDS
from aiex_kernel.core.indexing import index_batch

SOURCE = 'def grüße(name):\n    """Say hello to ``name``."""\n    return f"hallo {name}"\n'.encode()


def test_records_are_json_lines_that_read_back_as_the_chunk_fields():
    batch = index_batch([("pkg/greet.py", SOURCE)])
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in batch.lines)
    records = batch.records()
    assert [len(r) for r in records] == [len(CHUNK_FIELDS)] * len(records)
    by_field = [dict(zip(CHUNK_FIELDS, r)) for r in records]
    func = next(r for r in by_field if r["kind"] == "function")
    assert func["name"] == "grüße" and func["docstring"] == "Say hello to ``name``." and func["path"] == "pkg/greet.py"


def test_a_path_from_a_non_utf8_file_name_still_gives_records_it_can_read_back():
    path = "pkg/caf\udce9.py"  # how os.fsdecode spells the byte 0xE9 of a Latin-1 file name
    batch = index_batch([(path, SOURCE), ("pkg/plain.py", SOURCE)])
    records = batch.records()
    assert {r[CHUNK_FIELDS.index("path")] for r in records} == {path, "pkg/plain.py"}
    assert all(json.loads(line) == r for line, r in zip(batch.lines, records))
