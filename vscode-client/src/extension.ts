// Entry point: wires the server, the commands, the status bar and the settings together.
// The server starts when the first AMCT config or text-format file is opened, not before.
import * as vscode from 'vscode';
import { ActiveDocumentInfo } from './activeDocument';
import { CALIBRATE_COMMAND, Calibrator } from './calibrate';
import { AMCT_LANGUAGE, RECOGNISER_HEAD_CHARS, isServedLanguage, recogniseLanguage } from './languages';
import { onInterpreterChange } from './python';
import { selectSchema } from './selectSchema';
import { KvcalServer } from './server';
import { CONFIG_SECTION, extraFilePatterns } from './settings';
import { SELECT_SCHEMA_COMMAND, StatusBar } from './statusBar';

let server: KvcalServer | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('kvcal', { log: true });
  const showOutput = (): void => log.show(true);
  server = new KvcalServer(log, showOutput, context.extensionPath);
  const kvcal = server;
  const calibrator = new Calibrator(kvcal, log, showOutput);
  const active = new ActiveDocumentInfo(kvcal, log);
  const statusBar = new StatusBar(kvcal, active);
  let interpreterListener: vscode.Disposable | undefined;
  /** The document whose close event is being handled: a close and an open in one go is a language change. */
  let closing: { uri: string; languageId: string } | undefined;

  context.subscriptions.push(
    log,
    kvcal,
    calibrator,
    active,
    statusBar,
    { dispose: () => interpreterListener?.dispose() },
    calibrator.onDidChangeRunning((running) => statusBar.setCalibrating(running)),
    vscode.commands.registerCommand(CALIBRATE_COMMAND, (arg?: unknown, options?: unknown) => calibrator.run(arg, options)),
    vscode.commands.registerCommand(SELECT_SCHEMA_COMMAND, (arg?: unknown) => selectSchema(kvcal, active, showOutput, arg)),
    vscode.commands.registerCommand('kvcal.restartServer', () => kvcal.restart()),
    vscode.commands.registerCommand('kvcal.showOutput', showOutput),
    vscode.workspace.onDidOpenTextDocument(onDocument),
    vscode.workspace.onDidCloseTextDocument((doc) => {
      // VS Code changes a document's language by closing and reopening it synchronously.
      closing = { uri: doc.uri.toString(), languageId: doc.languageId };
      queueMicrotask(() => (closing = undefined));
    }),
    // Refused in an untrusted workspace (a server command inside it): start once it is trusted.
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      if (kvcal.state === 'failed') void kvcal.restart();
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('kvcal.server.command') && kvcal.state !== 'stopped') {
        log.info('kvcal.server.command changed: restarting the server');
        void kvcal.restart();
      }
      if (e.affectsConfiguration('kvcal.files.patterns')) vscode.workspace.textDocuments.forEach(onDocument);
    }),
    // With the default command, the Python extension's interpreter choice is the server's interpreter.
    kvcal.onDidChangeState(async (state) => {
      if (state !== 'running' || interpreterListener || kvcal.command?.source !== 'python') return;
      interpreterListener = await onInterpreterChange(() => {
        if (kvcal.command?.source !== 'python') return;
        log.info('the selected Python interpreter changed: restarting the server');
        void kvcal.restart();
      });
    }),
  );
  vscode.workspace.textDocuments.forEach(onDocument);

  /**
   * Gives AMCT configs that VS Code opened as something else their language (kvcal.files.patterns;
   * a `.cfg` whose first lines are a schema header or AMCT fields), and starts the server for the
   * first served document.
   */
  function onDocument(doc: vscode.TextDocument): void {
    if (isServedLanguage(doc.languageId)) {
      if (kvcal.state === 'stopped') void kvcal.start();
      return;
    }
    const reopened = closing?.uri === doc.uri.toString() ? closing : undefined;
    if (reopened && isServedLanguage(reopened.languageId)) return; // the user (or another extension) chose another language: keep it
    const language = claimedLanguage(doc);
    if (language) {
      log.info(`${vscode.workspace.asRelativePath(doc.uri)}: opened as ${doc.languageId}, served as ${language}`);
      void vscode.languages.setTextDocumentLanguage(doc, language); // reopens it as ours
    }
  }
}

function claimedLanguage(doc: vscode.TextDocument): string | undefined {
  if (doc.uri.scheme !== 'file' && doc.uri.scheme !== 'untitled') return undefined;
  const patterns = extraFilePatterns(vscode.workspace.getConfiguration(CONFIG_SECTION).get('files.patterns'));
  if (patterns.some((pattern) => vscode.languages.match({ pattern }, doc) > 0)) return AMCT_LANGUAGE;
  const head = doc.getText(new vscode.Range(0, 0, Math.min(doc.lineCount, 200), 0)).slice(0, RECOGNISER_HEAD_CHARS);
  return recogniseLanguage(doc.fileName, doc.languageId, head);
}

export async function deactivate(): Promise<void> {
  await server?.stop();
}
