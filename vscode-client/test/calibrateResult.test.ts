import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cellText, columnTitle, escapeHtml, formatNumber, layersOption, parseCalibrateResult, renderCalibrateHtml } from '../src/calibrateResult';

const sample = {
  summary: '**2 layers** calibrated',
  record: '/ws/record.txt',
  report: '/ws/report',
  layers: [
    {
      layer: 'model.layers.0.self_attn.k_proj',
      sqnr_db: 38.123456,
      algorithm: 'ifmr',
      granularity: 'per_channel',
      scale: [0.01, 0.02, 0.015],
      offset: [0, -3, 2],
      histogram: 'hist/layer0_k.png',
      extra: { note: 'x' },
    },
    { name: 'model.layers.0.self_attn.v_proj', algorithm: 'hfmg', granularity: 'per_tensor', symmetric: false, scale: 0.0123, offset: -7, sqnr_db: 40.5, clip_min: -1.5 },
  ],
  pictures: [{ path: '/ws/report/overview.svg' }, 'not-a-picture.txt'],
};

describe('parseCalibrateResult', () => {
  const view = parseCalibrateResult(sample);

  test('layers from a list, with their names', () => {
    assert.deepEqual(view.layers.map((l) => l.name), ['model.layers.0.self_attn.k_proj', 'model.layers.0.self_attn.v_proj']);
  });

  test('known columns first, the rest in order of appearance', () => {
    assert.deepEqual(view.columns, ['algorithm', 'granularity', 'symmetric', 'scale', 'offset', 'clip_min', 'sqnr_db', 'extra.note']);
    assert.equal(view.layers[1].cells.get('symmetric'), 'asymmetric');
  });

  test('cells: per-channel arrays as a range, numbers rounded', () => {
    const k = view.layers[0].cells;
    assert.equal(k.get('scale'), '0.01 … 0.02 (3 ch)');
    assert.equal(k.get('sqnr_db'), '38.12');
    assert.equal(view.layers[1].cells.get('offset'), '-7');
    assert.equal(view.layers[1].cells.get('extra.note'), undefined);
  });

  test('pictures resolve against the report directory', () => {
    assert.deepEqual(view.layers[0].pictures, ['/ws/report/hist/layer0_k.png']);
    assert.deepEqual(view.pictures, ['/ws/report/overview.svg']);
    assert.equal(view.layers[0].cells.has('histogram'), false);
  });

  test('files and summary', () => {
    assert.equal(view.recordFile, '/ws/record.txt');
    assert.equal(view.reportDir, '/ws/report');
    assert.equal(view.summaryMarkdown, '**2 layers** calibrated');
  });

  test('a name -> object map works too', () => {
    const v = parseCalibrateResult({ results: { a: { scale: 1 }, b: { scale: 2, picture: 'file:///r/b%20x.png' } } });
    assert.deepEqual(v.layers.map((l) => [l.name, l.cells.get('scale')]), [['a', '1'], ['b', '2']]);
    assert.deepEqual(v.layers[1].pictures, ['/r/b x.png']);
  });

  test('never throws on odd input', () => {
    for (const raw of [null, undefined, 3, [], { layers: 'x' }, { layers: [null, 1, {}] }, { errors: [{ message: 'NaN in layer a' }, 'too few batches'] }]) {
      assert.doesNotThrow(() => parseCalibrateResult(raw));
    }
    assert.deepEqual(parseCalibrateResult({ error: 'no data' }).errors, ['no data']);
    assert.deepEqual(parseCalibrateResult({ errors: [{ message: 'NaN' }, 'few'] }).errors, ['NaN', 'few']);
    assert.equal(parseCalibrateResult('# Markdown only').summaryMarkdown, '# Markdown only');
    assert.deepEqual(parseCalibrateResult({ layers: [{}] }).layers.map((l) => l.name), ['layer 0']);
  });
});

test('formatNumber and cellText', () => {
  assert.equal(formatNumber(3), '3');
  assert.equal(formatNumber(0.000012345), '1.234e-5');
  assert.equal(formatNumber(NaN), 'NaN');
  assert.equal(formatNumber(-Infinity), '−∞');
  assert.equal(cellText(true), 'yes');
  assert.equal(cellText(['a', 1]), 'a, 1');
  assert.equal(cellText({}), null);
});

describe('renderCalibrateHtml', () => {
  const html = renderCalibrateHtml(parseCalibrateResult(sample), {
    documentLabel: 'quant<1>.cfg',
    cspSource: 'vscode-webview://x',
    nonce: 'N0NCE',
    pictureUri: (f) => `vscode-resource:${f}`,
  });

  test('one table row per layer, one column per key', () => {
    assert.equal((html.match(/<tr><td class="layer">/g) ?? []).length, 2);
    assert.match(html, /<th>layer<\/th><th>algorithm<\/th><th>granularity<\/th><th>mode<\/th><th>scale<\/th>/);
    assert.match(html, /<td class="layer">model.layers.0.self_attn.v_proj<\/td><td>hfmg<\/td><td>per_tensor<\/td><td>asymmetric<\/td>/);
  });

  test('pictures through the webview URI mapping', () => {
    assert.match(html, /<img src="vscode-resource:\/ws\/report\/hist\/layer0_k.png" alt="model.layers.0.self_attn.k_proj">/);
    assert.match(html, /<img src="vscode-resource:\/ws\/report\/overview.svg"/);
  });

  test('locked down: CSP without scripts, everything escaped', () => {
    assert.match(html, /default-src 'none'; img-src vscode-webview:\/\/x data:; style-src 'nonce-N0NCE';/);
    assert.doesNotMatch(html, /<script/);
    assert.match(html, /Calibration of quant&lt;1&gt;.cfg/);
    assert.doesNotMatch(html, /2 layers/); // the table says it
  });

  test('the Markdown summary only stands in for a missing table', () => {
    const opts = { documentLabel: 'q', cspSource: 'c', nonce: 'n', pictureUri: (f: string) => f, summaryHtml: '<p><strong>not done</strong></p>' };
    assert.match(renderCalibrateHtml(parseCalibrateResult({ markdown: 'x', layers: [] }), opts), /<section class="summary"><p><strong>not done<\/strong><\/p><\/section>/);
    assert.match(renderCalibrateHtml(parseCalibrateResult({ markdown: '**x**' }), { ...opts, summaryHtml: undefined }), /<pre class="summary">\*\*x\*\*<\/pre>/);
    assert.doesNotMatch(renderCalibrateHtml(parseCalibrateResult(sample), opts), /not done/);
  });

  test('column titles', () => {
    assert.equal(columnTitle('sqnr_db'), 'SQNR (dB)');
    assert.equal(columnTitle('scale.min'), 'scale min');
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
