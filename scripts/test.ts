// `npm test`: type-check, lint, then the whole suite under node's test runner, with the services the
// suite needs: Redis (started if nothing answers on REDIS_URL / 127.0.0.1:6379 and redis-server exists)
// and the MongoDB-wire-compatible jongodb server (started on a free port; its URL goes to the tests as
// JONGODB_URI). When MONGODB_URI is set, the store contract suite runs against it as well.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name: string) => join(root, 'node_modules', '.bin', name);
const args = process.argv.slice(2);
const quick = args.includes('--no-static');
const files = args.filter((a) => !a.startsWith('--'));

function step(title: string, cmd: string, cmdArgs: string[]): void {
  process.stdout.write(`\n== ${title}\n`);
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stdout.write(`\n${title} failed\n`);
    process.exit(r.status ?? 1);
  }
}

function answers(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.setTimeout(1000, () => { s.destroy(); resolve(false); });
  });
}

async function ensureRedis(): Promise<void> {
  const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const port = Number(url.port || 6379);
  if (await answers(port, url.hostname)) return;
  const r = spawnSync('redis-server', ['--daemonize', 'yes', '--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'inherit' });
  if (r.error) throw new Error(`Redis is not answering on ${url.host} and redis-server could not be started: ${r.error.message}`);
  for (let i = 0; i < 50 && !(await answers(port, url.hostname)); i++) await new Promise((r2) => setTimeout(r2, 100));
}

async function startJongodb(): Promise<{ url: string; child: ChildProcess }> {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('@jongodb/memory-server-bin-linux-x64-gnu/package.json'));
  const child = spawn(join(pkg, 'bin', 'jongodb'), ['--host=127.0.0.1', '--port=0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`jongodb did not print its URL: ${out}`)), 30_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /JONGODB_URI=(\S+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    });
    child.once('exit', (code) => reject(new Error(`jongodb exited (${code}): ${out}`)));
  });
  return { url, child };
}

if (!quick) {
  step('type-check (tsc --noEmit)', bin('tsc'), ['--noEmit', '-p', 'tsconfig.json']);
  step('lint (eslint)', bin('eslint'), ['.']);
}
await ensureRedis();
const mongo = process.env.JONGODB_URI ? null : await startJongodb();
const env = { ...process.env, JONGODB_URI: process.env.JONGODB_URI ?? mongo!.url };
process.stdout.write(`\n== tests (node --test) with JONGODB_URI=${env.JONGODB_URI}${process.env.MONGODB_URI ? ' and MONGODB_URI' : ''}\n`);
const testArgs = ['--test', '--test-concurrency=2', '--test-timeout=300000', ...(files.length ? files : ['test/**/*.test.ts'])];
const code = await new Promise<number>((resolve) => {
  const t = spawn(process.execPath, testArgs, { cwd: root, stdio: 'inherit', env });
  t.once('exit', (c) => resolve(c ?? 1));
});
mongo?.child.kill('SIGTERM');
process.exit(code);
