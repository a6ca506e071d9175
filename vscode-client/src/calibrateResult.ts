// The result of the server's `kvcal.calibrate` command, read tolerantly, and its HTML page.
// Plain module: no `vscode` import. The server owns the shape; this reader accepts what it
// sends today and degrades to "show what is there" for keys it does not know, so that a
// server adding a column never breaks the client.
import * as path from 'node:path';

export interface LayerRow {
  readonly name: string;
  /** Column -> display text. */
  readonly cells: ReadonlyMap<string, string>;
  /** Absolute paths of this layer's pictures (histograms). */
  readonly pictures: readonly string[];
}

export interface CalibrateView {
  readonly summaryMarkdown: string | null;
  readonly columns: readonly string[];
  readonly layers: readonly LayerRow[];
  /** Pictures not tied to one layer. */
  readonly pictures: readonly string[];
  readonly recordFile: string | null;
  readonly reportDir: string | null;
  readonly errors: readonly string[];
}

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);
const first = (d: Dict, ...keys: string[]): unknown => keys.map((k) => d[k]).find((v) => v !== undefined && v !== null);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

const PICTURE_RE = /\.(png|svg|jpe?g|gif|webp)$/i;
const PICTURE_KEYS = /^(histogram|histograms|picture|pictures|image|images|plot|plots|figure|figures)(_path|_file|s)?$/i;
const NAME_KEYS = ['layer', 'name', 'layer_name', 'layerName'];
/** Columns shown first, in this order, when present; the rest follow in the order the server sends them. */
const PREFERRED = [
  'algorithm', 'algo', 'granularity', 'quant_granularity', 'symmetric', 'asymmetric', 'mode',
  'scale', 'offset', 'clip_min', 'clip_max', 'clip', 'sqnr_db', 'sqnr', 'mse', 'max_abs_error', 'cosine',
];

/** Reads whatever the server returned into a view; never throws. */
export function parseCalibrateResult(raw: unknown): CalibrateView {
  if (typeof raw === 'string') return emptyView({ summaryMarkdown: raw });
  if (!isDict(raw)) return emptyView({ errors: raw === null || raw === undefined ? ['The server returned no result.'] : [] });

  const reportDir = str(first(raw, 'report', 'report_dir', 'reportDir'));
  const base = reportDir ?? undefined;
  const layers = layerEntries(first(raw, 'layers', 'results', 'per_layer', 'perLayer')).map(([name, value]) => layerRow(name, value, base));
  return {
    summaryMarkdown: str(first(raw, 'summary', 'markdown', 'message')),
    columns: orderColumns(layers),
    layers,
    pictures: pictureList(first(raw, 'pictures', 'images', 'histograms', 'figures'), base),
    recordFile: str(first(raw, 'record', 'record_file', 'recordFile')),
    reportDir,
    errors: errorList(first(raw, 'errors', 'error')),
  };
}

function emptyView(parts: Partial<CalibrateView>): CalibrateView {
  return { summaryMarkdown: null, columns: [], layers: [], pictures: [], recordFile: null, reportDir: null, errors: [], ...parts };
}

/** Layers as [name, object] pairs, from a list of objects or a name -> object map. */
function layerEntries(value: unknown): Array<[string, Dict]> {
  if (Array.isArray(value)) {
    return value.filter(isDict).map((d, i) => [String(first(d, ...NAME_KEYS) ?? `layer ${i}`), d]);
  }
  if (isDict(value)) return Object.entries(value).filter((e): e is [string, Dict] => isDict(e[1]));
  return [];
}

function layerRow(name: string, d: Dict, base: string | undefined): LayerRow {
  const cells = new Map<string, string>();
  const pictures: string[] = [];
  for (const [key, value] of Object.entries(d)) {
    if (NAME_KEYS.includes(key)) continue;
    if (PICTURE_KEYS.test(key) || (typeof value === 'string' && PICTURE_RE.test(value))) {
      pictures.push(...pictureList(value, base));
      continue;
    }
    if (isDict(value)) {
      // One level of nesting reads as "scale min", "scale max", ... unless it is a small summary.
      for (const [sub, subValue] of Object.entries(value)) {
        const text = cellText(subValue);
        if (text !== null) cells.set(`${key}.${sub}`, text);
      }
      continue;
    }
    if (key === 'symmetric' && typeof value === 'boolean') {
      cells.set('symmetric', value ? 'symmetric' : 'asymmetric');
      continue;
    }
    const text = cellText(value);
    if (text !== null) cells.set(key, text);
  }
  return { name, cells, pictures };
}

/** Display text of a value: numbers to 4 significant digits, per-channel arrays as a range. */
export function cellText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const nums = value.filter((v): v is number => typeof v === 'number');
    if (nums.length === value.length && nums.length > 0) {
      if (nums.length === 1) return formatNumber(nums[0]);
      const lo = Math.min(...nums);
      const hi = Math.max(...nums);
      return `${formatNumber(lo)} … ${formatNumber(hi)} (${nums.length} ch)`;
    }
    const texts = value.map(cellText).filter((t): t is string => t !== null);
    return texts.join(', ');
  }
  return null;
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return Number.isNaN(n) ? 'NaN' : n > 0 ? '∞' : '−∞';
  if (Number.isInteger(n) && Math.abs(n) < 1e9) return String(n);
  const abs = Math.abs(n);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return n.toExponential(3);
  return String(Number(n.toPrecision(4)));
}

