// The TextMate grammar, run through the same engine VS Code uses (vscode-textmate + oniguruma).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import * as oniguruma from 'vscode-oniguruma';
import * as textmate from 'vscode-textmate';

const root = path.join(__dirname, '..', '..');
let grammar: textmate.IGrammar;
let textprotoGrammar: textmate.IGrammar;

before(async () => {
  const wasm = readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({ createOnigScanner: (s) => new oniguruma.OnigScanner(s), createOnigString: (s) => new oniguruma.OnigString(s) }),
    // Each scope from the file package.json contributes for it, as VS Code resolves `include`s.
    loadGrammar: async (scopeName) => {
      const contribution = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).contributes.grammars as Array<{ scopeName: string; path: string }>).find(
        (g) => g.scopeName === scopeName,
      );
      return contribution ? textmate.parseRawGrammar(readFileSync(path.join(root, contribution.path), 'utf8'), 'grammar.json') : null;
    },
  });
  const loaded = await registry.loadGrammar('source.amct-quant-cfg');
  assert.ok(loaded);
  grammar = loaded;
  const textproto = await registry.loadGrammar('source.textproto');
  assert.ok(textproto);
  textprotoGrammar = textproto;
});

/** [text, innermost scope] for each token of each line (whitespace-only tokens dropped). */
function tokens(src: string, g: textmate.IGrammar = grammar): Array<[string, string]> {
  let state = textmate.INITIAL;
  const out: Array<[string, string]> = [];
  for (const line of src.split('\n')) {
    const r = g.tokenizeLine(line, state);
    for (const t of r.tokens) {
      const text = line.slice(t.startIndex, t.endIndex);
      if (text.trim() !== '') out.push([text, t.scopes[t.scopes.length - 1].replace(/\.amct-quant-cfg$/, '')]);
    }
    state = r.ruleStack;
  }
  return out;
}

const scopeOf = (src: string, text: string): string | undefined => tokens(src).find(([t]) => t.trim() === text)?.[1];

describe('TextMate grammar', () => {
  test('field names, separators and blocks', () => {
    assert.deepEqual(tokens('kv_cache_quant_config {\n  batch_num: 2\n}'), [
      ['kv_cache_quant_config', 'support.type.property-name'],
      ['{', 'punctuation.section.block.begin.bracket.curly'],
      ['batch_num', 'support.type.property-name'],
      [':', 'punctuation.separator.key-value'],
      ['2', 'constant.numeric.integer.decimal'],
      ['}', 'punctuation.section.block.end.bracket.curly'],
    ]);
    assert.equal(scopeOf('hfmg_quantize < num_of_bins: 1024 >', '<'), 'punctuation.section.block.begin.bracket.angle');
    assert.equal(scopeOf('quant_layers: [ "a", "b" ]', '['), 'punctuation.section.brackets.begin');
    assert.equal(scopeOf('calibration_config: {', 'calibration_config'), 'support.type.property-name');
  });

  test('comments and header directives', () => {
    assert.equal(scopeOf('# a comment', 'a comment'), 'comment.line.number-sign');
    assert.deepEqual(tokens('# kvcal: data=kv.safetensors').map(([, s]) => s), [
      'punctuation.definition.comment',
      'keyword.other.directive',
      'punctuation.separator.key-value',
      'comment.line.number-sign.directive',
    ]);
    assert.equal(scopeOf("layer_name: 'x' # trailing", 'trailing'), 'comment.line.number-sign');
  });

  test('strings with escapes, both quotes, never across lines', () => {
    const t = tokens(`layer_name: 'a\\'b\\x41\\101\\n' s: "q\\"" bad: "\\q"`);
    assert.deepEqual(t.filter(([, s]) => s.startsWith('constant.character.escape')).map(([x]) => x), ["\\'", '\\x41', '\\101', '\\n', '\\"']);
    assert.deepEqual(t.filter(([, s]) => s.startsWith('invalid')).map(([x]) => x), ['\\q']);
    assert.equal(scopeOf("layer_name: 'model.layers.0'", 'model.layers.0'), 'string.quoted.single');
    assert.equal(scopeOf('layer_name: "unclosed\nbatch_num: 1', 'batch_num'), 'support.type.property-name');
  });

  test('numbers: decimal, hex, octal, float, exponent, suffix, inf, nan, negative', () => {
    const cases: Array<[string, string]> = [
      ['4096', 'constant.numeric.integer.decimal'],
      ['0x1F', 'constant.numeric.integer.hexadecimal'],
      ['017', 'constant.numeric.integer.octal'],
      ['0.999999', 'constant.numeric.float'],
      ['.5', 'constant.numeric.float'],
      ['1e-3', 'constant.numeric.float'],
      ['1.5E+2f', 'constant.numeric.float'],
      ['10f', 'constant.numeric.float'],
      ['-0.7', 'constant.numeric.float'],
      ['-inf', 'constant.numeric.float.special'],
      ['nan', 'constant.numeric.float.special'],
      ['Infinity', 'constant.numeric.float.special'],
    ];
    for (const [value, scope] of cases) assert.deepEqual(tokens(`x: ${value}`)[2], [value, scope], value);
  });

  test('enum constants and booleans in value position', () => {
    assert.equal(scopeOf('quant_granularity: per_channel', 'per_channel'), 'variable.other.enummember');
    assert.equal(scopeOf('asymmetric: true', 'true'), 'constant.language.boolean');
    assert.equal(scopeOf('asymmetric: False', 'False'), 'constant.language.boolean');
  });

  test('extension names in field position', () => {
    assert.equal(scopeOf('[pkg.ext] { }', 'pkg.ext'), 'entity.name.type.extension');
  });

  test('the bundled example tokenizes without invalid tokens', () => {
    const example = readFileSync(path.join(root, '..', 'examples', 'quant.cfg'), 'utf8');
    assert.deepEqual(tokens(example).filter(([, s]) => s.startsWith('invalid')), []);
  });

  test('.txtpb, .textproto, .pbtxt and .prototxt files get the same tokens (source.textproto includes it)', () => {
    const src = '# proto-file: protos/job.proto\n# proto-message: acme.v3.Job\nname: "nightly"\nparallelism: 4\noutput { path: \'/data\' }\n[acme.ext] { x: -inf }';
    const t = tokens(src, textprotoGrammar);
    assert.deepEqual(t, tokens(src));
    assert.ok(t.some(([x, s]) => x === 'parallelism' && s === 'support.type.property-name'));
  });
});
