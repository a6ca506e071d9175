// The status bar item: server state and the sample data the active config uses.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { KvcalServer, ServerState } from './server';
import { formatCommand } from './serverCommand';
import { CONFIG_SECTION, LANGUAGE_ID, sampleDataInUse, serverSettings } from './settings';

const ICONS: Record<ServerState, string> = {
  stopped: '$(circle-slash)',
  starting: '$(loading~spin)',
  running: '$(check)',
  failed: '$(error)',
};

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('kvcal.status', vscode.StatusBarAlignment.Right, 100);
  private calibrating = false;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly server: KvcalServer) {
    this.item.name = 'kvcal';
    this.item.command = 'kvcal.showOutput';
    this.disposables.push(
      this.item,
      server.onDidChangeState(() => this.update()),
      vscode.window.onDidChangeActiveTextEditor(() => this.update()),
      vscode.workspace.onDidChangeTextDocument((e) => e.document === vscode.window.activeTextEditor?.document && this.updateIfHeaderChanged(e)),
      vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration(CONFIG_SECTION) && this.update()),
    );
    this.update();
  }

  setCalibrating(running: boolean): void {
    this.calibrating = running;
    this.update();
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }

  private updateIfHeaderChanged(e: vscode.TextDocumentChangeEvent): void {
    if (e.contentChanges.some((c) => c.range.start.line < 50)) this.update();
  }

  update(): void {
    const doc = vscode.window.activeTextEditor?.document;
    const state = this.server.state;
    if (doc?.languageId !== LANGUAGE_ID && state !== 'failed') {
      this.item.hide();
      return;
    }
    const data = doc ? this.sampleData(doc) : null;
    const missing = data !== null && path.isAbsolute(data.path) && !fs.existsSync(data.path);
    const dataText = data ? `${path.basename(data.path)}${missing ? ' (missing)' : ''}` : 'no sample data';
    this.item.text = this.calibrating ? `$(loading~spin) kvcal: calibrating…` : `${ICONS[state]} kvcal: ${dataText}`;
    this.item.backgroundColor = state === 'failed' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;

    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.appendMarkdown(`**kvcal language server**: ${state}${this.server.lastError ? ` (${this.server.lastError})` : ''}\n\n`);
    if (this.server.command) tooltip.appendMarkdown(`command: \`${formatCommand(this.server.command)}\`\n\n`);
    tooltip.appendMarkdown(
      data
        ? `sample data: \`${data.path}\`${missing ? ' **(file not found)**' : ''} (from the ${data.from === 'header' ? '`# kvcal: data=` header' : 'setting kvcal.sampleData'})\n\n`
        : 'sample data: none (add `# kvcal: data=PATH.safetensors` or set kvcal.sampleData)\n\n',
    );
    tooltip.appendMarkdown('Click to show the log.');
    this.item.tooltip = tooltip;
    this.item.show();
  }

  private sampleData(doc: vscode.TextDocument): ReturnType<typeof sampleDataInUse> {
    const folder = vscode.workspace.getWorkspaceFolder(doc.uri);
    const settings = serverSettings(vscode.workspace.getConfiguration(CONFIG_SECTION, doc.uri), {
      workspaceFolder: folder?.uri.fsPath,
      userHome: os.homedir(),
    });
    const header = doc.getText(new vscode.Range(0, 0, Math.min(doc.lineCount, 50), 0));
    return sampleDataInUse(header, settings, doc.uri.scheme === 'file' ? path.dirname(doc.uri.fsPath) : undefined);
  }
}
