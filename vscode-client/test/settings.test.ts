import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { extraFilePatterns, serverSettings } from '../src/settings';

const vars = { workspaceFolder: '/ws', userHome: '/home/u' };
const none = { schemas: {}, protoPath: [] };

describe('serverSettings', () => {
  test('paths become absolute against the workspace folder', () => {
    assert.deepEqual(serverSettings({ sampleData: 'data/kv.safetensors', recordFile: '/abs/record.txt', inlayHints: false, server: { command: ['x'] } }, vars), {
      sampleData: '/ws/data/kv.safetensors',
      recordFile: '/abs/record.txt',
      inlayHints: false,
      ...none,
    });
  });

  test('empty strings and junk mean "not set"; inlay hints default on', () => {
    assert.deepEqual(serverSettings({ sampleData: '  ', recordFile: 3 }, vars), { sampleData: null, recordFile: null, inlayHints: true, ...none });
    assert.deepEqual(serverSettings(undefined, vars), { sampleData: null, recordFile: null, inlayHints: true, ...none });
  });

  test('variables expand; no folder keeps relative paths relative', () => {
    assert.equal(serverSettings({ sampleData: '~/kv.safetensors' }, vars).sampleData, '/home/u/kv.safetensors');
    assert.equal(serverSettings({ sampleData: '${workspaceFolder}/kv.safetensors' }, vars).sampleData, '/ws/kv.safetensors');
    assert.equal(serverSettings({ sampleData: 'kv.safetensors' }, { userHome: '/h' }).sampleData, 'kv.safetensors');
  });
});

describe('kvcal.schemas and kvcal.protoPath', () => {
  test('a proto path becomes absolute against the workspace folder; globs and messages are kept as written', () => {
    const schemas = {
      'experiments/**/*.txtpb': { proto: 'protos/experiment.proto', message: 'acme.Experiment' },
      '**/retrain_conf/*.cfg': 'AMCTRetrainConfig',
      'jobs/*.pbtxt': { proto: '/abs/job.proto' },
      'home/*.txtpb': { proto: '~/protos/h.proto', message: ' acme.H ' },
      'folder/*.txtpb': { proto: '${workspaceFolder}/p/f.proto', message: 'F' },
    };
    assert.deepEqual(serverSettings({ schemas }, vars).schemas, {
      'experiments/**/*.txtpb': { proto: '/ws/protos/experiment.proto', message: 'acme.Experiment' },
      '**/retrain_conf/*.cfg': { message: 'AMCTRetrainConfig' },
      'jobs/*.pbtxt': { proto: '/abs/job.proto' },
      'home/*.txtpb': { proto: '/home/u/protos/h.proto', message: 'acme.H' },
      'folder/*.txtpb': { proto: '/ws/p/f.proto', message: 'F' },
    });
  });

  test('entries naming nothing, and values of the wrong type, are dropped', () => {
    const schemas = { '': 'AMCTConfig', 'a/*.txtpb': {}, 'b/*.txtpb': { proto: 3, message: '' }, 'c/*.txtpb': 7, 'd/*.txtpb': ' ', 'e/*.txtpb': null };
    assert.deepEqual(serverSettings({ schemas }, vars).schemas, {});
    for (const junk of [[{ glob: 'x', message: 'M' }], 'AMCTConfig', 4, null]) assert.deepEqual(serverSettings({ schemas: junk }, vars).schemas, {});
  });

  test('a glob named like an Object property stays a plain entry', () => {
    const raw = JSON.parse('{"schemas": {"__proto__": "AMCTConfig"}}');
    const shaped = serverSettings(raw, vars).schemas;
    assert.deepEqual(Object.keys(shaped), ['__proto__']);
    assert.equal(JSON.parse(JSON.stringify(shaped)).__proto__.message, 'AMCTConfig');
  });

  test('protoPath folders become absolute; blanks are dropped; a single string is one folder', () => {
    assert.deepEqual(serverSettings({ protoPath: ['protos', '/opt/protos', '', ' third_party/protos ', 5, '~/p'] }, vars).protoPath, [
      '/ws/protos',
      '/opt/protos',
      '/ws/third_party/protos',
      '/home/u/p',
    ]);
    assert.deepEqual(serverSettings({ protoPath: 'protos' }, vars).protoPath, ['/ws/protos']);
    assert.deepEqual(serverSettings({ protoPath: 'protos' }, { userHome: '/h' }).protoPath, ['protos']);
  });

  test('the client sends exactly the keys server/lsp/settings.py parse_settings reads', () => {
    const src = readFileSync(path.join(__dirname, '..', '..', '..', 'server', 'lsp', 'settings.py'), 'utf8');
    const body = src.slice(src.indexOf('def parse_settings('), src.indexOf('\ndef ', src.indexOf('def parse_settings(')));
    const read = [...body.matchAll(/(?:path|raw\.get)\("(\w+)"\)/g)].map((m) => m[1]);
    assert.deepEqual(Object.keys(serverSettings({}, vars)).sort(), [...new Set(read)].sort());
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
