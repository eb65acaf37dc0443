// Adds a work note (internal journal entry) to the linked change_request. A journal write appends and
// cannot be read back from the record itself, so the note carries a marker with the idempotency key and
// sys_journal_field is searched for it before writing again.
import { PermanentError, type ActionDefinition } from '../../../src/sdk/index.ts';
import { findOne, patchRecord, queryValue } from '../table-api.ts';

export const comment: ActionDefinition = {
  intent: 'comment',
  linkKinds: ['change_request'],
  description: 'Add a work note (params.message) to the linked change_request',
  async run(input, ctx) {
    if (input.link?.kind !== 'change_request') throw new PermanentError('comment needs a linked ServiceNow change_request');
    const message = input.params.message;
    if (typeof message !== 'string' || message === '') throw new PermanentError('comment needs params.message');
    const marker = `[approval-hub ${input.idempotencyKey}]`;
    const seen = await findOne(
      ctx.http,
      'sys_journal_field',
      `element_id=${input.link.externalId}^element=work_notes^valueLIKE${queryValue(marker)}`,
      'sys_id',
    );
    if (seen) return { status: 'already-done', link: input.link };
    await patchRecord(ctx.http, 'change_request', input.link.externalId, { work_notes: `${message}\n${marker}` });
    return { status: 'done', link: input.link };
  },
};
