// Hot reload of the files people edit while the hub runs: the policy (and its overlays), the directory
// and every mapping file a connection uses. An edit is picked up when the folder watcher sees it (editors
// save by writing a temp file and renaming it over the old one, so the folder is watched, not the file)
// or on SIGHUP. A reload is all or nothing: the whole next context is built and validated first, then one
// reference is swapped; a bad edit is refused, logged with file:line reasons, shown in /readyz, and the
// previous version stays in force.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { connectorById } from '../../connectors/index.ts';
import type { HubConfig } from '../config/types.ts';
import { loadConnectionMappings, mappingFileFor } from '../mapping/index.ts';
import { formatPolicyErrors, loadPolicy } from '../policy-files/load.ts';
import type { Logger } from '../sdk/index.ts';
import type { ConnectionRuntime, PipelineContext } from './context.ts';
import { directoryPath, loadDirectory } from './directory.ts';

export type ReloadLoadResult<T> = { ok: true; value: T } | { ok: false; errors: string[] };

export type ReloadStatus =
  | {
      ok: true;
      /** When the version in force was loaded (the start, or the last reload applied). */
      inForceSince: string;
      /** The last reload attempt, if any. */
      lastReloadAt: string | null;
    }
  | {
      ok: false;
      /** Always "reload refused: …": what an operator reading /readyz needs to know first. */
      message: string;
      refusedAt: string;
      /** `file:line: reason` for each problem in the refused edit. */
      errors: string[];
      inForceSince: string;
    };

export interface ReloaderOptions<T> {
  /** The files whose edits trigger a reload; asked again after each reload (the set can change). */
  files: () => string[];
  /** Loads and validates everything; never applies anything itself. */
  load: () => Promise<ReloadLoadResult<T>>;
  /** Puts a validated version in force; must not fail half-way (swap one reference). May finish
   * asynchronously (other threads taking it too); the reload is reported applied after it. */
  apply: (value: T) => void | Promise<void>;
  log: Logger;
  /** Quiet time after the last file event before reloading (an editor's save is several events). */
  debounceMs?: number;
  /** The signal that asks for a reload; null for none. Default SIGHUP. */
  signal?: NodeJS.Signals | null;
  now?: () => Date;
}

export interface Reloader {
  /** Watches the files' folders and listens for the signal. */
  start(): void;
  stop(): void;
  /** Loads now; applies when valid, else refuses and keeps the previous version. Reloads run one at a time. */
  reloadNow(): Promise<ReloadStatus>;
  status(): ReloadStatus;
}

export function createReloader<T>(opts: ReloaderOptions<T>): Reloader {
  const now = opts.now ?? (() => new Date());
  const debounceMs = opts.debounceMs ?? 250;
  const signal = opts.signal === undefined ? 'SIGHUP' : opts.signal;
  let status: ReloadStatus = { ok: true, inForceSince: now().toISOString(), lastReloadAt: null };
  let watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | null = null;
  let running = false;
  let chain: Promise<unknown> = Promise.resolve();

  async function reload(reason: string): Promise<ReloadStatus> {
    const at = now().toISOString();
    let result: ReloadLoadResult<T>;
    try {
      result = await opts.load();
    } catch (err) {
      // A loader that throws is a bug or an unreadable disk; it must not take the running version down.
      result = { ok: false, errors: [(err as Error).message] };
    }
    if (result.ok) {
      const applying = opts.apply(result.value);
      if (applying) await applying;
      status = { ok: true, inForceSince: at, lastReloadAt: at };
      opts.log.info({ reason, files: opts.files() }, 'reload applied: policy, directory and mappings now in force');
    } else {
      const inForceSince = status.inForceSince;
      const message = `reload refused: ${result.errors.length} problem${result.errors.length === 1 ? '' : 's'} in the edited files; the version loaded at ${inForceSince} stays in force`;
      status = { ok: false, message, refusedAt: at, errors: result.errors, inForceSince };
      opts.log.error({ reason, errors: result.errors }, message);
    }
    if (running) rewatch();
    return status;
  }

  function reloadNow(reason = 'requested'): Promise<ReloadStatus> {
    const next = chain.then(() => reload(reason));
    chain = next.catch(() => {});
    return next;
  }

  function schedule(): void {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      void reloadNow('file changed');
    }, debounceMs);
    timer.unref();
  }

  function rewatch(): void {
    for (const w of watchers) w.close();
    watchers = [];
    const byFolder = new Map<string, Set<string>>();
    for (const f of opts.files()) {
      const abs = resolve(f);
      const names = byFolder.get(dirname(abs)) ?? new Set<string>();
      names.add(basename(abs));
      byFolder.set(dirname(abs), names);
    }
    for (const [folder, names] of byFolder) {
      try {
        // Not persistent: watching must never keep a stopped hub (or a test run) alive.
        const w = watch(folder, { persistent: false }, (_event, name) => {
          // Some platforms give no file name; then any change in the folder may be ours.
          if (name === null || names.has(basename(name.toString()))) schedule();
        });
        w.on('error', (err) => opts.log.warn({ err, folder }, 'reload: cannot watch the folder; SIGHUP still reloads'));
        watchers.push(w);
      } catch (err) {
        opts.log.warn({ err, folder }, 'reload: cannot watch the folder; SIGHUP still reloads');
      }
    }
  }

  const onSignal = () => {
    opts.log.info({ signal }, 'reload requested by signal');
    void reloadNow(signal ?? 'signal');
  };

  return {
    start() {
      if (running) return;
      running = true;
      rewatch();
      if (signal) process.on(signal, onSignal);
    },
    stop() {
      running = false;
      if (timer) clearTimeout(timer);
      timer = null;
      for (const w of watchers) w.close();
      watchers = [];
      if (signal) process.off(signal, onSignal);
    },
    reloadNow: () => reloadNow(),
    status: () => status,
  };
}

