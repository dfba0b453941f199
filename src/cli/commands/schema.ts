import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { Event } from '../../schema/event.js';
import { ChainRuleFile } from '../../schema/chain-rule.js';
import { DataClassFile } from '../../schema/data-class.js';
import { Finding } from '../../schema/finding.js';
import { TraceHeader } from '../../schema/trace-header.js';

/** JSON Schemas generated from the zod schemas: the documented formats never drift from the code. */
export function jsonSchemas(): Record<string, unknown> {
  return {
    'event.schema.json': z.toJSONSchema(Event, { io: 'output' }),
    'trace-header.schema.json': z.toJSONSchema(TraceHeader, { io: 'output' }),
    'finding.schema.json': z.toJSONSchema(Finding, { io: 'output' }),
    'data-classes.schema.json': z.toJSONSchema(DataClassFile, { io: 'input', unrepresentable: 'any' }),
    'chain-rules.schema.json': z.toJSONSchema(ChainRuleFile, { io: 'input', unrepresentable: 'any' }),
  };
}

export function schemaCommand(): Command {
  return new Command('schema')
    .summary('print or write the JSON Schemas: trace header, events, findings, data classes, chain rules')
    .option('--write <dir>', 'write *.schema.json files into this folder instead of printing')
    .action((opts: { write?: string }) => {
      const schemas = jsonSchemas();
      if (opts.write === undefined) {
        process.stdout.write(`${JSON.stringify(schemas, null, 2)}\n`);
        return;
      }
      mkdirSync(join(opts.write, 'schemas'), { recursive: true });
      for (const [name, s] of Object.entries(schemas)) writeFileSync(join(opts.write, 'schemas', name), `${JSON.stringify(s, null, 2)}\n`);
    });
}
