#!/usr/bin/env node
// The `approval-hub` command. The hub needs Node >= 22.12 (node:sqlite, TypeScript type stripping);
// where the system node is older, re-run this file with the Node pinned in node_modules (the `node`
// devDependency / the Docker image's Node 24).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  const pinned = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(pinned)) {
    process.stderr.write(`approval-hub needs Node >= 22.12 (this is ${process.version}); run npm ci to install the pinned Node.\n`);
    process.exit(2);
  }
  const child = spawn(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  // `kill <pid>` / `kill -HUP <pid>` reach this process, not the hub: pass them on (a `serve` stops
  // gracefully or reloads) rather than dying and leaving the hub running. Ctrl-C already reaches the
  // child through the terminal's process group, so SIGINT is only kept from ending this wrapper first
  // (forwarding it too would be the hub's "second signal": a forced exit).
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  process.on('SIGINT', () => {});
  child.on('error', (err) => {
    process.stderr.write(`approval-hub: cannot run ${pinned}: ${err.message}\n`);
    process.exit(2);
  });
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (signal ? constants.signals[signal] : 0)));
} else {
  const { main } = await import('../src/cli/main.ts');
  process.exitCode = await main(process.argv.slice(2));
}
