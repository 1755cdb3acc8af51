"""The .prompt file format of model configs (serialize, deserialize, export).

Humanloop's own format (its docs' ".prompt files" reference, and the files its SDKs' tests write):
YAML front matter between ``---`` lines with the model, the endpoint, the sampling parameters, the
provider and the tools (a JSON list), then the template. For a chat config the template is one
``<system>``/``<user>``/``<assistant>`` block per message, its content indented inside the tags; an
assistant's tool calls are ``<tool name=".." id="..">arguments</tool>`` inside its block, a tool's
answer a top-level ``<tool name=".." id="..">`` block, and a user's parts ``<text>``/``<image url=..
/>``. For a completion config the template is the prompt text as it is. The format has no key
naming the template's kind: the ``endpoint`` says it, else the blocks do.

Reading is line based, so arbitrary message text survives: a block closes only at its closing tag
on a line of its own, indented no deeper than the opening tag, and content is written one level
deeper; the content's common indentation and the blank lines around it are not part of it.

Public helpers other modules use:

- ``to_prompt_file(config) -> str``: a config response as a .prompt file.
- ``from_prompt_file(text, loc) -> dict``: the config request it describes (422 at ``loc``).
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from specfake.behaviours.humanloop.exceptions import unprocessable

INDENT = "  "
ROLES = ("system", "user", "assistant", "tool")
PROVIDERS = ("openai", "openai_azure", "ai21", "mock", "anthropic", "langchain", "cohere", "replicate",
             "google", "groq")  # fmt: skip
ENDPOINTS = ("complete", "chat", "edit")
# The front matter's keys, in the order Humanloop writes them; ``other``/``response_format`` are
# config parameters too, written only when set.
_NUMBERS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")
_INTEGERS = ("max_tokens", "seed")
_FRONT_KEYS = ("model", "temperature", "max_tokens", "top_p", "stop", "presence_penalty",
               "frequency_penalty", "seed", "response_format", "other", "provider", "endpoint")  # fmt: skip

_OPEN = re.compile(
    r"(?P<indent>[ \t]*)<(?P<tag>[A-Za-z][\w-]*)"
    r'(?P<attrs>(?:\s+[\w-]+\s*=\s*"[^"]*")*)\s*(?P<empty>/?)>(?P<rest>.*)'
)
_ATTR = re.compile(r'([\w-]+)\s*=\s*"([^"]*)"')


_BREAKS = frozenset("\n\r\x85\u2028\u2029")  # what YAML reads as line breaks


class _Dumper(yaml.SafeDumper):
    """YAML as Humanloop writes it: a string with line breaks double-quoted (escaped) on one line;
    written plain or single-quoted, YAML would fold them into spaces."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style='"' if _BREAKS.intersection(value) else None
    )


_Dumper.add_representer(str, _string)


class _Broken(Exception):
    """A .prompt file that cannot be read; its message says where."""


# --- writing -------------------------------------------------------------------------------------


def _indent(text: str, depth: int = 1) -> list[str]:
    """``text`` as lines one level deeper (empty lines stay empty, as editors keep them)."""
    pad = INDENT * depth
    return [pad + line if line else "" for line in text.split("\n")] if text else []


def _attrs(**values: Any) -> str:
    return "".join(f' {k}="{html.escape(str(v), quote=True)}"' for k, v in values.items() if v is not None)


def _element(tag: str, body: list[str], depth: int = 0, **attrs: Any) -> list[str]:
    pad = INDENT * depth
    return [f"{pad}<{tag}{_attrs(**attrs)}>", *body, f"{pad}</{tag}>"]


def _message(message: dict[str, Any]) -> list[str]:
    role = message.get("role")
    content = message.get("content")
    if role == "tool":
        text = content if isinstance(content, str) else ""
        return _element("tool", _indent(text), name=message.get("name"), id=message.get("tool_call_id"))
    calls = message.get("tool_calls") or []
    if role == "assistant" and calls:
        body: list[str] = []
        for call in calls:
            function = call.get("function") or {}
            args = function.get("arguments") or ""
            body += _element("tool", _indent(args, 2), 1, name=function.get("name"), id=call.get("id"))
        return _element("assistant", body)
    if isinstance(content, list):
        body = []
        for part in content:
            if part.get("type") == "image_url":
                image = part.get("image_url") or {}
                body.append(f"{INDENT}<image{_attrs(url=image.get('url'), detail=image.get('detail'))} />")
            else:
                body += _element("text", _indent(str(part.get("text") or ""), 2), 1)
        return _element(str(role), body)
    return _element(str(role), _indent(content if isinstance(content, str) else ""))


