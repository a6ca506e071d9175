import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import {
  COLUMNS,
  LAYER_KEYS,
  RESULT_KEYS,
  channelsText,
  escapeHtml,
  formatNumber,
  layersOption,
  parseCalibrateResult,
  pictureFolders,
  renderCalibrateHtml,
  showsSummary,
} from '../src/calibrateResult';
import { ShapeError } from '../src/shape';

const repo = path.join(__dirname, '..', '..', '..');
const read = (file: string): string => readFileSync(path.join(repo, file), 'utf8');

/** A layer as the server sends it (calibrate/results/outcome.py layer_row + histogram), after a real run. */
const row = (layer: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  layer,
  algorithm: 'ifmr',
  granularity: 'per_channel',
  symmetric: false,
  channels: 3,
  scale: [0.01, 0.02, 0.015],
  offset: [0, -3, 2],
  clip_min: -1.52,
  clip_max: 1.61,
  sqnr_db: 38.123456,
  mse: 1.2e-5,
  max_abs_error: 0.011,
  clipped_fraction: 2.4e-6,
  minmax_sqnr_db: 36.4,
  vs_minmax_db: 1.7,
  other_algorithm: 'hfmg',
  other_sqnr_db: 37.7,
  vs_other_db: 0.4,
  other_error: null,
  batches: 2,
  values: 196608,
  seconds: 0.1,
  histogram: `/ws/quant.report/${layer}.png`,
  ...extra,
});
const sample = {
  markdown: '### Calibration of quant.cfg\n\n| layer | algorithm |',
  record: '/ws/quant.record.txt',
  report: '/ws/quant.report',
  errors: [],
  layers: [
    row('model.layers.0.self_attn.k_proj'),
    row('model.layers.0.self_attn.v_proj', { algorithm: 'hfmg', granularity: 'per_tensor', symmetric: true, channels: 1, scale: [0.0123], offset: [0], vs_other_db: null, other_algorithm: 'ifmr', other_error: 'IFMR cannot <run>', histogram: null }),
  ],
};

describe('the documented shape is the server’s', () => {
  /** The keys of the dict literal a Python function returns (`"key": value` lines). */
  const pythonKeys = (file: string, fn: string): string[] => {
    const src = read(file);
    const start = src.indexOf(`def ${fn}(`);
    assert.ok(start >= 0, `${fn} in ${file}`);
    const body = src.slice(start, src.indexOf('\ndef ', start + 1) === -1 ? undefined : src.indexOf('\ndef ', start + 1));
    return [...body.matchAll(/"(\w+)":/g)].map((m) => m[1]);
  };

  test('a layer has exactly the keys of calibrate/results/outcome.py layer_row, plus the histogram server/lsp/worker.py adds', () => {
    assert.ok(pythonKeys('server/lsp/worker.py', 'run').includes('histogram'), 'worker.run adds the histogram');
    const server = [...pythonKeys('calibrate/results/outcome.py', 'layer_row'), 'histogram'];
    assert.deepEqual([...LAYER_KEYS].sort(), [...new Set(server)].sort());
  });

  test('the result has exactly the keys server/lsp/worker.py run and a refusal (server/lsp/calibration.py) return', () => {
    const ran = pythonKeys('server/lsp/worker.py', 'run').filter((k) => k !== 'histogram');
    const refused = pythonKeys('server/lsp/calibration.py', '_refused');
    assert.deepEqual([...new Set(ran)].sort(), [...RESULT_KEYS].sort());
    assert.deepEqual([...new Set(refused)].sort(), [...RESULT_KEYS].sort());
  });

  test("docs/lsp.md's example is a complete result and names every key", () => {
    const docs = read('docs/lsp.md');
    const section = docs.slice(docs.indexOf('## `kvcal.calibrate`'), docs.indexOf('\n## ', docs.indexOf('## `kvcal.calibrate`') + 1));
    const example = /```json\n([\s\S]*?)\n```/.exec(section);
    assert.ok(example, 'a JSON example in the kvcal.calibrate section');
    const parsed = parseCalibrateResult(JSON.parse(example[1]));
    assert.equal(parsed.layers.length, 1);
    assert.deepEqual(Object.keys(JSON.parse(example[1]).layers[0]), [...LAYER_KEYS]);
    for (const key of [...LAYER_KEYS, ...RESULT_KEYS]) assert.match(section, new RegExp('`' + key + '`'), key);
  });
});

