// The result of the server's `kvcal.calibrate` command, read as docs/lsp.md documents it
// (each layer is calibrate/results/outcome.py's layer_row plus its histogram), and its HTML page.
// Plain module: no `vscode` import. A key the documentation promises and the answer lacks is
// a ShapeError, never a guess: the server owns the shape, the tests tie both to it.
import * as path from 'node:path';
import {
  ShapeError,
  field,
  isBoolean,
  isCount,
  isDict,
  isNumber,
  isNumberList,
  isNumberOrNull,
  isString,
  isStringList,
  isStringOrNull,
  short,
} from './shape';

/** One entry of `layers`: a calibrated layer (docs/lsp.md, `kvcal.calibrate`). */
export interface CalibratedLayer {
  readonly layer: string;
  /** `ifmr` or `hfmg`. */
  readonly algorithm: string;
  /** `per_tensor` or `per_channel`. */
  readonly granularity: string;
  /** True when the layer is quantized without an offset. */
  readonly symmetric: boolean;
  readonly channels: number;
  /** One per channel when per_channel, else one. */
  readonly scale: readonly number[];
  readonly offset: readonly number[];
  /** The range the factors represent, over all channels; null where not finite. */
  readonly clip_min: number | null;
  readonly clip_max: number | null;
  /** The quantization error of the chosen factors on the sample data. */
  readonly sqnr_db: number | null;
  readonly mse: number | null;
  readonly max_abs_error: number | null;
  readonly clipped_fraction: number | null;
  /** SQNR of min-max factors, and the gain over them. */
  readonly minmax_sqnr_db: number | null;
  readonly vs_minmax_db: number | null;
  /** The other algorithm with AMCT's defaults, its SQNR and the gain over it (null with `other_error` when it could not run). */
  readonly other_algorithm: string;
  readonly other_sqnr_db: number | null;
  readonly vs_other_db: number | null;
  readonly other_error: string | null;
  /** Batches and values calibrated on, and the time taken. */
  readonly batches: number;
  readonly values: number;
  readonly seconds: number;
  /** The layer's histogram picture (absolute path), null when the report has none. */
  readonly histogram: string | null;
}

/** `kvcal.calibrate`'s result. A refusal has `errors` and no layers, `record` and `report` null. */
export interface CalibrateResult {
  /** The same results as a Markdown table, or why nothing was done. */
  readonly markdown: string;
  /** The record file written (absolute path). */
  readonly record: string | null;
  /** The report folder written (absolute path). */
  readonly report: string | null;
  readonly errors: readonly string[];
  readonly layers: readonly CalibratedLayer[];
}

/** The keys of a layer, in the documented order (tests compare them with the server's). */
export const LAYER_KEYS: readonly (keyof CalibratedLayer)[] = [
  'layer', 'algorithm', 'granularity', 'symmetric', 'channels', 'scale', 'offset', 'clip_min', 'clip_max',
  'sqnr_db', 'mse', 'max_abs_error', 'clipped_fraction', 'minmax_sqnr_db', 'vs_minmax_db', 'other_algorithm',
  'other_sqnr_db', 'vs_other_db', 'other_error', 'batches', 'values', 'seconds', 'histogram',
];
export const RESULT_KEYS: readonly (keyof CalibrateResult)[] = ['markdown', 'record', 'report', 'errors', 'layers'];

/** Reads the result; throws ShapeError when it is not what docs/lsp.md says. */
export function parseCalibrateResult(raw: unknown): CalibrateResult {
  if (!isDict(raw)) throw new ShapeError(`kvcal.calibrate returned ${raw === undefined ? 'nothing' : short(raw)}, not an object`);
  const w = 'result';
  const layers = field(raw, 'layers', 'a list', Array.isArray, w);
  return {
    markdown: field(raw, 'markdown', 'a string', isString, w),
    record: field(raw, 'record', 'a path or null', isStringOrNull, w),
    report: field(raw, 'report', 'a path or null', isStringOrNull, w),
    errors: field(raw, 'errors', 'a list of strings', isStringList, w),
    layers: layers.map((row, i) => layerOf(row, `${w}.layers[${i}]`)),
  };
}

