/**
 * Checks a parsed document against one of the generated JSON Schemas (the subset schema-gen.ts
 * writes: type, enum, properties, required, additionalProperties false, items, $ref to
 * definitions, number/string/array bounds, pattern). The first failure becomes a KvrInputError
 * that names the path (`spec.axes.context[2]`) and says what is allowed, in one line.
 */
import { KvrInputError, describeValue } from '../../sim/errors.js';

export interface JsonSchema {
  $schema?: string;
  $id?: string;
  $ref?: string;
  title?: string;
  description?: string;
  type?: 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean' | 'null';
  enum?: (string | number)[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  definitions?: Record<string, JsonSchema>;
}

/** Validates `value` (the whole document) against `root`; throws at the first problem. */
export function checkAgainstSchema(value: unknown, root: JsonSchema, path: string): void {
  check(value, root, root, path);
}

function resolve(schema: JsonSchema, root: JsonSchema): JsonSchema {
  if (schema.$ref === undefined) return schema;
  const name = schema.$ref.replace(/^#\/definitions\//, '');
  const target = root.definitions?.[name];
  if (target === undefined) throw new Error(`schema: unresolved $ref ${schema.$ref}`);
  return { ...target, ...(schema.description === undefined ? {} : { description: schema.description }) };
}

function check(value: unknown, schemaOrRef: JsonSchema, root: JsonSchema, path: string): void {
  const schema = resolve(schemaOrRef, root);
  const fail = (): never => {
    throw new KvrInputError(path, `expected ${describeSchema(schema, root)} (got ${describeValue(value)})`);
  };
  if (schema.enum !== undefined) {
    if (!schema.enum.includes(value as string | number)) {
      throw new KvrInputError(path, `expected one of ${schema.enum.join(', ')} (got ${describeValue(value)})`);
    }
    return;
  }
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail();
      const object = value as Record<string, unknown>;
      const properties = schema.properties ?? {};
      const allowed = Object.keys(properties);
      if (schema.additionalProperties === false) {
        for (const key of Object.keys(object)) {
          if (!allowed.includes(key)) {
            throw new KvrInputError(joinPath(path, key), `unknown field (allowed: ${allowed.join(', ')})`);
          }
        }
      }
      for (const key of schema.required ?? []) {
        if (object[key] === undefined || object[key] === null) {
          throw new KvrInputError(joinPath(path, key), `is required (${describeSchema(properties[key]!, root)})`);
        }
      }
      for (const key of allowed) {
        if (object[key] !== undefined) check(object[key], properties[key]!, root, joinPath(path, key));
      }
      return;
    }
    case 'array': {
      if (!Array.isArray(value)) fail();
      const items = value as unknown[];
      if (schema.minItems !== undefined && items.length < schema.minItems) {
        throw new KvrInputError(path, schema.minItems === 1 ? 'expected a non-empty list' : `expected at least ${schema.minItems} items (got ${items.length})`);
      }
      if (schema.maxItems !== undefined && items.length > schema.maxItems) {
        throw new KvrInputError(path, `expected at most ${schema.maxItems} items (got ${items.length})`);
      }
      if (schema.items !== undefined) items.forEach((item, i) => check(item, schema.items!, root, `${path}[${i}]`));
      return;
    }
    case 'string': {
      if (typeof value !== 'string') fail();
      const text = value as string;
      if (schema.minLength !== undefined && text.length < schema.minLength) fail();
      if (schema.maxLength !== undefined && text.length > schema.maxLength) fail();
      if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(text)) fail();
      return;
    }
    case 'number':
    case 'integer': {
      if (typeof value !== 'number' || !Number.isFinite(value)) fail();
      const n = value as number;
      if (schema.type === 'integer' && !Number.isInteger(n)) fail();
      if (schema.minimum !== undefined && n < schema.minimum) fail();
      if (schema.maximum !== undefined && n > schema.maximum) fail();
      if (schema.exclusiveMinimum !== undefined && n <= schema.exclusiveMinimum) fail();
      if (schema.exclusiveMaximum !== undefined && n >= schema.exclusiveMaximum) fail();
      return;
    }
    case 'boolean':
      if (typeof value !== 'boolean') fail();
      return;
    case 'null':
      if (value !== null) fail();
      return;
    default:
      return;
  }
}

/** "an integer in 1..1024", "a list of ...", "one of a, b": what a schema allows, in words. */
export function describeSchema(schemaOrRef: JsonSchema, root: JsonSchema): string {
  const schema = resolve(schemaOrRef, root);
  if (schema.enum !== undefined) return `one of ${schema.enum.join(', ')}`;
  switch (schema.type) {
    case 'object':
      return `an object with ${Object.keys(schema.properties ?? {}).join(', ')}`;
    case 'array':
      return `a ${schema.minItems === 1 ? 'non-empty ' : ''}list of ${schema.items === undefined ? 'values' : plural(describeSchema(schema.items, root))}`;
    case 'string': {
      if (schema.pattern !== undefined) return `a string matching ${schema.pattern}${schema.description ? ` (${firstSentence(schema.description)})` : ''}`;
      return schema.minLength !== undefined && schema.minLength > 0 ? 'a non-empty string' : 'a string';
    }
    case 'number':
    case 'integer': {
      const noun = schema.type === 'integer' ? 'an integer' : 'a number';
      const low = schema.minimum !== undefined ? schema.minimum : undefined;
      if (low !== undefined && schema.maximum !== undefined) return `${noun} in ${low}..${schema.maximum}`;
      if (low !== undefined) return `${noun} >= ${low}`;
      if (schema.exclusiveMinimum !== undefined) return `${noun} > ${schema.exclusiveMinimum}`;
      if (schema.maximum !== undefined) return `${noun} <= ${schema.maximum}`;
      return noun;
    }
    case 'boolean':
      return 'true or false';
    case 'null':
      return 'null';
    default:
      return 'a value';
  }
}

function plural(phrase: string): string {
  return phrase
    .replace(/^an integer/, 'integers')
    .replace(/^a number/, 'numbers')
    .replace(/^a non-empty string/, 'non-empty strings')
    .replace(/^a string/, 'strings')
    .replace(/^an object/, 'objects')
    .replace(/^one of /, 'values among ');
}

function firstSentence(text: string): string {
  const end = text.indexOf('. ');
  return (end >= 0 ? text.slice(0, end) : text).replace(/\.$/, '');
}

function joinPath(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}