describe('parseCalibrateResult', () => {
  const result = parseCalibrateResult(sample);

  test('reads the documented keys', () => {
    assert.deepEqual(result.layers.map((l) => l.layer), ['model.layers.0.self_attn.k_proj', 'model.layers.0.self_attn.v_proj']);
    assert.equal(result.record, '/ws/quant.record.txt');
    assert.equal(result.report, '/ws/quant.report');
    assert.equal(result.layers[1].other_error, 'IFMR cannot <run>');
    assert.equal(result.layers[0].histogram, '/ws/quant.report/model.layers.0.self_attn.k_proj.png');
  });

  test('a refusal: errors, no layers, no files', () => {
    const refused = parseCalibrateResult({ markdown: '**Calibration not done**: no sample data', errors: ['no sample data'], layers: [], record: null, report: null });
    assert.deepEqual(refused.errors, ['no sample data']);
    assert.equal(showsSummary(refused), true);
    assert.deepEqual(pictureFolders(refused), []);
  });

  test('keys the documentation does not have are not guessed at', () => {
    // The shapes the old reader accepted: `summary`, `results`, `name`, `pictures`, `record_file`.
    assert.throws(() => parseCalibrateResult({ summary: 'x', results: { a: { scale: 1 } } }), (e: Error) => e instanceof ShapeError && /result\.layers is missing/.test(e.message));
    const renamed = { ...sample, layers: [{ ...row('a'), layer: undefined, name: 'a' }] };
    assert.throws(() => parseCalibrateResult(renamed), /result\.layers\[0\]\.layer is missing, not a string/);
    assert.throws(() => parseCalibrateResult({ ...sample, record_file: '/r', record: undefined }), /result\.record is missing/);
  });

  test('a documented key with the wrong type is an error naming it', () => {
    assert.throws(() => parseCalibrateResult({ ...sample, layers: [row('a', { scale: 0.5 })] }), /result\.layers\[0\]\.scale is 0\.5, not a list of numbers/);
    assert.throws(() => parseCalibrateResult({ ...sample, layers: [row('a', { symmetric: 'yes' })] }), /symmetric is "yes", not true or false/);
    assert.throws(() => parseCalibrateResult({ ...sample, errors: [{ message: 'x' }] }), /result\.errors/);
    for (const raw of [null, undefined, 3, 'markdown', []]) assert.throws(() => parseCalibrateResult(raw), ShapeError);
  });

  test('metrics without a finite value are null and show as –', () => {
    const r = parseCalibrateResult({ ...sample, layers: [row('a', { sqnr_db: null, clip_min: null })] });
    const cell = (title: string): string => COLUMNS.find((c) => c.title === title)!.cell(r.layers[0]);
    assert.equal(cell('SQNR (dB)'), '–');
    assert.equal(cell('clip range'), '[–, 1.61]');
  });
});

test('number and per-channel text', () => {
  assert.equal(formatNumber(3), '3');
  assert.equal(formatNumber(0.000012345), '1.234e-5');
  assert.equal(formatNumber(NaN), 'NaN');
  assert.equal(formatNumber(-Infinity), '−∞');
  assert.equal(channelsText([0.01, 0.02, 0.015]), '0.01 … 0.02 (3 ch)');
  assert.equal(channelsText([-7]), '-7');
  assert.equal(channelsText([0, 0]), '0 (2 ch)');
  assert.match(channelsText(Array.from({ length: 200_000 }, (_, i) => i)), /^0 … .* \(200000 ch\)$/); // no spread: no stack overflow
});