function layerOf(row: unknown, w: string): CalibratedLayer {
  if (!isDict(row)) throw new ShapeError(`${w} is ${short(row)}, not an object`);
  const num = (key: string): number | null => field(row, key, 'a number or null', isNumberOrNull, w);
  return {
    layer: field(row, 'layer', 'a string', isString, w),
    algorithm: field(row, 'algorithm', 'a string', isString, w),
    granularity: field(row, 'granularity', 'a string', isString, w),
    symmetric: field(row, 'symmetric', 'true or false', isBoolean, w),
    channels: field(row, 'channels', 'a count', isCount, w),
    scale: field(row, 'scale', 'a list of numbers', isNumberList, w),
    offset: field(row, 'offset', 'a list of numbers', isNumberList, w),
    clip_min: num('clip_min'),
    clip_max: num('clip_max'),
    sqnr_db: num('sqnr_db'),
    mse: num('mse'),
    max_abs_error: num('max_abs_error'),
    clipped_fraction: num('clipped_fraction'),
    minmax_sqnr_db: num('minmax_sqnr_db'),
    vs_minmax_db: num('vs_minmax_db'),
    other_algorithm: field(row, 'other_algorithm', 'a string', isString, w),
    other_sqnr_db: num('other_sqnr_db'),
    vs_other_db: num('vs_other_db'),
    other_error: field(row, 'other_error', 'a string or null', isStringOrNull, w),
    batches: field(row, 'batches', 'a count', isCount, w),
    values: field(row, 'values', 'a count', isCount, w),
    seconds: field(row, 'seconds', 'a number', isNumber, w),
    histogram: field(row, 'histogram', 'a path or null', isStringOrNull, w),
  };
}

// --- display text -----------------------------------------------------------------------------

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return Number.isNaN(n) ? 'NaN' : n > 0 ? '∞' : '−∞';
  if (Number.isInteger(n) && Math.abs(n) < 1e9) return String(n);
  const abs = Math.abs(n);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return n.toExponential(3);
  return String(Number(n.toPrecision(4)));
}

/** A number, or `–` where the engine has no finite value. */
const num = (n: number | null): string => (n === null ? '–' : formatNumber(n));
/** A gain in dB with its sign. */
const gain = (n: number | null): string => (n === null ? '–' : `${n > 0 ? '+' : ''}${formatNumber(n)}`);

/** Per-channel values as `min … max (n ch)`, one value as itself. */
export function channelsText(values: readonly number[]): string {
  if (values.length === 0) return '–';
  if (values.length === 1) return formatNumber(values[0]);
  const lo = values.reduce((a, b) => Math.min(a, b));
  const hi = values.reduce((a, b) => Math.max(a, b));
  return lo === hi ? `${formatNumber(lo)} (${values.length} ch)` : `${formatNumber(lo)} … ${formatNumber(hi)} (${values.length} ch)`;
}

/** The table's columns: header and cell text of a layer (the layer name is the first column). */
export const COLUMNS: ReadonlyArray<{ readonly title: string; readonly cell: (l: CalibratedLayer) => string }> = [
  { title: 'algorithm', cell: (l) => l.algorithm.toUpperCase() },
  { title: 'granularity', cell: (l) => l.granularity },
  { title: 'mode', cell: (l) => (l.symmetric ? 'symmetric' : 'asymmetric') },
  { title: 'scale', cell: (l) => channelsText(l.scale) },
  { title: 'offset', cell: (l) => channelsText(l.offset) },
  { title: 'clip range', cell: (l) => `[${num(l.clip_min)}, ${num(l.clip_max)}]` },
  { title: 'SQNR (dB)', cell: (l) => num(l.sqnr_db) },
  { title: 'MSE', cell: (l) => num(l.mse) },
  { title: 'max |error|', cell: (l) => num(l.max_abs_error) },
  { title: 'clipped', cell: (l) => (l.clipped_fraction === null ? '–' : `${Number((l.clipped_fraction * 100).toPrecision(2))} %`) },
  { title: 'vs min-max (dB)', cell: (l) => gain(l.vs_minmax_db) },
  { title: 'vs other (dB)', cell: (l) => (l.other_error !== null ? `n/a (${l.other_algorithm.toUpperCase()})` : `${gain(l.vs_other_db)} (${l.other_algorithm.toUpperCase()})`) },
  { title: 'batches', cell: (l) => String(l.batches) },
];

// --- HTML -------------------------------------------------------------------------------------

