// What the status bar and Select Schema read from the server: kvcal.documentInfo and
// kvcal.schemaChoices, checked against the server's source, and the texts shown.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { escapeMarkdown, parseDocumentInfo, parseSchemaChoices, sampleDataStatus, schemaStatus, type DocumentInfo } from '../src/documentInfo';
import { ShapeError } from '../src/shape';

const repo = path.join(__dirname, '..', '..', '..');
const pythonFunction = (file: string, fn: string): string => {
  const src = readFileSync(path.join(repo, file), 'utf8');
  const start = src.indexOf(`def ${fn}(`);
  assert.ok(start >= 0, `${fn} in ${file}`);
  const end = src.indexOf('\ndef ', start + 1);
  return src.slice(start, end === -1 ? undefined : end);
};
const keysOf = (text: string): string[] => [...new Set([...text.matchAll(/"(\w+)":/g)].map((m) => m[1]))];

/** As the server answers for a KV-cache config with a data header (tests/lsp/test_schemas.py). */
const KV = {
  schema: 'AMCTPytorchQuantCaliProto.AMCTQuantCaliConfig',
  title: 'AMCT KV-cache quantization config (AMCTQuantCaliConfig)',
  family: 'kv',
  how: 'content',
  why: "its fields ('kv_cache_quant_config') are AMCT's KV-cache calibration config",
  label: 'AMCTQuantCaliConfig',
  proto: null,
  sampleData: { path: '/ws/kv_samples.safetensors', origin: 'header', layers: 4, error: null },
};
const JOB = {
  schema: 'acme.v3.Job',
  title: 'acme.v3.Job',
  family: null,
  how: 'header',
  why: 'the header names protos/job.proto',
  label: 'Job',
  proto: '/ws/protos/job.proto',
  sampleData: null,
};

describe('kvcal.documentInfo', () => {
  test("the keys are the server's (server/lsp/schemas.py schema_summary, server/lsp/handlers.py document_info)", () => {
    const summary = keysOf(pythonFunction('server/lsp/schemas.py', 'schema_summary'));
    const info = pythonFunction('server/lsp/handlers.py', 'document_info');
    const added = [...info.matchAll(/info\["(\w+)"\]/g)].map((m) => m[1]);
    assert.deepEqual([...summary, ...added].sort(), Object.keys(KV).sort());
    assert.deepEqual(keysOf(info).sort(), Object.keys(KV.sampleData).sort());
  });

  test('reads the answer; null is a document the server does not serve', () => {
    assert.deepEqual(parseDocumentInfo(KV), KV);
    assert.deepEqual(parseDocumentInfo(JOB), JOB);
    assert.equal(parseDocumentInfo(null), null);
  });

  test('a key missing or of the wrong type is an error naming it', () => {
    const { label: _, ...noLabel } = KV;
    assert.throws(() => parseDocumentInfo(noLabel), /documentInfo\.label is missing, not a string/);
    assert.throws(() => parseDocumentInfo({ ...KV, how: 'guess' }), /documentInfo\.how is "guess"/);
    assert.throws(() => parseDocumentInfo({ ...KV, sampleData: { ...KV.sampleData, layers: '4' } }), /documentInfo\.sampleData\.layers is "4", not a count or null/);
    assert.throws(() => parseDocumentInfo([]), ShapeError);
  });
});

describe('kvcal.schemaChoices', () => {
  const edit = (text: string) => ({ changes: { 'file:///ws/a.txtpb': [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, newText: text }] } });
  const choices = [
    { label: 'Job', description: 'acme.v3.Job — protos/job.proto', kind: 'proto', edit: edit('# proto-file: protos/job.proto\n') },
    { label: 'AMCTConfig', description: 'AMCT post-training quantization config (bundled)', kind: 'bundled', edit: edit('# proto-file: calibration_config_pytorch.proto\n') },
    { label: 'Output', description: 'acme.v3.Output — protos/job.proto', kind: 'proto', edit: edit('# proto-message: acme.v3.Output\n') },
    { label: 'AMCTRetrainConfig', description: 'AMCT retrain (bundled)', kind: 'bundled', edit: edit('x') },
  ];

  test("the keys are the server's (server/lsp/schemas.py schema_choices)", () => {
    const keys = keysOf(pythonFunction('server/lsp/schemas.py', 'schema_choices'));
    assert.deepEqual(keys.sort(), ['description', 'edit', 'kind', 'label']);
  });

  test('bundled schemas first, otherwise in the order the server sends', () => {
    assert.deepEqual(parseSchemaChoices(choices)?.map((c) => c.label), ['AMCTConfig', 'AMCTRetrainConfig', 'Job', 'Output']);
    assert.deepEqual(parseSchemaChoices(choices)?.[0].edit, choices[1].edit);
    assert.equal(parseSchemaChoices(null), null);
    assert.deepEqual(parseSchemaChoices([]), []);
  });

  test('an entry without an edit or with an unknown kind is an error', () => {
    assert.throws(() => parseSchemaChoices([{ ...choices[0], edit: {} }]), /schemaChoices\[0\]\.edit is not a WorkspaceEdit/);
    assert.throws(() => parseSchemaChoices([{ ...choices[0], kind: 'user' }]), /schemaChoices\[0\]\.kind is "user"/);
    assert.throws(() => parseSchemaChoices({}), ShapeError);
  });
});

