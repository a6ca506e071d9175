// Reading the server's JSON answers as documented (docs/lsp.md): every key the client uses is
// checked, a mismatch is a ShapeError naming the key (a bug on one side, never guessed around).
// Plain module: no `vscode` import.

/** The server's answer does not have the documented shape. */
export class ShapeError extends Error {}

export type Dict = Record<string, unknown>;
export const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `d[key]` when `ok` accepts it; else a ShapeError saying where (`where.key`) and what was expected. */
export function field<T>(d: Dict, key: string, what: string, ok: (v: unknown) => v is T, where: string): T {
  const v = d[key];
  if (!ok(v)) throw new ShapeError(`${where}.${key} is ${v === undefined ? 'missing' : short(v)}, not ${what}`);
  return v;
}

export function short(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

export const isString = (v: unknown): v is string => typeof v === 'string';
export const isStringOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';
export const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
export const isNumber = (v: unknown): v is number => typeof v === 'number';
export const isNumberOrNull = (v: unknown): v is number | null => v === null || typeof v === 'number';
export const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
export const isCountOrNull = (v: unknown): v is number | null => v === null || isCount(v);
export const isNumberList = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number');
export const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
export const oneOf =
  <T extends string>(...values: T[]) =>
  (v: unknown): v is T =>
    typeof v === 'string' && (values as string[]).includes(v);
export const oneOfOrNull =
  <T extends string>(...values: T[]) =>
  (v: unknown): v is T | null =>
    v === null || oneOf(...values)(v);
