// `kvcal.calibrate`: ask the server to calibrate a config (workspace/executeCommand), with a
// cancellable progress notification fed by the server's work-done progress, and show the
// result in a webview: per-layer table and the histogram pictures.
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  ErrorCodes,
  ExecuteCommandRequest,
  LSPErrorCodes,
  ResponseError,
  WorkDoneProgress,
  WorkDoneProgressCancelNotification,
  type ExecuteCommandParams,
} from 'vscode-languageclient/node';
import { layersOption, parseCalibrateResult, pictureFolders, renderCalibrateHtml, showsSummary, type CalibrateResult } from './calibrateResult';
import type { KvcalServer } from './server';
import { isServedLanguage } from './languages';

export const CALIBRATE_COMMAND = 'kvcal.calibrate';

export class Calibrator implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private readonly runningEmitter = new vscode.EventEmitter<boolean>();
  /** Fires true when a calibration starts and false when it ends. */
  readonly onDidChangeRunning = this.runningEmitter.event;

  constructor(
    private readonly server: KvcalServer,
    private readonly log: vscode.LogOutputChannel,
    private readonly showOutput: () => void,
  ) {}

  dispose(): void {
    this.panel?.dispose();
    this.runningEmitter.dispose();
  }

  /**
   * The command handler. `arg` is what a code lens or a menu passes: a URI (object or string) or nothing;
   * `options` is a block lens's `{ layers: [...] }` (calibrate only those layers), passed on to the server.
   */
  async run(arg?: unknown, options?: unknown): Promise<unknown> {
    const uri = targetUri(arg);
    const layers = layersOption(options);
    if (!uri) {
      void vscode.window.showWarningMessage('kvcal: open an AMCT KV-cache config (quant.cfg) to calibrate it.');
      return undefined;
    }
    const client = await this.server.ready();
    if (!client) {
      void vscode.window.showErrorMessage('kvcal: the language server is not running, so there is nothing to calibrate with.', 'Show output').then((c) => c && this.showOutput());
      return undefined;
    }
    const label = path.basename(uri.fsPath || uri.path) + (layers ? ` (${layers.length === 1 ? layers[0] : `${layers.length} layers`})` : '');
    this.runningEmitter.fire(true);
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `kvcal: calibrating ${label}`, cancellable: true },
        async (progress, token) => {
          const workDoneToken = `kvcal-calibrate-${crypto.randomUUID()}`;
          let reported = 0;
          const progressListener = client.onProgress(WorkDoneProgress.type, workDoneToken, (value) => {
            if (value.kind === 'end') return;
            const increment = value.percentage !== undefined ? Math.max(0, value.percentage - reported) : undefined;
            if (value.percentage !== undefined) reported = Math.max(reported, value.percentage);
            progress.report({ message: value.message, increment });
          });
          const cancelListener = token.onCancellationRequested(() => {
            void client.sendNotification(WorkDoneProgressCancelNotification.type, { token: workDoneToken });
          });
          try {
            const args: unknown[] = layers ? [uri.toString(), { layers }] : [uri.toString()];
            const params: ExecuteCommandParams = { command: CALIBRATE_COMMAND, arguments: args, workDoneToken };
            return await client.sendRequest(ExecuteCommandRequest.type, params, token);
          } finally {
            progressListener.dispose();
            cancelListener.dispose();
          }
        },
      );
      await this.show(result, uri, label);
      return result;
    } catch (error) {
      if (isCancellation(error)) {
        void vscode.window.showInformationMessage(`kvcal: calibration of ${label} cancelled.`);
      } else {
        const message = error instanceof Error ? error.message : String(error);
        this.log.error(`calibration of ${uri.toString()} failed: ${message}`);
        void vscode.window.showErrorMessage(`kvcal: calibration of ${label} failed: ${message}`, 'Show output').then((c) => c && this.showOutput());
      }
      return undefined;
    } finally {
      this.runningEmitter.fire(false);
    }
  }

  private async show(raw: unknown, uri: vscode.Uri, label: string): Promise<void> {
    let result: CalibrateResult;
    try {
      result = parseCalibrateResult(raw);
    } catch (error) {
      // The server and this client disagree on the documented shape (docs/lsp.md): a bug, said as such.
      const message = error instanceof Error ? error.message : String(error);
      this.log.error(`calibration of ${uri.toString()}: the server's result does not have the documented shape: ${message}`);
      void vscode.window.showErrorMessage(`kvcal: cannot show the calibration of ${label}: unexpected result (${message}).`, 'Show output').then((c) => c && this.showOutput());
      return;
    }
    if (result.layers.length === 0 && result.errors.length > 0) {
      // Refused (errors in the config, no sample data, ...): the server has shown the message
      // and put a diagnostic on the line; a page with only that message would add nothing.
      result.errors.forEach((e) => this.log.warn(`calibration of ${uri.toString()} not done: ${e}`));
      return;
    }
    const options: vscode.WebviewOptions = { enableScripts: false, localResourceRoots: pictureFolders(result).map((d) => vscode.Uri.file(d)) };
    if (!this.panel) {
      this.panel = vscode.window.createWebviewPanel('kvcal.calibration', `Calibration: ${label}`, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, options);
      this.panel.onDidDispose(() => (this.panel = undefined));
    } else {
      this.panel.title = `Calibration: ${label}`;
      this.panel.webview.options = options;
      this.panel.reveal(vscode.ViewColumn.Beside, true);
    }
    const webview = this.panel.webview;
    webview.html = renderCalibrateHtml(result, {
      documentLabel: vscode.workspace.asRelativePath(uri),
      cspSource: webview.cspSource,
      nonce: crypto.randomBytes(16).toString('base64'),
      pictureUri: (file) => webview.asWebviewUri(vscode.Uri.file(file)).toString(),
      summaryHtml: showsSummary(result) ? await renderMarkdown(result.markdown) : undefined,
    });
  }
}

/** The config to calibrate: the argument (code lens, explorer menu) or the active editor. */
function targetUri(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  if (typeof arg === 'string' && arg !== '') return vscode.Uri.parse(arg);
  if (arg && typeof arg === 'object' && 'uri' in arg) return targetUri((arg as { uri: unknown }).uri);
  const doc = vscode.window.activeTextEditor?.document;
  return doc && isServedLanguage(doc.languageId) ? doc.uri : undefined;
}

function isCancellation(error: unknown): boolean {
  return error instanceof ResponseError && (error.code === LSPErrorCodes.RequestCancelled || error.code === ErrorCodes.PendingResponseRejected);
}

/** VS Code's own Markdown renderer (the built-in markdown extension); undefined when unavailable. */
async function renderMarkdown(markdown: string): Promise<string | undefined> {
  try {
    return await vscode.commands.executeCommand<string>('markdown.api.render', markdown);
  } catch {
    return undefined;
  }
}
