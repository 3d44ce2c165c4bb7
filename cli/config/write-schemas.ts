/**
 * `npm run schemas`: regenerates schemas/*.schema.json from cli/config/types.ts (the test
 * test/cli/config-schema.test.ts fails while a committed schema is out of date).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../project-root.js';
import { generateSchemas } from './schema-gen.js';

const root = projectRoot();
mkdirSync(join(root, 'schemas'), { recursive: true });
for (const [file, text] of generateSchemas(join(root, 'cli', 'config', 'types.ts'))) {
  writeFileSync(join(root, 'schemas', file), text);
  console.log(`wrote schemas/${file}`);
}
