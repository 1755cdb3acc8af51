"""No key in clear: not in the journal, the state export, the SQLite file or the start-up banner."""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from pathlib import Path

from specfake.app import create_app
from specfake.server import free_port
from specfake.tenants import fingerprint, is_fingerprint, mask
from tests.state.helpers import NOTES, PREFIX, key

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

HEADER_KEY = "hdr-secret-4f1e9a"
QUERY_KEY = "qry-secret-77c2d0"
BODY_KEY = "body-secret-0b3a51"
PROVIDER_KEY = "sk-provider-secret-9d24"
SECRETS = (HEADER_KEY, QUERY_KEY, BODY_KEY, PROVIDER_KEY)

# A contract whose key goes in the query string and whose body carries keys (as SGP's
# provider_api_keys and an ``api_key`` field do).
KEYS_CONTRACT = """
openapi: 3.1.0
info: {title: Keys, version: 1.0.0}
servers: [{url: "https://keys.example/v1"}]
security: [{QueryKey: []}]
paths:
  /things:
    post:
      operationId: createThing
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties:
                name: {type: string}
                api_key: {type: string}
                provider_api_keys: {type: object, additionalProperties: {type: string}}
      responses:
        "201":
          description: Created
          content:
            application/json:
              schema: {type: object, properties: {id: {type: string}}}
components:
  securitySchemes:
    QueryKey: {type: apiKey, in: query, name: api_key}
"""


def leaked(data: bytes | str) -> list[str]:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return [secret for secret in SECRETS if secret in text]


def test_the_journal_export_and_state_file_hold_no_key(tmp_path: Path) -> None:
    contract = tmp_path / "keys.yaml"
    contract.write_text(KEYS_CONTRACT)
    state = tmp_path / "state.db"
    app = create_app([NOTES, str(contract)], state=state, fixtures=None)
    body = {"name": "n", "api_key": BODY_KEY, "provider_api_keys": {"openai": PROVIDER_KEY}}
    with TestClient(app) as client:
        created = client.post(f"{PREFIX}/notes", json={"title": "t", "body": "b"}, headers=key(HEADER_KEY))
        assert created.status_code == 201
        thing = client.post("/keys/v1/things", params={"api_key": QUERY_KEY}, json=body)
        assert thing.status_code == 201, thing.text
        big = {**body, "name": "x" * 5000}  # cut by the journal's 4 KB: redacted by pattern
        client.post("/keys/v1/things", params={"api_key": QUERY_KEY}, json={"api_key": BODY_KEY, **big})
        journal = client.get("/__admin/journal").content
        export = client.get("/__admin/state").content
        by_key = client.get("/__admin/journal", params={"tenant": HEADER_KEY}).json()["entries"]
    entries = app.journal.entries()  # what the pytest plugin's journal() shows
    shown = repr([(e.tenant, e.query, e.headers, e.body) for e in entries])
    files = b"".join(path.read_bytes() for path in tmp_path.glob("state.db*"))
    assert files  # the state file was written
    for name, data in {
        "journal listing": journal,
        "plugin journal": shown,
        "export": export,
        "file": files,
    }.items():
        assert leaked(data) == [], name
    assert fingerprint(HEADER_KEY).encode() in export  # the tenant, named by fingerprint
    assert [e["tenant"] for e in by_key] == [fingerprint(HEADER_KEY)] and all(
        is_fingerprint(e.tenant) for e in entries
    )
    assert all(e.query == b"api_key=REDACTED" for e in entries[1:])
    assert (
        entries[1].json["provider_api_keys"] == {"openai": "REDACTED"}
        and entries[1].json["api_key"] == "REDACTED"
    )
    # The checker alone reads what was received.
    assert QUERY_KEY.encode() in app.journal.entries(raw=True)[1].query


def test_the_banner_masks_keys() -> None:
    port = free_port()
    command = [str(Path(sys.executable).with_name("specfake")), "serve", "--port", str(port), "--empty"]
    command += ["--contract", str(NOTES), "--api-key", HEADER_KEY, "--api-key", "k1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[bytes] = []
    try:
        deadline = time.monotonic() + 20
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if b"streams:" in line:  # the banner's last line
                break
    finally:
        process.kill()
        process.wait(10)
    banner = b"".join(lines).decode()
    assert "API keys accepted" in banner, banner
    assert leaked(banner) == [] and "k1," not in banner and not banner.rstrip().endswith("k1")
    assert mask(HEADER_KEY) in banner and fingerprint(HEADER_KEY) in banner and fingerprint("k1") in banner
