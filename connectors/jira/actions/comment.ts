// Comments on the linked issue (v3, ADF body). The comment carries an entity property with the
// idempotency key, so a retried job finds its own comment instead of posting it twice.
import { HttpError, PermanentError, type ActionDefinition } from '../../../src/sdk/index.ts';
import { adf, issuePath } from '../adf.ts';

const propertyKey = 'approval-hub';

interface Comment {
  id: string;
  properties?: { key: string; value: { idempotencyKey?: string } }[];
}
interface CommentPage {
  comments: Comment[];
}

export const comment: ActionDefinition = {
  intent: 'comment',
  linkKinds: ['issue'],
  description: 'Comment (params.message) on the linked Jira issue',
  async run(input, ctx) {
    if (input.link?.kind !== 'issue') throw new PermanentError('comment needs a linked Jira issue');
    const message = input.params.message;
    if (typeof message !== 'string' || message === '') throw new PermanentError('comment needs params.message');
    const key = input.link.externalId;
    // Newest first: a retry follows its first attempt closely.
    const recent = await ctx.http.request<CommentPage>({
      method: 'GET',
      path: issuePath(key, '/comment'),
      query: { orderBy: '-created', maxResults: 50, expand: 'properties' },
    });
    let comments = recent.body.comments;
    // Jira documents `expand=properties` on POST /rest/api/3/comment/list, not on the issue's comment
    // page (whose documented expand is renderedBody): when the page came back without properties, ask there.
    if (comments.some((c) => !Array.isArray(c.properties))) {
      try {
        const listed = await ctx.http.request<{ values?: Comment[] }>({
          method: 'POST',
          path: '/rest/api/3/comment/list',
          query: { expand: 'properties' },
          body: { ids: comments.map((c) => Number(c.id)) },
          idempotent: true, // a read that happens to be a POST
        });
        comments = listed.body?.values ?? [];
      } catch (err) {
        // A site without that endpoint: post unchecked rather than not at all.
        if (!(err instanceof HttpError && err.status === 404)) throw err;
        ctx.log.warn({ connection: ctx.connection.id, issue: key }, 'jira comment properties not readable; posting without the idempotency check');
      }
    }
    const mine = comments.find((c) => c.properties?.some((p) => p.key === propertyKey && p.value?.idempotencyKey === input.idempotencyKey));
    if (mine) return { status: 'already-done', link: input.link, result: { commentId: mine.id } };
    const res = await ctx.http.request<{ id: string }>({
      method: 'POST',
      path: issuePath(key, '/comment'),
      body: { body: adf(message), properties: [{ key: propertyKey, value: { idempotencyKey: input.idempotencyKey } }] },
    });
    return { status: 'done', link: input.link, result: { commentId: res.body.id } };
  },
};
