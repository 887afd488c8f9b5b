"""Reading and validating structured (JSON) answers."""

import pytest

from aiex_kernel.core.llm import AiexRequest
from aiex_kernel.core.structured import StructuredError, check_schema, parse_structured, retry_request, schema_instruction

SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}, "why": {"type": "string"}},
          "required": ["answer"], "additionalProperties": False}


@pytest.mark.parametrize("text", [
    '{"answer": 42}',
    '  {"answer": 42, "why": "it is"}\n',
    '```json\n{"answer": 42}\n```',
    '~~~\n{"answer": 42}\n~~~\n',
    'Sure! Here it is: {"answer": 42} Hope that helps.',
])
def test_parse_accepts_json_in_the_usual_wrappings(text):
    assert parse_structured(text, SCHEMA)["answer"] == 42


def test_parse_names_what_is_wrong():
    with pytest.raises(StructuredError, match="not valid JSON"):
        parse_structured('{"answer": 4', SCHEMA)
    with pytest.raises(StructuredError, match=r"answer: '42' is not of type 'integer'"):
        parse_structured('{"answer": "42"}', SCHEMA)
    with pytest.raises(StructuredError, match=r"\(root\): 'answer' is a required property"):
        parse_structured('{"why": "no"}', SCHEMA)
    with pytest.raises(StructuredError, match="Additional properties"):
        parse_structured('{"answer": 1, "extra": 2}', SCHEMA)


def test_check_schema_rejects_broken_schemas():
    check_schema(SCHEMA)
    with pytest.raises(ValueError, match="schema itself is invalid"):
        check_schema({"type": "no-such-type"})
    with pytest.raises(ValueError, match="must be an object"):
        check_schema(["not", "a", "schema"])


def test_retry_request_appends_the_failed_answer_and_the_problem():
    original = AiexRequest.ask("give me json", model="m", json_schema=SCHEMA)
    again = retry_request(original, "nope", "the answer is not valid JSON")
    assert [m.role for m in again.messages] == ["user", "assistant", "user"]
    assert again.messages[1].content == "nope"
    assert "not valid JSON" in again.messages[2].content
    assert again.json_schema == SCHEMA and again.model == "m"
    assert original.messages == (original.messages[0],)  # the original is untouched


def test_schema_instruction_carries_the_schema():
    text = schema_instruction(SCHEMA)
    assert '"answer"' in text and "JSON" in text
