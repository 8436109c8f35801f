#!/usr/bin/env node
// onnx.test.mjs -- GET /v1/models/{id}/model.onnx run by ONNX Runtime (npm's
// onnxruntime-node, its CPU build) and checked by the onnx package's checker (Debian's
// python3-onnx), against the real binary on a free port with a temporary database.
//
// Small models are trained through the API so that every layer kind and activation is
// in one of them: dense with each activation, activation layers, batchnorm (with its
// running statistics moved off their start), dropout, a residual block, rnn (tanh and
// relu), lstm and gru with and without return_sequences, a dense layer and a softmax at
// every step; with and without standardized inputs, a regression with standardized
// labels, a classifier with class names. Each model's export must pass
// onnx.checker.check_model(full_check=True), say its classes and shapes, and its outputs
// on 300 rows must be /predict's: |onnx - predict| <= 1e-5 * max(1, |predict|, std) for
// every value, std the label scaler's deviation of that output when the labels were
// standardized (else 0): absolute below 1, relative above, and relative to the labels'
// spread for a regression whose network works in standardized units (an output near 0
// of labels spread over tens carries the network's error times their deviation). Each
// assertion is one check; the last line is a summary in Check's format, which
// tests/run.sh totals.
//
// Environment: NEUROND_BIN (default build/neurond), PYTHON (default Debian's
// /usr/bin/python3, which has python3-onnx, before any other python3 on the PATH).
import {spawn, execFileSync} from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import ort from 'onnxruntime-node';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.resolve(root, process.env.NEUROND_BIN || 'build/neurond');
const python = process.env.PYTHON ||
  (fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const t0 = Date.now();
const TOL = 1e-5;
const ROWS = 300;

let checks = 0, failures = 0, errors = 0;
function check(ok, what, detail) {
  checks++;
  if (!ok) {
    failures++;
    console.log(`onnx: FAIL: ${what}${detail !== undefined ? ` (${detail})` : ''}`);
  }
  return ok;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(fn, ms, what) {
  for (const end = Date.now() + ms; ;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const {port} = s.address();
      s.close(() => resolve(port));
    }).on('error', reject);
  });
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neurond-onnx-'));
let server = null, base = '';

async function api(method, p, body) {
  const res = await fetch(base + p, {method, body: body ? JSON.stringify(body) : undefined,
                                     headers: body ? {'Content-Type': 'application/json'} : {}});
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

// A seeded generator (mulberry32), so that every run trains on the same data.
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(7);
const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());

// Rows of F features (or T steps of F) far from standardized: means 3 to 12, deviations 2
// to 5, so that a scaler left out or applied twice shows.
function rows(n, F, T) {
  const one = () => Array.from({length: F}, (_, j) => 3 * (j + 1) + (2 + j) * normal());
  return Array.from({length: n}, () => (T ? Array.from({length: T}, one) : one()));
}
const flat = (a) => a.flat(Infinity);

// The datasets: flat rows with class names and with large numbers as labels; sequences
// with a number per row, a number per step, and a class per step.
async function datasets() {
  const F = 3, T = 6, n = 400;
  const x = rows(n, F, 0);
  const s = (r) => r[0] - 0.5 * r[1] + 0.3 * r[2];
  const classes = x.map((r) => (s(r) < 0 ? 'low' : s(r) < 4 ? 'mid' : 'high'));
  const numbers = x.map((r) => 200 + 40 * s(r));
  const q = rows(n, F, T);
  const steps = q.map((r) => r.map((v) => v[0] - v[1] + 0.1 * v[2]));
  const ds = {
    classes: await api('POST', '/v1/datasets', {name: 'onnx-classes', features: x, labels: classes}),
    numbers: await api('POST', '/v1/datasets', {name: 'onnx-numbers', features: x, labels: numbers}),
    seqlast: await api('POST', '/v1/datasets', {name: 'onnx-seq-last', features: q,
                                                labels: steps.map((r) => r[T - 1] + r[0])}),
    seqsteps: await api('POST', '/v1/datasets', {name: 'onnx-seq-steps', features: q,
                                                 labels: steps.map((r) => r.map((v) => 50 + 10 * v))}),
    seqclasses: await api('POST', '/v1/datasets', {name: 'onnx-seq-classes', features: q,
                                                   labels: steps.map((r) => r.map((v) => (v < -3 ? 0 : v < -1 ? 1 : 2)))}),
  };
  return {ds, F, T};
}

