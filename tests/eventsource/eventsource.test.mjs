#!/usr/bin/env node
// eventsource.test.mjs -- a job's event stream (GET /v1/jobs/{id}/events) read by the npm
// eventsource package, an EventSource as the WHATWG standard has it, against the real
// binary on a free port with a temporary database. An EventSource reconnects whenever a
// stream ends, 3 s later, with the id it last had in Last-Event-ID, until the server
// answers 204. So for an ended job (one with epochs, and one cancelled before its first)
// it must make two requests, the second answered 204, get each epoch and the final
// status once, and stay closed; a job followed while it runs ends the same way. Each
// assertion is one check; the last line is a summary in Check's format, which
// tests/run.sh totals.
//
// Environment: NEUROND_BIN (default build/neurond).
import {EventSource} from 'eventsource';
import {spawn} from 'node:child_process';
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
    console.log(`eventsource: FAIL: ${what}${detail !== undefined ? ` (${detail})` : ''}`);
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

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neurond-eventsource-'));
let server = null, base = '';

async function api(method, p, body) {
  const res = await fetch(base + p, {method, body: body ? JSON.stringify(body) : undefined,
                                     headers: body ? {'Content-Type': 'application/json'} : {}});
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

const waitState = (id, states, ms) => until(async () => {
  const j = await api('GET', `/v1/jobs/${id}`);
  return states.includes(j.state) && j;
}, ms, `job ${id} to be ${states.join(' or ')}`);

// Follows a job with an EventSource for `ms` after its first final status (or at most
// 60 s), recording every request it made (the Last-Event-ID sent, the status answered)
// and every event.
async function follow(id, ms) {
  const requests = [], epochs = [], statuses = [];
  let errorsSeen = 0, endedAt = 0;
  const es = new EventSource(`${base}/v1/jobs/${id}/events`, {
    fetch: async (url, init) => {
      const h = new Headers(init.headers);
      const r = {lastEventId: h.get('Last-Event-ID'), status: null};
      requests.push(r);
      const res = await fetch(url, init);
      r.status = res.status;
      return res;
    }});
  es.addEventListener('epoch', (e) => epochs.push({id: e.lastEventId, epoch: JSON.parse(e.data).epoch}));
  es.addEventListener('status', (e) => {
    const d = JSON.parse(e.data);
    statuses.push({id: e.lastEventId, state: d.state});
    if (['succeeded', 'failed', 'cancelled'].includes(d.state) && !endedAt) endedAt = Date.now();
  });
  es.onerror = () => { errorsSeen++; };
  await until(() => endedAt, 60000, `the final status of ${id}`);
  await sleep(Math.max(0, endedAt + ms - Date.now()));
  const readyState = es.readyState;
  es.close();
  return {requests, epochs, statuses, readyState, errorsSeen};
}

// What every follower of an ended job must have seen: each epoch once, in order, the
// final status once, then one reconnection answered 204 with the last id, and no more.
function checkEnded(what, got, epochs, state) {
  check(got.epochs.length === epochs && got.epochs.every((e, i) => e.epoch === i + 1 && e.id === String(i + 1)),
        `${what}: each epoch once, in order, with its id`, JSON.stringify(got.epochs.map((e) => e.id)));
  const finals = got.statuses.filter((s) => s.state === state);
  check(finals.length === 1, `${what}: the final status once`, JSON.stringify(got.statuses));
  check(finals.length > 0 && finals[0].id === String(epochs),
        `${what}: the final status has the last epoch's id, ${epochs}`, JSON.stringify(finals));
  check(got.requests.length === 2, `${what}: two requests, the stream and one reconnection`,
        JSON.stringify(got.requests));
  check(got.requests[0] && got.requests[0].status === 200 && got.requests[0].lastEventId === null,
        `${what}: the first request, without Last-Event-ID, gets 200`, JSON.stringify(got.requests[0]));
  check(got.requests[1] && got.requests[1].status === 204 && got.requests[1].lastEventId === String(epochs),
        `${what}: the reconnection, with Last-Event-ID ${epochs}, gets 204`, JSON.stringify(got.requests[1]));
  check(got.readyState === EventSource.CLOSED, `${what}: the EventSource is closed`, got.readyState);
}

async function main() {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const log = fs.openSync(path.join(dir, 'neurond.log'), 'a');
  server = spawn(bin, ['--port', String(port), '--db', path.join(dir, 'neurond.db'),
                       '--workers', '1', '--threads', '1'], {stdio: ['ignore', log, log]});
  await until(async () => {
    try { return (await fetch(base + '/healthz')).status === 200; } catch { return false; }
  }, 10000, 'neurond to answer /healthz');

  const features = [], labels = [];
  for (let i = 0; i < 300; i++) {
    features.push([Math.sin(i), Math.cos(i * 0.7)]);
    labels.push(i % 3 === 0 ? 'a' : 'b');
  }
  const ds = await api('POST', '/v1/datasets', {name: 'waves', features, labels});
  const network = await api('POST', '/v1/networks', {
    name: 'small', inputs: 2, loss: 'categorical_crossentropy',
    layers: [{type: 'dense', units: 16, activation: 'relu'},
             {type: 'dense', units: 2, activation: 'softmax'}]});
  const job = (epochs, batch) => ({network: network.id, dataset: ds.id, epochs,
                                   batch_size: batch, seed: 1});

  // A job that ended with six epochs.
  const done = await api('POST', '/v1/jobs', job(6, 16));
  await waitState(done.id, ['succeeded'], 30000);
  // One cancelled while queued behind a long one: it ends without an epoch.
  const blocker = await api('POST', '/v1/jobs', job(100000, 1));
  await waitState(blocker.id, ['running'], 30000);
  const none = await api('POST', '/v1/jobs', job(3, 16));
  await api('POST', `/v1/jobs/${none.id}/cancel`);
  await waitState(none.id, ['cancelled'], 10000);

  // Each followed for 7 s after its end: two reconnection delays of an EventSource.
  const [a, b] = await Promise.all([follow(done.id, 7000), follow(none.id, 7000)]);
  checkEnded('an ended job', a, 6, 'succeeded');
  checkEnded('a job ended without an epoch', b, 0, 'cancelled');

  // A running job followed until it is cancelled: the same end.
  const live = follow(blocker.id, 7000);
  await until(async () => (await api('GET', `/v1/jobs/${blocker.id}`)).epoch >= 2, 30000,
              'two epochs of the running job');
  await sleep(300);
  await api('POST', `/v1/jobs/${blocker.id}/cancel`);
  const c = await live;
  const n = (await api('GET', `/v1/jobs/${blocker.id}`)).epoch;
  checkEnded('a job followed while it ran', c, n, 'cancelled');
}

try {
  await main();
} catch (e) {
  errors++;
  checks++;
  console.log(`eventsource: ERROR: ${e.stack || e}`);
}
if (server && server.exitCode === null) {
  server.kill('SIGTERM');
  await new Promise((r) => (server.exitCode !== null ? r() : server.on('exit', r)));
}
if (failures + errors === 0)
  fs.rmSync(dir, {recursive: true, force: true});
else
  console.log(`eventsource: the service's log is in ${dir}/neurond.log`);
const pct = Math.floor(100 * (checks - failures - errors) / Math.max(checks, 1));
console.log(`eventsource: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(`${pct}%: Checks: ${checks}, Failures: ${failures}, Errors: ${errors}`);
process.exit(failures + errors ? 1 : 0);
