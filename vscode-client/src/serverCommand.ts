// Which command starts the kvcal language server, and how to tell the user to install it.
// Plain module: no `vscode` import, unit-tested with node's test runner.

/** A resolved server command line and where it came from. */
export interface ServerCommand {
  readonly command: string;
  readonly args: readonly string[];
  /** `setting`: kvcal.server.command; `python`: the Python extension's interpreter; `default`: python3 on PATH. */
  readonly source: 'setting' | 'python' | 'default';
  /** The Python interpreter the command runs, when known (for the install hint). */
  readonly python?: string;
}

export interface Variables {
  readonly workspaceFolder?: string;
  readonly userHome: string;
}

export interface ResolveInput {
  /** The raw kvcal.server.command value (an array; a string is split like a shell would). */
  readonly setting: unknown;
  /** The interpreter selected in the Python extension, when that extension is installed. */
  readonly pythonInterpreter?: string;
  readonly platform: NodeJS.Platform;
  readonly variables: Variables;
}

/** `python -m kvcal.server lsp`: the module entry point works in any interpreter kvcal is installed in. */
export const SERVER_MODULE_ARGS: readonly string[] = ['-m', 'kvcal.server', 'lsp'];

export function resolveServerCommand(input: ResolveInput): ServerCommand {
  const words = settingWords(input.setting).map((w) => expandVariables(w, input.variables));
  if (words.length > 0) {
    const [command, ...args] = words;
    return { command, args, source: 'setting', python: looksLikePython(command) ? command : undefined };
  }
  if (input.pythonInterpreter) {
    return { command: input.pythonInterpreter, args: SERVER_MODULE_ARGS, source: 'python', python: input.pythonInterpreter };
  }
  const python = input.platform === 'win32' ? 'python' : 'python3';
  return { command: python, args: SERVER_MODULE_ARGS, source: 'default', python };
}

/** The setting as a list of words; tolerant of a string written where a list is expected. */
export function settingWords(setting: unknown): string[] {
  if (Array.isArray(setting)) return setting.filter((w): w is string => typeof w === 'string' && w !== '');
  if (typeof setting === 'string') return splitCommandLine(setting);
  return [];
}

/** Splits `a "b c" 'd'` into words (quotes group, backslash escapes outside single quotes). */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** Expands `${workspaceFolder}`, `${userHome}`, `${env:NAME}` and a leading `~/`. Unknown variables stay. */
export function expandVariables(value: string, vars: Variables, env: NodeJS.ProcessEnv = process.env): string {
  let out = value.replace(/\$\{(workspaceFolder|userHome|env:([A-Za-z_][A-Za-z0-9_]*))\}/g, (whole, name: string, envName?: string) => {
    if (envName !== undefined) return env[envName] ?? '';
    if (name === 'userHome') return vars.userHome;
    return vars.workspaceFolder ?? whole;
  });
  if (out === '~' || out.startsWith('~/')) out = vars.userHome + out.slice(1);
  return out;
}

function looksLikePython(command: string): boolean {
  return /(^|[\\/])(python|pythonw|py)(\d+(\.\d+)*)?(\.exe)?$/i.test(command);
}

/** The command line as a user would type it (for messages and the log). */
export function formatCommand(cmd: Pick<ServerCommand, 'command' | 'args'>): string {
  return [cmd.command, ...cmd.args].map(shellQuote).join(' ');
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** How to install kvcal so that this command can start it. */
export function installCommand(cmd: ServerCommand): string {
  return cmd.python ? `${shellQuote(cmd.python)} -m pip install kvcal` : 'pip install kvcal';
}

/** The sentence the "could not start" notification shows. */
export function startFailureMessage(cmd: ServerCommand, reason: string): string {
  const how =
    cmd.source === 'setting'
      ? `Check the setting kvcal.server.command, or install kvcal: \`${installCommand(cmd)}\` (\`make setup\` in a kvcal checkout).`
      : `Install kvcal into that interpreter: \`${installCommand(cmd)}\` (\`make setup\` in a kvcal checkout), select another interpreter, or set kvcal.server.command.`;
  return `kvcal language server could not start (${formatCommand(cmd)}): ${reason}. ${how}`;
}

/** A short reason from a spawn or connection error, with the server's last stderr line when there is one. */
export function failureReason(error: unknown, stderrTail: string): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === 'ENOENT') return 'command not found';
  if (code === 'EACCES') return 'permission denied';
  const lastLine = stderrTail
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .pop();
  if (lastLine) return lastLine.length > 200 ? `${lastLine.slice(0, 200)}…` : lastLine;
  const message = error instanceof Error ? error.message : typeof error === 'string' ? error : '';
  return message || 'the server exited';
}

/**
 * How the server process is started so that the workspace's code never runs in it.
 *
 * `python -m kvcal.server` puts its working directory first on `sys.path`: a workspace that
 * holds `cattrs.py` or `pygls.py` would have it imported by the server (before any trust
 * prompt). So the working directory is the extension's own folder (no Python files), and
 * `PYTHONSAFEPATH=1` (Python 3.11+, the environment form of `-P`) keeps the directory off
 * `sys.path` altogether; older Pythons ignore it and the neutral folder is what protects.
 * `-I` is not used: it would also hide a user-site install of kvcal.
 */
export function serverSpawnOptions(
  extensionDir: string,
  env: NodeJS.ProcessEnv,
): { cwd: string; env: NodeJS.ProcessEnv } {
  return { cwd: extensionDir, env: { ...env, PYTHONUNBUFFERED: '1', PYTHONSAFEPATH: '1' } };
}

/**
 * In an untrusted workspace, why the server must not start with this command (undefined: it
 * may): a program inside a workspace folder (its `.venv`, a script in it) is the workspace's
 * code. Trust the workspace, or point kvcal.server.command (a machine setting) elsewhere.
 */
export function untrustedRefusal(cmd: Pick<ServerCommand, 'command' | 'args'>, folders: readonly string[], trusted: boolean): string | undefined {
  if (trusted) return undefined;
  const program = normalize(cmd.command);
  const inside = folders.map(normalize).find((folder) => folder !== '' && (program === folder || program.startsWith(`${folder}/`)));
  if (inside === undefined) return undefined;
  return (
    `the workspace is not trusted and the server command ${formatCommand(cmd)} is inside it ` +
    '(a program of the workspace would run): trust the workspace, or set kvcal.server.command to a program outside it'
  );
}

function normalize(p: string): string {
  let out = p.replace(/\\/g, '/').replace(/\/+/g, '/');
  const parts: string[] = [];
  for (const part of out.split('/')) {
    if (part === '..') parts.pop();
    else if (part !== '.') parts.push(part);
  }
  out = parts.join('/');
  return out.length > 1 ? out.replace(/\/$/, '') : out;
}
