"""Generate contracts/humanloop.yaml from the official Python SDK ``humanloop==0.7.30``.

The SDK is the source of truth (see contracts/README.md): paths, parameters, bodies and status
codes come from ``humanloop/paths/<path>/<method>.py``; schemas from ``humanloop/pydantic/``,
the models the SDK validates responses with. Only facts are taken: the SDK's prose is dropped and
the summaries below are ours. Operations only the TypeScript SDK ``humanloop@0.5.36`` has (the
finetunes API) come from ``humanloop_ts_only.yaml`` beside this file, merged here so this stays the
one generator.
Run: ``.venv/bin/python contracts/tools/build_humanloop.py``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path
from typing import Any

import humanloop.paths as sdk_paths
import humanloop.pydantic as sdk_pydantic
import yaml
from humanloop import api_client, schemas
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from specfake.contracts.tools.openapi_build import (
    ERROR_RESPONSE,
    VALIDATION_ERROR_SCHEMAS,
    clean_schema,
    dump_document,
    error_responses,
)

OUT = Path(__file__).resolve().parents[1] / "humanloop.yaml"
TS_ONLY = Path(__file__).resolve().parent / "humanloop_ts_only.yaml"
REF = "#/components/schemas/{model}"
SDK_VERSION = "0.7.30"

# Tag names as the SDK's resource attributes spell them (client.model_configs, client.chats...).
TAGS = {
    "ProjectsApi": "projects",
    "EvaluationsApi": "evaluations",
    "DatasetsApi": "datasets",
    "LogsApi": "logs",
    "EvaluatorsApi": "evaluators",
    "ExperimentsApi": "experiments",
    "ModelConfigsApi": "model_configs",
    "ChatsApi": "chats",
    "CompletionsApi": "completions",
    "DatapointsApi": "datapoints",
    "SessionsApi": "sessions",
    "FeedbackApi": "feedback",
}

# Our one-line summaries, keyed by operationId.
SUMMARIES = {
    "chats_create": "Chat with an inline model config",
    "chats_create_deployed": "Chat with the project's active deployment",
    "chats_create_experiment": "Chat with a config sampled from an experiment",
    "chats_create_model_config": "Chat with a registered model config",
    "completions_create": "Complete with an inline model config",
    "completions_create_deployed": "Complete with the project's active deployment",
    "completions_create_experiment": "Complete with a config sampled from an experiment",
    "completions_create_model_config": "Complete with a registered model config",
    "datapoints_delete": "Delete datapoints (deprecated)",
    "datapoints_get": "Get a datapoint",
    "datapoints_update": "Update a datapoint (deprecated)",
    "datasets_list": "List datasets",
    "datasets_create": "Create a dataset in a project",
    "datasets_list_all_for_project": "List a project's datasets",
    "datasets_get": "Get a dataset",
    "datasets_update": "Update a dataset",
    "datasets_delete": "Delete a dataset",
    "datasets_list_datapoints": "List a dataset's datapoints",
    "datasets_create_datapoint": "Add datapoints to a dataset",
    "evaluations_list": "List evaluations",
    "evaluations_create": "Create an evaluation in a project",
    "evaluations_list_all_for_project": "List a project's evaluations",
    "evaluations_get": "Get an evaluation",
    "evaluations_list_datapoints": "List an evaluation's datapoints",
    "evaluations_log": "Log a generation to an evaluation",
    "evaluations_result": "Record an evaluator result in an evaluation",
    "evaluations_update_status": "Move an evaluation to another status",
    "evaluations_add_evaluators": "Add evaluators to an evaluation",
    "evaluators_list": "List evaluators",
    "evaluators_create": "Create an evaluator",
    "evaluators_get": "Get an evaluator",
    "evaluators_update": "Update an evaluator",
    "evaluators_delete": "Delete an evaluator",
    "experiments_list": "List a project's experiments",
    "experiments_create": "Create an experiment in a project",
    "experiments_update": "Update an experiment",
    "experiments_delete": "Delete an experiment",
    "experiments_sample": "Sample a model config from an experiment",
    "feedback_feedback": "Submit feedback on logs",
    "logs_list": "List logs",
    "logs_log": "Log generations made outside Humanloop",
    "logs_delete": "Delete logs by id",
    "logs_get": "Get a log",
    "logs_update": "Update a log",
    "logs_update_by_ref": "Update a log by its reference id",
    "model_configs_get": "Get a model config",
    "model_configs_register": "Register a model config",
    "model_configs_export": "Export a model config as a .prompt file",
    "model_configs_serialize": "Serialize a model config to a .prompt file",
    "model_configs_deserialize": "Deserialize a .prompt file into a model config",
    "projects_list": "List projects",
    "projects_create": "Create a project",
    "projects_get": "Get a project",
    "projects_update": "Update a project",
    "projects_delete": "Delete a project",
    "projects_list_configs": "List a project's model configs",
    "projects_get_active_config": "Get a project's active config",
    "projects_deactivate_config": "Remove a project's active config",
    "projects_deactivate_experiment": "Remove a project's active experiment",
    "projects_update_feedback_types": "Update a project's feedback types",
    "projects_create_feedback_type": "Add a feedback type to a project",
    "projects_export": "Export a project's logs",
    "projects_list_deployed_configs": "List a project's deployed configs",
    "projects_deploy_config": "Deploy a config or experiment to environments",
    "projects_delete_deployed_config": "Remove a deployment from an environment",
    "sessions_list": "List a project's sessions",
    "sessions_create": "Create a session",
    "sessions_get": "Get a session with its logs",
    "finetunes_list_all_for_project": "List a project's finetunes",
    "finetunes_create": "Start a finetune of a base model on a dataset",
    "finetunes_summary": "Summarize a dataset as finetuning data",
    "finetunes_update": "Update a finetune",
}

# Create operations link to what can be done with what they made (OpenAPI links), so a stateful
# tester can chain create -> get -> update -> delete.
LINKS: dict[str, dict[str, tuple[str, dict[str, str]]]] = {
    "projects_create": {
        "GetProject": ("projects_get", {"id": "$response.body#/id"}),
        "UpdateProject": ("projects_update", {"id": "$response.body#/id"}),
        "DeleteProject": ("projects_delete", {"id": "$response.body#/id"}),
        "ListProjectConfigs": ("projects_list_configs", {"id": "$response.body#/id"}),
    },
    "datasets_create": {
        "GetDataset": ("datasets_get", {"id": "$response.body#/id"}),
        "UpdateDataset": ("datasets_update", {"id": "$response.body#/id"}),
        "DeleteDataset": ("datasets_delete", {"id": "$response.body#/id"}),
        "ListDatasetDatapoints": ("datasets_list_datapoints", {"dataset_id": "$response.body#/id"}),
    },
    "datasets_create_datapoint": {
        "GetDatapoint": ("datapoints_get", {"id": "$response.body#/0/id"}),
    },
    "evaluators_create": {
        "GetEvaluator": ("evaluators_get", {"id": "$response.body#/id"}),
        "UpdateEvaluator": ("evaluators_update", {"id": "$response.body#/id"}),
        "DeleteEvaluator": ("evaluators_delete", {"id": "$response.body#/id"}),
    },
    "evaluations_create": {
        "GetEvaluation": ("evaluations_get", {"id": "$response.body#/id"}),
        "ListEvaluationDatapoints": ("evaluations_list_datapoints", {"id": "$response.body#/id"}),
        "UpdateEvaluationStatus": ("evaluations_update_status", {"id": "$response.body#/id"}),
        "LogToEvaluation": ("evaluations_log", {"evaluation_id": "$response.body#/id"}),
        "ResultToEvaluation": ("evaluations_result", {"evaluation_id": "$response.body#/id"}),
    },
    "experiments_create": {
        "UpdateExperiment": ("experiments_update", {"experiment_id": "$response.body#/id"}),
        "DeleteExperiment": ("experiments_delete", {"experiment_id": "$response.body#/id"}),
        "SampleExperiment": ("experiments_sample", {"experiment_id": "$response.body#/id"}),
    },
    "sessions_create": {
        "GetSession": ("sessions_get", {"id": "$response.body#/id"}),
    },
    "finetunes_create": {
        "UpdateFinetune": (
            "finetunes_update",
            {"id": "$response.body#/id", "project_id": "$response.body#/dataset/project_id"},
        ),
    },
    "model_configs_register": {
        "GetModelConfig": ("model_configs_get", {"id": "$response.body#/config/id"}),
        "ExportModelConfig": ("model_configs_export", {"id": "$response.body#/config/id"}),
    },
    "chats_create": {"GetLog": ("logs_get", {"id": "$response.body#/data/0/id"})},
    "completions_create": {"GetLog": ("logs_get", {"id": "$response.body#/data/0/id"})},
}

# The generation operations stream when their body says "stream": true.
STREAMING = {
    "chats_create",
    "chats_create_deployed",
    "chats_create_experiment",
    "chats_create_model_config",
    "completions_create",
    "completions_create_deployed",
    "completions_create_experiment",
    "completions_create_model_config",
}


def sdk_namespace() -> dict[str, Any]:
    """Every name the SDK's pydantic package defines: models and the aliases between them."""
    namespace: dict[str, Any] = {}
    for info in pkgutil.iter_modules(sdk_pydantic.__path__):
        module = importlib.import_module(f"humanloop.pydantic.{info.name}")
        namespace.update({k: v for k, v in vars(module).items() if not k.startswith("_")})
    for value in list(namespace.values()):
        # Six SDK models forward-reference names their modules never import.
        if (
            inspect.isclass(value)
            and issubclass(value, BaseModel)
            and value.__module__.startswith("humanloop.pydantic")
        ):
            value.model_rebuild(force=True, _types_namespace=namespace)
    return namespace


