"""A tiny SGP client with a planted parsing bug, for ``check client --fuzz-responses``.

It lists evaluations, opens the first one and prints its name. The planted bug: ``items[0]``
without a look at the length, while the contract allows an empty page. ``--ascii-name`` plants a
second one instead: the name is encoded as ASCII, which any non-ASCII name breaks. ``--fixed`` is
the client written against the contract: an empty page, or an item without an id (the contract
lets ``id`` be ``""``), is not an error. Standard library only, so a run costs little more than
Python's start-up.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from typing import Any

BASE = os.environ["SPECFAKE_SGP_URL"]
KEY = os.environ.get("SPECFAKE_API_KEY", "key")


def get(path: str) -> Any:
    request = urllib.request.Request(BASE + path, headers={"x-api-key": KEY, "accept": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def main(mode: str) -> None:
    page = get("/v4/evaluations?page=1&limit=10")
    items = page["items"]
    if mode != "buggy" and not items:
        print("no evaluations")
        return
    first = items[0]  # the planted bug: an empty page is contract-valid
    if not first["id"]:
        print("the first evaluation has no id")
        return
    evaluation = get(f"/v4/evaluations/{urllib.request.quote(first['id'], safe='')}")
    name = evaluation["name"]
    if mode == "ascii-name":
        name = name.encode("ascii").decode()  # the second planted bug: names are any text
    print(f"first evaluation: {len(name)}-character name, status {evaluation['status']}")


if __name__ == "__main__":
    flags = sys.argv[1:]
    main("fixed" if "--fixed" in flags else "ascii-name" if "--ascii-name" in flags else "buggy")
