// Reads streams from specfake with the official Humanloop TypeScript SDK (humanloop@0.5.36, installed
// under tests/sdk_ts). Run by tests/streaming/test_sdk_streams.py; prints one JSON line per call:
// {method, events: [{output, id, index, finish_reason, ...}]} or {method, error}.
// Environment: SPECFAKE_URL, SPECFAKE_API_KEY, SPECFAKE_CALLS (JSON: [[method, params], ...]).
import { createRequire } from "node:module";

const require = createRequire(new URL("../sdk_ts/package.json", import.meta.url));
const { Humanloop } = require("humanloop");

const hl = new Humanloop({ basePath: process.env.SPECFAKE_URL, apiKey: process.env.SPECFAKE_API_KEY });
const decoder = new TextDecoder();

for (const [method, params] of JSON.parse(process.env.SPECFAKE_CALLS)) {
  try {
    const response = await hl[method](params);
    const reader = response.data.getReader();
    const events = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      events.push(JSON.parse(decoder.decode(value)));
    }
    console.log(JSON.stringify({ method, events }));
  } catch (error) {
    console.log(JSON.stringify({ method, error: String(error) }));
  }
}
