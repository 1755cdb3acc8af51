// Realistic flows of the official Humanloop TypeScript SDK (humanloop@0.5.36) against specfake.
//
// Run by tests/sdk/test_typescript_sdk.py; by hand:
//   SPECFAKE_URL=http://127.0.0.1:4010/humanloop/v4 SPECFAKE_API_KEY=specfake-key-1 node tests/sdk_ts/flows.mjs
// Prints one JSON line per step ({step, ok, ms, info | error, request, response}) and exits 1 when any
// step failed. Steps run in order and build on each other's results; a step whose inputs are missing
// because an earlier step failed fails as "blocked" instead of hiding the cause.
// Environment: SPECFAKE_URL, SPECFAKE_API_KEY (required); SPECFAKE_OTHER_API_KEY (a second tenant,
// default: the key plus "-other"); SPECFAKE_STEP_TIMEOUT_MS (per step, default 15000).

import axios from "axios";
import humanloop from "humanloop";

const { Humanloop } = humanloop;

const BASE = process.env.SPECFAKE_URL;
const KEY = process.env.SPECFAKE_API_KEY;
const OTHER_KEY = process.env.SPECFAKE_OTHER_API_KEY || `${KEY}-other`;
const STEP_TIMEOUT_MS = Number(process.env.SPECFAKE_STEP_TIMEOUT_MS || 15000);
if (!BASE || !KEY) {
  console.error("SPECFAKE_URL and SPECFAKE_API_KEY must be set");
  process.exit(2);
}

const hl = new Humanloop({ basePath: BASE, apiKey: KEY });
const other = new Humanloop({ basePath: BASE, apiKey: OTHER_KEY });

// The SDK sends through the global axios instance (also for streams, with the fetch adapter): keep
// the last request so a failure names what was sent.
let lastRequest = null;
axios.interceptors.request.use((config) => {
  lastRequest = { method: (config.method || "get").toUpperCase(), url: config.url, body: parseMaybe(config.data) };
  return config;
});

function parseMaybe(data) {
  if (typeof data !== "string") return data;
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}

class AssertionFailed extends Error {}
class Blocked extends Error {}

function check(cond, message, actual) {
  if (!cond) {
    const shown = actual === undefined ? "" : `; got ${JSON.stringify(actual)}`;
    throw new AssertionFailed(`${message}${shown}`.slice(0, 2000));
  }
}

function eq(actual, expected, what) {
  check(
    JSON.stringify(actual) === JSON.stringify(expected),
    `${what}: expected ${JSON.stringify(expected)}`,
    actual,
  );
}

// Ids are checked to be strings where they arrive; their documented prefixes ("Starts with `pr_`")
// are checked together in one late step so a wrong prefix does not hide the rest of a flow.
const seenIds = [];
function idOf(kind, id, prefix) {
  check(typeof id === "string" && id.length > 0, `${kind} id is a non-empty string`, id);
  seenIds.push({ kind, id, prefix });
}

// A step's inputs from earlier steps: an id string, or an object with a string id.
function need(...values) {
  for (const [name, value] of values) {
    const id = typeof value === "object" && value !== null ? value.id : value;
    if (typeof id !== "string" || id.length === 0) throw new Blocked(`needs ${name} from an earlier step`);
  }
}

// The SDK's errors: HumanloopError carries status/responseBody; anything else is a JS error.
async function expectStatus(promise, status, what) {
  try {
    const res = await promise;
    // a paged list resolves to a Page ({data}) rather than an axios response ({status, data})
    const got = res.status === undefined ? "a 2xx answer" : `HTTP ${res.status}`;
    throw new AssertionFailed(`${what}: expected HTTP ${status}, got ${got} ${JSON.stringify(res.data)}`.slice(0, 2000));
  } catch (err) {
    if (err instanceof AssertionFailed) throw err;
    check(err.status === status, `${what}: expected HTTP ${status}`, { status: err.status, body: err.responseBody });
  }
}

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new AssertionFailed(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const results = [];
async function step(name, fn) {
  const started = Date.now();
  lastRequest = null;
  const line = { step: name };
  try {
    const info = await withTimeout(Promise.resolve().then(fn), STEP_TIMEOUT_MS);
    Object.assign(line, { ok: true, ms: Date.now() - started }, info === undefined ? {} : { info });
  } catch (err) {
    Object.assign(line, { ok: false, ms: Date.now() - started, error: describe(err) });
    if (!(err instanceof Blocked) && lastRequest) line.request = lastRequest;
    if (err && err.status !== undefined) line.response = { status: err.status, body: err.responseBody };
    if (err instanceof Blocked) line.blocked = true;
  }
  results.push(line);
  console.log(JSON.stringify(line));
  return line.ok;
}

function describe(err) {
  if (err instanceof AssertionFailed || err instanceof Blocked) return err.message;
  if (err && err.status !== undefined) return `HTTP ${err.status} ${err.method || ""} ${err.url || ""}`.trim();
  return String((err && err.stack) || err);
}

async function allPages(first) {
  // The SDK's Page: first page as asked, then page+1 while page * size < total.
  const pages = [first.data];
  let page = first;
  while (page.hasNext() && pages.length < 50) {
    page = await page.next();
    pages.push(page.data);
  }
  return pages;
}

async function readStream(response) {
  // chatStream/completeStream resolve to an axios response whose data is a ReadableStream of
  // UTF-8 JSON chunks, one per `data: {...}` event the server sent.
  const reader = response.data.getReader();
  const decoder = new TextDecoder();
  const events = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    events.push(JSON.parse(decoder.decode(value)));
  }
  return events;
}

