import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { extraFilePatterns, headerSampleData, sampleDataInUse, serverSettings } from '../src/settings';

const vars = { workspaceFolder: '/ws', userHome: '/home/u' };

describe('serverSettings', () => {
  test('paths become absolute against the workspace folder', () => {
    assert.deepEqual(serverSettings({ sampleData: 'data/kv.safetensors', recordFile: '/abs/record.txt', inlayHints: false, server: { command: ['x'] } }, vars), {
      sampleData: '/ws/data/kv.safetensors',
      recordFile: '/abs/record.txt',
      inlayHints: false,
    });
  });

  test('empty strings and junk mean "not set"; inlay hints default on', () => {
    assert.deepEqual(serverSettings({ sampleData: '  ', recordFile: 3 }, vars), { sampleData: null, recordFile: null, inlayHints: true });
    assert.deepEqual(serverSettings(undefined, vars), { sampleData: null, recordFile: null, inlayHints: true });
  });

  test('variables expand; no folder keeps relative paths relative', () => {
    assert.equal(serverSettings({ sampleData: '~/kv.safetensors' }, vars).sampleData, '/home/u/kv.safetensors');
    assert.equal(serverSettings({ sampleData: '${workspaceFolder}/kv.safetensors' }, vars).sampleData, '/ws/kv.safetensors');
    assert.equal(serverSettings({ sampleData: 'kv.safetensors' }, { userHome: '/h' }).sampleData, 'kv.safetensors');
  });
});

describe('sample data in use', () => {
  test('the header comment names it', () => {
    assert.equal(headerSampleData('# kvcal: data=kv_samples.safetensors\nbatch_num: 2\n'), 'kv_samples.safetensors');
    assert.equal(headerSampleData('# AMCT config\n#kvcal: record=r.txt data="my data/kv.safetensors"\n'), 'my data/kv.safetensors');
    assert.equal(headerSampleData('\n\n# proto-message: AMCTQuantCaliConfig\n# kvcal: data=a.safetensors\n'), 'a.safetensors');
  });

  test('only in the leading comments', () => {
    assert.equal(headerSampleData('batch_num: 1\n# kvcal: data=late.safetensors\n'), null);
    assert.equal(headerSampleData('# kvcal: format only\n'), null);
  });

  test('the header wins over the setting', () => {
    const settings = { sampleData: '/ws/s.safetensors', recordFile: null, inlayHints: true };
    assert.deepEqual(sampleDataInUse('# kvcal: data=h.safetensors\n', settings), { path: 'h.safetensors', from: 'header' });
    assert.deepEqual(sampleDataInUse('# kvcal: data=d/h.safetensors\n', settings, '/ws/cfg'), { path: '/ws/cfg/d/h.safetensors', from: 'header' });
    assert.deepEqual(sampleDataInUse('# kvcal: data=/abs/h.safetensors\n', settings, '/ws/cfg'), { path: '/abs/h.safetensors', from: 'header' });
    assert.deepEqual(sampleDataInUse('batch_num: 1\n', settings), { path: '/ws/s.safetensors', from: 'setting' });
    assert.equal(sampleDataInUse('', { ...settings, sampleData: null }), null);
  });
});

test('extra file patterns match in any folder unless absolute', () => {
  assert.deepEqual(extraFilePatterns(['*.cfg', 'configs/*.txt', '', 7, ' x.pbtxt ', '**/a/*.cfg', '/etc/*.cfg']), [
    '**/*.cfg',
    '**/configs/*.txt',
    '**/x.pbtxt',
    '**/a/*.cfg',
    '/etc/*.cfg',
  ]);
  assert.deepEqual(extraFilePatterns('*.cfg'), []);
});
