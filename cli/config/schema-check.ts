/**
 * Checks a parsed document against one of the generated JSON Schemas with ajv. The first failure
 * becomes a KvrInputError that names the path (`spec.axes.context[2]`) and says what is allowed,
 * in one line: ajv validates, describeSchema words the failing subschema.
 */
import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
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
  anyOf?: JsonSchema[];
  definitions?: Record<string, JsonSchema>;
}

/**
 * Validates `value` (the whole document) against `root` with ajv (compiled once per schema, every
 * JSON Schema keyword honoured); throws at the first problem, in the order a reader meets it: an
 * object's unknown fields, then its missing ones, then its values, depth first.
 */
export function checkAgainstSchema(value: unknown, root: JsonSchema, path: string): void {
  const validate = compiled(root);
  if (validate(value)) return;
  const errors = validate.errors ?? [];
  let error = firstError(errors);
  // A value that matches no alternative of an anyOf is told every alternative, not the first's.
  const union = errors.find((e) => e.keyword === 'anyOf' && e.instancePath === error?.instancePath);
  if (union !== undefined) error = union;
  if (error === undefined) throw new KvrInputError(path, 'does not match its schema');
  const at = pointerPath(path, error.instancePath);
  const got = pick(value, error.instancePath);
  const schema = (error.parentSchema ?? {}) as JsonSchema;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = (error.params as { additionalProperty: string }).additionalProperty;
      throw new KvrInputError(joinPath(at, key), `unknown field (allowed: ${Object.keys(schema.properties ?? {}).join(', ')})`);
    }
    case 'required': {
      const key = (error.params as { missingProperty: string }).missingProperty;
      const property = schema.properties?.[key];
      throw new KvrInputError(joinPath(at, key), `is required${property === undefined ? '' : ` (${describeSchema(property, root)})`}`);
    }
    case 'enum':
      throw new KvrInputError(at, `expected one of ${(schema.enum ?? []).join(', ')} (got ${describeValue(got)})`);
    case 'minItems':
      throw new KvrInputError(at, schema.minItems === 1 ? 'expected a non-empty list' : `expected at least ${schema.minItems} items (got ${(got as unknown[]).length})`);
    case 'maxItems':
      throw new KvrInputError(at, `expected at most ${schema.maxItems} items (got ${(got as unknown[]).length})`);
    default:
      throw new KvrInputError(at, `expected ${describeSchema(schema, root)} (got ${describeValue(got)})`);
  }
}

type Validator = ValidateFunction & { errors?: ErrorObject[] | null };
const validators = new WeakMap<JsonSchema, Validator>();
// ajv is CommonJS: under NodeNext its class is the default export's `default`.
const ajv = new AjvModule.default({ allErrors: true, verbose: true, strict: false, validateSchema: false });

function compiled(root: JsonSchema): Validator {
  let validate = validators.get(root);
  if (validate === undefined) {
    const { $schema: _ignored, $id: _id, ...schema } = root;
    validate = ajv.compile(schema);
    validators.set(root, validate);
  }
  return validate;
}

/** Depth first in document order, an object's own problems (unknown, then missing keys) first. */
function firstError(errors: ErrorObject[]): ErrorObject | undefined {
  const rank = (e: ErrorObject): number => (e.keyword === 'additionalProperties' ? 0 : e.keyword === 'required' ? 1 : 2);
  const depth = (e: ErrorObject): number => (e.instancePath === '' ? 0 : e.instancePath.split('/').length - 1);
  return [...errors].sort((a, b) => {
    if (a.instancePath === b.instancePath) return rank(a) - rank(b);
    if (b.instancePath.startsWith(`${a.instancePath}/`)) return rank(a) < 2 ? -1 : 1;
    if (a.instancePath.startsWith(`${b.instancePath}/`)) return rank(b) < 2 ? 1 : -1;
    return depth(a) - depth(b) || errors.indexOf(a) - errors.indexOf(b);
  })[0];
}

/** "/axes/context/2" under "spec" -> "spec.axes.context[2]". */
function pointerPath(path: string, pointer: string): string {
  let out = path;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out = /^\d+$/.test(key) ? `${out}[${key}]` : joinPath(out, key);
  }
  return out;
}

function pick(value: unknown, pointer: string): unknown {
  let node = value;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    node = (node as Record<string, unknown> | undefined)?.[key];
  }
  return node;
}

function resolve(schema: JsonSchema, root: JsonSchema): JsonSchema {
  if (schema.$ref === undefined) return schema;
  const name = schema.$ref.replace(/^#\/definitions\//, '');
  const target = root.definitions?.[name];
  if (target === undefined) throw new Error(`schema: unresolved $ref ${schema.$ref}`);
  return { ...target, ...(schema.description === undefined ? {} : { description: schema.description }) };
}

/** "an integer in 1..1024", "a list of ...", "one of a, b": what a schema allows, in words. */
export function describeSchema(schemaOrRef: JsonSchema, root: JsonSchema): string {
  const schema = resolve(schemaOrRef, root);
  if (schema.anyOf !== undefined) return schema.anyOf.map((alternative) => describeSchema(alternative, root)).join(' or ');
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
  if (phrase.includes(' or ')) return phrase.split(' or ').map(plural).join(' or ');
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
