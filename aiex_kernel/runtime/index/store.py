"""Where the context index lives: a manifest, segments of zarr arrays, and chunk records.

Layout under the index location (``<root>/.aiex/index`` by default; any fsspec URL)::

    manifest.json               the current state: schema, segments (with their files' chunk counts),
                                every file -> (segment, index)
    segments/<id>/arrays.zarr   the files the segment added as three int32 arrays: ``chunks`` (one row
                                per CHUNK_COLUMNS entry, one column per chunk), ``postings``
                                (one row per POSTING_COLUMNS entry) and ``record_offset``
    segments/<id>/files.json    those files: path, content hash, size, mtime, language, ...
    segments/<id>/records.jsonl one chunk record per line (CHUNK_FIELDS values), with byte offsets
                                in arrays.zarr/record_offset
    views/<version>.npz         the loaded view of one manifest version, and
    graph/<version>.npz         its file graph (both: ``view_cache``; derived, never needed)

A build writes a new segment completely, then replaces ``manifest.json`` in one
rename, then deletes segments no manifest names. A crash or kill at any moment
leaves the previous manifest, and every segment it names, intact. Readers only
follow the manifest.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from ..._version import __version__
from ...errors import IndexCorrupt, SchemaMismatch

__all__ = ["SCHEMA_VERSION", "IndexStore", "Segment"]

#: bump when the layout or the meaning of an array changes; older indexes are rebuilt (4: the terms of a dunder
#: name that is a keyword without its underscores, ``__import__``)
SCHEMA_VERSION = 4
#: the per-chunk arrays and their dtypes, stored as the rows of one int32 zarr array ``chunks`` (unsigned
#: values by their bits), the postings likewise as ``postings``: a segment is three zarr arrays rather than
#: twelve, each of which cost a few ms to create (a segment of 3,000 chunks: 67 -> 24 ms of CPU to write)
CHUNK_COLUMNS = {"chunk_file": np.int32, "chunk_kind": np.int8, "chunk_name": np.uint32, "chunk_flags": np.int8,
                 "chunk_len": np.int32, "chunk_tokens": np.int32, "chunk_start_line": np.int32,
                 "chunk_end_line": np.int32}
POSTING_COLUMNS = {"post_chunk": np.int32, "post_term": np.uint32, "post_count": np.int32}
ARRAY_NAMES = (*CHUNK_COLUMNS, *POSTING_COLUMNS)


def pack_columns(arrays: dict[str, np.ndarray], columns: dict) -> np.ndarray:
    """``arrays[name]`` for each of ``columns`` as the rows of one int32 array (unsigned ones by their bits)."""
    first = arrays[next(iter(columns))]
    out = np.empty((len(columns), len(first)), dtype=np.int32)
    for row, (name, dtype) in enumerate(columns.items()):
        values = arrays[name]
        out[row] = np.asarray(values, dtype=np.uint32).view(np.int32) if dtype is np.uint32 else values
    return out


def unpack_columns(packed: np.ndarray, columns: dict) -> dict[str, np.ndarray]:
    """The inverse of :func:`pack_columns`: each row as its column's own dtype."""
    if packed.ndim != 2 or packed.shape[0] != len(columns):
        raise ValueError(f"an array of shape {packed.shape} where {len(columns)} rows belong")
    return {name: packed[row].view(np.uint32) if dtype is np.uint32 else packed[row].astype(dtype, copy=False)
            for row, (name, dtype) in enumerate(columns.items())}


@dataclass
class Segment:
    id: str
    files: list[dict]
    arrays: dict[str, np.ndarray]
    record_offset: np.ndarray
    embeddings: np.ndarray | None = None
    embedding_model: str | None = None


