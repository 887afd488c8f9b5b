"""Secrets are redacted before text leaves the machine; code that merely mentions them is not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiex_kernel.core.llm import AiexRequest, Message
from aiex_kernel.core.redact import Redaction, redact, redact_request

# Fake secrets of each shape, assembled from parts so no secret-looking literal sits in the source.
OPENAI = "sk-" + "proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
OPENAI_LEGACY = "sk-" + "T3BlbkFJ" + "a1b2c3d4e5f6g7h8i9j0"
ANTHROPIC = "sk-" + "ant-" + "api03-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0"
AWS = "AKIA" + "IOSFODNN7EXAMPLE"
GITHUB = "ghp" + "_" + "aB1cD2eF3gH4iJ5kL6mN7oP8qR9sT0uV1wX2"
GITHUB_PAT = "github" + "_pat_" + "11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789"
SLACK = "xox" + "b-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOp"
GOOGLE = "AI" + "za" + "SyD3x4mPl3K3yF0rT3st1ng0nlyAbCdEfGh"
STRIPE = "sk" + "_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
JWT = ("eyJ" + "hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" + "."
       + "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ" + "."
       + "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
BEARER = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4"
PRIVATE_KEY = ("-----BEGIN RSA " + "PRIVATE KEY-----\n"
               "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi4y5ZnG9Bv0p5Zq\n"
               "kJ1q2w3e4r5t6y7u8i9o0pAaSsDdFfGgHhJjKkLl\n"
               "-----END RSA " + "PRIVATE KEY-----")
OPENSSH_KEY = ("-----BEGIN OPENSSH " + "PRIVATE KEY-----\n"
               "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
               "-----END OPENSSH " + "PRIVATE KEY-----")

# (kind, text holding the secret, the secret itself)
SECRETS = [
    ("openai-key", f"client = OpenAI(api_key={OPENAI})\n", OPENAI),
    ("openai-key", f"key: {OPENAI_LEGACY}", OPENAI_LEGACY),
    ("anthropic-key", f"ANTHROPIC key is {ANTHROPIC} (do not share)", ANTHROPIC),
    ("aws-access-key", f"aws_access_key_id={AWS}", AWS),
    ("aws-access-key", f"the key {AWS} leaked", AWS),
    ("github-token", f"git clone https://github.com/x/y # {GITHUB}", GITHUB),
    ("github-token", f"token {GITHUB_PAT} here", GITHUB_PAT),
    ("slack-token", f"SLACK = {SLACK}", SLACK),
    ("google-api-key", f"maps?key={GOOGLE}&q=1", GOOGLE),
    ("stripe-key", f"stripe.api_key = {STRIPE}", STRIPE),
    ("jwt", f"cookie: session={JWT}; Path=/", JWT),
    ("bearer-token", f"Authorization: Bearer {BEARER}", BEARER),
    ("bearer-token", f"curl -H 'authorization: bearer {BEARER}' https://api", BEARER),
    ("private-key", f"key = '''\n{PRIVATE_KEY}\n'''\n", PRIVATE_KEY),
    ("private-key", f"{OPENSSH_KEY}\n", OPENSSH_KEY),
    ("url-password", "DATABASE = postgres://admin:hunter2pass@db.example.com:5432/app", "hunter2pass"),
    ("url-password", "see https://bob:S3cr3t!@example.org/x", "S3cr3t!"),
    ("assigned-secret", 'password = "hunter2hunter2"\n', "hunter2hunter2"),
    ("assigned-secret", "db_password: 'Tr0ub4dor&3'\n", "Tr0ub4dor&3"),
    ("assigned-secret", 'config = {"api_key": "q8Zr4LmN2pX7vB1c"}', "q8Zr4LmN2pX7vB1c"),
    ("assigned-secret", 'AUTH_TOKEN := "f00dBabe1234"', "f00dBabe1234"),
    ("assigned-secret", "DB_PASSWORD=pr0d-Pa55word\nDEBUG=1\n", "pr0d-Pa55word"),
    ("assigned-secret", "export GITHUB_ACCESS_KEY=abc123xyz789\n", "abc123xyz789"),
]


def test_fixture_shapes():
    assert len(GOOGLE) == 39  # "AIza" and 35 more
    assert len(AWS) == 20


@pytest.mark.parametrize("kind,text,secret", SECRETS, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(SECRETS)])
def test_each_kind_of_secret_is_redacted_and_counted(kind, text, secret):
    r = redact(text)
    assert isinstance(r, Redaction)
    assert secret not in r.text
    assert f"[REDACTED:{kind}]" in r.text
    assert r.found == {kind: 1}
    assert r.count == 1


@pytest.mark.parametrize("kind,text,secret", SECRETS, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(SECRETS)])
def test_only_the_secret_is_replaced(kind, text, secret):
    r = redact(text)
    before, _, after = text.partition(secret)
    assert r.text.startswith(before)
    assert r.text.endswith(after)


def test_exact_replacements():
    assert redact(f"key={AWS}!").text == "key=[REDACTED:aws-access-key]!"
    assert redact("postgres://admin:hunter2pass@db/app").text == "postgres://admin:[REDACTED:url-password]@db/app"
    assert redact('password = "hunter2hunter2"').text == 'password = "[REDACTED:assigned-secret]"'
    assert redact('{"api_key": "q8Zr4LmN2pX7vB1c"}').text == '{"api_key": "[REDACTED:assigned-secret]"}'
    assert redact("DB_PASSWORD=pr0d-Pa55word").text == "DB_PASSWORD=[REDACTED:assigned-secret]"
    assert redact(f"Authorization: Bearer {BEARER}").text == "Authorization: Bearer [REDACTED:bearer-token]"
    assert redact(f"a\n{PRIVATE_KEY}\nb").text == "a\n[REDACTED:private-key]\nb"


def test_anthropic_key_is_not_counted_as_openai():
    r = redact(ANTHROPIC)
    assert r.found == {"anthropic-key": 1}
    assert r.text == "[REDACTED:anthropic-key]"


def test_a_key_in_a_quoted_assignment_is_counted_once():
    r = redact(f'OPENAI_API_KEY = "{OPENAI}"')
    assert r.text == 'OPENAI_API_KEY = "[REDACTED:openai-key]"'
    assert r.found == {"openai-key": 1}


def test_many_secrets_are_all_counted():
    text = "\n".join(t for _, t, _ in SECRETS)
    r = redact(text)
    for _, _, secret in SECRETS:
        assert secret not in r.text
    want: dict[str, int] = {}
    for kind, _, _ in SECRETS:
        want[kind] = want.get(kind, 0) + 1
    assert r.found == want
    assert r.count == len(SECRETS)


def test_the_same_secret_twice_counts_twice():
    r = redact(f"{OPENAI} and again {OPENAI}")
    assert r.text == "[REDACTED:openai-key] and again [REDACTED:openai-key]"
    assert r.found == {"openai-key": 2}


MENTIONS = [
    "token = self.next_token()",
    'secret = os.environ["SECRET"]',
    "password: ${DB_PASS}",
    "DB_PASSWORD=changeme",
    'password = "${DB_PASS}"',
    'api_key = "<your-key>"',
    "password = 'xxxx'",
    'token = "none"',
    "API_TOKEN={{ vault_token }}",
    "SECRET_KEY=$SECRET_KEY",
    "def check_password(password: str) -> bool:\n    return hash(password) == STORED\n",
    "auth = request.headers.get('Authorization')",
    "if token is None: raise AuthError('missing token')",
    "AUTH=abc",  # shorter than four characters
    "# Set OPENAI_API_KEY in your environment; keys look like sk-...",
    "Authorization: Bearer <token>",
    "https://example.com/path?user=me",
    "git@github.com:owner/repo.git",
]


PLAIN = [
    "",
    "def parse_config(path):\n    with open(path) as f:\n        return json.load(f)\n",
    "The quick brown fox jumps over the lazy dog.\n\tTabs, unicode: é ü 中文 🙂, and \r\n line ends.",
    "class HTTPServer:\n    def __init__(self, host='localhost', port=8080):\n        self.port = port\n",
    "SELECT * FROM users WHERE id = 42;",
    "x = {'name': \"value\", 'count': 3}  # a dict",
    "https://docs.python.org/3/library/re.html#re.sub",
]


@pytest.mark.parametrize("text", MENTIONS + PLAIN)
def test_code_that_mentions_secrets_and_plain_text_are_untouched(text):
    r = redact(text)
    assert r.text.encode("utf-8") == text.encode("utf-8")
    assert r.found == {} and r.count == 0


@settings(max_examples=150)
@given(st.lists(st.sampled_from(["def", "parse", "config", "self", "x", "return", "(", ")", ":", "=", " ", "\n",
                                 "42", "\t", ".", "#", "é", "HTTPServer", "ks", "-", "_", "key", "a.b"]),
                max_size=60).map("".join))
def test_random_plain_code_is_untouched(text):
    r = redact(text)
    assert r.text == text and r.found == {}


@pytest.mark.parametrize("text", [t for _, t, _ in SECRETS] + ["\n".join(t for _, t, _ in SECRETS)])
def test_redacting_twice_changes_nothing_more(text):
    once = redact(text)
    twice = redact(once.text)
    assert twice.text == once.text


@pytest.mark.parametrize("text", [t for _, t, _ in SECRETS])
def test_redacted_text_has_no_secrets_left(text):
    assert redact(redact(text).text).found == {}


def test_redacted_url_password_is_not_found_again():
    once = redact("postgres://admin:hunter2pass@db.example.com/app")
    assert once.found == {"url-password": 1}
    assert redact(once.text).found == {}


# ---------------------------------------------------------------------------- redact_request


def test_redact_request_cleans_system_and_every_message():
    request = AiexRequest(
        messages=(Message("user", f"my key is {OPENAI}, why does it fail?"),
                  Message("assistant", "Never paste keys. What does the config say?"),
                  Message("user", f'config: password = "hunter2hunter2" and {AWS}')),
        model="gpt-4o",
        system=f"You are helpful. Internal token: {GITHUB}",
        max_tokens=77,
        temperature=0.2,
        stop=("END",),
    )
    snapshot = (request.system, tuple((m.role, m.content) for m in request.messages))
    cleaned, found = redact_request(request)
    assert found == {"openai-key": 1, "github-token": 1, "assigned-secret": 1, "aws-access-key": 1}
    assert cleaned.system == "You are helpful. Internal token: [REDACTED:github-token]"
    assert [m.role for m in cleaned.messages] == ["user", "assistant", "user"]
    assert [m.content for m in cleaned.messages] == [
        "my key is [REDACTED:openai-key], why does it fail?",
        "Never paste keys. What does the config say?",
        'config: password = "[REDACTED:assigned-secret]" and [REDACTED:aws-access-key]',
    ]
    assert all(isinstance(m, Message) for m in cleaned.messages)
    assert isinstance(cleaned.messages, tuple)
    # the rest of the request is kept
    assert (cleaned.model, cleaned.max_tokens, cleaned.temperature, cleaned.stop) == ("gpt-4o", 77, 0.2, ("END",))
    # the original is unchanged
    assert (request.system, tuple((m.role, m.content) for m in request.messages)) == snapshot
    assert OPENAI in request.messages[0].content and GITHUB in request.system


def test_redact_request_merges_counts_across_messages():
    request = AiexRequest(messages=(Message("user", OPENAI), Message("user", f"{OPENAI} {OPENAI}"),
                                    Message("user", f"{STRIPE}")),
                          system=f"also {OPENAI}")
    cleaned, found = redact_request(request)
    assert found == {"openai-key": 4, "stripe-key": 1}
    assert all(OPENAI not in m.content for m in cleaned.messages)
    assert OPENAI not in cleaned.system


def test_redact_request_without_secrets_or_system():
    request = AiexRequest.ask("How does parse_config work?", model="m")
    cleaned, found = redact_request(request)
    assert found == {}
    assert cleaned == request
    assert cleaned.system is None


def test_redact_request_keeps_empty_messages():
    request = AiexRequest(messages=(Message("user", ""), Message("assistant", "ok")), system="")
    cleaned, found = redact_request(request)
    assert found == {}
    assert cleaned.system == ""
    assert [m.content for m in cleaned.messages] == ["", "ok"]