def sdk_operations() -> dict[tuple[str, str], tuple[str, str]]:
    """(path, method) -> (tag, sdk method name), read from the tag API classes' bases."""
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for api_name, tag in TAGS.items():
        module_name = snake(api_name)
        api_cls = getattr(importlib.import_module(f"humanloop.apis.tags.{module_name}"), api_name)
        for base in inspect.getmro(api_cls):
            module = sys.modules.get(base.__module__)
            if module is None or not base.__module__.startswith("humanloop.paths."):
                continue
            method = base.__module__.rsplit(".", 1)[1]
            names = [n for n in vars(module.BaseApi) if n.endswith("_mapped_args")]
            if not names:
                continue
            sdk_name = names[0][1:].removesuffix("_mapped_args")
            found[(module.path.value, method)] = (tag, sdk_name)
    return found


def model_name(schema_cls: type) -> str:
    return schema_cls.__name__


def param_schema(schema_cls: type[Any]) -> dict[str, Any]:
    """Parameter schemas are SDK model classes or inline primitives (one level of list).

    ``type[Any]``: the SDK is untyped, so its ``MetaOapg`` inner classes are unknown to mypy.
    """
    if schema_cls.__module__.startswith("humanloop.model."):
        return {"$ref": REF.format(model=model_name(schema_cls))}
    if issubclass(schema_cls, schemas.ComposedSchema) and hasattr(schema_cls.MetaOapg, "any_of"):
        return {"anyOf": [param_schema(c) for c in schema_cls.MetaOapg.any_of()]}
    if issubclass(schema_cls, schemas.ListSchema):
        return {"type": "array", "items": param_schema(schema_cls.MetaOapg.items)}
    if schema_cls is schemas.DictSchema:
        return {"type": "object"}
    if schema_cls in (schemas.AnyTypeSchema, schemas.UnsetAnyTypeSchema):
        return {}
    if issubclass(schema_cls, schemas.BoolSchema):
        return {"type": "boolean"}
    if issubclass(schema_cls, schemas.IntSchema):
        return {"type": "integer"}
    if issubclass(schema_cls, schemas.NumberSchema):
        return {"type": "number"}
    if issubclass(schema_cls, schemas.DateSchema):
        return {"type": "string", "format": "date"}
    if issubclass(schema_cls, schemas.DateTimeSchema):
        return {"type": "string", "format": "date-time"}
    if issubclass(schema_cls, schemas.StrSchema):
        return {"type": "string"}
    raise TypeError(f"unhandled parameter schema {schema_cls!r}")


