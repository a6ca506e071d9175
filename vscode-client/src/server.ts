// The kvcal language server's lifecycle: resolve the command, start it, restart it, tell the
// user clearly when it cannot start and how to fix that. No language logic lives here.
import * as cp from 'node:child_process';
import * as os from 'node:os';
import * as vscode from 'vscode';
import {
  CloseAction,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  State,
  type ExecuteCommandRegistrationOptions,
  type LanguageClientOptions,
  type RegistrationData,
  type ServerOptions,
} from 'vscode-languageclient/node';
import { activeInterpreter } from './python';
import {
  failureReason,
  formatCommand,
  installCommand,
  resolveServerCommand,
  serverSpawnOptions,
  settingWords,
  startFailureMessage,
  untrustedRefusal,
  type ServerCommand,
} from './serverCommand';
import { SERVED_LANGUAGES } from './languages';
import { CONFIG_SECTION, serverSettings } from './settings';

export type ServerState = 'stopped' | 'starting' | 'running' | 'failed';

/** Commands the extension registers itself (with progress and UI) although the server also offers them. */
const CLIENT_OWNED_COMMANDS = new Set(['kvcal.calibrate']);
/** Like vscode-languageclient's default: give up after this many crashes in three minutes. */
const MAX_RESTARTS = 4;

export class KvcalServer implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<LanguageClient | undefined> | undefined;
  private _state: ServerState = 'stopped';
  private _command: ServerCommand | undefined;
  private _lastError: string | undefined;
  private stderrTail = '';
  private crashes: number[] = [];
  private readonly stateEmitter = new vscode.EventEmitter<ServerState>();
  readonly onDidChangeState = this.stateEmitter.event;

  constructor(
    private readonly log: vscode.LogOutputChannel,
    private readonly showOutput: () => void,
    /** The extension's own folder: the server's working directory (see serverSpawnOptions). */
    private readonly extensionDir: string = os.homedir(),
  ) {}

  get state(): ServerState {
    return this._state;
  }
  get command(): ServerCommand | undefined {
    return this._command;
  }
  get lastError(): string | undefined {
    return this._lastError;
  }

  /** The client while the server is running (never starts it). */
  get runningClient(): LanguageClient | undefined {
    return this.client?.state === State.Running ? this.client : undefined;
  }

  /** The running client, starting the server if it is not running yet; undefined when it cannot start. */
  async ready(): Promise<LanguageClient | undefined> {
    if (this.client?.state === State.Running) return this.client;
    return this.start();
  }

  start(): Promise<LanguageClient | undefined> {
    this.starting ??= this.doStart().finally(() => (this.starting = undefined));
    return this.starting;
  }

  async restart(): Promise<LanguageClient | undefined> {
    await this.starting;
    await this.stop();
    this.crashes = [];
    return this.start();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      try {
        if (client.needsStop()) await client.stop(5000);
      } catch (error) {
        this.log.warn(`stopping the server: ${String(error)}`);
      }
      await client.dispose().catch(() => undefined);
    }
    this.setState('stopped');
  }

  dispose(): void {
    void this.stop();
    this.stateEmitter.dispose();
  }

  private setState(state: ServerState): void {
    if (state === this._state) return;
    this._state = state;
    this.stateEmitter.fire(state);
  }

  private async doStart(): Promise<LanguageClient | undefined> {
    if (this.client) await this.stop();
    const folder = vscode.workspace.workspaceFolders?.[0];
    const config = vscode.workspace.getConfiguration(CONFIG_SECTION, folder);
    const setting = config.get<unknown>('server.command');
    const command = resolveServerCommand({
      setting,
      // Ask the Python extension (which may activate it) only when the setting leaves the choice to it.
      pythonInterpreter: settingWords(setting).length === 0 ? await activeInterpreter(folder?.uri, this.log) : undefined,
      platform: process.platform,
      variables: { workspaceFolder: folder?.uri.fsPath, userHome: os.homedir() },
    });
    this._command = command;
    this._lastError = undefined;
    this.stderrTail = '';
    this.setState('starting');
    this.log.info(`starting the kvcal language server: ${formatCommand(command)} (from ${describeSource(command)})`);

    const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
    const refusal = untrustedRefusal(command, folders, vscode.workspace.isTrusted);
    if (refusal) {
      this._lastError = refusal;
      this.setState('failed');
      this.log.warn(`kvcal language server not started: ${refusal}`);
      void vscode.window.showWarningMessage(`kvcal language server not started: ${refusal}.`, 'Manage Workspace Trust').then((choice) => {
        if (choice) void vscode.commands.executeCommand('workbench.trust.manage');
      });
      return undefined;
    }
    const client = new KvcalLanguageClient(() => this.spawn(command), this.clientOptions(), (message, data) => {
      // A failure the client would announce with its own generic toast: during start() our
      // catch below reports it; later (a restart after a crash failed) report it here.
      if (!this.starting && this.client === client) this.fail(command, data ?? new Error(message));
    });
    ownCommands(client, CLIENT_OWNED_COMMANDS);
    client.onDidChangeState((e) => {
      if (e.newState === State.Running) this.setState('running');
      else if (e.newState === State.Stopped && this.client === client && this._state === 'running') this.setState('stopped');
    });
    this.client = client;
    try {
      await client.start();
      this.log.info('the kvcal language server is running');
      return client;
    } catch (error) {
      if (this.client === client) this.client = undefined;
      await client.dispose().catch(() => undefined);
      this.fail(command, error);
      return undefined;
    }
  }

  private spawn(command: ServerCommand): Promise<cp.ChildProcess> {
    return new Promise((resolve, reject) => {
      // Never the workspace folder as working directory: `python -m` would import its modules.
      const child = cp.spawn(command.command, [...command.args], { ...serverSpawnOptions(this.extensionDir, process.env), stdio: 'pipe' });
      child.once('error', reject);
      child.once('spawn', () => {
        child.stderr.on('data', (chunk: Buffer) => (this.stderrTail = (this.stderrTail + chunk.toString()).slice(-4000)));
        resolve(child);
      });
    });
  }

  private clientOptions(): LanguageClientOptions {
    return {
      documentSelector: SERVED_LANGUAGES.flatMap((language) => [
        { language, scheme: 'file' },
        { language, scheme: 'untitled' },
      ]),
      outputChannel: this.log,
      traceOutputChannel: this.log,
      revealOutputChannelOn: 4 /* RevealOutputChannelOn.Never: our notification offers "Show output" */,
      // Server stderr is its log: keep it at info level, not error.
      stdioOptions: {
        stdout: (input, channel) => input.on('data', (d: Buffer) => channel.info(d.toString().trimEnd())),
        stderr: (input, channel) => input.on('data', (d: Buffer) => channel.info(d.toString().trimEnd())),
      },
      // We say ourselves, with the fix, why the server did not start.
      initializationFailedHandler: () => false,
      errorHandler: {
        error: () => ({ action: ErrorAction.Continue }),
        closed: () => this.onClosed(),
      },
      middleware: {
        workspace: {
          // Section `kvcal` goes to the server shaped: only its keys, paths absolute.
          configuration: async (params, token, next) => {
            const raw = await next(params, token);
            if (!Array.isArray(raw)) return raw;
            return params.items.map((item, i) => (item.section === CONFIG_SECTION ? settingsFor(item.scopeUri) : raw[i]));
          },
        },
      },
      markdown: { isTrusted: false, supportHtml: false },
    };
  }

  private onClosed(): { action: CloseAction; handled: boolean } {
    if (this._state !== 'running') return { action: CloseAction.DoNotRestart, handled: true }; // start() reports it
    const now = Date.now();
    this.crashes = [...this.crashes.filter((t) => now - t < 3 * 60_000), now];
    if (this.crashes.length <= MAX_RESTARTS) {
      this.log.warn(`the kvcal language server exited; restarting (${this.crashes.length}/${MAX_RESTARTS})`);
      this.setState('starting');
      return { action: CloseAction.Restart, handled: true };
    }
    const command = this._command;
    if (command) this.fail(command, new Error(`it exited ${this.crashes.length} times in three minutes`));
    return { action: CloseAction.DoNotRestart, handled: true };
  }

  private fail(command: ServerCommand, error: unknown): void {
    const reason = failureReason(error, this.stderrTail);
    const message = startFailureMessage(command, reason);
    this._lastError = reason;
    this.setState('failed');
    this.log.error(message);
    if (this.stderrTail.trim()) this.log.error(`server stderr:\n${this.stderrTail.trimEnd()}`);
    void vscode.window.showErrorMessage(message, 'Install kvcal', 'Open settings', 'Show output').then((choice) => {
      if (choice === 'Install kvcal') this.install(command);
      else if (choice === 'Open settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'kvcal.server');
      else if (choice === 'Show output') this.showOutput();
    });
  }

  private install(command: ServerCommand): void {
    const terminal = vscode.window.createTerminal({ name: 'kvcal: install' });
    terminal.show();
    terminal.sendText(installCommand(command));
    void vscode.window
      .showInformationMessage(`Installing kvcal with \`${installCommand(command)}\`. Restart the server when it is done.`, 'Restart server')
      .then((choice) => choice && this.restart());
  }
}

