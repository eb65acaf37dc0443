// Re-signs a recorded delivery after its body.json was edited:
//   node test/connectors/support/sign-fixture.ts connectors/<id>/fixtures/deliveries/<case>
// Computes the signature header(s) present in case.json from the case's connection.webhook.secret.
import { createHmac } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: sign-fixture.ts <fixture case folder>\n');
  process.exit(2);
}
const casePath = join(dir, 'case.json');
const fixture = JSON.parse(await readFile(casePath, 'utf8')) as { connection?: { webhook?: { secret?: string } }; headers: Record<string, string> };
const body = await readFile(join(dir, 'body.json'));
const secret = fixture.connection?.webhook?.secret;
if (!secret) {
  process.stderr.write(`${casePath}: connection.webhook.secret is missing\n`);
  process.exit(2);
}
const hex = createHmac('sha256', secret).update(body).digest('hex');
for (const header of ['x-hub-signature-256', 'x-hub-signature']) {
  if (header in fixture.headers) fixture.headers[header] = `sha256=${hex}`;
}
if ('x-pagerduty-signature' in fixture.headers) {
  // The last v1= is the configured secret's; any before it (a secret being rotated out) are kept.
  const earlier = fixture.headers['x-pagerduty-signature']!.split(',').slice(0, -1);
  fixture.headers['x-pagerduty-signature'] = [...earlier, `v1=${hex}`].join(',');
}
if ('x-gitlab-token' in fixture.headers) fixture.headers['x-gitlab-token'] = secret; // a token, not a signature
if ('webhook-signature' in fixture.headers) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const mac = createHmac('sha256', key).update(`${fixture.headers['webhook-id']}.${fixture.headers['webhook-timestamp']}.`).update(body).digest('base64');
  fixture.headers['webhook-signature'] = `v1,${mac}`;
}
await writeFile(casePath, `${JSON.stringify(fixture, null, 2)}\n`);
process.stdout.write(`signed ${casePath}\n`);
