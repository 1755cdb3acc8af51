"""The yardstick: bare Starlette doing the least a JSON API can (parse, store, answer).

specfake's figures are printed as ratios to this app, run by the same uvicorn on the same core in
the same bench run, so machine speed cancels out.
"""

from __future__ import annotations

import itertools

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ITEMS: dict[str, dict[str, object]] = {"seed": {"id": "seed", "name": "first"}}
_ids = itertools.count()


async def get_item(request: Request) -> JSONResponse:
    item = ITEMS.get(request.path_params["item_id"])
    if item is None:
        return JSONResponse({"detail": "Not Found"}, 404)
    return JSONResponse(item)


async def create_item(request: Request) -> JSONResponse:
    body = await request.json()
    item = {**body, "id": f"it_{next(_ids)}"}
    ITEMS[item["id"]] = item
    return JSONResponse(item, status_code=201)


app = Starlette(routes=[Route("/items/{item_id}", get_item), Route("/items", create_item, methods=["POST"])])
