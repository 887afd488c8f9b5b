"""Segments that stay bounded: a build in one process writes its batches out as segments of about
SEGMENT_CHUNKS chunks, and loose segments are merged a group at a time, on the workers after a cluster
build. The chunks are exactly those of a build into one segment."""

import numpy as np
import pytest

from aiex_kernel.config import load_settings
from aiex_kernel.core import merge_policy
from aiex_kernel.runtime.index import open_sandbox
from aiex_kernel.runtime.index.build import build_index
from aiex_kernel.runtime.index.store import IndexStore
from aiex_kernel.runtime.index.view import load_index


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "many"
    (root / "pkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'many'\n")
    for i in range(30):  # 30 files: three batches of ten
        (root / "pkg" / f"mod{i:02d}.py").write_text(
            f"class Thing{i}:\n    def size(self):\n        return {i}\n\n\ndef make_{i}(n):\n    return [Thing{i}()] * n\n")
    return root


def build(root, **kw):
    settings = load_settings(root)
    return build_index(open_sandbox(root, settings), settings=settings, progress=False, **kw)


def chunks_of(root):
    view = load_index(IndexStore(str(root / ".aiex" / "index")))
    return sorted((c.path, c.qualname, c.start_line, c.sha256) for c in view.chunks(range(view.n_chunks)).values())


def test_one_process_writes_bounded_segments_then_merges_them(project, tmp_path, monkeypatch):
    import shutil

    reference = tmp_path / "reference"
    shutil.copytree(project, reference)
    assert build(reference, cluster="never").segments == 1  # small: one segment, as always
    monkeypatch.setattr(merge_policy, "SEGMENT_CHUNKS", 10)  # each batch (10 files, 40 chunks) fills one
    monkeypatch.setattr(merge_policy, "MAX_LOOSE", 10 ** 6)
    report = build(project, cluster="never")
    assert report.segments == 3 and not report.compacted and report.chunks == 120
    assert chunks_of(project) == chunks_of(reference)
    monkeypatch.setattr(merge_policy, "SEGMENT_CHUNKS", 200)  # now all three are loose and fit in one group
    monkeypatch.setattr(merge_policy, "MAX_LOOSE", 1)
    merged = build(project, cluster="never")
    assert merged.up_to_date and merged.compacted and merged.segments == 1 and merged.chunks == 120
    assert chunks_of(project) == chunks_of(reference)
    assert len(list((project / ".aiex/index/segments").iterdir())) == 1  # the merged ones were deleted


def test_after_a_cluster_build_the_workers_merge(project, tmp_path, runtime, monkeypatch):
    import shutil

    from distributed import get_task_stream

    reference = tmp_path / "reference"
    shutil.copytree(project, reference)
    build(reference, cluster="never")
    monkeypatch.setattr(merge_policy, "MAX_LOOSE", 1)  # the batches' three segments are too many
    with get_task_stream(runtime.client) as stream:
        report = build(project, cluster="always", runtime=runtime)
    assert report.written_by.startswith("workers") and report.compacted and report.segments == 1
    assert any("merge_part" in t["key"] for t in stream.data)  # merged on the cluster, not here
    assert chunks_of(project) == chunks_of(reference)
    # an edit adds one loose segment beside the merged one; with two loose the next merge takes both
    (project / "pkg" / "mod03.py").write_text("def changed():\n    return 3\n")
    again = build(project, cluster="never")
    assert again.changed == 1 and again.segments == 1 and again.compacted
    assert ("pkg/mod03.py", "changed") in {(p, q) for p, q, *_ in chunks_of(project)}


def test_the_manifest_keeps_each_segments_chunk_counts(project):
    import json

    build(project, cluster="never")
    index = project / ".aiex" / "index"
    manifest = json.loads((index / "manifest.json").read_text())
    for seg in manifest["segments"]:
        listed = json.loads((index / "segments" / seg / "files.json").read_text())
        assert manifest["segment_chunks"][seg] == [f["n_chunks"] for f in listed]
    # an index written before the manifest kept them: read from files.json once, then kept
    del manifest["segment_chunks"]
    (index / "manifest.json").write_text(json.dumps(manifest))
    (project / "pkg" / "mod00.py").write_text("def other():\n    return 0\n")
    report = build(project, cluster="never")
    assert report.changed == 1 and report.chunks == 118  # 4 chunks became 2
    assert set(json.loads((index / "manifest.json").read_text())["segment_chunks"]) == set(
        json.loads((index / "manifest.json").read_text())["segments"])


def test_a_file_edited_twice_leaves_no_dead_segment_behind(project):
    build(project, cluster="never")
    for i in range(3):  # the same file each time: the previous edit's segment empties and is dropped, not merged
        (project / "pkg" / "mod03.py").write_text(f"def changed_{i}():\n    return {i}\n")
        report = build(project, cluster="never")
        assert report.changed == 1 and report.segments == 2 and not report.compacted
    assert len(list((project / ".aiex/index/segments").iterdir())) == 2


def test_a_damaged_segment_is_named_not_a_traceback(project):
    import shutil

    from aiex_kernel.errors import IndexCorrupt

    build(project, cluster="never")
    index = project / ".aiex" / "index"
    seg = next((index / "segments").iterdir())
    shutil.rmtree(seg / "arrays.zarr" / "postings")
    with pytest.raises(IndexCorrupt, match="missing or incomplete.*--rebuild"):
        load_index(IndexStore(str(index)))


