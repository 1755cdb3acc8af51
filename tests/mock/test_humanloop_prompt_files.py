"""The .prompt format is Humanloop's own: YAML front matter, then ``<system>``/``<user>``/
``<assistant>`` blocks for chat or the plain prompt for completion. Files written by hand (indented
or not, with blank lines, no key naming the template's kind) read back with their messages, and
whatever the format carries survives a round trip."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from specfake.app import create_app
from specfake.behaviours.humanloop.prompt_files import from_prompt_file, to_prompt_file
from specfake.errors import RequestValidationError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

LOC = ["body", "config"]
KEY = {"X-API-KEY": "k"}

# Files as Humanloop's docs and SDK tests write them (examples of our own, in that format).
INDENTED_CHAT = """---
model: gpt-4o
temperature: 0.7
max_tokens: -1
top_p: 1.0
presence_penalty: 0.0
frequency_penalty: 0.0
provider: openai
endpoint: chat
tools: []
---

<system>
  You are a terse assistant.
  Answer in {{language}}.
</system>

<user>
  What is the capital of {{country}}?
</user>

<assistant>
  Paris.
</assistant>
"""
UNINDENTED_CHAT = """

---
model: gpt-4o
endpoint: chat
---


<system>
You answer questions about geography,
in one line.
</system>
<user>Where is Lima?</user>
"""
COMPLETION = """---
model: claude-2
temperature: 0.7
max_tokens: 256
top_p: 1.0
provider: anthropic
endpoint: complete
---
Finish the sentence.

Context: {{context}}

{{sentence}}
"""
TOOLS = """---
model: gpt-4
temperature: 0.7
provider: openai
endpoint: chat
tools: [
  {
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
  }
]
---
<system>
  You report the weather.
</system>

<user>
  <text>
    What is in this picture?
  </text>
  <image url="https://example.com/a.png" />
</user>

<assistant>
  <tool name="get_weather" id="call_1">
    {
      "city": "Oslo"
    }
  </tool>
</assistant>

<tool name="get_weather" id="call_1">
  Snow.
