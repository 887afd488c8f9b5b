"""Conversation memory: the last few exchanges, as messages for the next request."""

from __future__ import annotations

from collections import deque

from .llm import Message

__all__ = ["Conversation"]


class Conversation:
    """The last ``max_history`` (prompt, answer) exchanges, oldest first."""

    def __init__(self, max_history: int = 5) -> None:
        self._exchanges: deque[tuple[str, str]] = deque()
        self.max_history = max_history

    @property
    def max_history(self) -> int:
        return self._max

    @max_history.setter
    def max_history(self, value: int) -> None:
        if value < 0:
            raise ValueError("max_history must be 0 or more")
        self._max = value
        while len(self._exchanges) > value:
            self._exchanges.popleft()

    def add(self, prompt: str, answer: str) -> None:
        if self._max == 0:
            return
        self._exchanges.append((prompt, answer))
        while len(self._exchanges) > self._max:
            self._exchanges.popleft()

    def messages(self) -> tuple[Message, ...]:
        out: list[Message] = []
        for prompt, answer in self._exchanges:
            out += [Message("user", prompt), Message("assistant", answer)]
        return tuple(out)

    def reset(self) -> None:
        self._exchanges.clear()

    def __len__(self) -> int:
        return len(self._exchanges)
