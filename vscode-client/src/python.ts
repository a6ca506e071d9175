// The interpreter selected in the Python extension (ms-python.python), through its public
// `environments` API. Absent extension or API: undefined, and the caller falls back to python3.
import * as vscode from 'vscode';

const PYTHON_EXTENSION = 'ms-python.python';

/** The slice of the Python extension's API used here (see its `api.d.ts`, PythonExtension). */
interface PythonApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { id: string; path: string };
    resolveEnvironment(env: { id: string; path: string } | string): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
    onDidChangeActiveEnvironmentPath: vscode.Event<unknown>;
  };
}

async function pythonApi(log?: vscode.LogOutputChannel): Promise<PythonApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonApi>(PYTHON_EXTENSION);
  if (!extension) return undefined;
  try {
    return extension.isActive ? extension.exports : await extension.activate();
  } catch (error) {
    log?.warn(`the Python extension did not activate: ${String(error)}`);
    return undefined;
  }
}

export async function activeInterpreter(resource: vscode.Uri | undefined, log?: vscode.LogOutputChannel): Promise<string | undefined> {
  const environments = (await pythonApi(log))?.environments;
  if (!environments) return undefined;
  try {
    const active = environments.getActiveEnvironmentPath(resource);
    const resolved = await environments.resolveEnvironment(active);
    return resolved?.executable.uri?.fsPath ?? active.path;
  } catch (error) {
    log?.warn(`asking the Python extension for the interpreter failed: ${String(error)}`);
    return undefined;
  }
}

/** Calls `listener` when the user selects another interpreter (no-op without the Python extension). */
export async function onInterpreterChange(listener: () => void): Promise<vscode.Disposable | undefined> {
  return (await pythonApi())?.environments?.onDidChangeActiveEnvironmentPath(listener);
}
