// The languages the extension serves, and the recogniser that claims a `.cfg` VS Code opened
// as plain text, INI or Properties when it is an AMCT config or names its schema.
// Plain module: no `vscode` import.

/** AMCT configs of every kind (KV-cache, post-training, retrain/prune, distillation, auto channel prune). */
export const AMCT_LANGUAGE = 'amct-quant-cfg';
/** Any protobuf text-format file: `.txtpb`, `.textproto`, `.pbtxt`, `.prototxt`. */
export const TEXTPROTO_LANGUAGE = 'textproto';
/** What the language client sends to the server (its document selector). */
export const SERVED_LANGUAGES: readonly string[] = [AMCT_LANGUAGE, TEXTPROTO_LANGUAGE];

export const isServedLanguage = (languageId: string): boolean => SERVED_LANGUAGES.includes(languageId);

/** The languages VS Code gives a `.cfg` it knows nothing more about (`properties` claims `.cfg`). */
const GENERIC_CFG_LANGUAGES: readonly string[] = ['plaintext', 'ini', 'properties'];

/** How much of a document the recogniser reads. */
export const RECOGNISER_HEAD_CHARS = 4096;

/** `# proto-file:` / `# proto-message:` / `# kvcal:` among the leading comment lines. */
const HEADER = /^(?:[ \t]*(?:#[^\n]*)?\r?\n)*?[ \t]*#[ \t]*(proto-file|proto-message|kvcal)[ \t]*:[ \t]*([^\r\n]*)/;
/** What a header names that makes the file an AMCT config: the bundled roots, AMCT's .proto names. */
const AMCT_HEADER_VALUE =
  /^(?:[\w.]*\.)?(?:AMCTQuantCaliConfig|AMCTConfig|AMCTRetrainConfig|AMCTDistillConfig|AutoChannelPruneConfig)\b|(?:^|[/\\])(?:quant_calibration_config_pytorch|calibration_config_pytorch|calibration_config_framework|retrain_config_pytorch|distill_config_pytorch|basic_info)\.proto\b/;
/**
 * Top-level fields of the AMCT configs (grammar/schema/proto/*.proto, the root messages) that
 * say "AMCT" on their own, at the start of a line and followed by `:`, `{` or `<`.
 */
export const AMCT_TOP_LEVEL_FIELDS: readonly string[] = [
  // KV-cache calibration
  'kv_cache_quant_config', 'override_layers_configs',
  // post-training quantization (PyTorch, ONNX/TensorFlow/Caffe)
  'batch_num', 'activation_offset', 'skip_layers', 'skip_layer_types', 'common_config', 'override_layer_types',
  'override_layer_configs', 'do_fusion', 'skip_fusion_layers', 'fakequant_precision_mode', 'joint_quant',
  'skip_approximation_layers', 'conv_calibration_config', 'fc_calibration_config', 'tensor_quantize', 'nuq_config',
  // retrain: QAT, pruning, compressed
  'retrain_data_quant_config', 'retrain_weight_quant_config', 'quant_skip_layers', 'quant_skip_types', 'prune_config',
  'regular_prune_skip_layers', 'regular_prune_skip_types',
  // distillation
  'group_size', 'data_dump', 'distill_group', 'distill_data_quant_config', 'distill_weight_quant_config',
  'distill_override_layers', 'distill_override_layer_types', 'quant_skip_layer_types',
  // auto channel-prune search
  'compress_ratio', 'ascend_optimized', 'max_prune_ratio', 'test_iteration', 'override_prune_cfg',
];
const AMCT_FIELD = new RegExp(`^[ \\t]*(?:${AMCT_TOP_LEVEL_FIELDS.join('|')})[ \\t]*[:{<]`, 'm');
/**
 * Lines the text format never has and INI, Properties or YAML files do: `key = value`, a
 * `[section]` alone on its line, a YAML list item, document marker or `key:` opening a block.
 */
const NOT_TEXT_FORMAT = /^[ \t]*(?:[\w.-]+[ \t]*=|\[[^\]\n]*\][ \t]*$|-[ \t]|---[ \t]*$|[\w.-]+:[ \t]*\r?\n[ \t]+[\w-])/m;

/**
 * The language a document should have, when VS Code opened a `.cfg` as plain text, INI or
 * Properties and its first lines say it is a text-format file: a schema header (an AMCT one
 * makes it an AMCT config, any other a text-format file) or the top-level fields of an AMCT
 * config. Undefined: leave the document alone.
 */
export function recogniseLanguage(fileName: string, languageId: string, head: string): string | undefined {
  if (!/\.cfg$/i.test(fileName) || !GENERIC_CFG_LANGUAGES.includes(languageId)) return undefined;
  return recogniseText(head.slice(0, RECOGNISER_HEAD_CHARS));
}

/** The recogniser on the text alone (see recogniseLanguage). */
export function recogniseText(head: string): string | undefined {
  const text = head.replace(/^\ufeff/, '');
  const header = HEADER.exec(text);
  if (header) {
    if (header[1] === 'kvcal' || AMCT_HEADER_VALUE.test(header[2].trim())) return AMCT_LANGUAGE;
    return TEXTPROTO_LANGUAGE;
  }
  if (NOT_TEXT_FORMAT.test(text)) return undefined;
  return AMCT_FIELD.test(text) ? AMCT_LANGUAGE : undefined;
}