describe('status bar texts', () => {
  const exists = (file: string): boolean => file === '/ws/kv_samples.safetensors';

  test('the schema item: label, and a tooltip with title, how, why and the proto', () => {
    const job = schemaStatus(parseDocumentInfo(JOB) as DocumentInfo);
    assert.equal(job.text, '$(symbol-structure) Job');
    assert.match(job.tooltip, /\*\*Schema: acme\\.v3\\.Job\*\*/);
    assert.match(job.tooltip, /message `acme\.v3\.Job`, named by the file's `# proto-file:`/);
    assert.match(job.tooltip, /the header names protos\/job\\.proto/);
    assert.match(job.tooltip, /proto: `\/ws\/protos\/job\.proto`/);
    const kv = schemaStatus(parseDocumentInfo(KV) as DocumentInfo);
    assert.equal(kv.text, '$(symbol-structure) AMCTQuantCaliConfig');
    assert.match(kv.tooltip, /recognised by its content/);
    assert.doesNotMatch(kv.tooltip, /proto:/);
    const none = schemaStatus({ ...(parseDocumentInfo(JOB) as DocumentInfo), schema: null, title: null, how: 'none', why: 'no header and no AMCT fields', label: 'no schema', proto: null });
    assert.equal(none.text, '$(symbol-structure) no schema');
    assert.match(none.tooltip, /^\*\*No schema\*\*: syntax and formatting only/);
  });

  test('the sample data part: name, where from, layers; missing or unreadable with the reason', () => {
    const kv = parseDocumentInfo(KV) as DocumentInfo;
    assert.deepEqual(sampleDataStatus(kv, exists), { text: 'kv_samples.safetensors', tooltip: 'sample data: `/ws/kv_samples.safetensors` (from the `# kvcal: data=` header, 4 layers)' });
    const missing = { ...kv, sampleData: { path: '/ws/gone.safetensors', origin: 'setting' as const, layers: null, error: '/ws/gone.safetensors: cannot read sample data (No such file or directory)' } };
    assert.equal(sampleDataStatus(missing, exists)?.text, 'gone.safetensors (missing)');
    assert.match(sampleDataStatus(missing, exists)?.tooltip ?? '', /\*\*\(missing\)\*\*, from the setting kvcal\.sampleData: .*No such file/);
    const broken = { ...missing, sampleData: { ...missing.sampleData, path: '/ws/kv_samples.safetensors', error: 'not a readable safetensors file' } };
    assert.equal(sampleDataStatus(broken, exists)?.text, 'kv_samples.safetensors (unreadable)');
    const unsaved = { ...missing, sampleData: { path: null, origin: 'header' as const, layers: null, error: 'the config is not saved' } };
    assert.equal(sampleDataStatus(unsaved, exists)?.text, 'sample data (unreadable)');
  });

  test('no sample data: said for a KV-cache config, nothing for other schemas', () => {
    assert.equal(sampleDataStatus({ ...(parseDocumentInfo(KV) as DocumentInfo), sampleData: null }, exists)?.text, 'no sample data');
    assert.equal(sampleDataStatus(parseDocumentInfo(JOB) as DocumentInfo, exists), null);
  });

  test('server text is escaped in the Markdown tooltips', () => {
    assert.equal(escapeMarkdown('a *b* [c](d) `e`\nf'), 'a \\*b\\* \\[c\\]\\(d\\) \\`e\\` f');
    const odd = schemaStatus({ ...(parseDocumentInfo(JOB) as DocumentInfo), why: 'see [here](command:workbench.action.reload)' });
    assert.doesNotMatch(odd.tooltip, /\]\(command:/);
  });
});
