"""The .prompt file format of model configs (serialize, deserialize, export).

YAML front matter with the parameters, then the template: the prompt text as it is, or chat
messages as ``<role>`` blocks. Anything a block cannot carry stays in the front matter.

Public helpers other modules use:

- ``to_prompt_file(config) -> str``: a config response as a .prompt file.
- ``from_prompt_file(text, loc) -> dict``: the config request it was made from (422 at ``loc``).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from specfake.behaviours.humanloop.exceptions import unprocessable

_BLOCK = re.compile(r"<(system|user|assistant|tool)>\n(.*?)\n</\1>", re.S)
_PROMPT_KEYS = ("model", "provider", "endpoint", "max_tokens", "temperature", "top_p", "stop",
                "presence_penalty", "frequency_penalty", "seed", "response_format", "other", "name",
                "description", "tools")  # fmt: skip


def _tool_request(tool: dict[str, Any]) -> dict[str, Any]:
    """A config's tool as a request would give it: inline tools lose their generated id."""
    keep_id = tool.get("source") == "organization"
    return {k: v for k, v in tool.items() if v is not None and (k != "id" or keep_id)}


def to_prompt_file(config: dict[str, Any]) -> str:
    front: dict[str, Any] = {k: config.get(k) for k in _PROMPT_KEYS if config.get(k) not in (None, {}, [])}
    if front.get("tools"):
        front["tools"] = [_tool_request(t) for t in front["tools"]]
    chat = config.get("chat_template")
    body = ""
    simple_chat = chat is not None and all(
        set(m) <= {"role", "content"}
        and isinstance(m.get("content"), str)
        and f"</{m['role']}>" not in m["content"]
        for m in chat
    )
    if chat is not None and simple_chat:
        body = "\n\n".join(f"<{m['role']}>\n{m['content']}\n</{m['role']}>" for m in chat)
        front["template"] = "chat"
    elif chat is not None:
        front["chat_template"] = chat
    elif config.get("prompt_template") is not None:
        body = config["prompt_template"]
        front["template"] = "prompt"
    header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True)
    return f"---\n{header}---\n{body}"


def from_prompt_file(text: str, loc: list[Any]) -> dict[str, Any]:
    """A .prompt file back to the config request it was made from (422 naming ``loc`` if broken)."""
    match = re.fullmatch(r"---\n(.*?)\n?---\n?(.*)", text, re.S)
    try:
        front = yaml.safe_load(match.group(1)) if match else None
    except yaml.YAMLError:
        front = None
    if match is None or not isinstance(front, dict) or not isinstance(front.get("model"), str):
        raise unprocessable(
            loc, "Not a .prompt file: expected YAML front matter with a model, then the template"
        )
    body = match.group(2)
    template = front.pop("template", None)
    if template == "chat":
        front["chat_template"] = [{"role": r, "content": c} for r, c in _BLOCK.findall(body)]
    elif template == "prompt":
        front["prompt_template"] = body
    return front
