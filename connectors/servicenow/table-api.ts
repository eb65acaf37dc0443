// Small helpers over ServiceNow's Table API, all through the connection's shared HTTP client.
import type { ActionContext, ExternalRef, HttpClient } from '../../src/sdk/index.ts';
import { recordUrl } from './parse.ts';

export type SnRecord = Record<string, unknown> & { sys_id: string };

export function tablePath(table: string, sysId?: string): string {
  return `/api/now/table/${table}${sysId ? `/${sysId}` : ''}`;
}

/** The first record matching an encoded query, or null. */
export async function findOne(http: HttpClient, table: string, query: string, fields: string): Promise<SnRecord | null> {
  const res = await http.request<{ result: SnRecord[] }>({
    method: 'GET',
    path: tablePath(table),
    query: { sysparm_query: query, sysparm_limit: 1, sysparm_fields: fields, sysparm_exclude_reference_link: true },
  });
  return res.body.result[0] ?? null;
}

export async function getRecord(http: HttpClient, table: string, sysId: string, fields: string): Promise<SnRecord> {
  const res = await http.request<{ result: SnRecord }>({
    method: 'GET',
    path: tablePath(table, sysId),
    query: { sysparm_fields: fields, sysparm_exclude_reference_link: true },
  });
  return res.body.result;
}

export async function patchRecord(http: HttpClient, table: string, sysId: string, body: Record<string, unknown>): Promise<SnRecord> {
  const res = await http.request<{ result: SnRecord }>({
    method: 'PATCH',
    path: tablePath(table, sysId),
    query: { sysparm_exclude_reference_link: true },
    body,
  });
  return res.body.result;
}

export function changeLink(ctx: ActionContext, record: SnRecord): ExternalRef {
  return {
    kind: 'change_request',
    externalId: record.sys_id,
    url: recordUrl(ctx.connection.baseUrl, 'change_request', record.sys_id),
    version: typeof record.sys_mod_count === 'string' ? record.sys_mod_count : null,
    data: typeof record.number === 'string' ? { number: record.number } : {},
  };
}

/** ServiceNow encoded queries use ^ as AND; a value containing ^ would split the query. */
export function queryValue(value: string): string {
  return value.replaceAll('^', '^^');
}
