// The declarative parts of the extension: package.json contributions, language
// configuration, snippets. Checked here because VS Code ignores mistakes in them silently.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';

const root = path.join(__dirname, '..', '..');
const json = (file: string): any => JSON.parse(readFileSync(path.join(root, file), 'utf8'));
const pkg = json('package.json');
const language = pkg.contributes.languages[0];

describe('language contribution', () => {
  test('id, name and file patterns', () => {
    assert.equal(language.id, 'amct-quant-cfg');
    assert.ok(language.aliases.includes('AMCT Quant Config'));
    assert.deepEqual(language.filenamePatterns, ['*.quant.cfg', 'quant*.cfg']);
  });

  test('first-line detection', () => {
    const firstLine = new RegExp(language.firstLine);
    for (const line of ['# proto-message: AMCTQuantCaliConfig', '#proto-message: AMCTPytorchQuantCaliProto.AMCTQuantCaliConfig', '# kvcal: data=kv.safetensors', '# proto-file: amct/quant_calibration_config_pytorch.proto']) {
      assert.match(line, firstLine, line);
    }
    for (const line of ['# proto-message: OtherConfig', 'kvcal: data', '# a comment about kvcal:', '# proto-message: AMCTQuantCaliConfigX']) {
      assert.doesNotMatch(line, firstLine, line);
    }
  });

  test('grammar, language configuration and snippets exist and parse', () => {
    assert.equal(pkg.contributes.grammars[0].language, language.id);
    const config = json(language.configuration);
    assert.equal(config.comments.lineComment, '#');
    assert.deepEqual(config.brackets, [['{', '}'], ['<', '>'], ['[', ']']]);
    for (const pattern of Object.values(config.indentationRules) as string[]) new RegExp(pattern);
    assert.match('kv_cache_quant_config {', new RegExp(config.indentationRules.increaseIndentPattern));
    assert.match('  calibration_config: <  # x', new RegExp(config.indentationRules.increaseIndentPattern));
    assert.doesNotMatch("layer_name: '{'", new RegExp(config.indentationRules.increaseIndentPattern));
    assert.match('  }', new RegExp(config.indentationRules.decreaseIndentPattern));
    json(pkg.contributes.snippets[0].path);
  });
});

describe('snippets', () => {
  const snippets = json(pkg.contributes.snippets[0].path) as Record<string, { prefix: string[]; body: string[] }>;
  const prefixes = Object.values(snippets).flatMap((s) => s.prefix);

  test('the blocks the issue asks for', () => {
    for (const prefix of ['kv_cache_quant_config', 'override_layers_configs', 'ifmr_quantize', 'hfmg_quantize']) assert.ok(prefixes.includes(prefix), prefix);
  });

  test('braces balance in every body', () => {
    for (const [name, s] of Object.entries(snippets)) {
      const body = s.body.join('\n').replace(/\$\{\d+[:|][^}]*\}/g, 'X');
      assert.equal((body.match(/\{/g) ?? []).length, (body.match(/\}/g) ?? []).length, name);
    }
  });

  test('the defaults shown are AMCT defaults', () => {
    const ifmr = snippets['ifmr_quantize block'].body.join('\n');
    for (const d of ['search_range_start: ${1:0.7}', 'search_range_end: ${2:1.3}', 'search_step: ${3:0.01}', 'max_percentile: ${4:0.999999}']) assert.ok(ifmr.includes(d), d);
    assert.ok(snippets['hfmg_quantize block'].body.join('\n').includes('num_of_bins: ${1|4096,1024,2048,8192|}'));
  });
});

describe('commands and settings', () => {
  const commands = pkg.contributes.commands.map((c: { command: string }) => c.command);
  const properties = pkg.contributes.configuration.properties;

  test('the three commands are contributed', () => {
    assert.deepEqual(commands.sort(), ['kvcal.calibrate', 'kvcal.restartServer', 'kvcal.showOutput']);
  });

  test('the settings and their defaults', () => {
    assert.deepEqual(properties['kvcal.server.command'].default, []);
    assert.equal(properties['kvcal.sampleData'].default, '');
    assert.equal(properties['kvcal.recordFile'].default, '');
    assert.equal(properties['kvcal.inlayHints'].default, true);
    assert.deepEqual(properties['kvcal.trace.server'].enum, ['off', 'messages', 'verbose']);
    assert.equal(properties['kvcal.sampleData'].scope, 'resource');
  });

  test('the bundle is what the manifest starts, and only it ships', () => {
    assert.equal(pkg.main, './dist/extension.js');
    const ignore = readFileSync(path.join(root, '.vscodeignore'), 'utf8');
    assert.match(ignore, /^!dist\/extension\.js$/m);
  });
});
