// Schemas shared by route plugins: validation, response serialisation and OpenAPI all come from these.

export const problemSchema = {
  $id: 'Problem',
  type: 'object',
  description: 'RFC 9457 problem details',
  required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string' },
    instance: { type: 'string' },
  },
  additionalProperties: true,
} as const;

export const problemRef = { $ref: 'Problem#' } as const;

/** Free-form JSON object (change data, health details). */
export const anyObject = { type: 'object', additionalProperties: true } as const;