function checkStream(events, what) {
  check(events.length > 0, `${what}: the stream yielded no events (each must be "data: {\\"data\\": [{output, id, ...}]}")`);
  const ids = new Set(events.map((e) => e.id));
  check(ids.size === 1, `${what}: all events of one sample carry the same log id`, [...ids]);
  check(
    events.every((e) => typeof e.output === "string"),
    `${what}: every event has a string output`,
    events.map((e) => e.output),
  );
  const last = events[events.length - 1];
  check(typeof last.finish_reason === "string" && last.finish_reason.length > 0, `${what}: last event has a finish_reason`, last);
  check(
    events.slice(0, -1).every((e) => e.finish_reason === null || e.finish_reason === undefined),
    `${what}: only the last event has a finish_reason`,
    events.map((e) => e.finish_reason),
  );
  const text = events.map((e) => e.output).join("");
  check(text.length > 0, `${what}: concatenated output is not empty`);
  return { id: last.id, text, last };
}

// The common shape of a chat/completion answer with one sample, kept as s[key] for later steps.
function checkGeneration(res, inputs, key) {
  const r = res.data;
  const d = (s[key] = r.data[0]);
  eq(res.status, 200, "status");
  eq(r.project_id, s.project.id, "project_id");
  check(Array.isArray(r.provider_responses), "provider_responses is an array", r.provider_responses);
  eq(r.data.length, 1, "one sample (num_samples defaults to 1)");
  idOf("log", d.id, "data_");
  eq(d.index, 0, "index");
  check(typeof d.output === "string" && d.output.length > 0, "non-empty output", d.output);
  check(typeof d.model_config_id === "string" && d.model_config_id.length > 0, "model_config_id", d.model_config_id);
  eq(d.inputs, inputs, "inputs are returned (return_inputs defaults to true)");
  return d;
}

async function findLog(projectId, logId) {
  const first = await hl.logs.list({ projectId, page: 0, size: 100 });
  const records = (await allPages(first)).flatMap((p) => p.records);
  return { log: records.find((r) => r.id === logId), records };
}

// ---------------------------------------------------------------------------------------------------

const run = Date.now().toString(36);
const projectName = `ts-sdk-flow-${run}`;
const s = {}; // results the later steps build on

const MODEL = {
  provider: "openai",
  model: "gpt-4o-mini",
  temperature: 0.3,
  max_tokens: 64,
  endpoint: "chat",
  chat_template: [{ role: "system", content: "You are {{persona}}. Answer in one sentence." }],
};
const COMPLETION_MODEL = {
  provider: "openai",
  model: "gpt-3.5-turbo-instruct",
  temperature: 0.2,
  max_tokens: 64,
  endpoint: "complete",
  prompt_template: "Summarize for a second-grade student:\n\n{{text}}\n\nSummary:",
};
const TEXT = "Llamas that are well-socialized are friendly and curious and will approach people easily.";

await step("projects.create", async () => {
  const res = await hl.projects.create({ name: projectName });
  eq(res.status, 201, "status");
  const p = res.data;
  s.project = p;
  idOf("project", p.id, "pr_");
  eq(p.name, projectName, "name");
  check(Array.isArray(p.users) && Array.isArray(p.feedback_types), "users and feedback_types are arrays", p);
  eq(p.data_count, 0, "a new project has no data");
  return { id: p.id };
});

