// `approval-hub token create|revoke|list`: API tokens are managed from the CLI only (no HTTP route can
// mint a token), so whoever holds the server holds the keys.
import { createToken } from '../../http/plugins/auth.ts';
import { ROLES } from '../../http/plugins/auth.ts';
import { openStore } from '../../store/index.ts';
import type { Role } from '../../store/port.ts';
import { config, configOption, EXIT, parse, UsageError, type Io } from '../io.ts';

export const tokenUsage = `Usage:
  approval-hub token create --name NAME --roles ROLE[,ROLE] [--actor WHO] [--config FILE]
  approval-hub token revoke ID|NAME [--config FILE]
  approval-hub token list [--json] [--config FILE]

Roles: ${ROLES.join(', ')}. The secret is printed once by create and never stored (only its SHA-256).`;

export async function tokenCommand(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.out(`${tokenUsage}\n`);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  if (sub === 'create') {
    const { values } = parse(rest, { ...configOption, name: { type: 'string' }, roles: { type: 'string' }, actor: { type: 'string' } });
    if (values.help) return help(io);
    if (!values.name) throw new UsageError('--name is required');
    if (!values.roles) throw new UsageError('--roles is required');
    const roles = values.roles.split(',').map((r) => r.trim()).filter(Boolean);
    const unknown = roles.filter((r) => !(ROLES as string[]).includes(r));
    if (unknown.length > 0 || roles.length === 0) throw new UsageError(`--roles: unknown role ${unknown.join(', ') || '(none)'}; use ${ROLES.join(', ')}`);
    const cfg = config(io, values.config);
    const store = await openStore(cfg.store);
    try {
      const existing = (await store.tokens.list()).find((t) => t.name === values.name && !t.revokedAt);
      if (existing) {
        io.err(`a token named "${values.name}" exists (${existing.id}); revoke it first or choose another name\n`);
        return EXIT.findings;
      }
      const { token, secret } = await createToken(store, { name: values.name, roles: roles as Role[], actor: values.actor });
      io.out(`created token ${token.id} "${token.name}" (roles ${token.roles.join(', ')}, acts as ${token.actor})\n`);
      io.out(`secret (shown once, store it now): ${secret}\n`);
      return EXIT.ok;
    } finally {
      await store.close();
    }
  }
  if (sub === 'revoke') {
    const { values, positionals } = parse(rest, configOption, { min: 1, max: 1 });
    if (values.help) return help(io);
    const cfg = config(io, values.config);
    const store = await openStore(cfg.store);
    try {
      if (await store.tokens.revoke(positionals[0]!)) {
        io.out(`revoked ${positionals[0]}\n`);
        return EXIT.ok;
      }
      io.err(`no active token with id or name "${positionals[0]}"\n`);
      return EXIT.findings;
    } finally {
      await store.close();
    }
  }
  if (sub === 'list') {
    const { values } = parse(rest, { ...configOption, json: { type: 'boolean' } });
    if (values.help) return help(io);
    const cfg = config(io, values.config);
    const store = await openStore(cfg.store);
    try {
      const tokens = await store.tokens.list();
      // The hash is not a secret in itself but has no use outside the store.
      const rows = tokens.map(({ hash: _hash, ...t }) => t);
      if (values.json) io.out(`${JSON.stringify(rows, null, 2)}\n`);
      else if (rows.length === 0) io.out('no tokens\n');
      else for (const t of rows) io.out(`${t.id}  ${t.name}  ${t.roles.join(',')}  actor=${t.actor}  created=${t.createdAt}${t.revokedAt ? `  REVOKED ${t.revokedAt}` : ''}\n`);
      return EXIT.ok;
    } finally {
      await store.close();
    }
  }
  throw new UsageError(`unknown token command "${sub}"`);
}

function help(io: Io): number {
  io.out(`${tokenUsage}\n`);
  return EXIT.ok;
}
