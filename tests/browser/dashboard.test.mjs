#!/usr/bin/env node
// dashboard.test.mjs -- the dashboard (GET /) in headless Chromium against the real binary
// on a free port with a temporary database: the page loads and lists the jobs, a running
// job's loss curve grows as its epochs arrive over the event stream, the job ends
// succeeded with a model and the page closes its stream, Cancel cancels, the prediction
// form answers what the REST route answers, sequence models are listed with their steps
// and asked as T lines of F numbers (a row of another shape refused in the page), a job's
// panel shows its layers' outputs, API text is shown as text, errors are shown
// (a failed job's problem by its detail, a prediction's problem alone), losses near 1e36
// read in exponent notation in the tables and the chart's ticks and counts as whole
// numbers, both tables fit at 1280 px, and the console shows no errors; the page comes with its Content-Security-Policy and
// nothing on it breaks that policy. Then a service that wants tokens: the page asks for
// one once, in its own form, says when one is refused, sends it with every request and the
// event stream, keeps it across a reload, and shows a read token's 403. Each assertion is
// one check; the last line is a summary in Check's format, which tests/run.sh totals.
//
// Environment: NEUROND_BIN (default build/neurond), CHROMIUM (default /usr/bin/chromium),
// SCREENSHOT=path to also save a picture of the dashboard following the job mid-run.
import {chromium} from 'playwright-core';
import {execFileSync, spawn} from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.resolve(root, process.env.NEUROND_BIN || 'build/neurond');
const t0 = Date.now();

