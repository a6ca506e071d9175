// The declarative parts of the extension: package.json contributions, language
// configuration, snippets. Checked here because VS Code ignores mistakes in them silently.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';

const root = path.join(__dirname, '..', '..');
const json = (file: string): any => JSON.parse(readFileSync(path.join(root, file), 'utf8'));
const pkg = json('package.json');
const languages = pkg.contributes.languages as Array<Record<string, any>>;
const language = languages.find((l) => l.id === 'amct-quant-cfg')!;
const textproto = languages.find((l) => l.id === 'textproto')!;

/** A VS Code filenamePatterns glob as a RegExp: without `/` it matches the file name, with one the path. */
function globMatches(glob: string, file: string): boolean {
  const re = glob
    .split(/(\*\*\/|\*|\?)/)
    .map((part) => (part === '**/' ? '(?:.*/)?' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${re}$`).test(glob.includes('/') ? file : path.posix.basename(file));
}
const claims = (l: Record<string, any>, file: string): boolean =>
  (l.filenamePatterns ?? []).some((g: string) => globMatches(g, file)) || (l.extensions ?? []).some((e: string) => file.endsWith(e));

describe('language contributions', () => {
  test('AMCT configs: the KV-cache names, and the other AMCT configs by name', () => {
    assert.ok(language.aliases.includes('AMCT Quant Config'));
    assert.equal(language.aliases[0], 'AMCT Config');
    for (const file of ['/w/quant.cfg', '/w/llama.quant.cfg', '/w/quant_kv.cfg', '/w/retrain.cfg', '/w/resnet50_retrain.cfg', '/w/distill_sample.cfg',
      '/w/channel_prune.cfg', '/w/prune.cfg', '/w/compressed.cfg', '/w/kv_cache.cfg', '/w/sample/retrain_conf/resnet50.cfg']) {
      assert.ok(claims(language, file), file);
    }
    for (const file of ['/w/setup.cfg', '/w/tox.cfg', '/w/resnet50.cfg', '/w/quant.cfg.bak', '/w/retrain_conf/notes.txt', '/w/job.txtpb']) {
      assert.ok(!claims(language, file), file);
    }
  });

  test('protobuf text format: the four extensions', () => {
    assert.deepEqual(textproto.extensions, ['.txtpb', '.textproto', '.pbtxt', '.prototxt']);
    for (const file of ['/w/job.txtpb', '/w/a.textproto', '/w/b.pbtxt', '/w/deploy.prototxt']) assert.ok(claims(textproto, file) && !claims(language, file), file);
    assert.equal(textproto.configuration, language.configuration);
  });

  test('first-line detection (files without an extension VS Code knows)', () => {
    const firstLine = new RegExp(language.firstLine);
    for (const line of ['# proto-message: AMCTQuantCaliConfig', '#proto-message: AMCTPytorchQuantCaliProto.AMCTQuantCaliConfig', '# kvcal: data=kv.safetensors',
      '# proto-file: amct/quant_calibration_config_pytorch.proto', '# proto-message: AMCTPytorchProto.AMCTRetrainConfig', '# proto-message: AutoChannelPruneConfig',
      '# proto-file: retrain_config_pytorch.proto']) {
      assert.match(line, firstLine, line);
    }
    for (const line of ['# proto-message: OtherConfig', 'kvcal: data', '# a comment about kvcal:', '# proto-message: AMCTQuantCaliConfigX', '# proto-file: protos/job.proto']) {
      assert.doesNotMatch(line, firstLine, line);
    }
  });

  test('grammars: the text format grammar for both languages', () => {
    const grammars = pkg.contributes.grammars as Array<Record<string, string>>;
    assert.deepEqual(grammars.map((g) => [g.language, g.scopeName]), [['amct-quant-cfg', 'source.amct-quant-cfg'], ['textproto', 'source.textproto']]);
    for (const g of grammars) assert.equal(json(g.path).scopeName, g.scopeName, g.path);
    assert.deepEqual(json(grammars[1].path).patterns, [{ include: 'source.amct-quant-cfg' }]);
  });

  test('language configuration and snippets exist and parse', () => {
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

  test('activation: either language, the files in a workspace, and at startup (a .cfg opened as plain text is recognised)', () => {
    for (const event of ['onLanguage:amct-quant-cfg', 'onLanguage:textproto', 'workspaceContains:**/*.quant.cfg', 'workspaceContains:**/*.txtpb', 'onStartupFinished']) {
      assert.ok(pkg.activationEvents.includes(event), event);
    }
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
  const palette = (command: string): string => pkg.contributes.menus.commandPalette.find((m: { command: string }) => m.command === command)?.when;

  test('the commands are contributed', () => {
    assert.deepEqual(commands.sort(), ['kvcal.calibrate', 'kvcal.restartServer', 'kvcal.selectSchema', 'kvcal.showOutput']);
    assert.equal(pkg.contributes.commands.find((c: { command: string }) => c.command === 'kvcal.selectSchema').title, 'Select Schema…');
  });

  test('Select Schema is in the palette for both languages; Calibrate for KV-cache configs only', () => {
    assert.equal(palette('kvcal.selectSchema'), 'editorLangId == amct-quant-cfg || editorLangId == textproto');
    assert.match(palette('kvcal.calibrate'), /^kvcal\.schemaFamily == kv && /);
    const title = pkg.contributes.menus['editor/title'].find((m: { command: string }) => m.command === 'kvcal.calibrate');
    assert.match(title.when, /kvcal\.schemaFamily == kv/);
  });

  test('the settings and their defaults', () => {
    assert.deepEqual(properties['kvcal.server.command'].default, []);
    assert.equal(properties['kvcal.sampleData'].default, '');
    assert.equal(properties['kvcal.recordFile'].default, '');
    assert.equal(properties['kvcal.inlayHints'].default, true);
    assert.deepEqual(properties['kvcal.trace.server'].enum, ['off', 'messages', 'verbose']);
    assert.equal(properties['kvcal.sampleData'].scope, 'resource');
  });

  test('kvcal.schemas: glob -> {proto, message} or glob -> message, per folder', () => {
    const schemas = properties['kvcal.schemas'];
    assert.equal(schemas.type, 'object');
    assert.deepEqual(schemas.default, {});
    assert.equal(schemas.scope, 'resource');
    const [asString, asObject] = schemas.additionalProperties.anyOf;
    assert.equal(asString.type, 'string');
    assert.deepEqual(Object.keys(asObject.properties), ['proto', 'message']);
    assert.equal(asObject.additionalProperties, false);
    assert.match(schemas.markdownDescription, /"proto": "protos\/experiment.proto", "message": "acme.Experiment"/);
    assert.match(schemas.markdownDescription, /Select Schema/);
  });

  test('kvcal.protoPath: a list of folders, per folder', () => {
    const protoPath = properties['kvcal.protoPath'];
    assert.equal(protoPath.type, 'array');
    assert.equal(protoPath.items.type, 'string');
    assert.deepEqual(protoPath.default, []);
    assert.equal(protoPath.scope, 'resource');
    assert.match(protoPath.markdownDescription, /relative to the workspace folder/);
  });

  test('untrusted workspaces: schemas and protoPath are read from the workspace, and the description says why', () => {
    const untrusted = pkg.capabilities.untrustedWorkspaces;
    for (const key of ['kvcal.schemas', 'kvcal.protoPath']) {
      assert.ok(!untrusted.restrictedConfigurations.includes(key), key);
      assert.ok(untrusted.description.includes(key), key);
    }
    assert.match(untrusted.description, /protoc/);
  });

  test('the bundle is what the manifest starts, and only it ships', () => {
    assert.equal(pkg.main, './dist/extension.js');
    const ignore = readFileSync(path.join(root, '.vscodeignore'), 'utf8');
    assert.match(ignore, /^!dist\/extension\.js$/m);
    assert.match(ignore, /^!syntaxes\/\*\*$/m);
  });
});
