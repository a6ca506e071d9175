// What the server says about a document (`kvcal.documentInfo`) and which schemas it offers
// (`kvcal.schemaChoices`), read strictly as docs/lsp.md documents them, and the status bar
// texts made from them. Plain module: no `vscode` import.
import * as path from 'node:path';
import { ShapeError, field, isCountOrNull, isDict, isString, isStringOrNull, oneOf, oneOfOrNull, short } from './shape';

export const DOCUMENT_INFO_COMMAND = 'kvcal.documentInfo';
export const SCHEMA_CHOICES_COMMAND = 'kvcal.schemaChoices';

export type How = 'explicit' | 'header' | 'content' | 'none';

/** `sampleData` of `kvcal.documentInfo`: the `# kvcal: data=` header or the setting, as the server read it. */
export interface SampleDataInfo {
  /** Absolute path; null when it cannot be made one (a relative header path in an unsaved config). */
  readonly path: string | null;
  readonly origin: 'header' | 'setting' | null;
  /** How many layers the file holds; null when it cannot be read. */
  readonly layers: number | null;
  /** Why it cannot be read; null when it can. */
  readonly error: string | null;
}

/** The result of `kvcal.documentInfo [uri]` (null: the server does not serve the document). */
export interface DocumentInfo {
  /** Full name of the root message (`AMCTPytorchProto.AMCTConfig`, `acme.v3.Job`); null: no schema. */
  readonly schema: string | null;
  /** How the schema is named to the user (`AMCT post-training quantization config (AMCTConfig)`). */
  readonly title: string | null;
  /** The AMCT family (`kv`, `ptq`, `retrain`, ...); null for a user's schema or none. */
  readonly family: string | null;
  readonly how: How;
  /** One sentence: why this schema (or none). */
  readonly why: string;
  /** Short text for the status bar: `AMCTConfig`, `Job`, `no schema`, `AMCTConfig (ambiguous)`. */
  readonly label: string;
  /** The .proto the setting or header named, absolute; null for a bundled schema found by content. */
  readonly proto: string | null;
  readonly sampleData: SampleDataInfo | null;
}

/** One entry of `kvcal.schemaChoices [uri]`: a schema and the WorkspaceEdit (JSON) that writes its header. */
export interface SchemaChoice {
  readonly label: string;
  readonly description: string;
  readonly kind: 'bundled' | 'proto';
  readonly edit: { readonly changes: Readonly<Record<string, readonly unknown[]>> };
}

/** Reads `kvcal.documentInfo`'s result; null stays null; throws ShapeError on anything else. */
export function parseDocumentInfo(raw: unknown): DocumentInfo | null {
  if (raw === null || raw === undefined) return null;
  if (!isDict(raw)) throw new ShapeError(`kvcal.documentInfo returned ${short(raw)}, not an object`);
  const w = 'documentInfo';
  const sample = raw.sampleData;
  let sampleData: SampleDataInfo | null = null;
  if (sample !== null) {
    if (!isDict(sample)) throw new ShapeError(`${w}.sampleData is ${sample === undefined ? 'missing' : short(sample)}, not an object or null`);
    const ws = `${w}.sampleData`;
    sampleData = {
      path: field(sample, 'path', 'a string or null', isStringOrNull, ws),
      origin: field(sample, 'origin', '"header", "setting" or null', oneOfOrNull('header', 'setting'), ws),
      layers: field(sample, 'layers', 'a count or null', isCountOrNull, ws),
      error: field(sample, 'error', 'a string or null', isStringOrNull, ws),
    };
  }
  return {
    schema: field(raw, 'schema', 'a string or null', isStringOrNull, w),
    title: field(raw, 'title', 'a string or null', isStringOrNull, w),
    family: field(raw, 'family', 'a string or null', isStringOrNull, w),
    how: field(raw, 'how', 'explicit, header, content or none', oneOf<How>('explicit', 'header', 'content', 'none'), w),
    why: field(raw, 'why', 'a string', isString, w),
    label: field(raw, 'label', 'a string', isString, w),
    proto: field(raw, 'proto', 'a string or null', isStringOrNull, w),
    sampleData,
  };
}

