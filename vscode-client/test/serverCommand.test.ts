import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  expandVariables,
  failureReason,
  formatCommand,
  installCommand,
  resolveServerCommand,
  splitCommandLine,
  startFailureMessage,
} from '../src/serverCommand';

const vars = { workspaceFolder: '/ws', userHome: '/home/u' };

describe('resolveServerCommand', () => {
  test('the setting wins, with variables expanded', () => {
    const cmd = resolveServerCommand({
      setting: ['${workspaceFolder}/.venv/bin/python', '-m', 'kvcal.server', 'lsp'],
      pythonInterpreter: '/other/python',
      platform: 'linux',
      variables: vars,
    });
    assert.deepEqual(cmd, { command: '/ws/.venv/bin/python', args: ['-m', 'kvcal.server', 'lsp'], source: 'setting', python: '/ws/.venv/bin/python' });
  });

  test('a kvcal executable in the setting has no interpreter', () => {
    const cmd = resolveServerCommand({ setting: ['~/bin/kvcal', 'lsp'], platform: 'linux', variables: vars });
    assert.equal(cmd.command, '/home/u/bin/kvcal');
    assert.equal(cmd.python, undefined);
    assert.equal(installCommand(cmd), 'pip install kvcal');
  });

  test('a string setting is split like a shell would', () => {
    const cmd = resolveServerCommand({ setting: '"/opt/my env/bin/python3.11" -m kvcal.server lsp', platform: 'linux', variables: vars });
    assert.equal(cmd.command, '/opt/my env/bin/python3.11');
    assert.deepEqual(cmd.args, ['-m', 'kvcal.server', 'lsp']);
    assert.equal(cmd.python, '/opt/my env/bin/python3.11');
  });

  test('empty setting: the Python extension interpreter runs the server module', () => {
    const cmd = resolveServerCommand({ setting: [], pythonInterpreter: '/venv/bin/python', platform: 'linux', variables: vars });
    assert.deepEqual(cmd, { command: '/venv/bin/python', args: ['-m', 'kvcal.server', 'lsp'], source: 'python', python: '/venv/bin/python' });
  });

  test('no setting, no Python extension: python3 (python on Windows)', () => {
    assert.equal(resolveServerCommand({ setting: undefined, platform: 'linux', variables: vars }).command, 'python3');
    assert.equal(resolveServerCommand({ setting: [''], platform: 'win32', variables: vars }).command, 'python');
    assert.equal(resolveServerCommand({ setting: 42, platform: 'darwin', variables: vars }).source, 'default');
  });
});

describe('command lines', () => {
  test('splitCommandLine handles quotes and escapes', () => {
    assert.deepEqual(splitCommandLine(`a  'b c' "d \\"e\\"" f\\ g ''`), ['a', 'b c', 'd "e"', 'f g', '']);
    assert.deepEqual(splitCommandLine('   '), []);
  });

  test('expandVariables', () => {
    assert.equal(expandVariables('${userHome}/x:${workspaceFolder}', vars), '/home/u/x:/ws');
    assert.equal(expandVariables('${workspaceFolder}/x', { userHome: '/h' }), '${workspaceFolder}/x');
    assert.equal(expandVariables('${env:KVCAL_T}/y', vars, { KVCAL_T: '/t' }), '/t/y');
    assert.equal(expandVariables('a~/b', vars), 'a~/b');
  });

  test('formatCommand quotes only what needs it', () => {
    assert.equal(formatCommand({ command: '/a b/python', args: ['-m', 'kvcal.server', "it's"] }), `'/a b/python' -m kvcal.server 'it'\\''s'`);
  });
});

describe('start failures', () => {
  const cmd = resolveServerCommand({ setting: [], pythonInterpreter: '/venv/bin/python', platform: 'linux', variables: vars });

  test('a missing program reads "command not found"', () => {
    assert.equal(failureReason(Object.assign(new Error('spawn x ENOENT'), { code: 'ENOENT' }), ''), 'command not found');
  });

  test('otherwise the last stderr line says why', () => {
    assert.equal(failureReason(new Error('Connection closed'), 'Traceback...\n/venv/bin/python: No module named kvcal\n\n'), '/venv/bin/python: No module named kvcal');
    assert.equal(failureReason(new Error('Connection closed'), ''), 'Connection closed');
    assert.equal(failureReason(undefined, ''), 'the server exited');
  });

  test('the message names the command and the install command', () => {
    const message = startFailureMessage(cmd, 'No module named kvcal');
    assert.match(message, /could not start \(\/venv\/bin\/python -m kvcal.server lsp\): No module named kvcal/);
    assert.match(message, /`\/venv\/bin\/python -m pip install kvcal`/);
    assert.match(message, /make setup/);
    const fromSetting = startFailureMessage(resolveServerCommand({ setting: ['kvcal', 'lsp'], platform: 'linux', variables: vars }), 'command not found');
    assert.match(fromSetting, /Check the setting kvcal.server.command/);
  });
});