// The models: a network, a dataset, the job's options.
function cases(F, T) {
  const dense = (units, activation, more) => ({type: 'dense', units, activation, ...more});
  const cce = {loss: 'categorical_crossentropy', metrics: ['accuracy']};
  const activations = [dense(8, 'relu'), dense(8, 'leaky_relu', {alpha: 0.2}), dense(8, 'sigmoid'),
                       dense(8, 'tanh'), dense(8, 'linear'), dense(8, 'step'), dense(3, 'softmax')];
  const seq = (layers, loss = 'mse') => ({inputs: F, timesteps: T, loss, layers});
  return [
    {name: 'dense, every activation, standardized', dataset: 'classes',
     network: {inputs: F, ...cce, layers: activations}},
    {name: 'dense, every activation, not standardized', dataset: 'classes', job: {standardize: false},
     network: {inputs: F, ...cce, layers: activations}},
    {name: 'activation layers, batchnorm, dropout, residual', dataset: 'classes',
     network: {inputs: F, ...cce, layers: [
       dense(16, 'linear'),
       {type: 'batchnorm', momentum: 0.5, epsilon: 0.01},
       {type: 'activation', activation: 'leaky_relu', alpha: 0.1},
       {type: 'dropout', rate: 0.2},
       {type: 'residual', layers: [dense(16, 'tanh'), {type: 'batchnorm', momentum: 0.5},
                                   {type: 'activation', activation: 'relu'}]},
       {type: 'activation', activation: 'sigmoid'},
       dense(16, 'linear'),
       {type: 'activation', activation: 'tanh'},
       dense(3, 'linear'),
       {type: 'activation', activation: 'softmax'}]}},
    {name: 'activation layers step and linear', dataset: 'classes',
     network: {inputs: F, ...cce, layers: [
       dense(12, 'linear'),
       {type: 'activation', activation: 'step'},
       {type: 'activation', activation: 'linear'},
       dense(3, 'softmax')]}},
    {name: 'regression, standardized labels', dataset: 'numbers', job: {standardize_labels: true},
     network: {inputs: F, loss: 'mse', layers: [dense(16, 'relu'), dense(1, 'linear')]}},
    {name: 'regression, labels as they are, inputs not standardized', dataset: 'numbers',
     job: {standardize: false, standardize_labels: false},
     network: {inputs: F, loss: 'mse', layers: [dense(16, 'tanh'), dense(1, 'linear')]}},
    {name: 'rnn tanh, last step', dataset: 'seqlast',
     network: seq([{type: 'rnn', units: 8}, dense(1, 'linear')])},
    {name: 'rnn relu, last step, not standardized', dataset: 'seqlast', job: {standardize: false},
     network: seq([{type: 'rnn', units: 8, activation: 'relu'}, dense(1, 'linear')])},
    {name: 'lstm, last step', dataset: 'seqlast',
     network: seq([{type: 'lstm', units: 8}, dense(1, 'linear')])},
    {name: 'gru, last step', dataset: 'seqlast',
     network: seq([{type: 'gru', units: 8}, dense(1, 'linear')])},
    {name: 'rnn, lstm, gru with every step, dense per step, standardized labels', dataset: 'seqsteps',
     job: {standardize_labels: true},
     network: seq([{type: 'rnn', units: 6, return_sequences: true},
                   {type: 'lstm', units: 7, return_sequences: true},
                   {type: 'gru', units: 5, return_sequences: true},
                   {type: 'activation', activation: 'tanh'},
                   dense(1, 'linear')])},
    {name: 'lstm and gru with every step then last, dense over a sequence', dataset: 'seqlast',
     network: seq([{type: 'lstm', units: 6, return_sequences: true}, dense(5, 'relu'),
                   {type: 'gru', units: 4}, dense(1, 'linear')])},
    {name: 'gru with every step, softmax per step', dataset: 'seqclasses',
     network: seq([{type: 'gru', units: 8, return_sequences: true}, dense(6, 'leaky_relu'),
                   dense(3, 'softmax')], 'categorical_crossentropy')},
  ];
}

