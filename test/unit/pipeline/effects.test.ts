// planEffects is pure over the change's links and the connections: where each effect goes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import github from '../../../connectors/github/index.ts';
import jira from '../../../connectors/jira/index.ts';
import { planEffects } from '../../../src/pipeline/effects.ts';
import type { ConnectionRuntime, PipelineContext } from '../../../src/pipeline/context.ts';
import type { Change } from '../../../src/core/types.ts';
import type { ConnectorDefinition } from '../../../src/sdk/index.ts';
import type { LinkRecord } from '../../../src/store/port.ts';

function runtime(id: string, connector: ConnectorDefinition): ConnectionRuntime {
  return { settings: { id }, connector, actions: new Map((connector.actions ?? []).map((a) => [a.intent, a])), systemOfRecord: false } as unknown as ConnectionRuntime;
}

function link(connectionId: string, kind: string, externalId: string): LinkRecord {
  return { changeId: 'chg-1', connectionId, kind, externalId, url: null, versionSeen: null, data: {}, updatedAt: '2026-11-25T00:00:00Z' };
}

const ctx = { connections: new Map([['github', runtime('github', github)], ['jira', runtime('jira', jira)]]) } as unknown as PipelineContext;
const change = { id: 'chg-1', steps: [] } as unknown as Change;
const links = [
  link('github', 'repository', 'acme/payments-api'),
  link('github', 'commit', 'acme/payments-api@f95f852'),
  link('github', 'deployment-gate', 'acme/payments-api/runs/42/production'),
  link('jira', 'issue', 'CHG-42'),
];

test('a gate is answered on its deployment-gate link only, not on the repository and commit links beside it', () => {
  const { outbound } = planEffects(ctx, change, [{ type: 'answer-gate', outcome: 'approved', reason: 'plan satisfied' }], links);
  assert.deepEqual(outbound.map((o) => `${o.intent} ${o.link?.connectionId} ${o.link?.kind}`), ['answer-gate github deployment-gate']);
});

test('an announcement goes to every linked record whose action takes that kind', () => {
  const { outbound } = planEffects(ctx, change, [{ type: 'announce', event: 'approved', message: 'Approved' }], links);
  assert.deepEqual(outbound.map((o) => `${o.intent} ${o.link?.connectionId} ${o.link?.kind}`), ['comment jira issue']);
});
