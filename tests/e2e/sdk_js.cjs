// An app using the official JS `langsmith` SDK, unmodified, configured only by environment.
//
// `node sdk_js.cjs works`  traces nested runs, reads them back, and makes Client calls.
// `node sdk_js.cjs denied` expects the key to be refused and reports what the SDK said.
// The last line printed is `E2E_RESULT <json>` for the runner. CommonJS, so that NODE_PATH
// finds the SDK installed in the runner's cache directory.
"use strict";

const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const zlib = require("node:zlib");
const { Client, __version__ } = require("langsmith");
const { traceable, getCurrentRunTree } = require("langsmith/traceable");

async function traced(client) {
  const ids = {};
  const child = traceable(
    async (x) => {
      ids.child = getCurrentRunTree().id;
      return x * 2;
    },
    { name: "e2e-child", client },
  );
  const parent = traceable(
    async (x) => {
      ids.parent = getCurrentRunTree().id;
      return (await child(x)) + 1;
    },
    { name: "e2e-parent", client },
  );
  assert.equal(await parent(20), 41);
  await client.awaitPendingTraceBatches();
  return ids;
}

async function works() {
  const client = new Client();
  const suffix = crypto.randomUUID().slice(0, 8);
  const ids = await traced(client);

  const parent = await client.readRun(ids.parent);
  const child = await client.readRun(ids.child);
  assert.equal(parent.name, "e2e-parent");
  assert.deepEqual(parent.outputs, { outputs: 41 });
  assert.equal(child.parent_run_id, ids.parent);
  assert.deepEqual(child.outputs, { outputs: 40 });

  const project = await client.createProject({ projectName: `e2e-js-project-${suffix}` });
  const dataset = await client.createDataset(`e2e-js-dataset-${suffix}`, { description: "e2e" });
  await client.createExamples({
    datasetId: dataset.id,
    inputs: [{ question: "2+2" }, { question: "3+3" }],
    outputs: [{ answer: "4" }, { answer: "6" }],
  });
  const examples = [];
  for await (const example of client.listExamples({ datasetId: dataset.id })) {
    examples.push(example);
  }
  assert.equal(examples.length, 2);
  const names = [];
  for await (const p of client.listProjects()) {
    names.push(p.name);
  }
  assert.ok(names.includes(project.name), `${project.name} not in ${names}`);
  const feedback = await client.createFeedback(ids.parent, "e2e-correct", { score: 1 });
  return {
    ok: true,
    run_ids: ids,
    project: project.name,
    dataset: dataset.name,
    feedback_id: feedback.id,
  };
}

async function denied() {
  const warnings = [];
  const warn = console.warn;
  console.warn = (...args) => {
    warnings.push(args.join(" "));
    warn(...args);
  };
  const client = new Client();
  await traced(client);
  try {
    await client.createProject({ projectName: `e2e-js-denied-${crypto.randomUUID().slice(0, 8)}` });
  } catch (error) {
    return { ok: true, error_status: error.status, error_text: error.message, trace_warnings: warnings };
  }
  return { ok: false, error: "createProject succeeded with a refused key" };
}

async function main() {
  const mode = process.argv[2];
  console.error(`js langsmith ${__version__}, node ${process.version}`);
  let result;
  try {
    result = await { works, denied }[mode]();
  } catch (error) {
    result = { ok: false, error: String(error && error.stack ? error.stack : error) };
  }
  // Which encoding the SDK can pick when /info allows both zstd and gzip.
  result.zstd_available = typeof zlib.createZstdCompress === "function";
  console.log("E2E_RESULT " + JSON.stringify(result));
}

main();
