// The hub's HTTP thread and its processing worker each build the connections from one hub.yaml; with
// the memory from connectionSharedMemory they see one circuit and one last sync time per connection.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import type { HubConfig } from '../../src/config/types.ts';
import { createLogger } from '../../src/log.ts';
import { buildConnections, connectionSharedMemory } from '../../src/pipeline/connections.ts';
import type { ConnectionRuntime } from '../../src/pipeline/context.ts';
import { repoFiles, writeConfig } from '../http/helpers.ts';

function hubConfig(): HubConfig {
  const file = writeConfig(`store: "sqlite::memory:"
${repoFiles}connections:
  - id: servicenow-prod
    connector: servicenow
    baseUrl: https://acme.service-now.example
    auth: { type: basic, username: hub.integration, password: "\${env:SN_PASSWORD}" }
    webhook: { secret: "\${env:SN_SECRET}" }
    options: { systemOfRecord: true }
  - id: jira
    connector: jira
    baseUrl: https://acme.atlassian.example
    auth: { type: basic, username: hub@acme.example, password: "\${env:JIRA_TOKEN}" }
    webhook: { secret: "\${env:JIRA_SECRET}" }
    options: { project: CHG }
`);
  return loadConfig({ file, env: { SN_PASSWORD: 'hub-password', SN_SECRET: 's', JIRA_TOKEN: 'jira-api-token', JIRA_SECRET: 's' } });
}

const log = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const breaker = { failureThreshold: 2, openMs: 60_000 };

async function closeAll(...maps: Map<string, ConnectionRuntime>[]): Promise<void> {
  for (const m of maps) for (const c of m.values()) await c.close();
}

describe('connections built by two threads over shared memory', () => {
  it('share each connection\'s last sync time, and only that connection\'s', async () => {
    const config = hubConfig();
    const shared = connectionSharedMemory(config);
    const processing = await buildConnections(config, log, { breaker, shared });
    const http = await buildConnections(config, log, { breaker, shared });
    try {
      assert.equal(http.get('servicenow-prod')!.lastSync, null);
      processing.get('servicenow-prod')!.lastSync = '2026-11-24T15:00:01.250Z';
      assert.equal(http.get('servicenow-prod')!.lastSync, '2026-11-24T15:00:01.250Z');
      assert.equal(http.get('jira')!.lastSync, null);
      http.get('servicenow-prod')!.lastSync = null;
      assert.equal(processing.get('servicenow-prod')!.lastSync, null);
    } finally {
      await closeAll(processing, http);
    }
  });

  it('share each connection\'s circuit: failures in one build open it for the other', async () => {
    const config = hubConfig();
    const shared = connectionSharedMemory(config);
    const processing = await buildConnections(config, log, { breaker, shared });
    const http = await buildConnections(config, log, { breaker, shared });
    try {
      const sn = processing.get('servicenow-prod')!.breaker;
      sn.onFailure('502 Bad Gateway');
      sn.onFailure('502 Bad Gateway');
      assert.equal(http.get('servicenow-prod')!.breaker.state(), 'open');
      assert.equal(http.get('servicenow-prod')!.breaker.snapshot().lastError, '502 Bad Gateway');
      assert.equal(http.get('jira')!.breaker.state(), 'closed');
    } finally {
      await closeAll(processing, http);
    }
  });

  it('keep separate state when built without shared memory', async () => {
    const config = hubConfig();
    const one = await buildConnections(config, log, { breaker });
    const two = await buildConnections(config, log, { breaker });
    try {
      one.get('jira')!.lastSync = '2026-11-24T15:00:00.000Z';
      one.get('jira')!.breaker.onFailure('x');
      one.get('jira')!.breaker.onFailure('x');
      assert.equal(two.get('jira')!.lastSync, null);
      assert.equal(two.get('jira')!.breaker.state(), 'closed');
    } finally {
      await closeAll(one, two);
    }
  });

  it('refuses shared memory that lacks a configured connection', async () => {
    const config = hubConfig();
    const { jira: _left, ...shared } = connectionSharedMemory(config);
    await assert.rejects(buildConnections(config, log, { shared }), /connections\[id=jira\]: no shared memory for this connection; create it with connectionSharedMemory from the same config/);
  });

  it('refuses a last sync time that is not a time', async () => {
    const connections = await buildConnections(hubConfig(), log);
    try {
      assert.throws(() => {
        connections.get('jira')!.lastSync = 'yesterday';
      }, /lastSync must be an ISO time, got "yesterday"/);
    } finally {
      await closeAll(connections);
    }
  });
});

describe('a connection whose mapping file cannot be loaded', () => {
  it('stops the build naming the connection and the file, without a line 0 for a missing file', async () => {
    const file = writeConfig(`store: "sqlite::memory:"
${repoFiles}connections:
  - id: jira
    connector: jira
    webhook: { secret: "\${env:S}" }
    mappings: { issue: jira/no-such-issue.yaml }
`);
    const config = loadConfig({ file, env: { S: 's' } });
    await assert.rejects(buildConnections(config, log), (e: Error) => {
      assert.match(e.message, /connections\[id=jira\]\.mappings: .*jira\/no-such-issue\.yaml: no such file$/);
      return true;
    });
  });
});