let checks = 0, failures = 0, errors = 0;
function check(ok, what, detail) {
  checks++;
  if (!ok) {
    failures++;
    console.log(`dashboard: FAIL: ${what}${detail !== undefined ? ` (${detail})` : ''}`);
  }
  return ok;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Calls fn until it returns something truthy; throws after ms with what it waited for.
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

// Three interleaved noisy spirals, one class each: a problem an MLP needs tens of epochs
// for, so that the curve has a shape. Seeded, so every run trains the same job.
function spirals(perClass) {
  let s = 12345;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const features = [], labels = [];
  ['red', 'green', 'blue'].forEach((name, c) => {
    for (let i = 1; i <= perClass; i++) {
      const r = i / perClass, t = c * 2 * Math.PI / 3 + r * 12 + (rnd() - 0.5);
      features.push([+(r * Math.cos(t)).toFixed(4), +(r * Math.sin(t)).toFixed(4)]);
      labels.push(name);
    }
  });
  return {name: 'spirals', features, labels};
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neurond-browser-'));
let server = null, browser = null, base = '', token = null;

async function api(method, p, body) {
  const headers = body ? {'Content-Type': 'application/json'} : {};
  if (token) headers.Authorization = 'Bearer ' + token;
  const res = await fetch(base + p, {method, headers, body: body ? JSON.stringify(body) : undefined});
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return {status: res.status, json, text};
}

async function create(p, body, status) {
  const r = await api('POST', p, body);
  if (r.status !== status || !r.json || !r.json.id)
    throw new Error(`POST ${p}: ${r.status} ${r.text.slice(0, 300)}`);
  return r.json;
}

async function startServer(db = 'neurond.db', extra = []) {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const log = fs.openSync(path.join(dir, 'neurond.log'), 'a');
  server = spawn(bin, ['--port', String(port), '--db', path.join(dir, db), '--threads', '1',
                       ...extra], {stdio: ['ignore', log, log]});
  let exited = null;
  server.on('exit', (code) => { exited = code; });
  await until(async () => {
    if (exited !== null) throw new Error(`neurond exited (${exited}) at start; see ${dir}/neurond.log`);
    try { return (await fetch(base + '/healthz')).status === 200; } catch { return false; }
  }, 10000, 'neurond to answer /healthz');
}

async function main() {
  const version = execFileSync(bin, ['--version']).toString().trim().split(' ')[1];
  await startServer();

  // A quick job first, so that a model is listed; then the one the test follows, and a
  // third queued behind it that the page cancels.
  const ds = await create('/v1/datasets', spirals(3000), 201);
  const network = await create('/v1/networks', {
    name: 'spiral-mlp', inputs: 2, loss: 'categorical_crossentropy', metrics: ['accuracy'],
    layers: [{type: 'dense', units: 384, activation: 'relu'},
             {type: 'dense', units: 384, activation: 'relu'},
             {type: 'dense', units: 3, activation: 'softmax'}]}, 201);
  const job = (name, epochs) => ({name, network: network.id, dataset: ds.id, epochs,
                                  validation: {split: 0.2}, batch_size: 32, seed: 1,
                                  optimizer: {type: 'adam', learning_rate: 0.0005}});
  const warmupJob = await create('/v1/jobs', job('spiral-warmup', 2), 202);
  const warmup = await until(async () => {
    const j = (await api('GET', `/v1/jobs/${warmupJob.id}`)).json;
    return j.state === 'succeeded' && j;
  }, 20000, 'the warm-up job');

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--disable-dev-shm-usage']});   // containers often have a small /dev/shm
  const page = await browser.newPage({viewport: {width: 1280, height: 800}});
  const consoleErrors = [], pageErrors = [], streams = new Map();
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('request', (r) => {
    const m = /\/v1\/jobs\/([^/]+)\/events$/.exec(new URL(r.url()).pathname);
    if (m) streams.set(m[1], (streams.get(m[1]) || 0) + 1);
  });
  await watchPolicy(page);

  const followed = await create('/v1/jobs', job('spiral-mlp', 60), 202);
  const queued = await create('/v1/jobs', job('spiral-long', 500), 202);

  // The page loads and shows the jobs.
  const res = await page.goto(base + '/');
  check(res.status() === 200, 'GET / answers 200', res.status());
  check(/^text\/html/.test(res.headers()['content-type']), 'GET / is HTML', res.headers()['content-type']);
  const csp = res.headers()['content-security-policy'] || '';
  check(/^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/]+=*'; style-src 'sha256-[A-Za-z0-9+/]+=*';/.test(csp) &&
        /connect-src 'self'/.test(csp) && /frame-ancestors 'none'/.test(csp) && !/unsafe|http/.test(csp),
        'GET / has a Content-Security-Policy: its own script and style, itself, no framing', csp);
  check(res.headers()['x-content-type-options'] === 'nosniff', 'GET / says nosniff');
  check(res.headers()['referrer-policy'] === 'no-referrer', 'GET / says no-referrer');
  check(await page.title() === 'neurond', 'the page is titled neurond', await page.title());
  const versionText = await page.textContent('header .version');
  check(versionText === 'v' + version, 'the header shows the version neurond --version prints',
        versionText);
  const row = `#jobs tr[data-id="${followed.id}"]`;
  await page.waitForSelector(row, {timeout: 5000});
  check(await page.locator('#jobs tbody tr').count() === 3, 'the table lists the three jobs',
        await page.locator('#jobs tbody tr').count());
  check((await page.textContent(`${row} .name`)) === 'spiral-mlp', 'the row names the job');

  // Selected while it runs, the job's curve grows as epochs arrive.
  await page.click(row);
  await page.waitForSelector('#job-detail[data-stream="live"]', {timeout: 5000});
  check((await page.textContent('#job-id')) === followed.id, 'the panel shows the selected job');
  const points = () => page.locator('#chart circle.point.loss').count();
  const c1 = await until(points, 20000, 'the first point of the curve');
  const atC1 = (await api('GET', `/v1/jobs/${followed.id}`)).json;
  check(atC1.state === 'running' && atC1.epoch < atC1.epochs,
        'the job is still running when the curve is first counted', `${atC1.state}, epoch ${atC1.epoch}`);
  const c2 = await until(async () => { const n = await points(); return n > c1 && n; }, 10000,
                         'the curve to grow');
  check(c2 > c1, 'the curve grows while the job runs', `${c1} then ${c2} points`);
  const vals = await page.locator('#chart circle.point.val_loss').count();
  check(vals > 0, 'the validation loss is drawn too', vals);
  const bar = await until(async () => Number(await page.getAttribute('#job .bar.big', 'aria-valuenow')),
                          5000, 'the progress bar to move');
  check(bar > 0, 'the progress bar moves', bar);
  check((await page.textContent('#job-state')) === 'running', 'the badge says running while it runs');

  // Meanwhile the form answers what the REST route answers (the click on Predict
  // replaces the last answer at once, so #prediction is the new one).
  const ask = async (model, inputs) => {
    await page.fill('#predict-inputs', inputs.join(', '));
    await page.click('#predict button[type=submit]');
    await page.waitForSelector('#prediction', {timeout: 5000});
    const want = (await api('POST', `/v1/models/${model}/predict`, {inputs: [inputs]})).json;
    const got = await page.textContent('#prediction span');
    return check(got === want.predictions[0], 'the form shows the prediction',
                 `${got} vs ${want.predictions[0]}`);
  };
  await page.selectOption('#predict-model', warmup.model);
  await ask(warmup.model, [0.25, -0.5]);

  if (process.env.SCREENSHOT) {
    await page.waitForFunction(() => {
      return Number(document.querySelector('#job .bar.big').getAttribute('aria-valuenow')) >= 60;
    }, null, {timeout: 60000});
    await page.screenshot({path: path.resolve(root, process.env.SCREENSHOT)});
  }

  // It ends succeeded, every stored epoch drawn, its stream closed, its model listed.
  await page.waitForFunction(() => document.querySelector('#job-state').textContent !== 'running',
                             null, {timeout: 60000});
  check((await page.textContent('#job-state')) === 'succeeded', 'the job ends succeeded',
        await page.textContent('#job-state'));
  check((await page.textContent(`${row} .badge`)) === 'succeeded', 'its row says succeeded');
  const ended = Date.now();
  check((await page.getAttribute('#job-detail', 'data-stream')) === 'ended',
        'the panel marks the stream ended');
  const stored = (await api('GET', `/v1/jobs/${followed.id}/metrics`)).json.epochs;
  await page.waitForTimeout(100);   // the chart draws on the next animation frame
  check(await points() === stored.length, 'one point per stored epoch',
        `${await points()} of ${stored.length}`);
  check(await page.locator('#chart circle.point.val_loss').count() === stored.length,
        'one validation point per stored epoch');
  const done = (await api('GET', `/v1/jobs/${followed.id}`)).json;
  check(!!done.model, 'the job left a model');
  const modelRow = `#models tr[data-id="${done.model}"]`;
  check(await page.waitForSelector(modelRow, {timeout: 5000}).then(() => true, () => false),
        'the model appears in the models table');

  // A model picked from the table answers in the form too.
  await page.click(modelRow);
  check(await page.inputValue('#predict-model') === done.model, 'clicking a model picks it');
  await ask(done.model, [-0.1, 0.4]);

  // An EventSource left open reconnects 3 s after the server ends the stream (Chromium's
  // default; the server sends no retry:), so one request after 4.5 s, with the job still
  // selected, means the page closed it.
  await sleep(Math.max(0, ended + 4500 - Date.now()));
  check((streams.get(followed.id) || 0) === 1, 'the page closed the stream: no reconnections',
        streams.get(followed.id));

  // The Cancel button stops the job queued behind it.
  await page.click(`#jobs tr[data-id="${queued.id}"]`);
  await page.waitForSelector('#job-detail[data-stream="live"]', {timeout: 5000});
  await page.click('#job-cancel');
  await page.waitForSelector('#job-detail[data-stream="ended"]', {timeout: 10000});
  check((await page.textContent('#job-state')) === 'cancelled', 'Cancel cancels the job',
        await page.textContent('#job-state'));
  check((await api('GET', `/v1/jobs/${queued.id}`)).json.state === 'cancelled',
        'the service has the job cancelled');

  await sequences(page);
  await numbers(page);

  check(consoleErrors.length === 0, 'no console errors', consoleErrors.join(' | '));
  check(pageErrors.length === 0, 'no page errors', pageErrors.join(' | '));
  check((await violations(page)).length === 0, 'nothing breaks the Content-Security-Policy',
        (await violations(page)).join(' | '));

  // What follows makes the page meet errors on purpose (the browser logs those requests).
  await page.selectOption('#predict-model', done.model);
  await page.fill('#predict-inputs', '0.25');
  await page.click('#predict button[type=submit]');
  await page.waitForSelector('#predict-error', {timeout: 5000});
  const problem = await page.textContent('#predict-error');
  check(/takes 2 inputs/.test(problem), "the form shows the service's problem detail", problem);
  const answer = await page.textContent('#predict-result');
  check(answer === problem, 'and nothing after it', answer);

  const hostile = '<img src=x onerror="window.__xss=1">&amp;';
  const named = await create('/v1/jobs', job(hostile, 1), 202);
  await page.waitForSelector(`#jobs tr[data-id="${named.id}"]`, {timeout: 5000});
  check((await page.textContent(`#jobs tr[data-id="${named.id}"] .name`)) === hostile,
        'a job name is shown as text, not markup');
  check(await page.locator('#jobs img').count() === 0 &&
        await page.evaluate(() => window.__xss === undefined), 'no markup from a name runs');

  await page.goto(base + '/#job_missing');
  await page.waitForFunction(() => /no job/.test(document.querySelector('#job-none').textContent),
                             null, {timeout: 5000}).catch(() => {});
  check(/no job with id job_missing/.test(await page.textContent('#job-none')),
        'an unknown job in the address says so', await page.textContent('#job-none'));

  server.kill('SIGTERM');
  await page.waitForSelector('#banner:not([hidden])', {timeout: 6000}).catch(() => {});
  check(/Cannot reach neurond/.test(await page.textContent('#banner')),
        'a stopped service shows a banner', await page.textContent('#banner'));
}

// Sequence models, made through the API: a dataset of 5 steps of 2 features whose label
// is the sum of the first feature over the steps, a gru given inline in its job, and an
// lstm network answering at every step (its labels per step). In the page: the models are
// listed with their steps, a job's panel shows its shapes and its layers' outputs (steps x
// units), a row typed as 5 lines of 2 numbers (or the 10 on one line) is answered as
// POST /v1/models/{id}/predict answers it, an answer per step is shown per step, and a
// row of the wrong shape or with a word in it is refused in the page, naming what is
// wrong, without a request.
async function sequences(page) {
  const T = 5, F = 2;
  let s = 4242;
  const rnd = () => +((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648).toFixed(3);
  const features = [], sums = [], each = [];
  for (let i = 0; i < 300; i++) {
    const row = [...Array(T)].map(() => [rnd(), rnd()]);
    features.push(row);
    sums.push(+row.reduce((a, step) => a + step[0], 0).toFixed(3));
    each.push(row.map((step) => +(step[0] + step[1]).toFixed(3)));
  }
  const ds = await create('/v1/datasets', {name: 'steps', features, labels: sums}, 201);
  const dsEach = await create('/v1/datasets', {name: 'steps-each', features, labels: each}, 201);
  const seqJob = await create('/v1/jobs', {name: 'seq-gru', dataset: ds.id, epochs: 2, seed: 1,
    network: {name: 'seq-gru', inputs: F, timesteps: T, loss: 'mse',
              layers: [{type: 'gru', units: 8}, {type: 'dense', units: 1}]}}, 202);
  const lstm = await create('/v1/networks', {name: 'seq-lstm', inputs: F, timesteps: T,
    loss: 'mse', layers: [{type: 'lstm', units: 6, return_sequences: true},
                          {type: 'dense', units: 1}]}, 201);
  const eachJob = await create('/v1/jobs', {name: 'seq-each', network: lstm.id,
                                            dataset: dsEach.id, epochs: 2, seed: 1}, 202);
  const ended = async (id) => until(async () => {
    const j = (await api('GET', `/v1/jobs/${id}`)).json;
    return j.state === 'succeeded' && j.model && j;
  }, 30000, `job ${id} to succeed`);
  const seq = await ended(seqJob.id), perStep = await ended(eachJob.id);

  // listed with its steps
  const modelRow = `#models tr[data-id="${seq.model}"]`;
  await page.waitForSelector(modelRow, {timeout: 5000});
  const shape = await page.textContent(`${modelRow} .shape`, {timeout: 1000}).catch(() => null);
  const title = await page.getAttribute(`${modelRow} .shape`, 'title', {timeout: 1000}).catch(() => null);
  check(shape === '5 steps x 2 features' && title === '5 steps x 2 features (x0, x1)',
        "the model's row shows its steps and features", `${shape}; ${title}`);

  // the panel of each job: its shapes, and its layers' outputs
  const layers = async (job) => {
    await page.click(`#jobs tr[data-id="${job.id}"]`);
    await page.waitForSelector('#job-layers:not([hidden])', {timeout: 5000}).catch(() => {});
    return {shape: await page.textContent('#job-shape', {timeout: 1000}).catch(() => null),
            outputs: await page.$$eval('#job-layers tbody td:nth-child(3)', (tds) => tds.map((t) => t.textContent))};
  };
  const gru = await layers(seq);
  check(/^seq-gru: 5 steps x 2 features in, 1 value out · .* · dataset steps: 300 rows of 5 steps x 2 features$/.test(gru.shape),
        "a sequence job's panel shows its network's and dataset's steps", gru.shape);
  check(gru.outputs.join() === '8,1', "an inline network's layers are listed with their outputs",
        gru.outputs.join());
  const each_ = await layers(perStep);
  check(each_.outputs.join() === '5 steps x 6,5 steps x 1',
        "a layer whose output is a sequence shows steps x units", each_.outputs.join());

  // a row typed as T lines of F numbers answers what the REST route answers
  const asked = [];
  const onRequest = (r) => { if (/\/predict$/.test(new URL(r.url()).pathname)) asked.push(r.url()); };
  page.on('request', onRequest);
  const row = [[0.1, 0.9], [0.5, 0.2], [0.3, 0.3], [0.8, 0.1], [0.4, 0.6]];
  const type = async (text) => {
    await page.fill('#predict-steps', text, {timeout: 2000}).catch(() => {});
    await page.click('#predict button[type=submit]');
    return page.waitForSelector('#prediction, #predict-error', {timeout: 5000}).catch(() => null);
  };
  await page.selectOption('#predict-model', seq.model);
  check(await page.isVisible('#predict-steps') && !(await page.isVisible('#predict-inputs')),
        'a sequence model is asked in a text area');
  const hintText = await page.textContent('#predict-hint', {timeout: 1000}).catch(() => null);
  check(/^5 steps x 2 features \(x0, x1\): one line per step, 2 numbers each/.test(hintText),
        'the hint says how to type a sequence', hintText);
  const want = (await api('POST', `/v1/models/${seq.model}/predict`, {inputs: [row]})).json;
  await type(row.map((step) => step.join(', ')).join('\n'));
  const got = await page.textContent('#prediction span', {timeout: 1000}).catch(() => null);
  check(got === String(want.predictions[0]), 'a sequence typed as 5 lines of 2 numbers is answered as the API answers it',
        `${got} vs ${want.predictions[0]}`);
  await type(row.flat().join(' '));
  const flat = await page.textContent('#prediction span', {timeout: 1000}).catch(() => null);
  check(flat === String(want.predictions[0]), 'and typed as 10 numbers on one line, time-major',
        `${flat} vs ${want.predictions[0]}`);

  // a row of the wrong shape, or with a word, is refused before any request
  const refused = async (text, re, what) => {
    await type(text);
    const msg = await page.textContent('#predict-error', {timeout: 1000}).catch(() => null);
    check(re.test(msg || ''), what, msg);
  };
  await refused(row.slice(0, 4).map((step) => step.join(', ')).join('\n'),
                /^4 lines of numbers; the model takes 5 steps of 2 numbers: one line per step\.$/,
                'four steps of five are refused, naming both counts');
  await refused(row.flat().slice(1).join(', '), /^One line of 9 values; the model takes 5 steps of 2 numbers/,
                'nine numbers of ten are refused');
  await refused('0.1 0.9\n0.5\n0.3 0.3\n0.8 0.1\n0.4 0.6',
                /^Step 1 \(line 2\) has 1 number; the model takes 2 at every step \(x0, x1\)\.$/,
                'a short step is refused, naming it');
  await refused('0.1 0.9\n0.5 0.2\n0.3 abc\n0.8 0.1\n0.4 0.6', /^Step 2, x1: "abc" is not a number\.$/,
                'a word is refused, naming its step and feature');
  check(asked.length === 2, 'one request for each row answered, none for a refused one', asked.length);

  // an answer at every step is shown step by step
  const wantEach = (await api('POST', `/v1/models/${perStep.model}/predict`, {inputs: [row]})).json;
  await page.selectOption('#predict-model', perStep.model);
  await type(row.map((step) => step.join(' ')).join('\n'));
  const steps = await page.$$eval('#prediction-steps .mono', (e) => e.map((x) => x.textContent)).catch(() => []);
  const fmt4 = (v) => String(parseFloat(v.toPrecision(4)));
  check(steps.join(' ') === wantEach.outputs[0].map(fmt4).join(' '),
        'a model answering at every step shows one answer per step',
        `${steps.join(' ')} vs ${wantEach.outputs[0].map(fmt4).join(' ')}`);
  page.off('request', onRequest);
}

// Numbers far out of the usual range, and a job that failed: a regression on labels
// near 1e18 has losses near 1e36 (150 epochs of a saturated tanh), and the same with a
// learning rate of 1 diverges at its second epoch, leaving a problem as its error. At
// 1280 px both tables fit their cards.
async function numbers(page) {
  const features = [], labels = [];
  for (let i = 0; i < 50; i++) {
    features.push([i / 10, (i % 7) / 7]);
    labels.push(1e18 * (1 + i / 50));
  }
  const ds = await create('/v1/datasets', {name: 'huge', features, labels}, 201);
  const network = (activation) => create('/v1/networks', {
    name: 'regression', inputs: 2, loss: 'mse',
    layers: [{type: 'dense', units: 8, activation}, {type: 'dense', units: 1}]}, 201);
  const big = await create('/v1/jobs', {name: 'huge losses', network: (await network('tanh')).id,
                                        dataset: ds.id, epochs: 150, seed: 1,
                                        optimizer: {type: 'sgd', learning_rate: 0.001}}, 202);
  const boom = await create('/v1/jobs', {name: 'diverges', network: (await network('relu')).id,
                                         dataset: ds.id, epochs: 3, seed: 1,
                                         optimizer: {type: 'sgd', learning_rate: 1}}, 202);
  const ended = async (id) => until(async () => {
    const j = (await api('GET', `/v1/jobs/${id}`)).json;
    return ['succeeded', 'failed', 'cancelled'].includes(j.state) && j;
  }, 30000, `job ${id} to end`);
  const bigJob = await ended(big.id), boomJob = await ended(boom.id);
  if (bigJob.state !== 'succeeded' || !(bigJob.loss > 1e30) || boomJob.state !== 'failed')
    throw new Error(`the jobs did not end as planned: ${JSON.stringify([bigJob, boomJob])}`);

  // the failed job's reason: its problem's detail
  await page.click(`#jobs tr[data-id="${boom.id}"]`);
  await page.waitForSelector('#job-detail[data-stream="ended"]', {timeout: 10000});
  const reason = await page.textContent('#job-error');
  check(reason === boomJob.error.detail, "a failed job's reason is its problem's detail", reason);

  // losses near 1e36 in exponent notation, as the SVG charts write them; counts whole
  const exp = /^\d(\.\d{1,3})?e\+\d+$/;
  const bigRow = `#jobs tr[data-id="${big.id}"]`;
  await page.waitForSelector(`${bigRow} .badge.succeeded`, {timeout: 5000});
  const loss = await page.textContent(`${bigRow} td:nth-child(5)`);
  check(exp.test(loss), 'a loss near 1e36 reads in exponent notation in the jobs table', loss);
  const modelRow = `#models tr[data-id="${bigJob.model}"]`;
  await page.waitForSelector(modelRow, {timeout: 5000});
  const modelLoss = await page.textContent(`${modelRow} td:nth-child(4)`);
  check(exp.test(modelLoss), 'and in the models table', modelLoss);
  const epochs = await page.textContent(`${modelRow} td:nth-child(3)`);
  check(epochs === '150', "a model's epochs are a whole number", epochs);

  // the chart's tick labels: short, and inside the picture
  await page.click(bigRow);
  await page.waitForSelector('#job-detail[data-stream="ended"]', {timeout: 10000});
  await page.waitForTimeout(100);   // the chart draws on the next animation frame
  const ticks = await page.evaluate(() => [...document.querySelectorAll('#chart text[text-anchor="end"]')]
    .map((t) => ({text: t.textContent, x: t.getBBox().x})));
  check(ticks.length >= 3 && ticks.every((t) => t.text === '0' || exp.test(t.text)),
        "the chart's ticks near 1e36 are in exponent notation", ticks.map((t) => t.text).join(' '));
  check(ticks.length >= 3 && ticks.every((t) => t.x >= 0), "the chart's ticks are not clipped",
        ticks.map((t) => `${t.text}@${t.x.toFixed(0)}`).join(' '));

  // the service's own loss.svg of that job: the y axis's title clear of its wide tick
  // labels, and everything inside the picture
  const pic = await browser.newPage();
  await pic.goto(`${base}/v1/jobs/${big.id}/loss.svg`);
  const boxes = await pic.evaluate(() => {
    const box = (e) => { const b = e.getBBox(); return {x: b.x, y: b.y, w: b.width, h: b.height}; };
    const svg = document.querySelector('svg');
    return {width: svg.viewBox.baseVal.width, title: box(document.querySelector('text.ylabel')),
            ticks: [...document.querySelectorAll('g.labels text[text-anchor="end"]')].map(box),
            texts: [...document.querySelectorAll('text')].map((t) => ({...box(t), text: t.textContent}))};
  });
  await pic.close();
  // the title is turned a quarter: its box is turned too, around its centre
  const t = boxes.title, cx = t.x + t.w / 2, right = cx + t.h / 2;
  const left = Math.min(...boxes.ticks.map((b) => b.x));
  check(boxes.ticks.length >= 3 && right < left, "loss.svg's y-axis title keeps clear of its tick labels",
        `title to ${right.toFixed(1)}, labels from ${left.toFixed(1)}`);
  const outside = boxes.texts.filter((b) => b.x < 0 || b.x + b.w > boxes.width);
  check(outside.length === 0, "loss.svg's texts are inside the picture",
        outside.map((b) => b.text).join(' | '));

  // The page's own stream reader, when a stream breaks off after the last epoch but
  // before the final status: it reconnects with the last epoch's id, the job has ended,
  // the service answers 204, and the page takes that as the end (no more requests).
  const rows = (await api('GET', `/v1/jobs/${big.id}/metrics`)).json.epochs;
  const broken = await browser.newPage({viewport: {width: 1280, height: 800}});
  const asked = [];
  await broken.route(`**/v1/jobs/${big.id}/events`, async (route) => {
    asked.push(route.request().headers()['last-event-id'] || null);
    if (asked.length > 1) return route.continue();
    await route.fulfill({status: 200, contentType: 'text/event-stream',
                         body: rows.map((r) => `event: epoch\nid: ${r.epoch}\ndata: ${JSON.stringify(r)}\n\n`).join('')});
  });
  await broken.goto(`${base}/#${big.id}`);
  await broken.waitForSelector('#job-detail[data-stream="ended"]', {timeout: 10000}).catch(() => {});
  const second = Date.now();
  await sleep(4500);   // another reconnection would have come 3 s after the 204
  check(asked.length === 2 && asked[0] === null && asked[1] === String(rows.length),
        'a stream broken after the last epoch reconnects once, with its id', JSON.stringify(asked));
  check((await broken.getAttribute('#job-detail', 'data-stream')) === 'ended' &&
        (await broken.textContent('#job-state')) === 'succeeded',
        'and the 204 ends it, with the job shown succeeded',
        `${await broken.getAttribute('#job-detail', 'data-stream')}, ${await broken.textContent('#job-state')}, ${Date.now() - second} ms`);
  await broken.close();

  // both tables fit at 1280 px
  const fit = await page.evaluate(() => ['jobs', 'models'].map((id) => {
    const box = document.getElementById(id).parentElement;
    return {id, need: box.scrollWidth, have: box.clientWidth};
  }));
  for (const f of fit)
    check(f.need <= f.have, `the ${f.id} table fits its card at 1280 px`, `${f.need} px in ${f.have}`);
}

// Records what breaks the page's Content-Security-Policy (the browser's own event, so
// that a violation the console does not show still counts).
async function watchPolicy(page) {
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation',
                              (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
}
const violations = (page) => page.evaluate(() => window.__violations || []);

// A service that wants tokens: a write token and a read token.
async function tokens() {
  const writeToken = 'dash-write-0123456789abcdefghij', readToken = 'dash-read-0123456789abcdefghijk';
  fs.writeFileSync(path.join(dir, 'tokens'), `${writeToken} write admin\n${readToken} read viewer\n`);
  await startServer('tokens.db', ['--token-file', path.join(dir, 'tokens')]);
  token = writeToken;
  const ds = await create('/v1/datasets', spirals(300), 201);
  const network = await create('/v1/networks', {
    name: 'spiral-small', inputs: 2, loss: 'categorical_crossentropy',
    layers: [{type: 'dense', units: 32, activation: 'relu'},
             {type: 'dense', units: 3, activation: 'softmax'}]}, 201);
  const long = await create('/v1/jobs', {name: 'guarded', network: network.id, dataset: ds.id,
                                         epochs: 100000, batch_size: 8, seed: 1}, 202);
  token = null;
  check((await api('GET', '/v1/jobs')).status === 401, 'the service wants a token');

  const context = await browser.newContext({viewport: {width: 1280, height: 800}});
  const page = await context.newPage();
  const consoleErrors = [], pageErrors = [], dialogs = [], streamAuth = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('dialog', (d) => { dialogs.push(d.type()); d.dismiss().catch(() => {}); });
  page.on('request', (r) => {
    if (/\/events$/.test(new URL(r.url()).pathname)) streamAuth.push(r.headers().authorization || '');
  });
  await watchPolicy(page);

  // Asked once, in the page: no prompt, no alert.
  await page.goto(base + '/');
  check(await page.waitForSelector('#login:not([hidden])', {timeout: 5000}).then(() => true, () => false),
        'a 401 brings up the token form');
  check(await page.locator('#login-token').evaluate((e) => e === document.activeElement),
        'the form has the focus');
  check(await page.locator('#jobs tbody tr').count() === 0, 'nothing is listed without a token');

  // A wrong token is refused, and the form says so.
  await page.fill('#login-token', 'not-the-token-0123456789');
  await page.click('#login button[type=submit]');
  await page.waitForFunction(() => /refused/.test(document.querySelector('#login-error').textContent),
                             null, {timeout: 5000}).catch(() => {});
  check(/That token was refused: the bearer token is not one this service knows/.test(
        await page.textContent('#login-error')), 'a refused token is named as refused',
        await page.textContent('#login-error'));
  check(await page.isVisible('#login'), 'the form asks again');
  check(await page.evaluate(() => sessionStorage.getItem('neurond.token')) === null,
        'a refused token is not kept');

  // The right one: the jobs appear, and the job's stream carries the token.
  await page.fill('#login-token', writeToken);
  await page.click('#login button[type=submit]');
  const row = `#jobs tr[data-id="${long.id}"]`;
  check(await page.waitForSelector(row, {timeout: 5000}).then(() => true, () => false),
        'with the token the jobs are listed');
  check(await page.isHidden('#login'), 'the form is gone');
  check(await page.evaluate(() => sessionStorage.getItem('neurond.token')) === writeToken,
        'the token is kept in sessionStorage');
  check(await page.evaluate(() => localStorage.length) === 0, 'and nowhere that outlives the tab');
  await page.click(row);
  check(await page.waitForSelector('#job-detail[data-stream="live"]', {timeout: 10000}).then(() => true, () => false),
        'the event stream is live with the token');
  check(streamAuth.length > 0 && streamAuth.every((a) => a === 'Bearer ' + writeToken),
        'the event stream sends the token in its Authorization header', streamAuth.join(', '));
  await until(() => page.locator('#chart circle.point.loss').count(), 20000, 'epochs on the chart');

  // A reload keeps the token: the form does not come back.
  await page.reload();
  await page.waitForSelector(row, {timeout: 5000});
  await page.waitForSelector('#job-detail[data-stream="live"]', {timeout: 10000});
  check(await page.isHidden('#login'), 'after a reload the token is not asked for again');

  // A read token reads, and Cancel shows the service's 403.
  const viewer = await browser.newContext({viewport: {width: 1280, height: 800}});
  const vpage = await viewer.newPage();
  vpage.on('dialog', (d) => { dialogs.push(d.type()); d.dismiss().catch(() => {}); });
  await vpage.goto(base + '/#' + long.id);
  await vpage.waitForSelector('#login:not([hidden])', {timeout: 5000});
  await vpage.fill('#login-token', readToken);
  await vpage.click('#login button[type=submit]');
  await vpage.waitForSelector('#job-detail[data-stream="live"]', {timeout: 10000});
  check((await vpage.textContent('#job-id')) === long.id, 'the address picks the job once the token is given');
  await vpage.click('#job-cancel');
  await vpage.waitForFunction(() => /Cancel failed/.test(document.querySelector('#job-note').textContent),
                              null, {timeout: 5000}).catch(() => {});
  check(/Cancel failed: the token viewer may only read/.test(await vpage.textContent('#job-note')),
        "a read token's Cancel shows the 403", await vpage.textContent('#job-note'));
  token = writeToken;
  check((await api('GET', `/v1/jobs/${long.id}`)).json.state === 'running', 'and the job runs on');
  await viewer.close();

  // The write token cancels.
  await page.click('#job-cancel');
  await page.waitForSelector('#job-detail[data-stream="ended"]', {timeout: 10000});
  check((await page.textContent('#job-state')) === 'cancelled', 'the write token cancels',
        await page.textContent('#job-state'));

  check(dialogs.length === 0, 'no alert, prompt or confirm', dialogs.join(', '));
  // The refused requests are the only errors the browser reports.
  const others = consoleErrors.filter((m) => !/status of 40[13] \((Unauthorized|Forbidden)\)/.test(m));
  check(others.length === 0, 'no console errors but the 401s and the 403', others.join(' | '));
  check(pageErrors.length === 0, 'no page errors', pageErrors.join(' | '));
  check((await violations(page)).length === 0, 'nothing breaks the Content-Security-Policy',
        (await violations(page)).join(' | '));
  const log = fs.readFileSync(path.join(dir, 'neurond.log'), 'utf8');
  check(!log.includes(writeToken) && !log.includes(readToken) && !log.includes('not-the-token'),
        "the service's log holds no token");
  check(/ token=admin\n/.test(log) && / token=viewer\n/.test(log), 'its access log names the tokens');
  await context.close();
}

try {
  await main();
  await tokens();
} catch (e) {
  errors++;
  checks++;
  console.log(`dashboard: ERROR: ${e.stack || e}`);
}
if (browser) await browser.close().catch(() => {});
if (server && server.exitCode === null) {
  server.kill('SIGTERM');
  await new Promise((r) => (server.exitCode !== null ? r() : server.on('exit', r)));
}
if (failures + errors === 0)
  fs.rmSync(dir, {recursive: true, force: true});
else
  console.log(`dashboard: the service's log is in ${dir}/neurond.log`);
const pct = Math.floor(100 * (checks - failures - errors) / Math.max(checks, 1));
console.log(`dashboard: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(`${pct}%: Checks: ${checks}, Failures: ${failures}, Errors: ${errors}`);
process.exit(failures + errors ? 1 : 0);