async function train(c, ds) {
  const network = await api('POST', '/v1/networks', {name: c.name.slice(0, 60), ...c.network});
  const job = await api('POST', '/v1/jobs', {network: network.id, dataset: ds[c.dataset].id,
                                             epochs: 4, batch_size: 32, seed: 3,
                                             optimizer: {type: 'adam', learning_rate: 0.01},
                                             ...c.job});
  const done = await until(async () => {
    const j = await api('GET', `/v1/jobs/${job.id}`);
    if (['failed', 'cancelled'].includes(j.state)) throw new Error(`${c.name}: job ${j.state}: ${j.error}`);
    return j.state === 'succeeded' && j;
  }, 60000, `${c.name} to train`);
  return done.model;
}

// The largest |onnx - predict| / max(1, |predict|, std), and where; std[i % K] the
// label scaler's deviation of each output (an empty std: none).
function worst(got, want, std) {
  let w = 0, at = -1;
  for (let i = 0; i < want.length; i++) {
    const s = std.length ? std[i % std.length] : 0;
    const e = Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i]), s);
    if (!(e <= w)) w = e, at = i;   // NaN counts as the worst
  }
  return {w, at};
}

async function main() {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const log = fs.openSync(path.join(dir, 'neurond.log'), 'a');
  server = spawn(bin, ['--port', String(port), '--db', path.join(dir, 'neurond.db'),
                       '--workers', '2', '--threads', '1'], {stdio: ['ignore', log, log]});
  await until(async () => {
    try { return (await fetch(base + '/healthz')).status === 200; } catch { return false; }
  }, 10000, 'neurond to answer /healthz');

  // an unknown model: 404 as problem+json
  const nf = await fetch(`${base}/v1/models/mdl_nosuchmodel/model.onnx`);
  const nfBody = await nf.text();
  check(nf.status === 404 && nf.headers.get('content-type') === 'application/problem+json' &&
        JSON.parse(nfBody).status === 404, 'an unknown model is a 404 problem+json',
        `${nf.status} ${nf.headers.get('content-type')} ${nfBody}`);

  const {ds, F, T} = await datasets();
  const all = cases(F, T);
  const models = await Promise.all(all.map((c) => train(c, ds)));

  const files = [];
  let largest = 0;
  for (let k = 0; k < all.length; k++) {
    const c = all[k], id = models[k], isSeq = !!c.network.timesteps;
    const res = await fetch(`${base}/v1/models/${id}/model.onnx`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    check(res.status === 200, `${c.name}: 200`, res.status);
    check(res.headers.get('content-type') === 'application/octet-stream',
          `${c.name}: application/octet-stream`, res.headers.get('content-type'));
    check(res.headers.get('content-disposition') === `attachment; filename="${id}.onnx"`,
          `${c.name}: named ${id}.onnx`, res.headers.get('content-disposition'));
    const file = path.join(dir, `${id}.onnx`);
    fs.writeFileSync(file, bytes);
    files.push(file);

    const x = rows(ROWS, F, isSeq ? T : 0);
    const want = flat((await api('POST', `/v1/models/${id}/predict`, {inputs: x})).outputs);
    // a model whose outputs do not change with its rows would prove little
    const spread = Math.max(...want.map((v, i) => Math.abs(v - want[i % (want.length / ROWS)])));
    check(spread > 1e-3, `${c.name}: /predict's outputs vary with the rows`, spread);
    const session = await ort.InferenceSession.create(bytes);
    check(session.inputNames.join() === 'input' && session.outputNames.join() === 'output',
          `${c.name}: one input "input", one output "output"`,
          `${session.inputNames} ${session.outputNames}`);
    const dims = isSeq ? [ROWS, T, F] : [ROWS, F];
    const out = await session.run({input: new ort.Tensor('float32', Float32Array.from(flat(x)), dims)});
    const got = Array.from(out.output.data);
    check(got.length === want.length, `${c.name}: as many outputs as /predict's`,
          `${got.length} and ${want.length}`);
    const model = await api('GET', `/v1/models/${id}`);
    const {w, at} = worst(got, want, model.label_scaler ? model.label_scaler.std : []);
    largest = Math.max(largest, w);
    check(w <= TOL, `${c.name}: ONNX Runtime's outputs are /predict's within ${TOL}`,
          `worst ${w} at value ${at}: ${got[at]} and ${want[at]}`);
    const lastUnits = c.network.layers.filter((l) => l.units).at(-1).units;
    const steps = out.output.dims.length === 3;
    check(out.output.dims[0] === ROWS && out.output.dims.at(-1) === lastUnits &&
          (!steps || out.output.dims[1] === T), `${c.name}: output of [N, ${steps ? 'T, ' : ''}K]`,
          JSON.stringify(out.output.dims));
    await session.release();
  }

  console.log(`onnx: ${all.length} models, ${ROWS} rows each: the largest difference was ${largest.toExponential(2)} (of ${TOL})`);

  // Debian's onnx: the checker (full_check: shapes inferred through the whole graph), the
  // metadata and the declared input and output
  const script = `
import json, sys, onnx
out = {}
for f in sys.argv[1:]:
    m = onnx.load(f)
    try:
        onnx.checker.check_model(m, full_check=True)
        err = None
    except Exception as e:
        err = str(e)
    shape = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
    out[f] = {"error": err, "ir": m.ir_version, "opset": [o.version for o in m.opset_import],
              "producer": m.producer_name, "meta": {p.key: p.value for p in m.metadata_props},
              "input": [shape(v) for v in m.graph.input], "output": [shape(v) for v in m.graph.output],
              "ops": sorted({n.op_type for n in m.graph.node})}
json.dump(out, sys.stdout)`;
  const info = JSON.parse(execFileSync(python, ['-c', script, ...files], {encoding: 'utf8'}));
  const ops = new Set();
  for (let k = 0; k < all.length; k++) {
    const c = all[k], m = info[files[k]], isSeq = !!c.network.timesteps;
    m.ops.forEach((o) => ops.add(o));
    check(m.error === null, `${c.name}: onnx.checker.check_model(full_check=True) accepts it`, m.error);
    check(m.ir === 8 && m.opset.join() === '17' && m.producer === 'neurond',
          `${c.name}: IR 8, opset 17, producer neurond`, `${m.ir} ${m.opset} ${m.producer}`);
    check(JSON.stringify(m.input) === JSON.stringify(isSeq ? [['N', T, F]] : [['N', F]]),
          `${c.name}: input [N, ${isSeq ? 'T, ' : ''}F]`, JSON.stringify(m.input));
    check(m.meta.model === models[k] && m.meta.label_kind && m.meta.loss === c.network.loss &&
          (isSeq ? m.meta.timesteps === String(T) : !('timesteps' in m.meta)) &&
          JSON.parse(m.meta.network).layers.length === c.network.layers.length,
          `${c.name}: metadata (model, label_kind, loss, timesteps, network)`, JSON.stringify(m.meta));
    if (c.dataset === 'classes')
      check(m.meta.classes === JSON.stringify(['high', 'low', 'mid']) && m.meta.label_kind === 'classes',
            `${c.name}: the class names in metadata_props`, m.meta.classes);
  }
  // every operator the export may write was met
  for (const o of ['Sub', 'Div', 'Gemm', 'MatMul', 'Add', 'Mul', 'Relu', 'LeakyRelu', 'Sigmoid',
                   'Tanh', 'Softmax', 'Greater', 'Cast', 'BatchNormalization', 'RNN', 'LSTM',
                   'GRU', 'Transpose', 'Squeeze'])
    check(ops.has(o), `some model has ${o}`);
  check(!ops.has('Dropout'), 'dropout is left out');
}

try {
  await main();
} catch (e) {
  errors++;
  checks++;
  console.log(`onnx: ERROR: ${e.stack || e}`);
}
if (server && server.exitCode === null) {
  server.kill('SIGTERM');
  await new Promise((r) => (server.exitCode !== null ? r() : server.on('exit', r)));
}
if (failures + errors === 0)
  fs.rmSync(dir, {recursive: true, force: true});
else
  console.log(`onnx: the service's log and the exported files are in ${dir}`);
const pct = Math.floor(100 * (checks - failures - errors) / Math.max(checks, 1));
console.log(`onnx: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(`${pct}%: Checks: ${checks}, Failures: ${failures}, Errors: ${errors}`);
process.exit(failures + errors ? 1 : 0);
