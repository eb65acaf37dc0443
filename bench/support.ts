// What several benchmark modules share: a server in a process of its own, and percentiles.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort, repoRoot } from '../test/support/hub-process.ts';

/** Starts `node <args>` with PORT set to a free port and waits until it prints "listening". */
export async function startServer(name: string, args: string[], env: Record<string, string> = {}): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(join(repoRoot, 'node_modules', '.bin', 'node'), args, {
    cwd: repoRoot,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => b.toString().includes('listening') && resolve());
    child.once('exit', (code) => reject(new Error(`${name} exited (${code})`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

/** The p-th percentile (0–100, nearest rank) of values sorted in ascending order. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
