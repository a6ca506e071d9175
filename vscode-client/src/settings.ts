// The `kvcal` settings as the server sees them (workspace/configuration, section `kvcal`),
// and the small facts the status bar shows. Plain module: no `vscode` import.
import * as path from 'node:path';
import { expandVariables, type Variables } from './serverCommand';

export const LANGUAGE_ID = 'amct-quant-cfg';
export const CONFIG_SECTION = 'kvcal';

/** What the server gets for section `kvcal`: only the keys it uses, paths made absolute. */
export interface ServerSettings {
  /** Absolute path of the sample data, or null (then the config's `# kvcal: data=` header decides). */
  readonly sampleData: string | null;
  /** Absolute path of the record file to write, or null (beside the config). */
  readonly recordFile: string | null;
  readonly inlayHints: boolean;
}

/**
 * Shapes the raw `kvcal` configuration object for the server. Relative paths are resolved
 * against the workspace folder of the document (the server cannot know which folder a
 * setting came from); `${workspaceFolder}`, `${userHome}` and `~` are expanded.
 */
export function serverSettings(raw: unknown, vars: Variables): ServerSettings {
  const get = (key: string): unknown => (raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>)[key] : undefined);
  return {
    sampleData: settingPath(get('sampleData'), vars),
    recordFile: settingPath(get('recordFile'), vars),
    inlayHints: typeof get('inlayHints') === 'boolean' ? (get('inlayHints') as boolean) : true,
  };
}

function settingPath(value: unknown, vars: Variables): string | null {
  if (typeof value !== 'string' || value.trim() === '') return null;
  const expanded = expandVariables(value.trim(), vars);
  if (path.isAbsolute(expanded) || !vars.workspaceFolder) return expanded;
  return path.join(vars.workspaceFolder, expanded);
}

/** `# kvcal: data=PATH` in the leading comment lines of a config (the header DESIGN.md defines). */
export function headerSampleData(text: string): string | null {
  for (const line of text.split(/\r?\n/, 50)) {
    const trimmed = line.trim();
    if (trimmed === '') continue;
    if (!trimmed.startsWith('#')) break;
    const m = /^#\s*kvcal:.*?\bdata=("[^"]*"|'[^']*'|\S+)/.exec(trimmed);
    if (m) return m[1].replace(/^(["'])(.*)\1$/, '$2');
  }
  return null;
}

/**
 * The sample data a config uses, as the server resolves it: the header wins over the setting;
 * a relative header path is relative to the config's folder (`configDir`, when it is saved).
 */
export function sampleDataInUse(
  text: string,
  settings: ServerSettings,
  configDir?: string,
): { path: string; from: 'header' | 'setting' } | null {
  const header = headerSampleData(text);
  if (header) return { path: configDir && !path.isAbsolute(header) ? path.join(configDir, header) : header, from: 'header' };
  if (settings.sampleData) return { path: settings.sampleData, from: 'setting' };
  return null;
}

/**
 * The user's extra file patterns (kvcal.files.patterns) as globs on a document's absolute path
 * (what a DocumentFilter pattern matches): `*.cfg` and `configs/*.cfg` match in any folder.
 */
export function extraFilePatterns(setting: unknown): string[] {
  if (!Array.isArray(setting)) return [];
  return setting
    .filter((p): p is string => typeof p === 'string' && p.trim() !== '')
    .map((p) => p.trim())
    .map((p) => (p.startsWith('/') || p.startsWith('**/') ? p : `**/${p}`));
}