await step("projects.get", async () => {
  need(["project", s.project]);
  const res = await hl.projects.get({ id: s.project.id });
  eq(res.status, 200, "status");
  eq(res.data.id, s.project.id, "id");
  eq(res.data.name, projectName, "name");
  eq(res.data.created_at, s.project.created_at, "created_at");
});

await step("projects.list page 0 contains it", async () => {
  need(["project", s.project]);
  const page = await hl.projects.list({ page: 0, size: 100 });
  eq(page.data.page, 0, "page echoes the asked page (the SDK pages from 0)");
  eq(page.data.size, 100, "size echoes the asked size");
  check(page.data.total >= 1, "total counts the project", page.data.total);
  check(
    page.data.records.some((r) => r.id === s.project.id),
    "records contain the created project",
    page.data.records.map((r) => r.id),
  );
});

await step("projects.list pages with size 1 (page 0, 1, ...) cover every project once", async () => {
  need(["project", s.project]);
  const extra = [];
  for (const n of [1, 2]) extra.push((await hl.projects.create({ name: `${projectName}-extra-${n}` })).data.id);
  const pages = await allPages(await hl.projects.list({ page: 0, size: 1 }));
  const ids = pages.flatMap((p) => p.records.map((r) => r.id));
  eq(
    pages.map((p) => p.page),
    pages.map((_, i) => i),
    "page numbers run 0, 1, 2, ...",
  );
  eq(new Set(ids).size, ids.length, "no project appears on two pages");
  eq(ids.length, pages[0].total, "the pages together hold total records");
  for (const id of [s.project.id, ...extra]) check(ids.includes(id), `project ${id} is on some page`, ids);
  for (const id of extra) await hl.projects.delete({ id });
  return { pages: pages.length };
});

await step("modelConfigs.register twice gives the same config", async () => {
  need(["project", s.project]);
  const body = { project_id: s.project.id, ...MODEL };
  const first = await hl.modelConfigs.register(body);
  const second = await hl.modelConfigs.register(body);
  const c = first.data;
  s.config = c.config;
  eq(c.project_id, s.project.id, "project_id");
  eq(c.project_name, projectName, "project_name");
  eq(c.config.type, "model", "config.type");
  idOf("config", c.config.id, "config_");
  eq(c.config.model, MODEL.model, "config.model");
  eq(second.data.config.id, c.config.id, "registering the same config again answers the same id");
  return { config_id: c.config.id };
});

await step("modelConfigs.get and projects.listConfigs show the registered config", async () => {
  need(["config", s.config]);
  const got = await hl.modelConfigs.get({ id: s.config.id });
  eq(got.data.id, s.config.id, "modelConfigs.get id");
  eq(got.data.model, MODEL.model, "model");
  const listed = await hl.projects.listConfigs({ id: s.project.id });
  check(Array.isArray(listed.data), "listConfigs answers an array", listed.data);
  check(
    listed.data.some((pc) => pc.config.id === s.config.id),
    "the project's configs include it",
    listed.data.map((pc) => pc.config.id),
  );
});

await step("chat with a model_config, a {{persona}} template and inputs", async () => {
  need(["project", s.project]);
  const inputs = { persona: "the pirate Blackbeard" };
  const res = await hl.chat({
    project_id: s.project.id,
    messages: [{ role: "user", content: "Explain asynchronous programming." }],
    model_config: MODEL,
    inputs,
    metadata: { flow: "ts-sdk" },
  });
  const d = checkGeneration(res, inputs, "chat");
  eq(d.output_message.role, "assistant", "output_message.role");
  eq(d.output_message.content, d.output, "output_message.content equals output");
  return { log_id: d.id, model_config_id: d.model_config_id };
});

await step("chat used the same config as the registered one", async () => {
  need(["chat", s.chat], ["config", s.config]);
  eq(s.chat.model_config_id, s.config.id, "chat.model_config_id (same model config content -> same config id)");
});

await step("complete with a prompt_template and inputs", async () => {
  need(["project", s.project]);
  const res = await hl.complete({ project_id: s.project.id, model_config: COMPLETION_MODEL, inputs: { text: TEXT } });
  const d = checkGeneration(res, { text: TEXT }, "completion");
  check(d.id !== (s.chat && s.chat.id), "a new log id", d.id);
  check(d.model_config_id !== (s.config && s.config.id), "a different config than the chat one", d.model_config_id);
  return { log_id: d.id };
});