export interface RenderOptions {
  /** The config's name, for the title. */
  readonly documentLabel: string;
  /** webview.cspSource */
  readonly cspSource: string;
  readonly nonce: string;
  /** Absolute file path -> URI the webview may load (webview.asWebviewUri). */
  readonly pictureUri: (file: string) => string;
  /** The Markdown already rendered to HTML (VS Code's Markdown renderer), if available. */
  readonly summaryHtml?: string;
}

/**
 * Whether the page shows the server's Markdown: only when there is no per-layer table, which
 * is the same information, structured (the Markdown is for clients that render nothing else).
 */
export function showsSummary(result: CalibrateResult): boolean {
  return result.layers.length === 0;
}

/** The folders the page loads pictures from (the webview's localResourceRoots). */
export function pictureFolders(result: CalibrateResult): string[] {
  const folders = [...(result.report ? [result.report] : []), ...result.layers.flatMap((l) => (l.histogram ? [path.dirname(l.histogram)] : []))];
  return [...new Set(folders)];
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

export function renderCalibrateHtml(result: CalibrateResult, opts: RenderOptions): string {
  const e = escapeHtml;
  const summary = !showsSummary(result) ? '' : opts.summaryHtml ?? `<pre class="summary">${e(result.markdown)}</pre>`;
  const errors = result.errors.length ? `<ul class="errors">${result.errors.map((m) => `<li>${e(m)}</li>`).join('')}</ul>` : '';
  const otherError = (l: CalibratedLayer): string => (l.other_error !== null ? ` title="${e(l.other_error)}"` : '');
  const table = result.layers.length
    ? `<div class="table"><table class="layers"><thead><tr><th>layer</th>${COLUMNS.map((c) => `<th>${e(c.title)}</th>`).join('')}</tr></thead><tbody>${result.layers
        .map(
          (l) =>
            `<tr><td class="layer">${e(l.layer)}</td>${COLUMNS.map((c) => `<td${c.title.startsWith('vs other') ? otherError(l) : ''}>${e(c.cell(l))}</td>`).join('')}</tr>`,
        )
        .join('')}</tbody></table></div>`
    : '';
  const pictures = result.layers
    .filter((l) => l.histogram !== null)
    .map((l) => `<figure><img src="${e(opts.pictureUri(l.histogram as string))}" alt="${e(l.layer)}"><figcaption>${e(l.layer)}</figcaption></figure>`);
  const files = [
    result.record ? `<li>record file: <code>${e(result.record)}</code></li>` : '',
    result.report ? `<li>report: <code>${e(result.report)}</code></li>` : '',
  ].join('');

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src ${opts.cspSource} data:; style-src 'nonce-${opts.nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>kvcal: calibration of ${e(opts.documentLabel)}</title>
<style nonce="${opts.nonce}">
  body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 1em 2em; }
  h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
  table.layers { border-collapse: collapse; margin-top: 1em; font-variant-numeric: tabular-nums; }
  div.table { overflow-x: auto; }
  table.layers th, table.layers td { border: 1px solid var(--vscode-panel-border, #8884); padding: 0.25em 0.6em; text-align: right; white-space: nowrap; }
  table.layers th { background: var(--vscode-editorWidget-background); }
  table.layers td.layer, table.layers th:first-child { text-align: left; font-family: var(--vscode-editor-font-family); }
  .errors { color: var(--vscode-errorForeground); }
  .pictures { display: flex; flex-wrap: wrap; gap: 1em; }
  figure { margin: 0; max-width: 48%; } figure img { max-width: 100%; background: white; }
  figcaption { font-size: 0.9em; opacity: 0.8; }
  pre.summary { white-space: pre-wrap; }
</style>
</head>
<body>
<h1>Calibration of ${e(opts.documentLabel)}</h1>
${errors}
<section class="summary">${summary}</section>
${table}
${files ? `<ul class="files">${files}</ul>` : ''}
${pictures.length ? `<h2>Histograms</h2><div class="pictures">${pictures.join('')}</div>` : ''}
</body>
</html>
`;
}

/** The `layers` of a block code lens's second argument (`{ layers: [...] }`), when it is a list of names. */
export function layersOption(options: unknown): string[] | undefined {
  if (!options || typeof options !== 'object' || !('layers' in options)) return undefined;
  const layers = (options as { layers: unknown }).layers;
  return Array.isArray(layers) && layers.every((l) => typeof l === 'string') ? layers : undefined;
}
