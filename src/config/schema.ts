// The JSON schema of config/hub.yaml as written by people (before defaults, env overrides and secret
// resolution). PRODUCT.md §5 is the reference; keep README's config section in step with this file.

const secretOrValue = { type: ['string', 'number', 'boolean'] };

const connection = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'connector'],
  properties: {
    // The id appears in the webhook URL (/webhooks/<id>), so it stays URL-safe.
    id: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' },
    connector: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]*$' },
    baseUrl: { type: ['string', 'null'], pattern: '^https?://' },
    auth: { type: ['object', 'null'], required: ['type'], additionalProperties: secretOrValue },
    webhook: {
      type: ['object', 'null'],
      additionalProperties: { anyOf: [secretOrValue, { type: 'array', items: { type: 'string' } }] },
    },
    mapping: { type: 'string', minLength: 1 },
    mappings: { type: 'object', additionalProperties: { type: 'string', minLength: 1 } },
    reconcile: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['cron'],
      properties: { cron: { type: 'string', minLength: 1 } },
    },
    rateLimit: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['perSecond'],
      properties: { perSecond: { type: 'number', exclusiveMinimum: 0 } },
    },
    options: { type: 'object' },
  },
} as const;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const hubConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    server: {
      type: 'object',
      additionalProperties: false,
      properties: {
        host: { type: 'string', minLength: 1 },
        // 0 asks the OS for a free port (tests, benchmarks).
        port: { type: 'integer', minimum: 0, maximum: 65535 },
        // Bytes, or a size such as "512kb" / "1mb".
        bodyLimit: { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: '^[0-9]+ ?([kKmM][bB]?)?$' }] },
      },
    },
    store: { type: 'string', pattern: '^(sqlite:.+|mongodb(\\+srv)?://.+)$' },
    queue: { type: 'string', pattern: '^(embedded|rediss?://.+)$' },
    policy: { type: 'string', minLength: 1 },
    policyOverlays: { type: 'array', items: { type: 'string', minLength: 1 } },
    mappingsDir: { type: 'string', minLength: 1 },
    directory: { type: 'string', minLength: 1 },
    conflicts: {
      type: 'object',
      additionalProperties: false,
      properties: { rule: { enum: ['reject-wins', 'manual'] } },
    },
    ingest: {
      type: 'object',
      additionalProperties: false,
      // Deliveries stored but not yet processed, past which /webhooks answers 429.
      properties: { maxBacklog: { type: 'integer', minimum: 1 } },
    },
    publicUrl: { type: 'string', pattern: '^https?://' },
    log: {
      type: 'object',
      additionalProperties: false,
      properties: { level: { enum: LOG_LEVELS } },
    },
    connections: { type: ['array', 'null'], items: connection },
  },
} as const;