/**
 * vscode-languageclient shows its own error toast ("couldn't create connection to server",
 * "Restarting server failed") next to ours, which says what to do: keep those in the log only
 * and hand them to `onForcedError`.
 */
class KvcalLanguageClient extends LanguageClient {
  constructor(
    serverOptions: ServerOptions,
    clientOptions: LanguageClientOptions,
    private readonly onForcedError: (message: string, data: unknown) => void,
  ) {
    super('kvcal', 'kvcal language server', serverOptions, clientOptions);
  }

  override error(message: string, data?: unknown, showNotification?: boolean | 'force'): void {
    super.error(message, data, showNotification === 'force' ? false : showNotification);
    if (showNotification === 'force') this.onForcedError(message, data);
  }
}

function describeSource(command: ServerCommand): string {
  switch (command.source) {
    case 'setting':
      return 'the setting kvcal.server.command';
    case 'python':
      return "the Python extension's selected interpreter";
    default:
      return 'python3 on PATH; set kvcal.server.command or install the Python extension to choose another';
  }
}

function settingsFor(scopeUri: string | undefined): unknown {
  const uri = scopeUri ? vscode.Uri.parse(scopeUri) : undefined;
  const folder = uri ? vscode.workspace.getWorkspaceFolder(uri) : vscode.workspace.workspaceFolders?.[0];
  return serverSettings(vscode.workspace.getConfiguration(CONFIG_SECTION, uri ?? folder?.uri), {
    workspaceFolder: folder?.uri.fsPath,
    userHome: os.homedir(),
  });
}

/**
 * vscode-languageclient registers a VS Code command for every command the server offers; a
 * second registration of the same id (ours, which adds progress and the result view) would
 * make the client fail to start. Keep the ids we own out of the client's registration; code
 * lenses and code actions carrying them then run our command, which calls the server.
 */
function ownCommands(client: LanguageClient, owned: ReadonlySet<string>): void {
  const feature = client.getFeature(ExecuteCommandRequest.method);
  const register = feature.register.bind(feature);
  feature.register = (data: RegistrationData<ExecuteCommandRegistrationOptions>) =>
    register({ ...data, registerOptions: { ...data.registerOptions, commands: data.registerOptions.commands.filter((c) => !owned.has(c)) } });
}