await step("logs.log then logs.list shows it", async () => {
  need(["project", s.project]);
  const body = {
    project_id: s.project.id,
    inputs: { text: TEXT },
    output: "Friendly llamas like people.",
    source: "sdk",
    metadata: { flow: "ts-sdk", n: 1 },
    config: { ...COMPLETION_MODEL, type: "model" },
  };
  const res = await hl.log(body);
  const created = res.data;
  s.log = created;
  eq(res.status, 200, "status");
  check(!Array.isArray(created), "one log in, one CreateLogResponse out", created);
  idOf("log", created.id, "data_");
  eq(created.project_id, s.project.id, "project_id");
  const { log } = await findLog(s.project.id, created.id);
  check(log, "logs.list contains the new log", created.id);
  eq(log.output, body.output, "output");
  eq(log.inputs, body.inputs, "inputs");
  eq(log.metadata, body.metadata, "metadata");
  eq(log.source, "sdk", "source");
  eq(log.config.type, "model", "config.type");
  eq(log.config.model, COMPLETION_MODEL.model, "config.model");
  check(Array.isArray(log.evaluation_results), "evaluation_results is an array", log.evaluation_results);
  return { log_id: created.id };
});

await step("logs.list holds the chat and completion logs and counts every log", async () => {
  need(["chat", s.chat], ["completion", s.completion], ["log", s.log]);
  const { records } = await findLog(s.project.id, s.log.id);
  const chat = records.find((r) => r.id === s.chat.id);
  const completion = records.find((r) => r.id === s.completion.id);
  check(chat, "the chat log is listed", records.map((r) => r.id));
  check(completion, "the completion log is listed", records.map((r) => r.id));
  eq(chat.output, s.chat.output, "chat log output");
  eq(chat.inputs, { persona: "the pirate Blackbeard" }, "chat log inputs");
  eq(chat.config_id || chat.config.id, s.chat.model_config_id, "chat log config");
  eq(completion.output, s.completion.output, "completion log output");
  eq(records.length, 3, "chat + completion + log");
  const project = (await hl.projects.get({ id: s.project.id })).data;
  eq(project.data_count, 3, "projects.get data_count counts the logs");
});

await step("feedback on a log is visible on the log read back via logs.list", async () => {
  need(["log", s.log]);
  const res = await hl.feedback({ type: "rating", value: "good", data_id: s.log.id, user: "ts@example.com" });
  eq(res.status, 200, "status");
  const fb = Array.isArray(res.data) ? res.data[0] : res.data;
  eq(fb.type, "rating", "type");
  eq(fb.value, "good", "value");
  eq(fb.data_id, s.log.id, "data_id");
  check(typeof fb.id === "string", "feedback id", fb.id);
  const { log } = await findLog(s.project.id, s.log.id);
  check(log, "log still listed");
  const seen = (log.feedback || []).find((f) => f.type === "rating");
  check(seen, "the log's feedback holds the rating", log.feedback);
  eq(seen.value, "good", "feedback value on the log");
  eq(seen.user, "ts@example.com", "feedback user on the log");
});

await step("sessions.create, log into it, sessions.list/get", async () => {
  need(["project", s.project]);
  const created = await hl.sessions.create();
  check(created.status === 200 || created.status === 201, "2xx", created.status);
  const id = created.data.id;
  idOf("session", id, "sesh_");
  // config (or config_id/trial_id) is required on a log, as the SDK documents
  const logged = await hl.log({
    project_id: s.project.id,
    session_id: id,
    inputs: { q: "hi" },
    output: "hello",
    config: { ...COMPLETION_MODEL, type: "model" },
  });
  eq(logged.data.session_id, id, "log's session_id");
  const page = await hl.sessions.list({ projectId: s.project.id, page: 1, size: 10 });
  eq(page.data.page, 1, "sessions page (sessions page from 1)");
  const listed = page.data.records.find((r) => r.id === id);
  check(listed, "sessions.list contains the session", page.data.records.map((r) => r.id));
  check(
    listed.projects.some((p) => p.id === s.project.id),
    "the session's projects include the project",
    listed.projects,
  );
  eq(listed.datapoints_count, 1, "datapoints_count");
  const got = await hl.sessions.get({ id });
  eq(got.data.id, id, "sessions.get id");
  eq(got.data.last_output, "hello", "last_output");
  s.session = id;
  return { session_id: id };
});

