"""A tiny Humanloop streaming client: posts a chat with ``"stream": true`` and reads the events the
way the Python SDK does (one ``data: <json>`` line per event, ``obj["data"][0]``).

It exits non-zero if the stream is not what the contract promises, so a clean fuzz run shows the
fuzzer's streams are well framed. Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request

BASE = os.environ["SPECFAKE_HUMANLOOP_URL"]
KEY = os.environ.get("SPECFAKE_API_KEY", "key")


def main() -> None:
    body = {
        "project": "fuzz",
        "messages": [{"role": "user", "content": "hi"}],
        "model_config": {"model": "gpt-4o"},
        "stream": True,
    }
    request = urllib.request.Request(
        BASE + "/chat",
        data=json.dumps(body).encode(),
        headers={"x-api-key": KEY, "content-type": "application/json", "accept": "application/json"},
        method="POST",
    )
    events = 0
    with urllib.request.urlopen(request, timeout=10) as response:
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            sys.exit("not an event stream")
        for raw in response.read().decode().split("\n"):
            if not raw:
                continue
            if not raw.startswith("data: "):
                sys.exit(f"not an SSE data line: {raw[:80]!r}")
            chunk = json.loads(raw[len("data: ") :])
            if not isinstance(chunk["data"][0]["output"], str):  # what the SDK reads
                sys.exit("output is not text")
            events += 1
    if not events:
        sys.exit("empty stream")
    print(f"{events} events")


if __name__ == "__main__":
    main()