function orderColumns(layers: readonly LayerRow[]): string[] {
  const seen: string[] = [];
  for (const row of layers) for (const key of row.cells.keys()) if (!seen.includes(key)) seen.push(key);
  const rank = (key: string): number => {
    const i = PREFERRED.indexOf(key.split('.')[0]);
    return i === -1 ? PREFERRED.length : i;
  };
  return seen
    .map((key, i) => ({ key, i }))
    .sort((a, b) => rank(a.key) - rank(b.key) || a.i - b.i)
    .map((e) => e.key);
}

function pictureList(value: unknown, base: string | undefined): string[] {
  const items = Array.isArray(value) ? value : isDict(value) ? Object.values(value) : [value];
  return items
    .map((item) => (isDict(item) ? str(first(item, 'path', 'file', 'uri')) : str(item)))
    .filter((p): p is string => p !== null && PICTURE_RE.test(p))
    .map((p) => resolvePath(p, base));
}

function resolvePath(p: string, base: string | undefined): string {
  if (p.startsWith('file://')) return decodeURIComponent(new URL(p).pathname);
  return path.isAbsolute(p) || !base ? p : path.join(base, p);
}

function errorList(value: unknown): string[] {
  const items = Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
  return items
    .map((e) => (isDict(e) ? str(first(e, 'message', 'error')) ?? JSON.stringify(e) : cellText(e)))
    .filter((e): e is string => e !== null && e !== '');
}

// --- HTML -------------------------------------------------------------------------------------

export interface RenderOptions {
  /** The config's name, for the title. */
  readonly documentLabel: string;
  /** webview.cspSource */
  readonly cspSource: string;
  readonly nonce: string;
  /** Absolute file path -> URI the webview may load (webview.asWebviewUri). */
  readonly pictureUri: (file: string) => string;
  /** The summary already rendered to HTML (VS Code's Markdown renderer), if available. */
  readonly summaryHtml?: string;
}

/**
 * Whether the page shows the server's Markdown summary: only when there is no per-layer table,
 * which is the same information, structured (the Markdown is for clients that render nothing else).
 */
export function showsSummary(view: CalibrateView): boolean {
  return view.layers.length === 0 && view.summaryMarkdown !== null;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

const TITLES: Record<string, string> = { symmetric: 'mode', sqnr_db: 'SQNR (dB)', sqnr: 'SQNR', mse: 'MSE', max_abs_error: 'max |error|' };

/** Column key -> header text: `clip_min` -> `clip min`, `scale.min` -> `scale min`, `sqnr_db` -> `SQNR (dB)`. */
export function columnTitle(key: string): string {
  return TITLES[key] ?? key.replace(/[._]/g, ' ');
}

export function renderCalibrateHtml(view: CalibrateView, opts: RenderOptions): string {
  const e = escapeHtml;
  const figure = (file: string, caption: string): string =>
    `<figure><img src="${e(opts.pictureUri(file))}" alt="${e(caption)}"><figcaption>${e(caption)}</figcaption></figure>`;

  const summary = !showsSummary(view) ? '' : opts.summaryHtml ?? `<pre class="summary">${e(view.summaryMarkdown ?? '')}</pre>`;
  const errors = view.errors.length ? `<ul class="errors">${view.errors.map((m) => `<li>${e(m)}</li>`).join('')}</ul>` : '';
  const table = view.layers.length
    ? `<div class="table"><table class="layers"><thead><tr><th>layer</th>${view.columns.map((c) => `<th>${e(columnTitle(c))}</th>`).join('')}</tr></thead><tbody>${view.layers
        .map(
          (row) =>
            `<tr><td class="layer">${e(row.name)}</td>${view.columns
              .map((c) => `<td>${e(row.cells.get(c) ?? '')}</td>`)
              .join('')}</tr>`,
        )
        .join('')}</tbody></table></div>`
    : '';
  const layerPictures = view.layers.flatMap((row) =>
    row.pictures.map((p) => figure(p, row.pictures.length === 1 ? row.name : `${row.name}: ${path.basename(p)}`)),
  );
  const otherPictures = view.pictures.map((p) => figure(p, path.basename(p)));
  const pictures = layerPictures.length + otherPictures.length ? `<h2>Histograms</h2><div class="pictures">${[...layerPictures, ...otherPictures].join('')}</div>` : '';
  const files = [
    view.recordFile ? `<li>record file: <code>${e(view.recordFile)}</code></li>` : '',
    view.reportDir ? `<li>report: <code>${e(view.reportDir)}</code></li>` : '',
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
${pictures}
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