await step("datasets.create, createDatapoint, listDatapoints", async () => {
  need(["project", s.project]);
  const ds = await hl.datasets.create({ projectId: s.project.id, name: `ds-${run}`, description: "TS SDK flow" });
  s.dataset = ds.data.id;
  eq(ds.status, 201, "datasets.create status");
  idOf("dataset", ds.data.id, "evts_");
  eq(ds.data.project_id, s.project.id, "project_id");
  eq(ds.data.datapoint_count, 0, "new dataset is empty");
  const dp = await hl.datasets.createDatapoint({
    datasetId: ds.data.id,
    requestBody: { inputs: { text: TEXT }, target: { summary: "Llamas are friendly." } },
  });
  eq(dp.status, 201, "createDatapoint status");
  check(Array.isArray(dp.data) && dp.data.length === 1, "one datapoint in, an array of one out", dp.data);
  const point = dp.data[0];
  eq(point.dataset_id, ds.data.id, "datapoint dataset_id");
  eq(point.inputs, { text: TEXT }, "datapoint inputs");
  const page = await hl.datasets.listDatapoints({ datasetId: ds.data.id, page: 0, size: 10 });
  eq(page.data.page, 0, "page");
  eq(page.data.total, 1, "total");
  eq(
    page.data.records.map((r) => r.id),
    [point.id],
    "records",
  );
  eq(page.data.records[0].target, { summary: "Llamas are friendly." }, "target");
  const got = await hl.datasets.get({ id: ds.data.id });
  eq(got.data.datapoint_count, 1, "datasets.get datapoint_count");
  const all = await hl.datasets.listAllForProject({ projectId: s.project.id });
  check(
    all.data.some((d) => d.id === ds.data.id),
    "listAllForProject contains the dataset",
    all.data.map((d) => d.id),
  );
  return { dataset_id: ds.data.id, datapoint_id: point.id };
});

// Finetunes exist only in this SDK (the Python SDK 0.7.30 dropped them).
await step("finetunes summary, create, listAllForProject, update", async () => {
  need(["project", s.project], ["dataset", s.dataset]);
  const request = { projectId: s.project.id, name: `ft-${run}`, dataset_id: s.dataset, config: { base_model: "gpt-3.5-turbo" } };
  const summary = await hl.finetunes.summary(request);
  eq(summary.data.dataset_id, s.dataset, "summary dataset_id");
  eq(summary.data.dataset_name, `ds-${run}`, "summary dataset_name");
  eq([summary.data.data_count, summary.data.error_count], [1, 0], "summary counts the one datapoint with a target");
  check(summary.data.token_count > 0 && summary.data.cost > 0, "summary has tokens and a cost", summary.data);
  const created = await hl.finetunes.create({ ...request, metadata: { flow: "ts" } });
  idOf("finetune", created.data.id, "ft_");
  eq(created.data.name, `ft-${run}`, "finetune name");
  eq(created.data.status, "pending", "a new finetune is pending");
  eq(created.data.config, { base_model: "gpt-3.5-turbo" }, "finetune config");
  eq(created.data.dataset.id, s.dataset, "finetune dataset");
  eq(created.data.metadata, { flow: "ts" }, "finetune metadata");
  eq(created.data.data_summary, summary.data, "finetune data_summary is the summary");
  const listed = await hl.finetunes.listAllForProject({ projectId: s.project.id });
  eq(listed.data.map((f) => f.id), [created.data.id], "listAllForProject");
  const updated = await hl.finetunes.update({ id: created.data.id, projectId: s.project.id, name: `ft-${run}-2` });
  eq(updated.data.name, `ft-${run}-2`, "updated name");
  const again = await hl.finetunes.listAllForProject({ projectId: s.project.id });
  eq(again.data.map((f) => f.name), [`ft-${run}-2`], "list shows the new name");
  await expectStatus(
    hl.finetunes.create({ ...request, dataset_id: "evts_missing" }),
    404,
    "finetunes.create with an unknown dataset",
  );
  return { finetune_id: created.data.id };
});

await step("evaluators create/list/get/delete", async () => {
  const body = {
    name: `ev-${run}`,
    description: "Output is non-empty",
    arguments_type: "target_free",
    return_type: "boolean",
    type: "python",
    code: "def evaluate(log):\n    return bool(log['output'])\n",
  };
  const created = await hl.evaluators.create(body);
  eq(created.status, 201, "create status");
  const e = created.data;
  idOf("evaluator", e.id, "evfn_");
  for (const k of ["name", "description", "arguments_type", "return_type", "type", "code"]) eq(e[k], body[k], k);
  const listed = await hl.evaluators.list();
  check(
    listed.data.some((x) => x.id === e.id),
    "evaluators.list contains it",
    listed.data.map((x) => x.id),
  );
  const got = await hl.evaluators.get({ id: e.id });
  eq(got.data.name, body.name, "get name");
  const del = await hl.evaluators.delete({ id: e.id });
  eq(del.status, 204, "delete status");
  await expectStatus(hl.evaluators.get({ id: e.id }), 404, "get after delete");
  const after = await hl.evaluators.list();
  check(!after.data.some((x) => x.id === e.id), "list no longer contains it", after.data.map((x) => x.id));
});

