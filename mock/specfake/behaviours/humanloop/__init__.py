"""Humanloop v4: what the contract alone cannot say (see ../shared/seeds for the rules).

One module per concern; each area module declares its handlers in its own ``ops`` table, and
``BEHAVIOUR`` below gathers them. The imports only go down this list (no cycles):

- exceptions, options, streams: Humanloop's error classes, options and stream shape (engine only).
- common: store kinds, id prefixes and ``HumanloopState`` (store access, projects by name).
- deployments: environments and what each project deploys to them.
- prompt_files: the .prompt file format.
- sessions, datasets: groups of logs; datasets and their datapoints (common only).
- samples: template rendering and the fake model's seeded samples (common only).
- configs: the content-addressed model config registry (deployments).
- experiments: A/B sets of configs and their trials (configs, deployments).
- feedback: feedback on logs and the labels it teaches a project (configs).
- evaluators: versioned evaluators (configs); finetunes (datasets).
- logs: storing, reading and changing logs (configs, experiments, feedback, sessions).
- model_configs: the /model-configs endpoints (configs, experiments, prompt_files).
- generation: the eight chat/completion endpoints (samples, configs, deployments, experiments,
  logs, sessions, streams).
- runs: how the fake drives an evaluation run, lazily, by the clock and the options (evaluators,
  logs, samples).
- evaluations: the evaluation endpoints and their views (datasets, evaluators, logs, runs).
- projects: project CRUD, deployments and a project's cascade delete (most of the above).
"""

from __future__ import annotations

from specfake.behaviours import Behaviour
from specfake.behaviours.humanloop import (
    common,
    datasets,
    evaluations,
    evaluators,
    experiments,
    feedback,
    finetunes,
    generation,
    logs,
    model_configs,
    projects,
    sessions,
)
from specfake.behaviours.humanloop.common import HumanloopState
from specfake.behaviours.humanloop.exceptions import HumanloopError
from specfake.behaviours.humanloop.options import HumanloopOptions
from specfake.behaviours.humanloop.streams import STREAMS

BEHAVIOUR = Behaviour(
    state=HumanloopState,
    operations=[
        projects.ops,
        model_configs.ops,
        generation.ops,
        logs.ops,
        feedback.ops,
        sessions.ops,
        experiments.ops,
        datasets.ops,
        evaluators.ops,
        evaluations.ops,
        finetunes.ops,
    ],
    options=HumanloopOptions,
    streams=STREAMS,
    errors=HumanloopError,
    # Stored as answered: what an admin import is checked against.
    stored={
        kind: {"$ref": f"#/components/schemas/{name}"}
        for kind, name in (
            (common.PROJECTS, "ProjectResponse"),
            (common.LOGS, "LogResponse"),
            (common.CONFIGS, "ModelConfigResponse"),
        )
    },
)