def test_packed_columns_round_trip_every_dtype_including_hashes_past_two_to_the_31():
    from aiex_kernel.runtime.index.store import CHUNK_COLUMNS, pack_columns, unpack_columns

    rng = np.random.default_rng(7)
    arrays = {name: (rng.integers(0, 2**32, 50, dtype=np.uint64).astype(np.uint32) if dtype is np.uint32
                     else rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, 50).astype(dtype))
              for name, dtype in CHUNK_COLUMNS.items()}
    back = unpack_columns(pack_columns(arrays, CHUNK_COLUMNS), CHUNK_COLUMNS)
    assert back.keys() == arrays.keys()
    for name, values in arrays.items():
        assert back[name].dtype == values.dtype and np.array_equal(back[name], values), name
    assert (arrays["chunk_name"] >= 2**31).any()  # the case a signed store would corrupt


def test_a_segment_is_what_zarr_itself_writes_with_embeddings_too(tmp_path):
    """Arrays built in memory and piped out with the segment's other files: the same files and bytes as zarr's
    own store writes, read back by zarr, the embedding model kept as the group's attribute."""
    import zarr
    from zarr.api import asynchronous as zasync
    from zarr.core.sync import sync

    from aiex_kernel.runtime.index.store import CHUNK_COLUMNS, POSTING_COLUMNS

    n_chunks, n_postings = 7, 19
    arrays = {name: np.arange(n_chunks, dtype=dtype) for name, dtype in CHUNK_COLUMNS.items()}
    arrays.update({name: np.arange(n_postings, dtype=dtype) for name, dtype in POSTING_COLUMNS.items()})
    arrays["embeddings"] = np.linspace(0, 1, n_chunks * 4, dtype=np.float32).reshape(n_chunks, 4)
    lines = [b'{"chunk": %d}\n' % i for i in range(n_chunks)]
    store = IndexStore(str(tmp_path / "index"))
    store.write_segment("s1", [{"path": "a.py"}], lines, arrays, embedding_model="model-x")
    written = tmp_path / "index" / "segments" / "s1"
    assert sorted(p.name for p in written.iterdir()) == ["COMPLETE", "arrays.zarr", "files.json", "records.jsonl"]
    assert (written / "records.jsonl").read_bytes() == b"".join(lines)

    group = zarr.open_group(str(written / "arrays.zarr"), mode="r")
    assert group.attrs["embedding_model"] == "model-x"
    assert np.array_equal(group["embeddings"][:], arrays["embeddings"])
    assert group["postings"].shape == (len(POSTING_COLUMNS), n_postings)
    assert group["record_offset"][-1] == sum(map(len, lines))

    reference = tmp_path / "reference.zarr"  # zarr's own local store, the same arrays
    data_of = {name: group[name][:] for name in ("chunks", "postings", "record_offset", "embeddings")}

    async def write() -> None:
        ref = await zasync.open_group(str(reference), mode="w", attributes={"embedding_model": "model-x"})
        for name, data in data_of.items():
            chunks = (max(1, min(len(data), 4096)), data.shape[1]) if name == "embeddings" else (
                *data.shape[:-1], max(1, min(data.shape[-1], 1 << 20)))
            await ref.create_array(name, data=data, chunks=chunks)

    sync(write())
    ours = {f.relative_to(written / "arrays.zarr"): f.read_bytes() for f in (written / "arrays.zarr").rglob("*")
            if f.is_file()}
    theirs = {f.relative_to(reference): f.read_bytes() for f in reference.rglob("*") if f.is_file()}
    assert ours == theirs


def test_a_warm_rebuild_runs_no_collector_pass_over_its_manifest_and_scan(tmp_path):
    """Thousands of files' manifest entries and scan entries, all acyclic: a nothing-changed rebuild and a
    one-file one run without a single collector pass (each walked all of them: 10-15% of a rebuild's time on a
    30,000-file project), and leave the collector on."""
    import gc

    root = tmp_path / "wide"
    for d in range(30):
        (root / f"pkg{d}").mkdir(parents=True)
        for i in range(50):
            (root / f"pkg{d}" / f"m{i}.py").write_text(f"def f{i}():\n    return {i}\n")
    assert build(root, cluster="never").added == 1500
    settings = load_settings(root)
    sandbox = open_sandbox(root, settings)
    passes = []

    def count(phase, info):
        if phase == "start":
            passes.append(info["generation"])

    gc.collect()
    gc.callbacks.append(count)
    try:
        unchanged = build_index(sandbox, settings=settings, cluster="never", progress=False)
        (root / "pkg3" / "m7.py").write_text("def f7():\n    return 'seven'\n")
        one = build_index(sandbox, settings=settings, cluster="never", progress=False)
    finally:
        gc.callbacks.remove(count)
    assert unchanged.up_to_date and unchanged.unchanged == 1500
    assert one.changed == 1
    assert passes == []
    assert gc.isenabled()


def test_while_a_build_waits_on_its_workers_the_collector_runs(project, runtime, monkeypatch):
    """The pause covers the build's own bookkeeping, not the wait for the cluster (other threads of a kernel
    keep their garbage collected meanwhile)."""
    import gc

    from aiex_kernel.runtime import file_batches

    seen = []
    gather = file_batches.ClusterBatches.gather

    def watched(self, keep, bar):
        seen.append(("before", gc.isenabled()))
        gather(self, lambda result: (seen.append(("waiting", gc.isenabled())), keep(result)), bar)
        seen.append(("after", gc.isenabled()))

    monkeypatch.setattr(file_batches.ClusterBatches, "gather", watched)
    report = build(project, cluster="always", runtime=runtime)
    assert report.added == 30 and report.where != "in-process"
    assert seen[0] == ("before", False) and seen[-1] == ("after", False)
    # the test cluster's workers are threads of this process: a task's own pause (index_batch) may overlap an
    # earlier result; once the last result is in, no task runs and the wait's state holds
    assert len(seen) > 2 and seen[-2] == ("waiting", True)
    assert gc.isenabled()