// ---------------------------------------------------------------- the pipeline's reloadable part

/** The files a running hub reloads from: policy, its overlays, the directory, each connection's mappings
 * (the connector's record kinds plus the ones the connection configures). */
export function reloadableFiles(config: HubConfig, overlays: readonly string[] = []): string[] {
  const files = new Set<string>([config.policy, ...overlays, directoryPath(config)]);
  for (const settings of config.connections) {
    const kinds = new Set([...(connectorById(settings.connector)?.mappingKinds ?? []), ...Object.keys(settings.mappings)]);
    for (const kind of kinds) files.add(join(config.mappingsDir, mappingFileFor(settings, kind)));
  }
  return [...files];
}

const rootRuntime = new WeakMap<ConnectionRuntime, ConnectionRuntime>();

/**
 * Builds the next context from the files on disk: directory, policy (checked against that directory)
 * and every connection's mappings. The connections keep their HTTP client, rate limiter and circuit
 * breaker (credentials and URLs come from hub.yaml, which is not reloaded); only their mappings are new.
 */
export async function loadNextContext(current: PipelineContext, overlays: readonly string[] = []): Promise<ReloadLoadResult<PipelineContext>> {
  // Paths under the working folder are shown relative to it (as `approval-hub check` does), others in full.
  const rel = (f: string) => {
    const r = relative(process.cwd(), resolve(f));
    return r === '' || r.startsWith('..') ? resolve(f) : r;
  };
  const errors: string[] = [];
  let directory: PipelineContext['directory'] | null = null;
  try {
    directory = await loadDirectory(directoryPath(current.config));
  } catch (err) {
    errors.push((err as Error).message);
  }
  let policy: PipelineContext['policy'] | null = null;
  if (directory) {
    const loaded = await loadPolicy(current.config.policy, { directory, overlays: [...overlays] });
    if (loaded.ok) policy = loaded.policy;
    else errors.push(...formatPolicyErrors(loaded.errors.map((e) => ({ ...e, file: rel(e.file) }))));
  }
  const connections = new Map<string, ConnectionRuntime>();
  for (const [id, conn] of current.connections) {
    const loaded = await loadConnectionMappings(current.config.mappingsDir, conn.settings, conn.connector.mappingKinds ?? []);
    if (!loaded.ok) {
      errors.push(...loaded.errors.map((e) => `${rel(e.file)}:${e.line}: connection ${id}: ${e.reason}`));
      continue;
    }
    connections.set(id, withMappings(conn, loaded.mappings));
  }
  if (errors.length > 0 || !directory || !policy) return { ok: false, errors };
  return { ok: true, value: { ...current, policy, directory, connections } };
}

/** The same connection with new mappings; its sync time stays shared with the original runtime. */
function withMappings(conn: ConnectionRuntime, mappings: Pick<ConnectionRuntime, 'normalize' | 'render'>): ConnectionRuntime {
  const root = rootRuntime.get(conn) ?? conn;
  const next: ConnectionRuntime = {
    settings: root.settings,
    connector: root.connector,
    actions: root.actions,
    http: root.http,
    breaker: root.breaker,
    normalize: mappings.normalize,
    render: mappings.render,
    systemOfRecord: root.systemOfRecord,
    // Jobs that started on the previous context still record their sync time: one place for both.
    get lastSync() {
      return root.lastSync;
    },
    set lastSync(at: string | null) {
      root.lastSync = at;
    },
    close: root.close,
  };
  rootRuntime.set(next, root);
  return next;
}

/** A read-only view of whichever connections map is current, for parts that keep a Map (reconciliation). */
export function liveConnections<V>(read: () => Map<string, V>): Map<string, V> {
  return new Proxy(new Map<string, V>(), {
    get(_target, prop) {
      const map = read();
      const value = Reflect.get(map, prop, map) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(map) : value;
    },
  });
}
