// The hub's configuration after loading: validated, secrets resolved into Secret objects, frozen.
// Loaded once by src/config/load.ts (the only module that reads process.env) and passed down.
import type { ConnectionSettings } from '../sdk/index.ts';

export interface HubConfig {
  /** Absolute path of the file it came from (config/hub.yaml or $HUB_CONFIG). */
  file: string;
  server: { host: string; port: number; bodyLimitBytes: number };
  /** "sqlite:<path>" (resolved against the config file's folder) or "mongodb://…". */
  store: string;
  /** "embedded" or "redis://…". */
  queue: string;
  /** Absolute path of the policy file. */
  policy: string;
  /** Absolute path of the mappings folder. */
  mappingsDir: string;
  /** Absolute path of the directory file (people, teams, managers, on-call); default directory.yaml
   * next to the policy. Optional in the type only so hand-built configs in tests stay short. */
  directory?: string;
  /** How divergent decisions from two tools are settled: "reject-wins" (default) or "manual" (an ops
   * engineer resolves it from the conflict report). */
  conflicts?: { rule: 'reject-wins' | 'manual' };
  /** `maxBacklog`: deliveries stored but not yet processed (all hub processes) past which webhooks are
   * answered 429 + Retry-After. Optional in the type only so hand-built configs in tests stay short. */
  ingest?: { maxBacklog: number };
  /** Absolute paths of team/region policy overlays, applied over the central policy in this order; an
   * overlay may add or tighten rules, never loosen them (refused at load). */
  policyOverlays?: string[];
  /** Public base URL of this hub (links back from external records). */
  publicUrl: string;
  connections: ConnectionSettings[];
  log: { level: string };
}