def _tool_request(tool: dict[str, Any]) -> dict[str, Any]:
    """A config's tool as a request gives it: inline tools lose their generated id and source."""
    linked = tool.get("source") == "organization"
    return {k: v for k, v in tool.items() if v is not None and (linked or k not in ("id", "source"))}


def _tools_yaml(tools: list[dict[str, Any]]) -> str:
    """The tools as the JSON list the format writes, when YAML reads that JSON back exactly."""
    text = json.dumps(tools, indent=2, ensure_ascii=False)
    try:
        if yaml.safe_load(text) == tools:
            return f"tools: {text}\n"
    except yaml.YAMLError:
        pass
    return yaml.dump({"tools": tools}, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def to_prompt_file(config: dict[str, Any]) -> str:
    """A config response as a .prompt file: parameters set on it, then its template."""
    front = {k: config[k] for k in _FRONT_KEYS if config.get(k) not in (None, {}, [])}
    chat = config.get("chat_template")
    if "endpoint" not in front:
        front["endpoint"] = "chat" if chat is not None else "complete"
    header = yaml.dump(front, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 30)
    if config.get("tools"):
        header += _tools_yaml([_tool_request(t) for t in config["tools"]])
    if front["endpoint"] == "chat":
        body = "\n\n".join("\n".join(_message(m)) for m in chat or []) + ("\n" if chat else "")
    else:
        body = config.get("prompt_template") or ""
    return f"---\n{header}---\n{body}"


# --- reading -------------------------------------------------------------------------------------


@dataclass
class _Element:
    tag: str
    attrs: dict[str, str]
    lines: list[str]  # what is between the tags, as written
    line: int  # 1-based, in the file


def _depth(line: str) -> int:
    return len(line) - len(line.lstrip())


def _elements(lines: list[str], first: int, allowed: tuple[str, ...]) -> list[_Element]:
    """The elements ``lines`` (line ``first`` of the file onwards) hold, blank lines between them."""
    out: list[_Element] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        match = _OPEN.fullmatch(line.rstrip())
        where = first + i
        if match is None or match["tag"] not in allowed:
            tags = ", ".join(f"<{t}>" for t in allowed)
            raise _Broken(f"line {where}: expected one of {tags}, found {line.strip()[:40]!r}")
        tag, rest = match["tag"], match["rest"]
        attrs = {k: html.unescape(v) for k, v in _ATTR.findall(match["attrs"])}
        close = f"</{tag}>"
        if match["empty"]:
            if rest.strip():
                raise _Broken(f"line {where}: text after <{tag} />")
            out.append(_Element(tag, attrs, [], where))
            i += 1
            continue
        if rest.rstrip().endswith(close):  # <user>Hi</user> on one line
            out.append(_Element(tag, attrs, [rest.rstrip()[: -len(close)]], where))
            i += 1
            continue
        depth = len(match["indent"])
        end = next(
            (j for j in range(i + 1, len(lines)) if lines[j].strip() == close and _depth(lines[j]) <= depth),
            None,
        )
        if end is None:
            raise _Broken(f"line {where}: <{tag}> is never closed (expected {close} on a line of its own)")
        out.append(_Element(tag, attrs, ([rest] if rest.strip() else []) + lines[i + 1 : end], where))
        i = end + 1
    return out


def _dedent(lines: list[str]) -> list[str]:
    """``lines`` without the blank lines around them and without their common indentation."""
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    depth = min((_depth(line) for line in lines if line.strip()), default=0)
    out = []
    for line in lines:
        cut = min(depth, _depth(line))
        out.append(line[cut:])
    return out


def _text(element: _Element) -> str:
    return "\n".join(_dedent(element.lines)).strip()


def _children(element: _Element, allowed: tuple[str, ...]) -> list[_Element] | None:
    """The nested elements of a block made only of them, else None (the block is text)."""
    lines = _dedent(element.lines)
    if not lines or _OPEN.fullmatch(lines[0].rstrip()) is None:
        return None
    try:
        return _elements(lines, element.line + 1, allowed)
    except _Broken:
        return None


def _read_message(element: _Element) -> dict[str, Any]:
    if element.tag == "tool":
        message: dict[str, Any] = {"role": "tool", "content": _text(element)}
        if "name" in element.attrs:
            message["name"] = element.attrs["name"]
        if "id" in element.attrs:
            message["tool_call_id"] = element.attrs["id"]
        return message
    if element.tag == "assistant":
        calls = _children(element, ("tool",))
        if calls:
            return {
                "role": "assistant",
                "tool_calls": [
                    {"id": c.attrs.get("id", ""), "type": "function",
                     "function": {"name": c.attrs.get("name", ""), "arguments": _text(c)}}
                    for c in calls
                ],
            }  # fmt: skip
    if element.tag == "user":
        parts = _children(element, ("text", "image"))
        if parts:
            content: list[dict[str, Any]] = []
            for part in parts:
                if part.tag == "text":
                    content.append({"type": "text", "text": _text(part)})
                else:
                    image = {"url": part.attrs.get("url", "")}
                    if "detail" in part.attrs:
                        image["detail"] = part.attrs["detail"]
                    content.append({"type": "image_url", "image_url": image})
            return {"role": "user", "content": content}
    return {"role": element.tag, "content": _text(element)}


def _check_front(front: dict[str, Any]) -> dict[str, Any]:
    """The front matter's config parameters, each of the type a config request needs."""
    if not isinstance(front.get("model"), str) or not front["model"]:
        raise _Broken("the front matter needs a model (a string)")
    out: dict[str, Any] = {"model": front["model"]}
    for key, value in front.items():
        if value is None or key == "model":
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if key in _NUMBERS and not number:
            raise _Broken(f"{key}: expected a number, got {value!r}")
        if key in _INTEGERS and (not isinstance(value, int) or isinstance(value, bool)):
            raise _Broken(f"{key}: expected an integer, got {value!r}")
        if key == "stop" and not (
            isinstance(value, str) or (isinstance(value, list) and all(isinstance(s, str) for s in value))
        ):
            raise _Broken(f"stop: expected a string or a list of strings, got {value!r}")
        if key == "provider" and value not in PROVIDERS:
            raise _Broken(f"provider: expected one of {', '.join(PROVIDERS)}, got {value!r}")
        if key == "endpoint" and value not in ENDPOINTS:
            raise _Broken(f"endpoint: expected one of {', '.join(ENDPOINTS)}, got {value!r}")
        if key == "other" and not isinstance(value, dict):
            raise _Broken(f"other: expected a mapping, got {value!r}")
        if key == "response_format" and not (isinstance(value, dict) and value.get("type") == "json_object"):
            raise _Broken(f"response_format: expected {{type: json_object}}, got {value!r}")
        if key == "tools" and not (
            isinstance(value, list)
            and all(isinstance(t, dict) and isinstance(t.get("name"), str) for t in value)
        ):
            raise _Broken("tools: expected a list of tools, each with a name")
        if key in _FRONT_KEYS or (key == "tools" and value):
            out[key] = value
    return out


def _parse(text: str) -> dict[str, Any]:
    lines = text.replace("\r\n", "\n").split("\n")
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    if start == len(lines) or lines[start].rstrip() != "---":
        raise _Broken("expected YAML front matter between '---' lines, then the template")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].rstrip() == "---"), None)
    if end is None:
        raise _Broken(f"the front matter opened at line {start + 1} is never closed by a '---' line")
    try:
        front = yaml.safe_load("\n".join(lines[start + 1 : end]))
    except yaml.YAMLError as exc:
        raise _Broken(f"the front matter is not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(front, dict):
        raise _Broken("the front matter must be a YAML mapping of the config's parameters")
    config = _check_front(front)
    body = lines[end + 1 :]
    first = end + 2  # the body's first line, 1-based
    while body and not body[0].strip():
        body, first = body[1:], first + 1
    endpoint = config.get("endpoint")
    if endpoint is None:
        opened = _OPEN.fullmatch(body[0].rstrip()) if body else None
        endpoint = "chat" if opened is not None and opened["tag"] in ROLES else "complete"
    if endpoint == "chat":
        config["chat_template"] = [_read_message(e) for e in _elements(body, first, ROLES)]
    else:
        config["prompt_template"] = "\n".join(body)
    return config


def from_prompt_file(text: str, loc: list[Any]) -> dict[str, Any]:
    """A .prompt file back to the config request it describes (a 422 naming ``loc`` if broken)."""
    try:
        return _parse(text)
    except _Broken as exc:
        raise unprocessable(loc, f"Not a valid .prompt file: {exc}") from None
