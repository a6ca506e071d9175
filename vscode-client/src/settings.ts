// The `kvcal` settings as the server sees them (workspace/configuration, section `kvcal`).
// Plain module: no `vscode` import.
import * as path from 'node:path';
import { expandVariables, type Variables } from './serverCommand';

export const CONFIG_SECTION = 'kvcal';

/** What the server gets for section `kvcal`: only the keys it uses, paths made absolute. */
export interface ServerSettings {
  /** Absolute path of the sample data, or null (then the config's `# kvcal: data=` header decides). */
  readonly sampleData: string | null;
  /** Absolute path of the record file to write, or null (beside the config). */
  readonly recordFile: string | null;
  readonly inlayHints: boolean;
  /** kvcal.schemas: glob -> the schema of the files it matches; `proto` absolute. */
  readonly schemas: Readonly<Record<string, SchemaSetting>>;
  /** kvcal.protoPath: folders for `# proto-file:` paths and imports, absolute. */
  readonly protoPath: readonly string[];
}

/** One kvcal.schemas entry as the server reads it (server/lsp/settings.py): a message alone names a bundled AMCT root. */
export interface SchemaSetting {
  readonly proto?: string;
  readonly message?: string;
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
    schemas: schemaSettings(get('schemas'), vars),
    protoPath: (Array.isArray(get('protoPath')) ? (get('protoPath') as unknown[]) : [get('protoPath')])
      .map((folder) => settingPath(folder, vars))
      .filter((folder): folder is string => folder !== null),
  };
}

/**
 * kvcal.schemas: `{glob: {proto, message}}` or `{glob: "Message"}` (a bundled AMCT root);
 * entries naming neither a proto nor a message are dropped, globs are kept as written.
 */
function schemaSettings(value: unknown, vars: Variables): Record<string, SchemaSetting> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
  const out: Record<string, SchemaSetting> = {};
  for (const [glob, spec] of Object.entries(value as Record<string, unknown>)) {
    if (glob.trim() === '') continue;
    const message = typeof spec === 'string' ? spec.trim() : nonEmpty(isRecord(spec) ? spec.message : undefined);
    const proto = isRecord(spec) ? settingPath(spec.proto, vars) : null;
    if (!message && !proto) continue;
    Object.defineProperty(out, glob.trim(), {
      value: { ...(proto ? { proto } : {}), ...(message ? { message } : {}) },
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const nonEmpty = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);

/** A path setting: variables expanded, made absolute against the workspace folder; null when unset. */
function settingPath(value: unknown, vars: Variables): string | null {
  if (typeof value !== 'string' || value.trim() === '') return null;
  const expanded = expandVariables(value.trim(), vars);
  if (path.isAbsolute(expanded) || !vars.workspaceFolder) return expanded;
  return path.join(vars.workspaceFolder, expanded);
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
