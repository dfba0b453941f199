import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonSchemas } from './schema.js';

describe('documented JSON Schemas', () => {
  it('docs/schemas/*.json are exactly what the zod schemas generate (regenerate: npm run schemas)', () => {
    for (const [name, schema] of Object.entries(jsonSchemas())) {
      const committed = JSON.parse(readFileSync(join(import.meta.dirname, '../../../docs/schemas', name), 'utf8'));
      expect(committed, name).toEqual(JSON.parse(JSON.stringify(schema)));
    }
  });
});