def body_schema(schema_cls: type) -> dict[str, Any]:
    if schema_cls.__module__.startswith("humanloop.model."):
        return {"$ref": REF.format(model=model_name(schema_cls))}
    return param_schema(schema_cls)


def stream_chunk_schemas() -> dict[str, Any]:
    """What the SDKs' stream parsers read from each `data: ` event (client_custom.py)."""
    return {
        "GenerationStreamChunk": {
            "type": "object",
            "description": "One server-sent event of a streamed chat or completion.",
            "required": ["data"],
            "properties": {
                "data": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 1,
                    "items": {"$ref": REF.format(model="GenerationStreamDelta")},
                },
                "project_id": {"type": "string"},
            },
        },
        "GenerationStreamDelta": {
            "type": "object",
            "description": "The piece of one sample carried by a stream event.",
            "required": ["id", "index", "output", "finish_reason", "model_config_id"],
            "properties": {
                "id": {"type": "string"},
                "index": {"type": "integer", "minimum": 0},
                "output": {"type": "string"},
                "finish_reason": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "model_config_id": {"type": "string"},
                "output_message": {
                    "anyOf": [{"$ref": REF.format(model="ChatMessageWithToolCall")}, {"type": "null"}]
                },
                "tool_calls": {
                    "anyOf": [
                        {"type": "array", "items": {"$ref": REF.format(model="ToolCall")}},
                        {"type": "null"},
                    ]
                },
                "tool_results": {"anyOf": [{"type": "array"}, {"type": "null"}]},
            },
        },
    }