/** Reads `kvcal.schemaChoices`' result, bundled schemas first (the server's order otherwise); null stays null. */
export function parseSchemaChoices(raw: unknown): SchemaChoice[] | null {
  if (raw === null || raw === undefined) return null;
  if (!Array.isArray(raw)) throw new ShapeError(`kvcal.schemaChoices returned ${short(raw)}, not a list`);
  const choices = raw.map((item, i): SchemaChoice => {
    const w = `schemaChoices[${i}]`;
    if (!isDict(item)) throw new ShapeError(`${w} is ${short(item)}, not an object`);
    const edit = item.edit;
    if (!isDict(edit) || !isDict(edit.changes) || !Object.values(edit.changes).every(Array.isArray)) {
      throw new ShapeError(`${w}.edit is not a WorkspaceEdit with changes`);
    }
    return {
      label: field(item, 'label', 'a string', isString, w),
      description: field(item, 'description', 'a string', isString, w),
      kind: field(item, 'kind', '"bundled" or "proto"', oneOf('bundled', 'proto'), w),
      edit: { changes: edit.changes as Record<string, unknown[]> },
    };
  });
  return [...choices.filter((c) => c.kind === 'bundled'), ...choices.filter((c) => c.kind !== 'bundled')];
}

// --- status bar texts -------------------------------------------------------------------------

/** Escapes text for a Markdown tooltip (what MarkdownString.appendText does). */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>~]/g, '\\$&').replace(/\n/g, ' ');
}

const HOW: Record<How, string> = {
  explicit: 'named by the setting kvcal.schemas',
  header: "named by the file's `# proto-file:`/`# proto-message:` header",
  content: 'recognised by its content',
  none: 'none found',
};

export interface StatusText {
  readonly text: string;
  /** Markdown (theme icons allowed, never trusted). */
  readonly tooltip: string;
}

/** The schema item: `$(symbol-structure) AMCTConfig`, with the title, how, why and the .proto. */
export function schemaStatus(info: DocumentInfo): StatusText {
  const lines = [
    info.title ? `**Schema: ${escapeMarkdown(info.title)}**` : '**No schema**: syntax and formatting only',
    info.schema ? `message \`${info.schema}\`, ${HOW[info.how]}` : `schema: ${HOW[info.how]}`,
    escapeMarkdown(info.why),
  ];
  if (info.proto) lines.push(`proto: \`${info.proto}\``);
  lines.push('Click to select a schema (writes the header).');
  return { text: `$(symbol-structure) ${info.label}`, tooltip: lines.join('\n\n') };
}

/**
 * The sample-data part of the server item: only for KV-cache configs, which calibrate on it
 * (and for any config whose header or setting names some). `exists` tells "missing" from
 * "unreadable" when the server could not read the file.
 */
export function sampleDataStatus(info: DocumentInfo, exists: (file: string) => boolean): StatusText | null {
  const data = info.sampleData;
  if (info.family !== 'kv' && data === null) return null;
  if (data === null) {
    return { text: 'no sample data', tooltip: 'sample data: none (add `# kvcal: data=PATH.safetensors` or set kvcal.sampleData)' };
  }
  const from = data.origin === 'header' ? 'the `# kvcal: data=` header' : 'the setting kvcal.sampleData';
  const name = data.path ? path.basename(data.path) : 'sample data';
  const where = data.path ? `\`${data.path}\`` : 'a relative path';
  if (data.error !== null) {
    const state = data.path && !exists(data.path) ? 'missing' : 'unreadable';
    return { text: `${name} (${state})`, tooltip: `sample data: ${where} **(${state})**, from ${from}: ${escapeMarkdown(data.error)}` };
  }
  const layers = data.layers === null ? '' : `, ${data.layers} layer${data.layers === 1 ? '' : 's'}`;
  return { text: name, tooltip: `sample data: ${where} (from ${from}${layers})` };
}
