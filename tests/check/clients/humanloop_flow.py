"""A realistic Humanloop client (official Python SDK, humanloop==0.7.30) for ``specfake check client``.

Reads the fake's base URL and key from the environment the checker sets, as a user's script would.
The SDK checks argument types itself, so planted mistakes live in ``raw_client.py``.
"""

from __future__ import annotations

import asyncio
import os
import sys

from humanloop import Humanloop

BASE = os.environ["SPECFAKE_HUMANLOOP_URL"]
KEY = os.environ["SPECFAKE_API_KEY"]
CONFIG = {"model": "gpt-4o", "provider": "openai", "temperature": 0.2}
MESSAGES = [{"role": "user", "content": "Recommend a book about rivers."}]


def realistic(hl: Humanloop) -> None:
    project = hl.projects.create(name="check-client-demo")
    registered = hl.model_configs.register(project_id=project.id, name="default", **CONFIG)
    chat = hl.chats.create(project_id=project.id, model_config=CONFIG, messages=MESSAGES)
    completion = hl.complete(
        project_id=project.id, model_config={**CONFIG, "prompt_template": "Q: {{q}}"}, inputs={"q": "why?"}
    )
    logged = hl.logs.log(
        project_id=project.id, inputs={"q": "hi"}, output="hello", config={"model": "gpt-4o", "type": "model"}
    )
    hl.feedback_api.feedback(type="rating", value="good", data_id=chat.data[0].id)
    hl.logs.get(id=logged.id)
    page = hl.logs.list(project_id=project.id, size=10)
    assert page.total >= 3, page
    assert completion.data[0].output
    dataset = hl.datasets.create(project_id=project.id, name="faq", description="FAQ")
    hl.datasets.create_datapoint(dataset_id=dataset.id, inputs={"q": "hours?"}, target={"answer": "9-5"})
    points = hl.datasets.list_datapoints(dataset_id=dataset.id, size=5)
    assert points.total == 1
    hl.projects.list(size=5)
    hl.projects.get(id=project.id)
    assert registered.config.id
    asyncio.run(stream(hl, project.id))


async def stream(hl: Humanloop, project_id: str) -> None:
    response = await hl.chat_stream(project_id=project_id, model_config=CONFIG, messages=MESSAGES)
    chunks = [chunk async for chunk in response.content]
    assert chunks, "the stream was empty"


def main() -> int:
    realistic(Humanloop(api_key=KEY, host=BASE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