await step("experiments create/list/sample", async () => {
  need(["project", s.project], ["config", s.config]);
  const created = await hl.experiments.create({
    projectId: s.project.id,
    name: `exp-${run}`,
    positive_labels: [{ type: "rating", value: "good" }],
    config_ids: [s.config.id],
    set_active: true,
  });
  eq(created.status, 200, "create status");
  const x = created.data;
  s.experiment = x.id;
  idOf("experiment", x.id, "exp_");
  eq(x.project_id, s.project.id, "project_id");
  eq(x.positive_labels, [{ type: "rating", value: "good" }], "positive_labels");
  check(
    (x.configs || []).some((c) => c.config.id === s.config.id && c.active),
    "configs hold the registered config, active",
    x.configs,
  );
  const listed = await hl.experiments.list({ projectId: s.project.id });
  check(
    listed.data.some((y) => y.id === x.id),
    "experiments.list contains it",
    listed.data.map((y) => y.id),
  );
  const sampled = await hl.experiments.sample({ experimentId: x.id });
  eq(sampled.data.config.id, s.config.id, "sample draws from the experiment's configs");
  return { experiment_id: x.id };
});

// chatStream and completeStream: consume the stream, then find the log it made.
async function streamSteps(method, body) {
  await step(`${method}: events concatenate, last has finish_reason`, async () => {
    need(["project", s.project]);
    const res = await hl[method]({ project_id: s.project.id, ...body });
    eq(res.status, 200, "status");
    const events = await readStream(res);
    const { id, text } = checkStream(events, method);
    s[method] = { id, text };
    const projects = events.map((e) => e.project_id);
    check(projects.every((p) => p === s.project.id), "events carry the project_id", projects);
    return { events: events.length, chars: text.length };
  });
  await step(`${method} log is saved with the full output`, async () => {
    need([method, s[method]]);
    const { log } = await findLog(s.project.id, s[method].id);
    check(log, `logs.list contains the log ${method} made`, s[method].id);
    eq(log.output, s[method].text, "saved output equals the concatenated stream");
  });
}

await streamSteps("chatStream", {
  messages: [{ role: "user", content: "Tell me a short joke." }],
  model_config: MODEL,
  inputs: { persona: "a comedian" },
});
await streamSteps("completeStream", { model_config: COMPLETION_MODEL, inputs: { text: TEXT } });

await step("another API key does not see the project", async () => {
  need(["project", s.project]);
  await expectStatus(other.projects.get({ id: s.project.id }), 404, "projects.get with another key");
  const page = await other.projects.list({ page: 0, size: 100 });
  check(
    !page.data.records.some((r) => r.id === s.project.id),
    "projects.list with another key does not contain it",
    page.data.records.map((r) => r.id),
  );
  await expectStatus(other.logs.list({ projectId: s.project.id }), 404, "logs.list of a foreign project");
});

await step("projects.delete then projects.get is 404", async () => {
  need(["project", s.project]);
  const res = await hl.projects.delete({ id: s.project.id });
  eq(res.status, 204, "delete status");
  await expectStatus(hl.projects.get({ id: s.project.id }), 404, "get after delete");
  const page = await hl.projects.list({ page: 0, size: 100 });
  check(!page.data.records.some((r) => r.id === s.project.id), "list no longer contains it", page.data.records);
  await expectStatus(hl.projects.delete({ id: s.project.id }), 404, "second delete");
});

await step("ids carry the prefixes the SDK documents", async () => {
  const wrong = seenIds.filter(({ id, prefix }) => !id.startsWith(prefix));
  check(wrong.length === 0, "every id starts with its documented prefix", wrong);
  return { checked: seenIds.length };
});

const failed = results.filter((r) => !r.ok);
console.log(
  JSON.stringify({
    summary: true,
    passed: results.length - failed.length,
    failed: failed.length,
    failed_steps: failed.map((r) => r.step),
  }),
);
process.exit(failed.length ? 1 : 0);
