// The console in a real browser: headless Chromium (the Debian package) driven by puppeteer-core
// against a real hookd and Postgres. Loads the deployment list and a deployment page, checks the
// content, the escaping, the filters, the keyboard path and that a status stored while the page is
// open appears without a reload (the status is written as another replica would write it: a row
// and a NOTIFY). Saves screenshots under $ARTIFACTS.
//
// Environment: HOOKD_BIN (the hookd binary), HOOKD_TEST_DATABASE_URL (an admin URL of a running
// Postgres; without it the test is skipped, exit 77), ARTIFACTS (screenshot folder),
// NPM_PREFIX (the folder whose node_modules holds puppeteer-core, installed by scripts/bootstrap), CHROMIUM
// (default /usr/bin/chromium).
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const { createRequire } = require('node:module');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const started = Date.now();
// Before anything runs: a message and exit 1. Inside main(): an exception, so that hookd is
// stopped and the database dropped on the way out.
const die = (message) => {
  console.error(`console browser test: ${message}`);
  process.exit(1);
};
const fail = (message) => {
  throw new Error(message);
};

const adminUrl = process.env.HOOKD_TEST_DATABASE_URL;
if (!adminUrl) {
  console.log('console browser test: skipped, HOOKD_TEST_DATABASE_URL is not set');
  process.exit(77);
}
const hookdBin = process.env.HOOKD_BIN || die('HOOKD_BIN is not set');
const artifacts = process.env.ARTIFACTS || die('ARTIFACTS is not set');
const prefix = process.env.NPM_PREFIX || die('NPM_PREFIX is not set');
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(chromium)) die(`no Chromium at ${chromium}; run scripts/bootstrap`);
let puppeteer;
try {
  puppeteer = createRequire(path.join(prefix, 'package.json'))('puppeteer-core');
} catch (e) {
  die(`puppeteer-core is not installed under ${prefix}; run scripts/bootstrap (${e.message})`);
}
fs.mkdirSync(artifacts, { recursive: true });

const database = `console_browser_${process.pid}_${Date.now() % 100000}`;
const dbUrl = (() => {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  return u.toString();
})();
const psql = (url, sql) =>
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

const id = (n) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const RUNNING = id(3);

