// `kvcal: Select Schema…`: a quick pick of the schemas the server offers for a document
// (kvcal.schemaChoices: the bundled AMCT configs, then the workspace's .proto messages);
// the chosen one's edit writes the `# proto-file:`/`# proto-message:` header.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ExecuteCommandRequest, type WorkspaceEdit } from 'vscode-languageclient/node';
import type { ActiveDocumentInfo } from './activeDocument';
import { SCHEMA_CHOICES_COMMAND, parseSchemaChoices, type SchemaChoice } from './documentInfo';
import { isServedLanguage } from './languages';
import type { KvcalServer } from './server';

interface ChoiceItem extends vscode.QuickPickItem {
  readonly choice?: SchemaChoice;
}

export async function selectSchema(server: KvcalServer, active: ActiveDocumentInfo, showOutput: () => void, arg?: unknown): Promise<boolean> {
  const document = targetDocument(arg);
  if (!document) {
    void vscode.window.showWarningMessage('kvcal: open an AMCT config or a text-format file (.txtpb, .textproto, .pbtxt) to select its schema.');
    return false;
  }
  const client = await server.ready();
  if (!client) {
    void vscode.window.showErrorMessage('kvcal: the language server is not running, so it cannot offer schemas.', 'Show output').then((c) => c && showOutput());
    return false;
  }
  const name = path.basename(document.uri.fsPath || document.uri.path);
  let choices: SchemaChoice[] | null;
  try {
    choices = parseSchemaChoices(
      await client.sendRequest(ExecuteCommandRequest.type, { command: SCHEMA_CHOICES_COMMAND, arguments: [document.uri.toString()] }),
    );
  } catch (error) {
    void vscode.window.showErrorMessage(`kvcal: cannot list the schemas for ${name}: ${error instanceof Error ? error.message : String(error)}`);
    return false;
  }
  if (!choices || choices.length === 0) {
    void vscode.window.showWarningMessage(`kvcal: the server offers no schema for ${name}.`);
    return false;
  }

  const items: ChoiceItem[] = [];
  for (const [kind, title] of [['bundled', 'bundled with kvcal'], ['proto', "this workspace's .proto files"]] as const) {
    const group = choices.filter((c) => c.kind === kind);
    if (group.length === 0) continue;
    items.push({ label: title, kind: vscode.QuickPickItemKind.Separator });
    items.push(...group.map((choice) => ({ label: choice.label, description: choice.description, choice })));
  }
  const info = active.value.document?.uri.toString() === document.uri.toString() ? active.value.info : undefined;
  const picked = await vscode.window.showQuickPick(items, {
    title: `kvcal: Select Schema of ${name}`,
    placeHolder: `${info ? `Now: ${info.label}. ` : ''}The choice writes the file's # proto-file: / # proto-message: header.`,
    matchOnDescription: true,
  });
  if (!picked?.choice) return false;
  const edit = await client.protocol2CodeConverter.asWorkspaceEdit(picked.choice.edit as unknown as WorkspaceEdit);
  const applied = await vscode.workspace.applyEdit(edit);
  if (!applied) void vscode.window.showErrorMessage(`kvcal: could not write the header of ${picked.choice.label} into ${name}.`);
  return applied;
}

/** The document to choose for: the argument (a URI), else the active editor's when kvcal serves it. */
function targetDocument(arg: unknown): vscode.TextDocument | undefined {
  const uri = arg instanceof vscode.Uri ? arg : typeof arg === 'string' && arg !== '' ? vscode.Uri.parse(arg) : undefined;
  if (uri) return vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  const doc = vscode.window.activeTextEditor?.document;
  return doc && isServedLanguage(doc.languageId) ? doc : undefined;
}