def finish(op: dict[str, Any], responses: dict[str, Any]) -> dict[str, Any]:
    """Links from the success answer (LINKS), responses in code order, and the API key."""
    links = LINKS.get(op["operationId"])
    if links:
        success = next(c for c in responses if c.startswith("2"))
        responses[success]["links"] = {
            name: {"operationId": target, "parameters": params} for name, (target, params) in links.items()
        }
    op["responses"] = dict(sorted(responses.items()))
    op["security"] = [{"APIKeyHeader": []}]
    return op


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def refs(schema: Any) -> set[str]:
    """Model names a schema refers to."""
    if isinstance(schema, dict):
        found = {schema["$ref"].rsplit("/", 1)[1]} if "$ref" in schema else set()
        return found.union(*(refs(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(refs(v) for v in schema))
    return set()


def ts_only_operations(supplement: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Path items for the operations only the TypeScript SDK has, in the shape the SDK's own get."""
    tag = next(iter(supplement["tags"].values()))
    paths: dict[str, dict[str, Any]] = {}
    for path_value, methods in supplement["paths"].items():
        for method, spec in methods.items():
            operation_id = f"{tag}_{snake(spec['sdk_method'])}"
            op: dict[str, Any] = {
                "operationId": operation_id,
                "tags": [tag],
                "summary": SUMMARIES[operation_id],
                "parameters": spec["parameters"],
            }
            if "requestBody" in spec:
                schema = {"$ref": REF.format(model=spec["requestBody"])}
                op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
            responses = {
                code: {"description": "OK", "content": {"application/json": {"schema": answer["schema"]}}}
                for code, answer in spec["responses"].items()
            }
            invalid = {"schema": {"$ref": REF.format(model="HTTPValidationError")}}
            responses["422"] = {"description": "Validation error", "content": {"application/json": invalid}}
            responses.update(error_responses(has_body="requestBody" in spec, method=method))
            paths.setdefault(path_value, {})[method] = finish(op, responses)
    return paths


def build() -> dict[str, Any]:
    namespace = sdk_namespace()
    operations = sdk_operations()
    used_models: set[str] = set()
    paths: dict[str, dict[str, Any]] = {}

    for path_value in sorted(p.value for p in sdk_paths.PathValues):
        package = "humanloop.paths." + path_value.strip("/").replace("/", "_").replace("-", "_").replace(
            "{", ""
        ).replace("}", "")
        pkg = importlib.import_module(package)
        item: dict[str, Any] = {}
        for method in ("get", "post", "put", "patch", "delete"):
            try:
                module = importlib.import_module(f"{pkg.__name__}.{method}")
            except ModuleNotFoundError:
                continue
            tag, sdk_name = operations[(path_value, method)]
            operation_id = f"{tag}_{sdk_name}"
            op: dict[str, Any] = {
                "operationId": operation_id,
                "tags": [tag],
                "summary": SUMMARIES[operation_id],
            }
            params = []
            for value in vars(module).values():
                if isinstance(value, (api_client.PathParameter, api_client.QueryParameter)):
                    location = "path" if isinstance(value, api_client.PathParameter) else "query"
                    schema = param_schema(value.schema)
                    if "$ref" in schema:
                        used_models.add(schema["$ref"].rsplit("/", 1)[1])
                    param: dict[str, Any] = {
                        "name": value.name,
                        "in": location,
                        "required": bool(value.required) or location == "path",
                        "schema": schema,
                    }
                    if schema.get("type") == "array":
                        param["style"] = "form"
                        param["explode"] = bool(value.explode)
                    params.append(param)
            if params:
                op["parameters"] = sorted(params, key=lambda p: (p["in"] != "path", p["name"]))
            bodies = [v for v in vars(module).values() if isinstance(v, api_client.RequestBody)]
            if bodies:
                content = bodies[0].content
                op["requestBody"] = {
                    "required": bool(bodies[0].required),
                    "content": {
                        ctype: {"schema": body_schema(media.schema)} for ctype, media in content.items()
                    },
                }
                for media in content.values():
                    if media.schema.__module__.startswith("humanloop.model."):
                        used_models.add(model_name(media.schema))
            responses: dict[str, Any] = {}
            for code, response in sorted(module._status_code_to_response.items()):
                entry: dict[str, Any] = {"description": "Validation error" if code == "422" else "OK"}
                if response.content:
                    entry["content"] = {
                        ctype: {"schema": body_schema(media.schema)}
                        for ctype, media in response.content.items()
                    }
                    for media in response.content.values():
                        if media.schema.__module__.startswith("humanloop.model."):
                            used_models.add(model_name(media.schema))
                if code == "204":
                    entry["description"] = "Deleted"
                responses[code] = entry
            if operation_id in STREAMING:
                op["x-specfake-stream"] = "stream"
                # One SSE event; its `data` line is the JSON chunk the SDKs parse.
                responses["200"]["content"]["text/event-stream"] = {
                    "schema": {
                        "type": "object",
                        "required": ["data"],
                        "properties": {
                            "data": {
                                "type": "string",
                                "contentMediaType": "application/json",
                                "contentSchema": {"$ref": REF.format(model="GenerationStreamChunk")},
                            }
                        },
                    },
                }
            responses.update(error_responses(has_body=bool(bodies), method=method))
            item[method] = finish(op, responses)
        paths[path_value] = item

    supplement = yaml.safe_load(TS_ONLY.read_text())
    for path_value, item in ts_only_operations(supplement).items():
        if path_value in paths:
            raise SystemExit(f"{path_value}: the Python SDK has it now; drop it from {TS_ONLY.name}")
        paths[path_value] = item
    used_models |= refs(supplement["schemas"]) - set(supplement["schemas"])
    components = component_schemas(namespace, used_models)
    components.update(supplement["schemas"])
    components.update(stream_chunk_schemas())
    components.update(VALIDATION_ERROR_SCHEMAS)
    components["ErrorResponse"] = ERROR_RESPONSE
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Humanloop API",
            "version": "4.0.1",
            "description": (
                "Humanloop v4 as its official SDKs (humanloop==0.7.30 on PyPI, humanloop@0.5.36 "
                "on npm) know it. Generated by contracts/tools/build_humanloop.py."
            ),
        },
        "servers": [{"url": "https://api.humanloop.com/v4"}],
        "security": [{"APIKeyHeader": []}],
        "tags": [{"name": t} for t in sorted({*TAGS.values(), *supplement["tags"].values()})],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {"APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-KEY"}},
        },
    }


def component_schemas(namespace: dict[str, Any], roots: set[str]) -> dict[str, Any]:
    """JSON Schema (2020-12) for every model the operations use, via pydantic's own generator."""
    adapters: list[tuple[str, JsonSchemaMode, TypeAdapter[Any]]] = []
    for name in sorted(roots):
        target = namespace[name]
        adapters.append((name, "validation", TypeAdapter(target)))
    by_key, definitions = TypeAdapter.json_schemas(adapters, ref_template=REF)
    out: dict[str, Any] = {}
    for name, schema in definitions.get("$defs", {}).items():
        out[name] = clean_schema(schema)
    for (name, _mode), schema in by_key.items():
        if "$ref" in schema and schema["$ref"] == REF.format(model=name):
            continue  # a model already in $defs under its own name
        out[name] = clean_schema(schema)
    return out


if __name__ == "__main__":
    OUT.write_text(dump_document(build()))
    print(f"wrote {OUT}")
