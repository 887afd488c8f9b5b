"""The index as arrays in memory, for ranking: live files and chunks of every segment, renumbered."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...core.chunking import Chunk
from ...core.indexing import IndexedBatch
from .store import ARRAY_NAMES, IndexStore, Segment

__all__ = ["IndexView", "load_index", "load_segments"]


@dataclass
class IndexView:
    store: IndexStore
    manifest: dict
    files: list[dict]  #: live files; each with "segment", "local" (index in its segment), "mtime_ns"
    arrays: dict[str, np.ndarray]  #: ARRAY_NAMES, chunk_file and post_chunk renumbered over live data
    chunk_segment: np.ndarray  #: index into ``segments`` of each chunk
    chunk_local: np.ndarray  #: row of each chunk in its segment
    segments: list[Segment] = field(default_factory=list)
    embedding_model: str | None = None  #: the model of ``arrays["embeddings"]``, when there are embeddings
    global_rank: np.ndarray | None = None  #: the files' PageRank without personalisation (with the graph)
    _graph: object = field(default=None, repr=False)
    _tests: np.ndarray | None = field(default=None, repr=False)
    _term_df: tuple | None = field(default=None, repr=False)

    @property
    def n_chunks(self) -> int:
        return len(self.chunk_local)

    def graph(self):
        """The file graph (``core.graph.file_graph``), computed once per index version and kept next to the
        index (edges, weights, and the files' global PageRank; ``view_cache``)."""
        if self._graph is not None:
            return self._graph
        from ...core.graph import file_graph, pagerank
        from .view_cache import load_graph, save_graph

        kept = load_graph(self.store, self.manifest, len(self.files)) if "written_at" in self.manifest else None
        if kept is not None:
            self._graph, self.global_rank = kept
            return self._graph
        a = self.arrays
        self._graph = file_graph(len(self.files), a["chunk_file"], a["chunk_name"], a["chunk_kind"],
                                 a["post_chunk"], a["post_term"], a["post_count"], a["chunk_flags"])
        self.global_rank = pagerank(self._graph)
        if "written_at" in self.manifest:
            save_graph(self.store, self.manifest, self._graph, self.global_rank)
        return self._graph

    def test_files(self) -> np.ndarray:
        """Which files are test (or example, docs, benchmark) code, once per loaded index."""
        if self._tests is None:
            from ...core.ranking import is_test_path

            self._tests = np.fromiter((is_test_path(f["path"]) for f in self.files), dtype=bool,
                                      count=len(self.files))
        return self._tests

    def term_df(self) -> tuple[np.ndarray, np.ndarray]:
        """The index's terms and how many chunks hold each (``core.ranking.term_df``), once per loaded index."""
        if self._term_df is None:
            from ...core.ranking import term_df

            self._term_df = term_df(self.arrays)
        return self._term_df

    def file_prior(self, name_hashes, path_words=(), files=()):
        """Personalised PageRank of the files, towards those a question (or the notebook) is about."""
        from ...core.graph import pagerank, personalization

        a = self.arrays
        personal = personalization(len(self.files), a["chunk_file"], a["chunk_name"], a["chunk_kind"],
                                   [f["path"] for f in self.files], name_hashes, path_words, files)
        return pagerank(self.graph(), personal if personal.sum() > 0 else None)

    def chunks(self, ids) -> dict[int, Chunk]:
        """The chunk records of ``ids`` (global chunk ids), read by offset from each segment."""
        wanted: dict[int, list[int]] = {}
        for cid in ids:
            wanted.setdefault(int(self.chunk_segment[cid]), []).append(int(cid))
        out: dict[int, Chunk] = {}
        for seg_index, cids in wanted.items():
            seg = self.segments[seg_index]
            rows = {int(self.chunk_local[c]): c for c in cids}
            for row, values in self.store.read_records(seg.id, seg.record_offset, list(rows)).items():
                out[rows[row]] = Chunk(*values)
        return out

    def as_batch(self, store: IndexStore) -> IndexedBatch:
        """Every live file, record and array, as one batch (for compaction)."""
        lines: list[bytes] = []
        for seg_index, seg in enumerate(self.segments):
            rows = self.chunk_local[self.chunk_segment == seg_index]
            if not len(rows):
                continue
            with store.fs.open(store.path_of("segments", seg.id, "records.jsonl"), "rb") as fh:
                data = fh.read().splitlines(keepends=True)
            lines.extend(data[r] for r in rows)
        files = [{k: v for k, v in f.items() if k not in ("segment", "local", "mtime_ns")} for f in self.files]
        return IndexedBatch(files=files, lines=lines, arrays=dict(self.arrays))


def load_index(store: IndexStore) -> IndexView | None:
    manifest = store.read_manifest()
    if manifest is None:
        return None
    return load_segments(store, manifest["segments"], manifest["files"], manifest)


def load_segments(store: IndexStore, segment_ids: list[str], files: dict[str, list],
                  manifest: dict | None = None) -> IndexView:
    live_files: list[dict] = []
    parts: dict[str, list[np.ndarray]] = {name: [] for name in ARRAY_NAMES}
    chunk_segment, chunk_local, segments = [], [], []
    embedded: list[np.ndarray | None] = []
    models: set[str | None] = set()
    n_files = n_chunks = 0
    for seg_index, seg in enumerate(store.read_segments(list(segment_ids))):
        seg_id = seg.id
        segments.append(seg)
        # which of its files are still the current version
        file_map = np.full(len(seg.files), -1, dtype=np.int64)
        for i, f in enumerate(seg.files):
            entry = files.get(f["path"])
            if entry is not None and entry[0] == seg_id and entry[1] == i:
                file_map[i] = n_files
                live_files.append({**f, "segment": seg_id, "local": i, "mtime_ns": entry[4]})
                n_files += 1
        a = seg.arrays
        chunk_live = file_map[a["chunk_file"]] >= 0 if len(a["chunk_file"]) else np.zeros(0, dtype=bool)
        rows = np.flatnonzero(chunk_live)
        chunk_map = np.full(len(a["chunk_file"]), -1, dtype=np.int64)
        chunk_map[rows] = np.arange(n_chunks, n_chunks + len(rows))
        for name in ARRAY_NAMES:
            if not name.startswith("chunk_"):
                continue
            values = a[name][rows]
            if name == "chunk_file":
                values = file_map[values].astype(np.int32)
            parts[name].append(values)
        post_live = chunk_map[a["post_chunk"]] >= 0 if len(a["post_chunk"]) else np.zeros(0, dtype=bool)
        parts["post_chunk"].append(chunk_map[a["post_chunk"][post_live]].astype(np.int32))
        parts["post_term"].append(a["post_term"][post_live])
        parts["post_count"].append(a["post_count"][post_live])
        embedded.append(seg.embeddings[rows] if seg.embeddings is not None else None)
        models.add(seg.embedding_model)
        chunk_segment.append(np.full(len(rows), seg_index, dtype=np.int32))
        chunk_local.append(rows.astype(np.int64))
        n_chunks += len(rows)
    dtypes = {"post_term": np.uint32, "chunk_kind": np.int8, "chunk_name": np.uint32, "chunk_flags": np.int8}
    arrays = {name: (np.concatenate(v) if v else np.zeros(0, dtype=dtypes.get(name, np.int32)))
              for name, v in parts.items()}
    # embeddings count only when every segment has them, from one model
    if embedded and all(e is not None for e in embedded) and len(models) == 1:
        arrays["embeddings"] = np.concatenate(embedded)
        embedding_model = next(iter(models))
    else:
        embedding_model = None
    return IndexView(
        store=store, manifest=manifest or {"segments": segment_ids, "files": files}, files=live_files,
        arrays=arrays,
        chunk_segment=np.concatenate(chunk_segment) if chunk_segment else np.zeros(0, dtype=np.int32),
        chunk_local=np.concatenate(chunk_local) if chunk_local else np.zeros(0, dtype=np.int64),
        segments=segments, embedding_model=embedding_model,
    )
