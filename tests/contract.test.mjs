#!/usr/bin/env node
// contract.test.mjs -- api/openapi.yaml against what the code accepts: every field of every
// layer kind, of a network definition and of a job (its options, validation, early
// stopping, each optimizer), as the descriptor tables say (build/tests/contract_dump prints
// them). For each field: it is in the schema and nothing else is; its JSON type; its
// bounds (minimum or exclusiveMinimum, maximum or exclusiveMaximum); its default; its
// names (enum); whether it is required. A field added to a table and not to the contract,
// or the other way round, fails here. And the route table: every route is an operation of
// the contract and every operation a route, with the same query parameters. Each comparison is one check; the last line is a
// summary in Check's format, which tests/run.sh totals.
//
// The YAML is read with js-yaml from api/node_modules (installed by make lint-api).
// Environment: CONTRACT_DUMP (default build/tests/contract_dump).
import {execFileSync} from 'node:child_process';
import fs from 'node:fs';
import {createRequire} from 'node:module';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'api', 'package.json'));
const yaml = require('js-yaml');
const spec = yaml.load(fs.readFileSync(path.join(root, 'api', 'openapi.yaml'), 'utf8'));
const dumpBin = path.resolve(root, process.env.CONTRACT_DUMP || 'build/tests/contract_dump');
const code = JSON.parse(execFileSync(dumpBin, {encoding: 'utf8'}));

let checks = 0, failures = 0;
function check(ok, what) {
  checks++;
  if (!ok) {
    failures++;
    console.log(`contract: FAIL: ${what}`);
  }
}