</tool>
"""


def test_indented_blocks_with_no_template_key_read_back_as_messages() -> None:
    config = from_prompt_file(INDENTED_CHAT, LOC)
    assert config["chat_template"] == [
        {"role": "system", "content": "You are a terse assistant.\nAnswer in {{language}}."},
        {"role": "user", "content": "What is the capital of {{country}}?"},
        {"role": "assistant", "content": "Paris."},
    ]
    assert config["model"] == "gpt-4o" and config["temperature"] == 0.7 and config["endpoint"] == "chat"
    assert "tools" not in config and "template" not in config  # an empty tools list is no tools


def test_leading_blank_lines_unindented_and_one_line_blocks_are_tolerated() -> None:
    config = from_prompt_file(UNINDENTED_CHAT, LOC)
    assert config["chat_template"] == [
        {"role": "system", "content": "You answer questions about geography,\nin one line."},
        {"role": "user", "content": "Where is Lima?"},
    ]


def test_without_an_endpoint_the_blocks_decide_chat_or_completion() -> None:
    chat = from_prompt_file("---\nmodel: gpt-4o\n---\n<user>\n  Hi\n</user>\n", LOC)
    assert chat["chat_template"] == [{"role": "user", "content": "Hi"}] and "prompt_template" not in chat
    plain = from_prompt_file("---\nmodel: gpt-4o\n---\nSay <b>hi</b> to {{name}}", LOC)
    assert plain["prompt_template"] == "Say <b>hi</b> to {{name}}" and "chat_template" not in plain
    # The endpoint wins over what the body looks like.
    forced = from_prompt_file("---\nmodel: gpt-4o\nendpoint: complete\n---\n<user>\n  Hi\n</user>\n", LOC)
    assert forced["prompt_template"] == "<user>\n  Hi\n</user>\n"


def test_a_completion_keeps_its_prompt_as_written() -> None:
    config = from_prompt_file(COMPLETION, LOC)
    assert config["prompt_template"] == "Finish the sentence.\n\nContext: {{context}}\n\n{{sentence}}\n"
    assert config["provider"] == "anthropic" and config["max_tokens"] == 256 and "chat_template" not in config


def test_tools_tool_calls_tool_answers_and_image_parts() -> None:
    config = from_prompt_file(TOOLS, LOC)
    assert config["tools"][0]["name"] == "get_weather"
    assert config["tools"][0]["parameters"]["required"] == ["city"]
    _, user, assistant, tool = config["chat_template"]
    assert user["content"] == [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]
    (call,) = assistant["tool_calls"]
    arguments = '{\n  "city": "Oslo"\n}'
    assert call == {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": arguments},
    }
    assert tool == {"role": "tool", "content": "Snow.", "name": "get_weather", "tool_call_id": "call_1"}
    assert from_prompt_file(to_prompt_file(config), LOC) == config


def test_serialize_writes_only_the_formats_keys_and_tag_blocks() -> None:
    config = {
        "model": "gpt-4o", "name": "my-config", "description": "not in the format", "temperature": 0.5,
        "other": {}, "stop": None, "endpoint": "chat", "tools": None,
        "chat_template": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{q}}"}],
    }  # fmt: skip
    text = to_prompt_file(config)
    assert text == (
        "---\nmodel: gpt-4o\ntemperature: 0.5\nendpoint: chat\n---\n"
        "<system>\n  Be brief.\n</system>\n\n<user>\n  {{q}}\n</user>\n"
    )
    completion = to_prompt_file({"model": "gpt-3.5", "prompt_template": "Summary:\n"})
    assert completion == "---\nmodel: gpt-3.5\nendpoint: complete\n---\nSummary:\n"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not a prompt file", "front matter"),
        ("---\nmodel: gpt-4o\n<user>\n  hi\n</user>\n", "never closed"),
        ("---\nmodel: [gpt\n---\nhi", "not valid YAML"),
        ("---\n- a list\n---\nhi", "mapping"),
        ("---\ntemperature: 1\n---\nhi", "needs a model"),
        ("---\nmodel: gpt-4o\ntemperature: hot\n---\nhi", "temperature"),
        ("---\nmodel: gpt-4o\nmax_tokens: 1.5\n---\nhi", "max_tokens"),
        ("---\nmodel: gpt-4o\nprovider: acme\n---\nhi", "provider"),
        ("---\nmodel: gpt-4o\nendpoint: chat\n---\n<user>\n  hi\n", "<user> is never closed"),
        ("---\nmodel: gpt-4o\nendpoint: chat\n---\n<user>\n  hi\n</user>\nstray text\n", "line 8"),
        ("---\nmodel: gpt-4o\nendpoint: chat\n---\n<human>\n  hi\n</human>\n", "<system>"),
    ],
)
def test_a_broken_file_is_a_422_naming_the_field(text: str, says: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        from_prompt_file(text, LOC)
    (error,) = caught.value.errors
    assert list(error.loc) == LOC and says in error.msg


# --- round trip over generated configs ------------------------------------------------------------

# Message text as people write it: any characters but carriage returns (the format is line based
# and reads CRLF files), including blank lines, angle brackets and closing tags; the format does
# not carry a message's surrounding whitespace, so generated text has none.
_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\r")
_LINE = st.one_of(
    st.text(_CHARS, max_size=20),
    st.sampled_from(
        ["", "   ", "</user>", "</system>", "<assistant>", "  </assistant>", "<tool>", "{{x}}", "é 日本"]
    ),
)
TEXT = st.lists(_LINE, min_size=1, max_size=6).map("\n".join).map(str.strip)
ROLE = st.sampled_from(["system", "user", "assistant"])
MESSAGE = st.fixed_dictionaries({"role": ROLE, "content": TEXT})
NUMBER = st.one_of(st.integers(-5, 5), st.floats(-2, 2, allow_nan=False).map(lambda f: round(f, 3)))
PARAMETERS = st.fixed_dictionaries(
    {"model": st.sampled_from(["gpt-4o", "claude-2", "yes", "3.5", "gpt-4o:ft-org"])},
    optional={
        "temperature": NUMBER,
        "top_p": NUMBER,
        "presence_penalty": NUMBER,
        "frequency_penalty": NUMBER,
        "max_tokens": st.integers(-1, 4096),
        "seed": st.integers(0, 2**31),
        "stop": st.one_of(
            st.text(_CHARS, min_size=1, max_size=5),
            st.lists(st.text(_CHARS, min_size=1), min_size=1, max_size=3),
        ),
        "provider": st.sampled_from(["openai", "anthropic", "mock"]),
    },
)


def _first_line_written(prompt: str) -> bool:
    """The format reads a completion prompt from its first written line: blank lines before it
    are layout, not prompt."""
    return not prompt or bool(prompt.split("\n", 1)[0].strip())


PROMPT = st.text(_CHARS, max_size=80).filter(_first_line_written)
CHAT = st.builds(
    lambda p, m: {**p, "endpoint": "chat", "chat_template": m},
    PARAMETERS,
    st.lists(MESSAGE, min_size=1, max_size=4),
)
COMPLETE = st.builds(lambda p, t: {**p, "endpoint": "complete", "prompt_template": t}, PARAMETERS, PROMPT)


@settings(max_examples=300, deadline=None)
@given(st.one_of(CHAT, COMPLETE))
def test_deserialize_of_serialize_is_the_config(config: dict[str, Any]) -> None:
    text = to_prompt_file(config)
    assert "template:" not in text.split("\n---\n", 1)[0]
    assert from_prompt_file(text, LOC) == config


@settings(max_examples=100, deadline=None)
@given(CHAT)
def test_chat_files_are_tag_blocks_in_message_order(config: dict[str, Any]) -> None:
    header, body = to_prompt_file(config)[4:].split("\n---\n", 1)
    assert set(yaml.safe_load(header)) <= set(config) - {"chat_template"}
    openings = [line for line in body.split("\n") if line in ("<system>", "<user>", "<assistant>")]
    assert openings == [f"<{m['role']}>" for m in config["chat_template"]]


# --- through the API ------------------------------------------------------------------------------


def test_the_endpoints_speak_the_real_format() -> None:
    client = TestClient(create_app(["humanloop"]))
    url = "/humanloop/v4/model-configs"
    read = client.post(f"{url}/deserialize", json={"config": INDENTED_CHAT}, headers=KEY)
    assert read.status_code == 200, read.text
    back = read.json()
    assert back["chat_template"][0]["content"].startswith("You are a terse assistant.")
    assert back["endpoint"] == "chat" and back["id"].startswith("config_")
    request = {"model": "gpt-4o", "chat_template": [{"role": "user", "content": "Hi {{name}}"}]}
    text = client.post(f"{url}/serialize", json=request, headers=KEY).json()
    assert "template: chat" not in text and "<user>\n  Hi {{name}}\n</user>" in text
    again = client.post(f"{url}/deserialize", json={"config": text}, headers=KEY).json()
    assert again["chat_template"] == request["chat_template"]
    broken = client.post(f"{url}/deserialize", json={"config": "---\nmodel: x\n---\n<user>\n"}, headers=KEY)
    assert broken.status_code == 422
    assert broken.json()["detail"][0]["loc"] == LOC
