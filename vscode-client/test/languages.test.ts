// Which `.cfg` files the extension claims when VS Code opened them as plain text, INI or
// Properties: AMCT configs by their top-level fields, any file by its schema header.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { AMCT_LANGUAGE, AMCT_TOP_LEVEL_FIELDS, SERVED_LANGUAGES, TEXTPROTO_LANGUAGE, recogniseLanguage, recogniseText } from '../src/languages';

const repo = path.join(__dirname, '..', '..', '..');
const files = (dir: string): string[] =>
  readdirSync(path.join(repo, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.cfg') ? [path.join(dir, e.name)] : []));

const PTQ = `batch_num: 4

skip_layers: "conv1"
skip_layers: "fc"

common_config {
    arq_quantize {
        quant_bits: 8
    }
}
`;
const RETRAIN = `# QAT for ResNet-50
retrain_data_quant_config {
  ulq_quantize { clip_max_min { clip_max: 6.0 clip_min: -6.0 } }
}
retrain_weight_quant_config { arq_retrain { channel_wise: true } }
`;
const SETUP_CFG = `[metadata]
name = kvcal
version = 0.1.0

[options]
packages = find:
python_requires = >=3.10
`;
const YAML = `# training run
batch_num: 4
model:
  name: resnet50
  skip_layers:
    - conv1
    - fc
`;

describe('recogniseText', () => {
  test('AMCT configs without a header, by their top-level fields', () => {
    assert.equal(recogniseText(PTQ), AMCT_LANGUAGE);
    assert.equal(recogniseText(RETRAIN), AMCT_LANGUAGE);
    assert.equal(recogniseText('distill_group {\n  start_layer_name: "a"\n}\n'), AMCT_LANGUAGE);
    assert.equal(recogniseText('compress_ratio: 0.7\nmax_prune_ratio: 0.5\n'), AMCT_LANGUAGE);
    assert.equal(recogniseText('prune_config <\n  filter_pruner {}\n>\n'), AMCT_LANGUAGE);
    assert.equal(recogniseText('\ufeffkv_cache_quant_config {\n}\n'), AMCT_LANGUAGE);
  });

  test("every AMCT config in the repository's examples and test data", () => {
    const all = [...files('examples'), ...files('tests/data/amct')];
    assert.ok(all.length > 40, `${all.length} configs`);
    const missed = all.filter((f) => recogniseText(readFileSync(path.join(repo, f), 'utf8').slice(0, 4096)) !== AMCT_LANGUAGE);
    assert.deepEqual(missed, []);
  });

  test('a schema header: an AMCT one makes an AMCT config, any other a text-format file', () => {
    assert.equal(recogniseText('# proto-file: protos/job.proto\n# proto-message: acme.v3.Job\nname: "x"\n'), TEXTPROTO_LANGUAGE);
    assert.equal(recogniseText('# Nightly jobs\n\n#proto-message: acme.v3.Job\n'), TEXTPROTO_LANGUAGE);
    assert.equal(recogniseText('# proto-message: AMCTPytorchProto.AMCTRetrainConfig\n'), AMCT_LANGUAGE);
    assert.equal(recogniseText('# proto-file: amct/retrain_config_pytorch.proto\n# proto-message: AMCTRetrainConfig\n'), AMCT_LANGUAGE);
    assert.equal(recogniseText('# proto-message: AutoChannelPruneConfig\n'), AMCT_LANGUAGE);
    assert.equal(recogniseText('# kvcal: data=kv.safetensors\n'), AMCT_LANGUAGE);
    assert.equal(recogniseText('# proto-file: my_calibration_config_pytorch.proto.bak\n'), TEXTPROTO_LANGUAGE);
  });

  test('the header counts only among the leading comments', () => {
    assert.equal(recogniseText('name: "x"\n# proto-message: acme.Job\n'), undefined);
    assert.equal(recogniseText('[section]\n# proto-message: acme.Job\n'), undefined);
  });

  test('INI, Properties and YAML files are left alone, AMCT words or not', () => {
    assert.equal(recogniseText(SETUP_CFG), undefined);
    assert.equal(recogniseText(YAML), undefined);
    assert.equal(recogniseText('[train]\nbatch_num = 4\nskip_layers = conv1\n'), undefined);
    assert.equal(recogniseText('batch_num=4\ncommon_config=default\n'), undefined);
    assert.equal(recogniseText('---\nbatch_num: 4\n'), undefined);
    assert.equal(recogniseText('batch_num: 4\nlayers:\n  - conv1\n'), undefined);
  });

  test('AMCT words that are not top-level fields', () => {
    assert.equal(recogniseText('# batch_num: 4 (a comment)\n'), undefined);
    assert.equal(recogniseText('my_batch_num: 4\n'), undefined);
    assert.equal(recogniseText('name: "batch_num: 4"\n'), undefined);
    assert.equal(recogniseText('batch_number: 4\n'), undefined);
    assert.equal(recogniseText(''), undefined);
  });

  test('the field list holds top-level fields of the bundled AMCT roots', () => {
    const protos = readdirSync(path.join(repo, 'grammar', 'schema', 'proto')).filter((f) => f.endsWith('.proto'));
    const text = protos.map((f) => readFileSync(path.join(repo, 'grammar', 'schema', 'proto', f), 'utf8')).join('\n');
    for (const name of AMCT_TOP_LEVEL_FIELDS) assert.match(text, new RegExp(`\\b${name}\\s*=\\s*\\d+`), name);
  });
});

describe('recogniseLanguage', () => {
  test('only a .cfg VS Code opened as plain text, INI or Properties', () => {
    for (const languageId of ['plaintext', 'ini', 'properties']) assert.equal(recogniseLanguage('/ws/resnet50.cfg', languageId, PTQ), AMCT_LANGUAGE, languageId);
    assert.equal(recogniseLanguage('/ws/RESNET.CFG', 'properties', PTQ), AMCT_LANGUAGE);
    assert.equal(recogniseLanguage('/ws/resnet50.txt', 'plaintext', PTQ), undefined);
    assert.equal(recogniseLanguage('/ws/resnet50.cfg', 'python', PTQ), undefined);
    assert.equal(recogniseLanguage('/ws/setup.cfg', 'properties', SETUP_CFG), undefined);
  });

  test('reads only the head of a document', () => {
    assert.equal(recogniseLanguage('/ws/a.cfg', 'plaintext', `${'# padding\n'.repeat(500)}batch_num: 1\n`), undefined);
  });

  test('served languages', () => {
    assert.deepEqual(SERVED_LANGUAGES, ['amct-quant-cfg', 'textproto']);
  });
});
