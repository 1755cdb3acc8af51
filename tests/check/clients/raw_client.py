"""A hand-written Humanloop client (plain httpx, no SDK) with one planted mistake, for
``specfake check client``: ``wrong-type``, ``no-key``, ``misspelled`` or ``none``."""

from __future__ import annotations

import os
import sys

import httpx

MISTAKES = ("none", "wrong-type", "no-key", "misspelled")


def main(kind: str) -> int:
    key = {"X-API-KEY": os.environ["SPECFAKE_API_KEY"]}
    with httpx.Client(base_url=os.environ["SPECFAKE_HUMANLOOP_URL"], timeout=10) as http:
        project = http.post("/projects", json={"name": "raw-client"}, headers=key).json()
        if kind == "wrong-type":
            # `num_samples` is an integer; a string slips through untyped code paths.
            http.post(
                "/chat",
                headers=key,
                json={
                    "project_id": project["id"],
                    "messages": [{"role": "user", "content": "hi"}],
                    "model_config": {"model": "gpt-4o"},
                    "num_samples": "two",
                },
            )
        elif kind == "no-key":
            http.get("/projects", params={"size": 5})
        elif kind == "misspelled":
            # FastAPI (and the fake) ignore unknown fields: `temprature` silently does nothing.
            answer = http.post(
                "/chat",
                headers=key,
                json={
                    "project_id": project["id"],
                    "messages": [{"role": "user", "content": "hi"}],
                    "model_config": {"model": "gpt-4o", "temprature": 0.2},
                },
            )
            answer.raise_for_status()
        else:
            http.get("/projects", params={"size": 5}, headers=key).raise_for_status()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "none"))