async function waitReady(base, hookd) {
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    if (hookd.exitCode !== null) fail(`hookd exited with ${hookd.exitCode}`);
    try {
      const res = await fetch(`${base}/readyz`);
      if (res.status === 200) return;
    } catch (e) {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  fail('hookd did not become ready within 60 s');
}

function seed() {
  const rows = [
    [id(1), 'aura', 'dev-gcp', 'success', 'navikt/app', 50, [['queued', 'queued', 0], ['success', 'Deployment completed successfully.', 95]]],
    [id(2), 'aura', 'prod-gcp', 'failure', 'navikt/app', 40, [['queued', 'queued', 0], ['failure', 'Deployment/web: deployment "web" exceeded its progress deadline (total of 1 errors)', 610]]],
    [id(3), 'aura', 'dev-gcp', 'in_progress', 'navikt/app', 1, [['queued', 'queued for dev-gcp', 0], ['in_progress', 'Successfully applied /v1, Kind=ConfigMap, Namespace=aura, Name=settings', 2]]],
    [id(4), '<script>window.__xss=1</script>', 'dev-gcp', 'queued', '', 0, [['queued', '<img src=x onerror="window.__xss=2">', 0]]],
  ];
  const q = (s) => `'${String(s).replace(/'/g, "''")}'`;
  let sql = 'BEGIN;';
  for (const [did, team, cluster, state, repo, minutes, statuses] of rows) {
    const created = `(date_trunc('second', now()) - interval '${minutes} minutes')`;
    sql += `INSERT INTO deployment (id, team, created, github_repository, cluster, state) VALUES (${q(did)}, ${q(team)}, ${created}, NULLIF(${q(repo)}, ''), ${q(cluster)}, ${q(state)});`;
    statuses.forEach(([st, msg, secs], i) => {
      sql += `INSERT INTO deployment_status (id, deployment_id, status, message, created) VALUES (${q(did + '-' + i)}, ${q(did)}, ${q(st)}, ${q(msg)}, ${created} + interval '${secs} seconds');`;
    });
  }
  sql += `INSERT INTO deployment_resource (id, deployment_id, "index", "group", version, kind, name, namespace) VALUES
    ('r1', ${q(RUNNING)}, 0, '', 'v1', 'ConfigMap', 'settings', 'aura'),
    ('r2', ${q(RUNNING)}, 1, 'apps', 'v1', 'Deployment', 'web', 'aura');`;
  sql += 'COMMIT;';
  psql(dbUrl, sql);
}

// Stores a status the way another hookd replica does: the row, the state, and the notification.
let statusSeq = 0;
function anotherReplicaReports(deployment, state, message) {
  const sid = `${deployment}-live-${++statusSeq}`;
  const q = (s) => `'${String(s).replace(/'/g, "''")}'`;
  psql(
    dbUrl,
    `BEGIN; INSERT INTO deployment_status (id, deployment_id, status, message, created) VALUES (${q(sid)}, ${q(deployment)}, ${q(state)}, ${q(message)}, now());` +
      `UPDATE deployment SET state = ${q(state)} WHERE id = ${q(deployment)};` +
      `SELECT pg_notify('hookd_status', ${q(`browser-test|${deployment}|${sid}|${state}`)}); COMMIT;`,
  );
}

async function main() {
  psql(adminUrl, `CREATE DATABASE ${database}`);
  const httpPort = await freePort();
  const grpcPort = await freePort();
  const base = `http://127.0.0.1:${httpPort}`;
  const log = fs.openSync(path.join(artifacts, 'hookd.log'), 'w');
  const hookd = spawn(
    hookdBin,
    [
      `--database-url=${dbUrl}`,
      `--listen-address=127.0.0.1:${httpPort}`,
      `--grpc.address=127.0.0.1:${grpcPort}`,
      `--base-url=${base}`,
      '--log-level=info',
    ],
    { stdio: ['ignore', log, log] },
  );
  let browser;
  const problems = [];
  try {
    await waitReady(base, hookd);
    seed();
    browser = await puppeteer.launch({
      executablePath: chromium,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
    });
    const page = await browser.newPage();
    page.setDefaultTimeout(30000);
    // Any CSP violation, script error or failed request is a failure.
    page.on('console', (m) => {
      // The browser's own favicon request is not the page's.
      const where = (m.location() && m.location().url) || '';
      if (m.type() === 'error' && !where.endsWith('/favicon.ico')) {
        problems.push(`console: ${m.text()} (${where})`);
      }
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => {
      if (!r.url().endsWith('/events')) problems.push(`request failed: ${r.url()}`);
    });

    // The list, newest first, escaped.
    await page.setViewport({ width: 1280, height: 800 });
    await page.goto(`${base}/deployments`, { waitUntil: 'load' });
    const ids = await page.$$eval('#deployments tbody tr a[href^="/deployments/"]', (as) =>
      as.map((a) => a.textContent),
    );
    if (JSON.stringify(ids) !== JSON.stringify([id(4), id(3), id(2), id(1)])) {
      fail(`list order: ${JSON.stringify(ids)}`);
    }
    const teamCell = await page.$eval('#deployments tbody tr td:nth-child(3)', (td) => td.textContent);
    if (teamCell !== '<script>window.__xss=1</script>') fail(`team shown as ${teamCell}`);
    if (await page.evaluate(() => window.__xss !== undefined)) fail('injected script ran');
    // Keyboard: the first Tab reaches the skip link.
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement.textContent);
    if (focused !== 'Skip to content') fail(`first Tab focused "${focused}"`);
    await page.screenshot({ path: path.join(artifacts, 'list.png'), fullPage: true });
    await page.setViewport({ width: 390, height: 844, isMobile: true });
    await page.screenshot({ path: path.join(artifacts, 'list-phone.png'), fullPage: true });
    await page.setViewport({ width: 1280, height: 800 });

    // Filters through the form.
    await page.type('#f-team', 'aura');
    await page.select('#f-state', 'failure');
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    const url = new URL(page.url());
    if (url.searchParams.get('team') !== 'aura' || url.searchParams.get('state') !== 'failure') {
      fail(`filter URL ${page.url()}`);
    }
    const filtered = await page.$$eval('#deployments tbody tr a[href^="/deployments/"]', (as) =>
      as.map((a) => a.textContent),
    );
    if (JSON.stringify(filtered) !== JSON.stringify([id(2)])) fail(`filtered: ${JSON.stringify(filtered)}`);
    await page.screenshot({ path: path.join(artifacts, 'list-filtered.png'), fullPage: true });

    // The escaped queued deployment's page.
    await page.goto(`${base}/deployments/${id(4)}`, { waitUntil: 'load' });
    const timeline = await page.$eval('#timeline', (el) => el.textContent);
    if (!timeline.includes('<img src=x onerror="window.__xss=2">')) fail(`timeline: ${timeline}`);
    if (await page.evaluate(() => window.__xss !== undefined)) fail('injected markup ran');

    // A running deployment, live.
    await page.goto(`${base}/deployments/${RUNNING}`, { waitUntil: 'load' });
    await page.waitForFunction(
      () => document.getElementById('live').textContent === 'Live: updates appear as they happen.',
    );
    const before = await page.$eval('#resources', (el) => el.textContent);
    if (!before.includes('settings') || !before.includes('applied')) fail(`resources: ${before}`);
    await page.screenshot({ path: path.join(artifacts, 'deployment-running.png'), fullPage: true });
    // A marker that a reload would lose: the update must arrive without one.
    await page.evaluate(() => {
      window.__sameDocument = true;
    });
    const sentAt = Date.now();
    anotherReplicaReports(RUNNING, 'in_progress', 'Deployment/web: 1 of 2 updated replicas are available');
    await page.waitForFunction(
      () => document.getElementById('resources').textContent.includes('1 of 2 updated replicas are available'),
    );
    const liveMs = Date.now() - sentAt;
    anotherReplicaReports(RUNNING, 'failure', 'Deployment/web: deployment "web" exceeded its progress deadline (total of 1 errors)');
    await page.waitForFunction(() => document.getElementById('live').textContent === 'The deployment has finished.');
    const evidence = await page.$eval('#summary .evidence', (el) => el.textContent);
    if (!evidence.includes('Why it failed') || !evidence.includes('exceeded its progress deadline')) {
      fail(`evidence: ${evidence}`);
    }
    if (!(await page.evaluate(() => window.__sameDocument === true))) fail('the page was reloaded');
    await page.screenshot({ path: path.join(artifacts, 'deployment-failed.png'), fullPage: true });
    await page.setViewport({ width: 390, height: 844, isMobile: true });
    await page.screenshot({ path: path.join(artifacts, 'deployment-phone.png'), fullPage: true });

    if (problems.length > 0) fail(`browser reported:\n  ${problems.join('\n  ')}`);
    console.log(
      `console browser test: passed in ${Date.now() - started} ms (live update after ${liveMs} ms); screenshots in ${artifacts}`,
    );
  } finally {
    if (browser) await browser.close();
    hookd.kill('SIGTERM');
    await new Promise((r) => {
      if (hookd.exitCode !== null) return r();
      const timer = setTimeout(() => {
        hookd.kill('SIGKILL');
        r();
      }, 10000);
      hookd.on('exit', () => {
        clearTimeout(timer);
        r();
      });
    });
    try {
      psql(adminUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    } catch (e) {
      console.error(`console browser test: dropping ${database}: ${e.message}`);
    }
  }
}

main().catch((e) => die(e.message || String(e)));
