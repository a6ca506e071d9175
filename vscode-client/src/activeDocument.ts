// What the server says about the active document (`kvcal.documentInfo`): asked again when the
// active editor changes, the document is saved, its diagnostics change (the server analysed
// it again), the settings change and the server (re)starts. The status bar shows it, and
// the context key `kvcal.schemaFamily` (the AMCT family, '' otherwise) enables Calibrate.
import * as vscode from 'vscode';
import { ExecuteCommandRequest } from 'vscode-languageclient/node';
import { DOCUMENT_INFO_COMMAND, parseDocumentInfo, type DocumentInfo } from './documentInfo';
import { isServedLanguage } from './languages';
import type { KvcalServer } from './server';
import { CONFIG_SECTION } from './settings';
import { ShapeError } from './shape';

export interface ActiveDocument {
  /** The active editor's document when the extension serves its language, else undefined. */
  readonly document: vscode.TextDocument | undefined;
  /** The server's answer for it; undefined while unknown (server not running, not asked yet). */
  readonly info: DocumentInfo | null | undefined;
}

/** How long a burst of triggers (typing: one diagnostics change per analysis) is merged. */
const DEBOUNCE_MS = 60;

export class ActiveDocumentInfo implements vscode.Disposable {
  private current: ActiveDocument = { document: undefined, info: undefined };
  private asked = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly emitter = new vscode.EventEmitter<ActiveDocument>();
  private readonly disposables: vscode.Disposable[] = [];
  readonly onDidChange = this.emitter.event;

  constructor(
    private readonly server: KvcalServer,
    private readonly log: vscode.LogOutputChannel,
  ) {
    const isActive = (uri: vscode.Uri): boolean => uri.toString() === this.current.document?.uri.toString();
    this.disposables.push(
      this.emitter,
      vscode.window.onDidChangeActiveTextEditor(() => this.refresh()),
      vscode.workspace.onDidSaveTextDocument((doc) => isActive(doc.uri) && this.refresh()),
      // A language the extension sets reopens the document: it may be served now.
      vscode.workspace.onDidOpenTextDocument((doc) => doc === vscode.window.activeTextEditor?.document && this.refresh()),
      vscode.languages.onDidChangeDiagnostics((e) => e.uris.some(isActive) && this.refresh()),
      vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration(CONFIG_SECTION) && this.refresh()),
      server.onDidChangeState(() => this.refresh(true)),
    );
    this.refresh(true);
  }

  get value(): ActiveDocument {
    return this.current;
  }

  /** Asks the server again (after a short pause, to merge bursts); `forget` drops what is shown meanwhile. */
  refresh(forget = false): void {
    const editor = vscode.window.activeTextEditor;
    const document = editor && isServedLanguage(editor.document.languageId) ? editor.document : undefined;
    if (forget || document?.uri.toString() !== this.current.document?.uri.toString()) this.set({ document, info: undefined });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.ask(), DEBOUNCE_MS);
  }

  dispose(): void {
    clearTimeout(this.timer);
    void vscode.commands.executeCommand('setContext', 'kvcal.schemaFamily', '');
    this.disposables.forEach((d) => d.dispose());
  }

  private async ask(): Promise<void> {
    const document = this.current.document;
    const client = this.server.runningClient;
    const ticket = ++this.asked;
    if (!document || !client) return;
    let info: DocumentInfo | null | undefined;
    try {
      const raw = await client.sendRequest(ExecuteCommandRequest.type, { command: DOCUMENT_INFO_COMMAND, arguments: [document.uri.toString()] });
      info = parseDocumentInfo(raw);
    } catch (error) {
      // A server that does not know the command (an older kvcal) or answers otherwise: say it once per answer.
      this.log.warn(`${DOCUMENT_INFO_COMMAND} for ${document.uri.toString()}: ${error instanceof ShapeError ? 'unexpected answer: ' : ''}${error instanceof Error ? error.message : String(error)}`);
      info = undefined;
    }
    if (ticket !== this.asked || document.uri.toString() !== this.current.document?.uri.toString()) return; // overtaken
    this.set({ document, info });
  }

  private set(value: ActiveDocument): void {
    this.current = value;
    void vscode.commands.executeCommand('setContext', 'kvcal.schemaFamily', value.info?.family ?? '');
    this.emitter.fire(value);
  }
}