// A schema with its $ref followed (within the document).
function resolve(s) {
  while (s && s.$ref) {
    const parts = s.$ref.replace(/^#\//, '').split('/');
    s = parts.reduce((o, k) => o && o[k], spec);
  }
  return s;
}
const schemas = spec.components.schemas;

// The schema's JSON type for a field's type, with what it has to say about it.
function typeOf(prop) {
  const p = resolve(prop);
  if (prop.$ref && resolve(prop) === resolve({$ref: '#/components/schemas/Layers'}))
    return 'layers';
  return p && p.type;
}

// Compares the fields of one table with the properties of an object schema; `others`
// are properties the code reads by hand (not in the table), left out of the comparison.
function compare(where, fields, schema, others = []) {
  schema = resolve(schema);
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  const names = new Set(fields.map(f => f.name));
  for (const name of Object.keys(props)) {
    if (others.includes(name))
      continue;
    check(names.has(name), `${where}: the contract has "${name}", which the code does not read`);
  }
  for (const f of fields) {
    const prop = props[f.name];
    check(prop !== undefined, `${where}: the code reads "${f.name}", which the contract lacks ` +
                              `(add it to the schema, as the code's table says)`);
    if (!prop)
      continue;
    const p = resolve(prop);
    const at = `${where}.${f.name}`;
    check(typeOf(prop) === f.type, `${at}: type ${typeOf(prop)} in the contract, ${f.type} in the code`);
    check(required.has(f.name) === f.required,
          `${at}: ${f.required ? '' : 'not '}required in the code, ${required.has(f.name) ? '' : 'not '}in the contract`);
    for (const bound of ['minimum', 'exclusiveMinimum', 'maximum', 'exclusiveMaximum'])
      check(p[bound] === f[bound],
            `${at}: ${bound} ${p[bound]} in the contract, ${f[bound]} in the code`);
    const def = prop.default !== undefined ? prop.default : p.default;
    check(def === f.default, `${at}: default ${JSON.stringify(def)} in the contract, ` +
                             `${JSON.stringify(f.default)} in the code`);
    if (f.enum) {
      const want = [...f.enum].sort().join(', '), got = [...(p.enum || [])].sort().join(', ');
      check(got === want, `${at}: names [${got}] in the contract, [${want}] in the code`);
    }
  }
}

// Layer kinds: the Layer schema's discriminator names each kind's schema, and its oneOf
// lists the same schemas; the network's summary names the same kinds.
const kinds = Object.keys(code.layers).sort().join(', ');
const mapping = schemas.Layer.discriminator.mapping;
check(Object.keys(mapping).sort().join(', ') === kinds,
      `layer kinds: [${Object.keys(mapping).sort().join(', ')}] in Layer's discriminator ` +
      `mapping, [${kinds}] in the code (core/net.c's layer_kinds): give each kind a schema, ` +
      `an entry in Layer's oneOf and one in its mapping`);
const oneOf = schemas.Layer.oneOf.map(s => s.$ref).sort().join(', ');
check(oneOf === Object.values(mapping).sort().join(', '),
      `Layer's oneOf [${oneOf}] and its discriminator mapping name other schemas`);
const summaryKinds = schemas.NetworkSummary.properties.layers.items.properties.type.enum;
check([...summaryKinds].sort().join(', ') === kinds,
      `NetworkSummary's layer types [${[...summaryKinds].sort().join(', ')}], the code's [${kinds}]`);
for (const [kind, fields] of Object.entries(code.layers)) {
  if (!mapping[kind])
    continue;
  const s = resolve({$ref: mapping[kind]});
  check(s.properties.type && s.properties.type.const === kind, `layer ${kind}: its type is const "${kind}"`);
  compare(`layer ${kind}`, fields, s, ['type']);
}

// A network definition: the descriptor's fields, besides name and metrics.
compare('network', code.network, schemas.NetworkDefinition, ['name', 'metrics', 'timesteps']);

// A job: the options at its top level, besides what names the job, its model, the network
// and the data.
compare('job', code.job, schemas.JobRequest,
        ['name', 'model_name', 'network', 'dataset', 'validation', 'optimizer', 'early_stopping']);
// The job as answered writes every option out: each is in Job, required, of its type.
const job = schemas.Job;
for (const f of code.job) {
  const p = job.properties[f.name];
  check(p !== undefined && (job.required || []).includes(f.name) && typeOf(p) === f.type,
        `Job (the answer) must have "${f.name}", required, of type ${f.type}: every option ` +
        `is written out with its default`);
}
const splitForm = schemas.JobRequest.properties.validation.oneOf.map(resolve)
                    .find(s => s && s.properties && s.properties.split);
check(splitForm !== undefined, 'job validation: the contract has a {"split"} form');
if (splitForm)
  compare('job validation', code.job_parts.validation, splitForm);
compare('job early_stopping', code.job_parts.early_stopping, schemas.EarlyStopping);

// Optimizers: one schema each, told apart by their const type.
const forms = schemas.Optimizer.oneOf.map(resolve);
for (const [type, fields] of Object.entries(code.optimizers)) {
  const s = forms.find(f => f.properties && f.properties.type && f.properties.type.const === type);
  check(s !== undefined, `optimizer ${type}: the contract has a schema with type "${type}"`);
  if (s)
    compare(`optimizer ${type}`, fields, s, ['type']);
}
// A discriminated union: each branch requires its type, and the mapping names each.
const omap = (schemas.Optimizer.discriminator || {}).mapping || {};
for (const type of Object.keys(code.optimizers)) {
  const s = omap[type] && resolve({$ref: omap[type]});
  check(s && s.properties.type.const === type && (s.required || []).includes('type'),
        `optimizer ${type}: Optimizer's discriminator maps it to a schema that requires ` +
        `"type": "${type}"`);
}
// A job may leave the type out: the service takes adam (the engine's default), whose
// untyped form has adam's fields.
compare('optimizer adam without type', code.optimizers.adam, schemas.AdamUntyped);
check(schemas.OptimizerRequest.oneOf.map(r => r.$ref).sort().join(', ') ===
      '#/components/schemas/AdamUntyped, #/components/schemas/Optimizer',
      'OptimizerRequest is an Optimizer or AdamUntyped');
check(forms.length === Object.keys(code.optimizers).length,
      `optimizers: ${forms.length} in the contract, ${Object.keys(code.optimizers).length} in the code`);

// Routes: method and path, and the query parameters each takes (the glue refuses others).
const ops = new Map();
for (const [p, item] of Object.entries(spec.paths)) {
  const common = (item.parameters || []).map(resolve);
  for (const [m, op] of Object.entries(item)) {
    if (m === 'parameters')
      continue;
    const params = common.concat((op.parameters || []).map(resolve));
    ops.set(`${m.toUpperCase()} ${p}`, params.filter(q => q.in === 'query').map(q => q.name));
  }
}
const seen = new Set();
for (const r of code.routes) {
  // ":name" at a segment's start is "{name}"; ":name:verb" is "{name}:verb"
  const key = `${r.method} ${r.pattern.replace(/(^|\/):(\w+)/g, '$1{$2}')}`;
  seen.add(key);
  const q = ops.get(key);
  check(q !== undefined, `route ${key}: not in the contract's paths`);
  if (!q || r.query === '*')
    continue;
  const want = [...r.query].sort().join(', '), got = [...q].sort().join(', ');
  check(got === want, `route ${key}: query parameters [${got}] in the contract, [${want}] in ` +
                      `the route table (server/api/routes.c)`);
}
for (const key of ops.keys())
  check(seen.has(key), `${key}: in the contract, not in the route table`);

const pct = checks ? Math.floor(100 * (checks - failures) / checks) : 0;
console.log(`${pct}%: Checks: ${checks}, Failures: ${failures}, Errors: 0`);
process.exit(failures ? 1 : 0);
