/**
 * Reads a config file (YAML, JSON or CSV), checks it against its generated JSON Schema
 * (schemas/*.schema.json) and returns the typed document. Every failure is one line naming the
 * path in the document and what is allowed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { parse } from 'csv-parse/sync';
import { KvrInputError, describeValue } from '../../sim/errors.js';
import type { CliIo } from '../io.js';
import { checkDocumentDepth, oneLine, readInputFile } from '../load-json.js';
import { projectRoot } from '../project-root.js';
import { checkAgainstSchema, type JsonSchema } from './schema-check.js';
import type { PlanCatalogue, SweepScenario, SweepSpec } from './types.js';

const schemas = new Map<string, JsonSchema>();

/** A committed schema of schemas/ (package data, read once). */
export function loadSchema(file: string): JsonSchema {
  let schema = schemas.get(file);
  if (schema === undefined) {
    schema = JSON.parse(readFileSync(join(projectRoot(), 'schemas', file), 'utf8')) as JsonSchema;
    schemas.set(file, schema);
  }
  return schema;
}

export type ConfigFormat = 'yaml' | 'json' | 'csv';

export function formatOf(path: string): ConfigFormat {
  const lower = path.toLowerCase();
  if (lower.endsWith('.json')) return 'json';
  if (lower.endsWith('.csv')) return 'csv';
  return 'yaml';
}

/** Reads and parses a YAML/JSON file into plain data; `field` names the flag or argument. */
export function readConfigDocument(io: CliIo, path: string, field: string): unknown {
  const text = readInputFile(io, path, field);
  const format = formatOf(path);
  if (format === 'json') {
    let value: unknown;
    try {
      value = JSON.parse(text) as unknown;
    } catch (error) {
      throw new KvrInputError(field, `${JSON.stringify(path)} is not valid JSON: ${oneLine(error)}`);
    }
    checkDocumentDepth(value, path, field);
    return value;
  }
  if (format === 'csv') return { rows: csvRows(text, path, field) };
  // YAML 1.2 core schema; aliases are capped (no "billion laughs"), duplicate keys are errors.
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  const problem = document.errors[0];
  if (problem !== undefined) {
    const line = problem.linePos?.[0]?.line;
    throw new KvrInputError(field, `${JSON.stringify(path)} is not valid YAML${line === undefined ? '' : ` (line ${line})`}: ${oneLine(problem.message.split('\n')[0])}`);
  }
  let value: unknown;
  try {
    value = document.toJS({ maxAliasCount: 1000 }) as unknown;
  } catch (error) {
    throw new KvrInputError(field, `${JSON.stringify(path)}: ${oneLine(error)}`);
  }
  checkDocumentDepth(value, path, field);
  return value;
}

/** A sweep spec: YAML/JSON with `axes` and/or `rows`, or CSV rows with a header. */
export function loadSweepSpec(io: CliIo, path: string): SweepSpec {
  if (!/\.(ya?ml|json|csv)$/i.test(path)) {
    throw new KvrInputError('spec', `${JSON.stringify(path)}: expected a .yaml, .yml, .json or .csv file (the extension says how to read it)`);
  }
  const document = readConfigDocument(io, path, 'spec');
  const schema = loadSchema('sweep-spec.schema.json');
  if (formatOf(path) === 'csv') {
    const rows = (document as { rows: Record<string, string>[] }).rows;
    const scenario = schema.definitions?.SweepScenario;
    const typed = rows.map((row) => coerceCsvRow(row, scenario));
    try {
      checkAgainstSchema({ rows: typed }, schema, 'spec');
    } catch (error) {
      if (error instanceof KvrInputError) {
        const match = /^spec\.rows\[(\d+)\]/.exec(error.field);
        const line = match === null ? '' : ` (CSV line ${Number(match[1]) + 2})`;
        throw new KvrInputError(error.field, `${error.detail}${line}`);
      }
      throw error;
    }
    if (typed.length === 0) throw new KvrInputError('spec.rows', 'expected a non-empty list (the CSV has a header and no rows)');
    return { rows: typed };
  }
  if (document === null || document === undefined) throw new KvrInputError('spec', `${JSON.stringify(path)} is empty (expected axes and/or rows)`);
  checkAgainstSchema(document, schema, 'spec');
  const spec = document as SweepSpec;
  if (spec.axes === undefined && spec.rows === undefined) throw new KvrInputError('spec', 'expected axes (a product) and/or rows (listed scenarios)');
  if (spec.axes !== undefined && Object.keys(spec.axes).length === 0) {
    throw new KvrInputError('spec.axes', 'is empty: name at least one axis (e.g. context: [4096, 16384]), or leave axes out and list rows');
  }
  return spec;
}

export function loadCatalogue(io: CliIo, path: string): PlanCatalogue {
  const document = readConfigDocument(io, path, '--catalogue');
  if (document === null || document === undefined) throw new KvrInputError('catalogue', `${JSON.stringify(path)} is empty (expected offers)`);
  checkAgainstSchema(document, loadSchema('plan-catalogue.schema.json'), 'catalogue');
  return document as PlanCatalogue;
}

/** CSV cells are text: numbers where the schema wants numbers, empty cells left out. */
function coerceCsvRow(row: Record<string, string>, scenario: JsonSchema | undefined): SweepScenario {
  const out: Record<string, unknown> = {};
  for (const [key, cell] of Object.entries(row)) {
    if (cell === '') continue;
    const property = scenario?.properties?.[key];
    // A union (context: a count or "128k") takes a number where one of its alternatives does.
    const types = property?.anyOf !== undefined ? property.anyOf.map((alternative) => alternative.type) : [property?.type];
    out[key] = (types.includes('integer') || types.includes('number')) && /^\s*[+-]?\d+(\.\d+)?([eE][+-]?\d+)?\s*$/.test(cell) ? Number(cell) : cell;
  }
  return out as SweepScenario;
}

/** RFC 4180 CSV (quotes, "" escapes, CRLF) into header-keyed records; blank lines skipped. */
export function csvRows(text: string, path: string, field: string): Record<string, string>[] {
  const records = parseCsv(text, path, field).filter((r) => !(r.length === 1 && r[0]!.trim() === ''));
  if (records.length === 0) throw new KvrInputError(field, `${JSON.stringify(path)} is empty (expected a header line of scenario keys)`);
  const header = records[0]!.map((h) => h.trim());
  header.forEach((name, i) => {
    if (name === '') throw new KvrInputError(`spec.csv header[${i}]`, 'empty column name');
    if (header.indexOf(name) !== i) throw new KvrInputError(`spec.csv header[${i}]`, `column ${describeValue(name)} appears twice`);
  });
  return records.slice(1).map((cells, r) => {
    if (cells.length !== header.length) {
      throw new KvrInputError(`spec.rows[${r}]`, `has ${cells.length} cells, the header ${header.length} (CSV line ${r + 2})`);
    }
    return Object.fromEntries(header.map((name, i) => [name, cells[i]!.trim()]));
  });
}

/**
 * CSV records by csv-parse (RFC 4180: quotes, "" escapes, CRLF, a BOM); its errors become one line
 * naming the spec. Cells are trimmed by csvRows, ragged rows reported there with their line.
 */
function parseCsv(text: string, path: string, field: string): string[][] {
  try {
    return parse(text, { bom: true, relax_column_count: true, skip_empty_lines: false, trim: true }) as string[][];
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'CSV_QUOTE_NOT_CLOSED') throw new KvrInputError(field, `${JSON.stringify(path)}: a quoted CSV cell is not closed`);
    throw new KvrInputError(field, `${JSON.stringify(path)}: ${oneLine(error)}`);
  }
}