class IndexStore:
    """One index location, local path or fsspec URL."""

    def __init__(self, location: str) -> None:
        import fsspec

        self.location = str(location)
        try:
            self.fs, self.path = fsspec.core.url_to_fs(self.location)
        except (ValueError, ImportError) as exc:
            from ...errors import ConfigError

            raise ConfigError(f"index_path {self.location!r} cannot be used: {exc}. Give a directory or an "
                              "fsspec URL (file://, memory://, s3:// with s3fs installed, ...).") from None
        self.local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))

    def __repr__(self) -> str:
        return f"IndexStore({self.location!r})"

    def path_of(self, *parts: str) -> str:
        """A path inside the index location (for the fsspec filesystem ``self.fs``)."""
        return "/".join([self.path.rstrip("/"), *parts])

    # -- manifest ------------------------------------------------------------------------------

    def read_manifest(self, *, check_schema: bool = True) -> dict | None:
        """The current manifest, ``None`` if there is no index yet."""
        path = self.path_of("manifest.json")
        try:
            with self.fs.open(path, "rb") as fh:
                manifest = orjson.loads(fh.read())
        except FileNotFoundError:
            return None
        except ValueError as exc:  # orjson.JSONDecodeError is one
            raise IndexCorrupt(f"The index manifest {self.location}/manifest.json is unreadable ({exc}); "
                            "run `aiex build context --rebuild`.") from None
        if check_schema and manifest.get("schema") != SCHEMA_VERSION:
            raise SchemaMismatch(
                f"The index at {self.location} has schema {manifest.get('schema')} (aiex "
                f"{manifest.get('aiex', '?')}); this aiex reads schema {SCHEMA_VERSION}.")
        return manifest

    def write_manifest(self, manifest: dict) -> None:
        """Replace the manifest in one step (write a temporary file, then rename it)."""
        manifest = {**manifest, "schema": SCHEMA_VERSION, "aiex": __version__, "written_at": time.time()}
        data = orjson.dumps(manifest)  # about 9x faster than json.dumps on a 30,000-file manifest (4.6 MB)
        final = self.path_of("manifest.json")
        tmp = self.path_of(f".manifest-{uuid.uuid4().hex}.tmp")
        self.fs.makedirs(self.path, exist_ok=True)
        if self.local and not os.path.exists(self.path_of(".gitignore")):
            with open(self.path_of(".gitignore"), "w") as fh:  # keep the index out of the user's commits
                fh.write("# aiex's context index: rebuilt by `aiex build context`\n*\n")
        with self.fs.open(tmp, "wb") as fh:
            fh.write(data)
            if self.local:
                fh.flush()
                os.fsync(fh.fileno())
        if self.local:
            os.replace(tmp, final)  # atomic on POSIX and Windows
        else:
            self.fs.mv(tmp, final)

    # -- segments ------------------------------------------------------------------------------

    @staticmethod
    def new_segment_id() -> str:
        return f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"

    def write_segment(self, segment_id: str, files: list[dict], lines: list[bytes],
                      arrays: dict[str, np.ndarray], embedding_model: str | None = None) -> None:
        """Write a complete segment: ``lines`` are the chunk records as JSON lines (newline included).

        zarr builds the arrays in memory (its ``MemoryStore``: the bytes its own store would write), and they go
        out with the segment's other files in one ``fs.pipe``: writing through zarr's local store hopped to a
        thread for each of its seven files, about 10 ms a segment whatever its size (about 5 now), paid by every
        task of a cluster build and by every incremental build. ``COMPLETE`` is written last, on its own."""
        import asyncio
        import posixpath

        from zarr.api import asynchronous as zasync
        from zarr.core.sync import sync
        from zarr.storage import MemoryStore

        base = self.path_of("segments", segment_id)
        offsets = np.zeros(len(lines) + 1, dtype=np.int64)
        if lines:
            np.cumsum([len(x) for x in lines], out=offsets[1:])
        written = {"chunks": pack_columns(arrays, CHUNK_COLUMNS), "postings": pack_columns(arrays, POSTING_COLUMNS),
                   "record_offset": offsets}
        with_vectors = bool(embedding_model) and "embeddings" in arrays
        if with_vectors:
            written["embeddings"] = arrays["embeddings"]

        def chunking(name: str, data: np.ndarray) -> tuple[int, ...]:
            if name == "embeddings":
                return (max(1, min(len(data), 4096)), data.shape[1])
            return (*data.shape[:-1], max(1, min(data.shape[-1], 1 << 20)))

        held: dict = {}

        async def write() -> None:  # every array in one trip into zarr's event loop, as read_segments does
            group = await zasync.open_group(MemoryStore(held), mode="w",
                                            attributes={"embedding_model": embedding_model} if with_vectors else None)
            await asyncio.gather(*(group.create_array(name, data=data, chunks=chunking(name, data))
                                   for name, data in written.items()))

        sync(write())
        files_out = {f"{base}/arrays.zarr/{key}": value.to_bytes() for key, value in held.items()}
        files_out[f"{base}/records.jsonl"] = b"".join(lines)
        files_out[f"{base}/files.json"] = json.dumps(files, separators=(",", ":")).encode()
        for folder in sorted({posixpath.dirname(path) for path in files_out}):
            self.fs.makedirs(folder, exist_ok=True)
        self.fs.pipe(files_out)
        # written last: a segment without it is incomplete and never named by a manifest
        with self.fs.open(f"{base}/COMPLETE", "wb") as fh:
            fh.write(b"ok\n")

    def zarr_store(self, path: str):
        """What ``zarr.open_group`` takes for ``path``: the path itself locally, else an fsspec store."""
        if self.local:
            return path
        from zarr.storage import FsspecStore

        return FsspecStore.from_url(self.fs.unstrip_protocol(path))

    def read_segments(self, segment_ids: list[str]) -> list[Segment]:
        """The segments ``segment_ids``, every array of every one read concurrently: one trip into zarr's
        event loop (the way zarr's own synchronous API works, in a kernel too) instead of one per array,
        which costs about 1 ms each (16 segments of the standard library: 0.37 -> 0.2 s)."""
        import asyncio

        from zarr.api import asynchronous as zasync
        from zarr.core.sync import sync

        names = ["chunks", "postings", "record_offset"]

        async def arrays_of(segment_id: str) -> tuple[dict, str | None]:
            base = self.path_of("segments", segment_id)
            group = await zasync.open_group(self.zarr_store(f"{base}/arrays.zarr"), mode="r")
            model = group.attrs.get("embedding_model")
            wanted = names + (["embeddings"] if model else [])
            arrays = await asyncio.gather(*(group.getitem(n) for n in wanted))
            return dict(zip(wanted, await asyncio.gather(*(a.getitem(slice(None)) for a in arrays)))), model

        async def every() -> list:
            return list(await asyncio.gather(*(arrays_of(s) for s in segment_ids)))

        try:
            listed = []
            for segment_id in segment_ids:
                with self.fs.open(self.path_of("segments", segment_id, "files.json"), "rb") as fh:
                    listed.append(json.load(fh))
            read = sync(every())
        except (FileNotFoundError, KeyError) as exc:
            raise IndexCorrupt(f"An index segment in {self.location} is missing or incomplete ({exc}); "
                               "run `aiex build context --rebuild`.") from None
        out = []
        for segment_id, files, (values, model) in zip(segment_ids, listed, read):
            try:
                columns = {**unpack_columns(values["chunks"], CHUNK_COLUMNS),
                           **unpack_columns(values["postings"], POSTING_COLUMNS)}
            except ValueError as exc:
                raise IndexCorrupt(f"The index segment {segment_id} in {self.location} is damaged ({exc}); "
                                   "run `aiex build context --rebuild`.") from None
            out.append(Segment(segment_id, files, columns, values["record_offset"], values.get("embeddings"), model))
        return out

    def read_records(self, segment_id: str, offsets: np.ndarray, rows: list[int]) -> dict[int, list]:
        """Chunk records ``rows`` (segment-local) of one segment, read by byte offset."""
        out: dict[int, list] = {}
        with self.fs.open(self.path_of("segments", segment_id, "records.jsonl"), "rb") as fh:
            for row in sorted(rows):
                fh.seek(int(offsets[row]))
                out[row] = json.loads(fh.read(int(offsets[row + 1] - offsets[row])))
        return out

    def segment_ids(self) -> list[str]:
        try:
            return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self.path_of("segments"), detail=False))
        except FileNotFoundError:
            return []

    def delete_unreferenced(self, keep: set[str]) -> int:
        """Remove segments (and stale temporary manifests) that the manifest does not name."""
        removed = 0
        for seg in self.segment_ids():
            if seg not in keep:
                self.fs.rm(self.path_of("segments", seg), recursive=True)
                removed += 1
        try:
            for entry in self.fs.ls(self.path, detail=False):
                name = entry.rstrip("/").rsplit("/", 1)[-1]
                if name.startswith(".manifest-") and name.endswith(".tmp"):
                    self.fs.rm(entry)
        except FileNotFoundError:
            pass
        return removed

    def size_bytes(self) -> int:
        try:
            return int(sum(self.fs.du(self.path, total=False).values()))
        except FileNotFoundError:
            return 0

    def wipe(self) -> None:
        if self.fs.exists(self.path):
            self.fs.rm(self.path, recursive=True)


def manifest_entry(segment_id: str, index: int, file: dict, mtime_ns: int) -> list[Any]:
    """A file's entry in the manifest: where its chunks are, and what it was when indexed."""
    return [segment_id, index, file["hash"], file["size"], mtime_ns]
