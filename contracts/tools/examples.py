"""Fill in an ``example`` for every response media type that lacks one.

Examples come from the same generator the fake uses, seeded by operationId and status so
regeneration is stable, and each is checked against its schema before it is written.
Run: ``.venv/bin/python contracts/tools/examples.py contracts/humanloop.yaml ...``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from specfake.contract import HTTP_METHODS, load_contract
from specfake.contracts.tools.openapi_build import dump_document
from specfake.generate import GenContext, SchemaCompiler
from specfake.validation import SchemaValidator, registry_for

ATTEMPTS = 200


def fill(path: Path) -> int:
    contract = load_contract(path)
    document = yaml.safe_load(path.read_text())
    registry = registry_for(contract)
    compiler = SchemaCompiler(lambda ref: contract.resolve({"$ref": ref}))
    added = 0
    for item in document["paths"].values():
        for method in HTTP_METHODS:
            op = item.get(method)
            if not op:
                continue
            for status, response in op.get("responses", {}).items():
                for media_type, media in (response.get("content") or {}).items():
                    if "example" in media or "examples" in media or "schema" not in media:
                        continue
                    media["example"] = _valid_example(
                        contract,
                        compiler,
                        registry,
                        media["schema"],
                        f"{op['operationId']}:{status}:{media_type}",
                    )
                    added += 1
    path.write_text(dump_document(document))
    return added


def _valid_example(contract: Any, compiler: SchemaCompiler, registry: Any, schema: Any, seed: str) -> Any:
    maker = compiler.compile(schema)
    validator = SchemaValidator(contract, schema, registry)
    for attempt in range(ATTEMPTS):
        value = maker(GenContext(f"{seed}:{attempt}", optional_rate=0.8))
        if validator.is_valid(value):
            return value
    raise SystemExit(f"{seed}: no valid example in {ATTEMPTS} attempts: {validator.errors(value, ())[:3]}")


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"{name}: {fill(Path(name))} examples added")
