// Two status bar items for the active document, both from what the server says about it
// (kvcal.documentInfo, see activeDocument.ts):
//   - the schema: `$(symbol-structure) AMCTConfig`; click: kvcal: Select Schema…
//   - the server state and, for KV-cache configs, the sample data: `$(check) kvcal: kv.safetensors`;
//     click: the log.
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { ActiveDocumentInfo } from './activeDocument';
import { sampleDataStatus, schemaStatus } from './documentInfo';
import type { KvcalServer, ServerState } from './server';
import { formatCommand } from './serverCommand';

const ICONS: Record<ServerState, string> = {
  stopped: '$(circle-slash)',
  starting: '$(loading~spin)',
  running: '$(check)',
  failed: '$(error)',
};

export const SELECT_SCHEMA_COMMAND = 'kvcal.selectSchema';

export class StatusBar implements vscode.Disposable {
  private readonly serverItem = vscode.window.createStatusBarItem('kvcal.status', vscode.StatusBarAlignment.Right, 100);
  private readonly schemaItem = vscode.window.createStatusBarItem('kvcal.schema', vscode.StatusBarAlignment.Right, 101);
  private calibrating = false;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly server: KvcalServer,
    private readonly active: ActiveDocumentInfo,
  ) {
    this.serverItem.name = 'kvcal';
    this.serverItem.command = 'kvcal.showOutput';
    this.schemaItem.name = 'kvcal schema';
    this.schemaItem.command = SELECT_SCHEMA_COMMAND;
    this.disposables.push(
      this.serverItem,
      this.schemaItem,
      server.onDidChangeState(() => this.update()),
      active.onDidChange(() => this.update()),
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

  update(): void {
    const { document, info } = this.active.value;
    const state = this.server.state;

    if (document && info) {
      const schema = schemaStatus(info);
      this.schemaItem.text = schema.text;
      this.schemaItem.tooltip = markdown(schema.tooltip);
      this.schemaItem.show();
    } else {
      this.schemaItem.hide();
    }

    if (!document && state !== 'failed') {
      this.serverItem.hide();
      return;
    }
    const data = info ? sampleDataStatus(info, fs.existsSync) : null;
    this.serverItem.text = this.calibrating ? '$(loading~spin) kvcal: calibrating…' : `${ICONS[state]} kvcal${data ? `: ${data.text}` : ''}`;
    this.serverItem.backgroundColor = state === 'failed' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    const tooltip = [`**kvcal language server**: ${state}${this.server.lastError ? ` (${this.server.lastError})` : ''}`];
    if (this.server.command) tooltip.push(`command: \`${formatCommand(this.server.command)}\``);
    if (data) tooltip.push(data.tooltip);
    tooltip.push('Click to show the log.');
    this.serverItem.tooltip = markdown(tooltip.join('\n\n'));
    this.serverItem.show();
  }
}

function markdown(text: string): vscode.MarkdownString {
  const md = new vscode.MarkdownString(text, true);
  md.isTrusted = false;
  return md;
}
