"""Context windows: how many tokens a model takes, and how much of that the project context may use.

A question, its conversation, the project context and the answer must all fit
in the model's context window. The window comes from the provider where it says
(Ollama's ``/api/show``, LM Studio's model list, the embedded model's own
``n_ctx``), else from :data:`FAMILY_WINDOWS` by model family, else
:data:`DEFAULT_WINDOW` with a note. :func:`context_budget` is then the context's
share: never more than asked, never more than what is left.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_WINDOW", "FAMILY_WINDOWS", "Window", "context_budget", "family_window"]

#: what a model of unknown family is assumed to take
DEFAULT_WINDOW = 8192
#: tokens kept free for the chat template, the context's wrapper text and counting error
MARGIN = 160

#: context windows by model-name prefix (the longest matching prefix wins)
FAMILY_WINDOWS: dict[str, int] = {
    # OpenAI
    "gpt-5": 400_000, "gpt-4.1": 1_047_576, "gpt-4o": 128_000, "chatgpt-4o": 128_000, "gpt-4-turbo": 128_000,
    "gpt-4": 8_192, "gpt-3.5-turbo": 16_385, "o1": 200_000, "o3": 200_000, "o4": 200_000,
    # Anthropic
    "claude-": 200_000,
    # common open-weight families (Ollama, LM Studio, endpoints)
    "llama3.1": 131_072, "llama3.2": 131_072, "llama3.3": 131_072, "llama-3.1": 131_072, "llama-3.2": 131_072,
    "llama-3.3": 131_072, "llama3": 8_192, "llama-3": 8_192, "llama2": 4_096, "llama-2": 4_096,
    "codellama": 16_384, "mistral": 32_768, "mixtral": 32_768, "qwen2.5": 32_768, "qwen3": 40_960,
    "qwen2": 32_768, "gemma3": 131_072, "gemma2": 8_192, "gemma": 8_192, "phi4": 16_384, "phi3": 4_096,
    "deepseek-r1": 131_072, "deepseek-coder": 16_384, "starcoder2": 16_384, "smollm2": 8_192,
    "tinyllama": 2_048,
}


@dataclass(frozen=True)
class Window:
    tokens: int
    source: str  #: where the number comes from, for notes and --json
    known: bool = True  #: False: the model is unknown and DEFAULT_WINDOW was assumed


def family_window(model: str) -> int | None:
    """The window of ``model``'s family from the table (``org/name:tag`` forms are understood)."""
    name = model.lower().rsplit("/", 1)[-1]
    matches = [prefix for prefix in FAMILY_WINDOWS if name.startswith(prefix)]
    return FAMILY_WINDOWS[max(matches, key=len)] if matches else None


def context_budget(requested: int, window: int, *, prompt_tokens: int, answer_tokens: int,
                   margin: int = MARGIN) -> int:
    """The context tokens to send: at most ``requested``, and no more than the window leaves free."""
    room = window - prompt_tokens - answer_tokens - margin
    return max(0, min(requested, room))