describe('renderCalibrateHtml', () => {
  const html = renderCalibrateHtml(parseCalibrateResult(sample), {
    documentLabel: 'quant<1>.cfg',
    cspSource: 'vscode-webview://x',
    nonce: 'N0NCE',
    pictureUri: (f) => `vscode-resource:${f}`,
  });

  test('one table row per layer, the documented columns', () => {
    assert.equal((html.match(/<tr><td class="layer">/g) ?? []).length, 2);
    assert.match(html, /<th>layer<\/th><th>algorithm<\/th><th>granularity<\/th><th>mode<\/th><th>scale<\/th><th>offset<\/th><th>clip range<\/th><th>SQNR \(dB\)<\/th><th>MSE<\/th>/);
    assert.match(html, /<td class="layer">model.layers.0.self_attn.k_proj<\/td><td>IFMR<\/td><td>per_channel<\/td><td>asymmetric<\/td><td>0.01 … 0.02 \(3 ch\)<\/td><td>-3 … 2 \(3 ch\)<\/td><td>\[-1.52, 1.61\]<\/td><td>38.12<\/td><td>1.200e-5<\/td><td>0.011<\/td><td>0.00024 %<\/td><td>\+1.7<\/td><td>\+0.4 \(HFMG\)<\/td><td>2<\/td>/);
    assert.match(html, /<td class="layer">model.layers.0.self_attn.v_proj<\/td><td>HFMG<\/td><td>per_tensor<\/td><td>symmetric<\/td><td>0.0123<\/td><td>0<\/td>/);
  });

  test('the other algorithm that could not run says why on hover', () => {
    assert.match(html, /<td title="IFMR cannot &lt;run&gt;">n\/a \(IFMR\)<\/td>/);
  });

  test('histograms through the webview URI mapping; a layer without one has none', () => {
    assert.match(html, /<img src="vscode-resource:\/ws\/quant.report\/model.layers.0.self_attn.k_proj.png" alt="model.layers.0.self_attn.k_proj">/);
    assert.equal((html.match(/<img /g) ?? []).length, 1);
    assert.deepEqual(pictureFolders(parseCalibrateResult(sample)), ['/ws/quant.report']);
  });

  test('locked down: CSP without scripts, everything escaped', () => {
    assert.match(html, /default-src 'none'; img-src vscode-webview:\/\/x data:; style-src 'nonce-N0NCE';/);
    assert.doesNotMatch(html, /<script/);
    assert.match(html, /Calibration of quant&lt;1&gt;.cfg/);
    assert.doesNotMatch(html, /\| layer \| algorithm \|/); // the table says it
    assert.match(html, /<li>record file: <code>\/ws\/quant.record.txt<\/code><\/li><li>report: <code>\/ws\/quant.report<\/code><\/li>/);
  });

  test('the Markdown stands in only for a missing table', () => {
    const opts = { documentLabel: 'q', cspSource: 'c', nonce: 'n', pictureUri: (f: string) => f, summaryHtml: '<p><strong>not done</strong></p>' };
    const none = { markdown: '**x**', errors: [], layers: [], record: null, report: null };
    assert.match(renderCalibrateHtml(parseCalibrateResult(none), opts), /<section class="summary"><p><strong>not done<\/strong><\/p><\/section>/);
    assert.match(renderCalibrateHtml(parseCalibrateResult(none), { ...opts, summaryHtml: undefined }), /<pre class="summary">\*\*x\*\*<\/pre>/);
    assert.doesNotMatch(renderCalibrateHtml(parseCalibrateResult(sample), opts), /not done/);
  });

  test('escapeHtml', () => assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;'));
});

describe('layersOption', () => {
  test('a block lens names its layers', () => {
    assert.deepEqual(layersOption({ layers: ['a', 'b'] }), ['a', 'b']);
  });
  test('anything else means every layer', () => {
    for (const value of [undefined, null, 'x', {}, { layers: 'a' }, { layers: ['a', 3] }]) assert.equal(layersOption(value), undefined);
  });
});
