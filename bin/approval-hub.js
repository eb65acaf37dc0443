#!/usr/bin/env node
// The `approval-hub` command. The hub needs Node >= 22.12 (node:sqlite, TypeScript type stripping);
// where the system node is older, re-run this file with the Node pinned in node_modules (the `node`
// devDependency / the Docker image's Node 24).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  const pinned = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(pinned)) {
    process.stderr.write(`approval-hub needs Node >= 22.12 (this is ${process.version}); run npm ci to install the pinned Node.\n`);
    process.exit(2);
  }
  const r = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
