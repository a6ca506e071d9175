// The editor never runs the workspace's code: how the server is spawned, when it is refused,
// and what package.json declares for untrusted workspaces.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { SERVER_MODULE_ARGS, serverSpawnOptions, untrustedRefusal } from '../src/serverCommand';

const root = path.join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

describe('serverSpawnOptions', () => {
  test('the working directory is the extension, never the workspace, and Python keeps it off sys.path', () => {
    const options = serverSpawnOptions('/ext/kvcal', { PATH: '/usr/bin', PYTHONPATH: '/user/lib' });
    assert.equal(options.cwd, '/ext/kvcal');
    assert.equal(options.env.PYTHONSAFEPATH, '1');
    assert.equal(options.env.PYTHONUNBUFFERED, '1');
    assert.equal(options.env.PATH, '/usr/bin');
    assert.equal(options.env.PYTHONPATH, '/user/lib'); // the user's own environment is kept
  });
});

describe('untrustedRefusal', () => {
  const folders = ['/ws/project', '/ws/other/'];
  test('a program inside a workspace folder is refused while the workspace is untrusted', () => {
    for (const command of ['/ws/project/.venv/bin/python', '/ws/project/kvcal', '/ws/other/bin/kvcal', '/ws/project/../project/x']) {
      assert.match(untrustedRefusal({ command, args: [] }, folders, false) ?? '', /not trusted/, command);
      assert.equal(untrustedRefusal({ command, args: [] }, folders, true), undefined, command);
    }
  });

  test('programs outside the workspace are not', () => {
    for (const command of ['python3', '/usr/bin/python3', '/ws/project-2/bin/python', '/home/u/.venv/bin/kvcal', '/ws']) {
      assert.equal(untrustedRefusal({ command, args: [] }, folders, false), undefined, command);
    }
  });
});

describe('package.json', () => {
  const properties = pkg.contributes.configuration.properties;

  test('untrusted workspaces: limited support, the settings that choose what runs are restricted', () => {
    const untrusted = pkg.capabilities.untrustedWorkspaces;
    assert.equal(untrusted.supported, 'limited');
    assert.ok(untrusted.description.length > 40);
    for (const key of ['kvcal.server.command', 'kvcal.sampleData', 'kvcal.recordFile']) {
      assert.ok(untrusted.restrictedConfigurations.includes(key), key);
      assert.ok(properties[key], key);
    }
  });

  test('the server command is a machine setting: no workspace can choose the program', () => {
    assert.equal(properties['kvcal.server.command'].scope, 'machine');
  });
});

// A workspace whose cattrs.py and pygls.py would run inside the server, had the server the
// workspace on its import path: each writes a marker file and exits.
function trap(): { workspace: string; marker: string } {
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'kvcal-ws-'));
  const marker = path.join(workspace, 'RAN-WORKSPACE-CODE');
  for (const module of ['cattrs.py', 'pygls.py', 'lsprotocol.py']) {
    writeFileSync(path.join(workspace, module), `open(${JSON.stringify(marker)}, "a").write("${module}\\n")\nraise SystemExit(3)\n`);
  }
  return { workspace, marker };
}

const python = process.env.KVCAL_TEST_PYTHON ?? path.join(root, '..', '.venv', 'bin', 'python');

describe('the server process', { skip: existsSync(python) ? false : `no ${python}: set KVCAL_TEST_PYTHON to a Python with kvcal` }, () => {
  test('never imports a module of the workspace', () => {
    const { workspace, marker } = trap();
    try {
      const options = serverSpawnOptions(root, process.env);
      const run = spawnSync(python, [...SERVER_MODULE_ARGS, '--stdio'], { ...options, input: '', timeout: 60_000 });
      assert.equal(existsSync(marker), false, 'the workspace code ran');
      assert.equal(run.status, 0, run.stderr.toString());
    } finally {
      rmSync(workspace, { recursive: true, force: true });
    }
  });

  test('(the trap works: started from the workspace as before, its code runs)', () => {
    const { workspace, marker } = trap();
    try {
      const env: NodeJS.ProcessEnv = { ...process.env };
      delete env.PYTHONSAFEPATH;
      spawnSync(python, [...SERVER_MODULE_ARGS, '--stdio'], { cwd: workspace, env, input: '', timeout: 60_000 });
      assert.equal(existsSync(marker), true);
    } finally {
      rmSync(workspace, { recursive: true, force: true });
    }
  });
});
