"""The embedded model's own process: ``python -m aiex_kernel.runtime.providers.local_worker``.

llama.cpp runs native code that can die of SIGILL (a build for another CPU),
crash, hang or run out of memory; none of that may take the user's kernel, IPython
or CLI with it. So the model lives in this child process (see
:mod:`.local_process` for the parent side), started in its own session (a kernel
interrupt, sent to the kernel's process group, does not reach it), with a raised
``oom_score_adj`` (the OOM killer takes it before the kernel) and an address-space
limit (``RLIMIT_AS``).

Protocol: one JSON object per line. The parent writes to stdin::

    {"op": "generate", "id": 7, "messages": [...], "options": {...}}
    {"op": "cancel", "id": 7}
    {"op": "count", "id": 8, "texts": ["...", ...]}                     token counts, answered at once

and the child answers on its stdout (native code's own prints go to stderr)::

    {"op": "hello", "pid": ..., "system_info": "CPU : SSE3 = 1 | ..."}   once, before loading
    {"op": "ready", "n_ctx": 8192, "n_ctx_train": 8192, "load_s": 0.2}   once, model loaded
    {"op": "started", "id": 7}
    {"op": "delta", "id": 7, "text": "..."}                              as tokens arrive
    {"op": "done", "id": 7, "finish_reason": "stop", "input_tokens": ..., "output_tokens": ...}
    {"op": "counted", "id": 8, "counts": [12, ...]}
    {"op": "error", "id": 7, "error": "..."}                             the request failed; the process lives on
    {"op": "fatal", "error": "..."}                                      the model cannot load; the process exits

The child exits when its stdin closes (the parent went away), even in the middle
of a generation.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time

#: the OOM killer's preference for this process (-1000..1000; the kernel is usually 0)
OOM_SCORE_ADJ = 1000


def _limit_memory(megabytes: int) -> None:
    if megabytes <= 0:
        return
    import resource

    limit = megabytes * 1024 * 1024
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):  # a lower hard limit is already set: keep it
        pass


def _raise_oom_score() -> None:
    try:
        with open("/proc/self/oom_score_adj", "w", encoding="ascii") as fh:
            fh.write(str(OOM_SCORE_ADJ))
    except OSError:  # not Linux, or not allowed: nothing to do
        pass


class _Channel:
    """The protocol's output: the original stdout, kept apart from what native code prints."""

    def __init__(self) -> None:
        self._out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
        os.dup2(2, 1)  # llama.cpp writing to fd 1 now lands on stderr
        sys.stdout = sys.stderr
        self._lock = threading.Lock()

    def send(self, **message) -> None:
        line = json.dumps(message, ensure_ascii=True)
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()


def _read_commands(llama, channel: _Channel, jobs: queue.Queue, cancelled: set) -> None:
    for line in sys.stdin:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        op = message.get("op")
        if op == "cancel":
            cancelled.add(message.get("id"))
        elif op == "generate":
            jobs.put(message)
        elif op == "count":  # the vocabulary is read-only: counting beside a generation is safe
            counts = [len(llama.tokenize(t.encode(), add_bos=False, special=False)) for t in message["texts"]]
            channel.send(op="counted", id=message.get("id"), counts=counts)
    os._exit(0)  # the parent is gone (or closed us): stop now, whatever native code is doing


def _generate(llama, job: dict, channel: _Channel, cancelled: set) -> None:
    rid = job["id"]
    channel.send(op="started", id=rid)
    if rid in cancelled:  # cancelled while it waited
        cancelled.discard(rid)
        channel.send(op="done", id=rid, finish_reason="cancelled", output_tokens=0, input_tokens=0)
        return
    parts: list[str] = []
    finish = None
    try:
        stream = llama.create_chat_completion(messages=job["messages"], stream=True, **job.get("options", {}))
        for chunk in stream:
            if rid in cancelled:
                finish = "cancelled"
                break
            choice = chunk["choices"][0]
            text = choice.get("delta", {}).get("content")
            if text:
                parts.append(text)
                channel.send(op="delta", id=rid, text=text)
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
    except (ValueError, RuntimeError) as exc:  # e.g. the prompt is longer than the context window
        channel.send(op="error", id=rid, error=str(exc))
        return
    finally:
        cancelled.discard(rid)
    text = "".join(parts)
    output = len(llama.tokenize(text.encode(), add_bos=False)) if text else 0
    channel.send(op="done", id=rid, finish_reason=finish, output_tokens=output,
                 input_tokens=max(0, llama.n_tokens - output))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aiex-local-model")
    parser.add_argument("--model", required=True)
    parser.add_argument("--n-ctx", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--threads-batch", type=int, default=1)
    parser.add_argument("--memory-mb", type=int, default=0)
    args = parser.parse_args(argv)

    _raise_oom_score()
    _limit_memory(args.memory_mb)
    channel = _Channel()
    started = time.perf_counter()
    try:
        import llama_cpp
    except ImportError as exc:
        channel.send(op="fatal", error=f"llama-cpp-python cannot be imported: {exc}")
        return 3
    channel.send(op="hello", pid=os.getpid(), system_info=llama_cpp.llama_print_system_info().decode())
    try:
        llama = llama_cpp.Llama(model_path=args.model, n_ctx=args.n_ctx, n_threads=args.threads,
                                n_threads_batch=args.threads_batch, verbose=False)
    except (ValueError, RuntimeError, MemoryError, OSError) as exc:
        channel.send(op="fatal", error=f"the model did not load: {exc}")
        return 3
    channel.send(op="ready", n_ctx=llama.n_ctx(), n_ctx_train=llama._model.n_ctx_train(),
                 load_s=round(time.perf_counter() - started, 3))

    jobs: queue.Queue = queue.Queue()
    cancelled: set = set()
    threading.Thread(target=_read_commands, args=(llama, channel, jobs, cancelled), name="aiex-commands", daemon=True).start()
    while True:
        _generate(llama, jobs.get(), channel, cancelled)


if __name__ == "__main__":
    sys.exit(main())
