/**
 * A small JSON Schema generator for the config types of cli/config/types.ts, on the TypeScript
 * compiler API (a dev dependency already). It covers what those types use: interfaces (objects
 * without extra keys), optional properties, arrays, string/number/boolean, unions of literals
 * (enums, also when imported: StrategyName follows STRATEGY_NAMES), and type aliases whose JSDoc
 * tags constrain a primitive (@integer, @minimum, @maximum, @exclusiveMinimum, @minLength,
 * @pattern, @minItems). Interfaces become `definitions`; primitive aliases are inlined.
 * Output is deterministic (declaration order), so a test can compare it with the committed files.
 */
import ts from 'typescript';
import type { JsonSchema } from './schema-check.js';

export interface SchemaTarget {
  /** Root interface in types.ts. */
  root: string;
  /** File name under schemas/. */
  file: string;
  /** $id / title of the schema. */
  id: string;
  title: string;
}

export const SCHEMA_TARGETS: SchemaTarget[] = [
  { root: 'SweepSpec', file: 'sweep-spec.schema.json', id: 'https://kvr.invalid/schemas/sweep-spec.schema.json', title: 'kvr sweep spec' },
  { root: 'PlanCatalogue', file: 'plan-catalogue.schema.json', id: 'https://kvr.invalid/schemas/plan-catalogue.schema.json', title: 'kvr plan hardware catalogue' },
];

const NUMBER_TAGS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'minItems', 'maxItems'];

/** Generates every schema of SCHEMA_TARGETS from the types file; returns file name -> JSON text. */
export function generateSchemas(typesFile: string): Map<string, string> {
  const program = ts.createProgram([typesFile], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(typesFile);
  if (source === undefined) throw new Error(`cannot read ${typesFile}`);
  const out = new Map<string, string>();
  for (const target of SCHEMA_TARGETS) {
    const generator = new Generator(checker, source);
    const root = generator.interfaceSchema(target.root);
    const schema: JsonSchema = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      $id: target.id,
      title: target.title,
      ...root,
      definitions: Object.fromEntries(generator.definitions),
    };
    out.set(target.file, `${JSON.stringify(schema, null, 2)}\n`);
  }
  return out;
}

class Generator {
  readonly definitions = new Map<string, JsonSchema>();
  private readonly interfaces = new Map<string, ts.InterfaceDeclaration>();
  private readonly aliases = new Map<string, ts.TypeAliasDeclaration>();

  constructor(
    private readonly checker: ts.TypeChecker,
    source: ts.SourceFile,
  ) {
    for (const statement of source.statements) {
      if (ts.isInterfaceDeclaration(statement)) this.interfaces.set(statement.name.text, statement);
      if (ts.isTypeAliasDeclaration(statement)) this.aliases.set(statement.name.text, statement);
    }
  }

  interfaceSchema(name: string): JsonSchema {
    const declaration = this.interfaces.get(name);
    if (declaration === undefined) throw new Error(`no interface ${name} in the types file`);
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    for (const member of declaration.members) {
      if (!ts.isPropertySignature(member) || member.type === undefined) throw new Error(`${name}: only plain properties are supported`);
      const key = member.name.getText().replace(/^['"]|['"]$/g, '');
      properties[key] = { ...this.typeSchema(member.type), ...docOf(member) };
      if (member.questionToken === undefined) required.push(key);
    }
    return {
      ...docOf(declaration),
      type: 'object',
      properties,
      ...(required.length > 0 ? { required } : {}),
      additionalProperties: false,
    };
  }

  private typeSchema(node: ts.TypeNode): JsonSchema {
    if (ts.isArrayTypeNode(node)) return { type: 'array', items: this.typeSchema(node.elementType) };
    if (ts.isParenthesizedTypeNode(node)) return this.typeSchema(node.type);
    switch (node.kind) {
      case ts.SyntaxKind.StringKeyword:
        return { type: 'string' };
      case ts.SyntaxKind.NumberKeyword:
        return { type: 'number' };
      case ts.SyntaxKind.BooleanKeyword:
        return { type: 'boolean' };
      default:
        break;
    }
    // A union of literals written out here keeps its written order (the checker's order follows
    // when each literal type was first created, which other declarations can change).
    if (ts.isUnionTypeNode(node) && node.types.every((t) => ts.isLiteralTypeNode(t) && ts.isStringLiteral(t.literal))) {
      return { type: 'string', enum: node.types.map((t) => ((t as ts.LiteralTypeNode).literal as ts.StringLiteral).text) };
    }
    // Any other union written out (of aliases: a count or its text form): anyOf, in written order.
    if (ts.isUnionTypeNode(node) && node.types.every((t) => ts.isTypeReferenceNode(t) || t.kind === ts.SyntaxKind.NumberKeyword || t.kind === ts.SyntaxKind.StringKeyword)) {
      return { anyOf: node.types.map((t) => this.typeSchema(t)) };
    }
    if (ts.isTypeReferenceNode(node)) {
      const name = node.typeName.getText();
      if (this.interfaces.has(name)) {
        if (!this.definitions.has(name)) {
          this.definitions.set(name, {}); // reserve: keeps declaration order, stops recursion
          this.definitions.set(name, this.interfaceSchema(name));
        }
        return { $ref: `#/definitions/${name}` };
      }
      const alias = this.aliases.get(name);
      if (alias !== undefined) return { ...this.typeSchema(alias.type), ...docOf(alias) };
    }
    // Anything else (imported aliases such as StrategyName, literal unions): ask the checker.
    return this.checkerSchema(this.checker.getTypeFromTypeNode(node), node);
  }

  private checkerSchema(type: ts.Type, node: ts.Node): JsonSchema {
    const parts = type.isUnion() ? type.types : [type];
    if (parts.every((t) => t.isStringLiteral())) {
      return { type: 'string', enum: parts.map((t) => (t as ts.StringLiteralType).value) };
    }
    if (parts.every((t) => t.isNumberLiteral())) {
      return { type: 'number', enum: parts.map((t) => (t as ts.NumberLiteralType).value) };
    }
    throw new Error(`unsupported type ${this.checker.typeToString(type)} at ${node.getText()}`);
  }
}

/** description and constraint tags from a declaration's JSDoc. */
function docOf(node: ts.Node): JsonSchema {
  const docs = ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc);
  const schema: JsonSchema = {};
  const text = docs
    .map((doc) => (typeof doc.comment === 'string' ? doc.comment : ts.getTextOfJSDocComment(doc.comment) ?? ''))
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (text.length > 0) schema.description = text;
  for (const doc of docs) {
    for (const tag of doc.tags ?? []) {
      const name = tag.tagName.text;
      const value = (typeof tag.comment === 'string' ? tag.comment : ts.getTextOfJSDocComment(tag.comment) ?? '').trim();
      if (name === 'integer') schema.type = 'integer';
      else if (NUMBER_TAGS.includes(name)) (schema as Record<string, unknown>)[name] = Number(value);
      else if (name === 'pattern') schema.pattern = value;
    }
  }
  return schema;
}
