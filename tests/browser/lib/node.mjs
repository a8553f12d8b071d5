// Start and stop a real Switchboard node for a test: the compiled binary, a fresh data dir and a
// free loopback port. The node serves the web assets built into the binary; it runs from its
// data dir without --web-dir, so nothing in the repository is in reach, as when deployed.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const DEMO = {
  site: 'pk_demo',
  admin: 'admin@demo.local',
  agent: 'agent@demo.local',
  password: 'demo1234',
  identitySecret: 'demo-identity-secret',
};

/** Start a node; resolves with { url, dataDir, stop() } once it prints its address. `args` are
 *  extra command-line options (`['--rate-burst', '3']`). */
export async function startNode(args = []) {
  const bin = process.env.SWITCHBOARD_BIN || path.join(REPO, 'target/debug/switchboard');
  if (!existsSync(bin)) throw new Error(`no switchboard binary at ${bin}: run \`cargo build\` or set SWITCHBOARD_BIN`);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'switchboard-browser-'));
  const child = spawn(bin, ['--listen', '127.0.0.1:0', '--data-dir', dataDir, ...args], {
    cwd: dataDir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
  });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`node did not start in 20 s\n${out}\n${log}`)), 20000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/switchboard listening on (http:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1].replace(/\/$/, '')); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`node exited with ${code}\n${out}\n${log}`)); });
  });
  child.stdout.resume();
  return {
    url,
    dataDir,
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A node of its own for one test (agents signed in by one test do not take another's chats),
 *  stopped when the test ends. */
export async function freshNode(t) {
  const node = await startNode();
  t.after(() => node.stop());
  return node;
}

/** The HTTP API as an admin (or any agent): login once, then call. */
export async function apiAs(url, email, password = DEMO.password) {
  const call = async (method, p, body, token) => {
    const res = await fetch(url + '/api/v1' + p, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: 'Bearer ' + token } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(data)}`);
    return data;
  };
  const { token } = await call('POST', '/login', { email, password });
  return (method, p, body) => call(method, p, body, token);
}

/** Change some site settings, keeping the rest. */
export async function updateSettings(url, patch) {
  const api = await apiAs(url, DEMO.admin);
  const { site } = await api('GET', '/site');
  return (await api('PUT', '/site/settings', { ...site.settings, ...patch })).settings;
}
