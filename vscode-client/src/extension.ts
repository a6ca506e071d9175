// Entry point: wires the server, the commands, the status bar and the settings together.
// The server starts when the first AMCT quant config is opened, not before.
import * as vscode from 'vscode';
import { CALIBRATE_COMMAND, Calibrator } from './calibrate';
import { onInterpreterChange } from './python';
import { KvcalServer } from './server';
import { CONFIG_SECTION, LANGUAGE_ID, extraFilePatterns } from './settings';
import { StatusBar } from './statusBar';

let server: KvcalServer | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('kvcal', { log: true });
  const showOutput = (): void => log.show(true);
  server = new KvcalServer(log, showOutput, context.extensionPath);
  const kvcal = server;
  const calibrator = new Calibrator(kvcal, log, showOutput);
  const statusBar = new StatusBar(kvcal);
  let interpreterListener: vscode.Disposable | undefined;

  context.subscriptions.push(
    log,
    kvcal,
    calibrator,
    statusBar,
    { dispose: () => interpreterListener?.dispose() },
    calibrator.onDidChangeRunning((running) => statusBar.setCalibrating(running)),
    vscode.commands.registerCommand(CALIBRATE_COMMAND, (arg?: unknown, options?: unknown) => calibrator.run(arg, options)),
    vscode.commands.registerCommand('kvcal.restartServer', () => kvcal.restart()),
    vscode.commands.registerCommand('kvcal.showOutput', showOutput),
    vscode.workspace.onDidOpenTextDocument(onDocument),
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

  /** Claims documents matching kvcal.files.patterns and starts the server for the first config. */
  function onDocument(doc: vscode.TextDocument): void {
    if (doc.languageId !== LANGUAGE_ID) {
      const patterns = extraFilePatterns(vscode.workspace.getConfiguration(CONFIG_SECTION).get('files.patterns'));
      if (patterns.some((pattern) => vscode.languages.match({ pattern }, doc) > 0)) {
        void vscode.languages.setTextDocumentLanguage(doc, LANGUAGE_ID); // reopens it as ours
      }
      return;
    }
    if (kvcal.state === 'stopped') void kvcal.start();
  }
}

export async function deactivate(): Promise<void> {
  await server?.stop();
}
