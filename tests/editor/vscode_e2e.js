#!/usr/bin/env node
// End-to-end test of the VS Code extension in a real VS Code (code-server 4.100.3) driven
// through a real browser (Debian's Chromium, playwright-core), against the real kvcal
// language server from this checkout's .venv. Nothing is mocked.
//
//   node tests/editor/vscode_e2e.js [--checks a,b,c,d,s,p] [--server-command JSON-ARRAY]
//        [--vsix FILE] [--out DIR] [--timeout-ms N] [--keep]
//
// Builds the .vsix (unless --vsix), installs it into a throwaway user-data/extensions dir,
// starts code-server on 127.0.0.1:<free port> with a temp copy of examples/, and checks in the UI:
//   (a) a mistake typed into quant.cfg shows in the Problems panel with its kvcal code,
//       and goes away on undo;
//   (b) hovering a field name shows its documentation from the .proto;
//   (c) completion inside an ifmr_quantize block offers that message's fields (and not HFMG's);
//   (d) kvcal: Calibrate shows the per-layer results (one table row per layer) and histograms;
//   (s) a .txtpb whose header names a .proto of the workspace: the Problems panel shows the
//       error against that schema (and none an AMCT schema would give), the status bar shows
//       the schema, hover shows the .proto's doc comment;
//   (p) a post-training .cfg without a header, which VS Code opens as Properties, is served as an
//       AMCT config (its schema in the status bar); kvcal: Select Schema… writes its header;
//       an INI setup.cfg is left alone;
//   (r) only when asked (after a broken --server-command): setting kvcal.server.command to this
//       checkout's server restarts it, and hover works.
// Screenshots and the extension's log go to --out (default build/editor-test/).
// Exit status: 0 all checks passed, 1 a check failed, 3 the tools are not set up.
'use strict';
const cp = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { tools: findTools } = require('./tools');

const REPO = path.resolve(__dirname, '..', '..');
const CHROMIUM = process.env.KVCAL_CHROMIUM || '/usr/bin/chromium';
const PROTO = path.join(REPO, 'grammar', 'schema', 'proto', 'quant_calibration_config_pytorch.proto');
/** The language server of this checkout: the .venv `make setup` creates. */
const REPO_SERVER = [path.join(REPO, '.venv', 'bin', 'python'), '-m', 'kvcal.server', 'lsp'];
const LAYERS = [
  'model.layers.0.self_attn.k_proj',
  'model.layers.0.self_attn.v_proj',
  'model.layers.1.self_attn.k_proj',
  'model.layers.1.self_attn.v_proj',
];

/** The user schema of check (s): a .proto of the workspace with doc comments. */
const JOB_PROTO = `syntax = "proto3";

package acme.v3;

// A batch job the scheduler runs every night.
message Job {
  // The job's name, unique per team.
  string name = 1;
  // How many workers run the job at once.
  uint32 parallelism = 2;
  // Where the results go.
  Output output = 3;
}

// Where a job writes.
message Output {
  // A folder or bucket URL.
  string path = 1;
}
`;
/** A document of that schema with one mistake (\`outptu\`); every other line is wrong for any AMCT schema. */
const JOB_TXTPB = `# proto-file: ../protos/acme/job.proto
# proto-message: acme.v3.Job
name: "nightly"
parallelism: 4
outptu { path: "/data/out" }
`;
const SETUP_CFG = '[metadata]\nname = kvcal-example\n\n[options]\npackages = find:\n';

function parseArgs(argv) {
  const opts = {
    checks: ['a', 'b', 'c', 'd', 's', 'p'],
    serverCommand: REPO_SERVER,
    vsix: null,
    out: path.join(REPO, 'build', 'editor-test'),
    timeoutMs: 30000,
    keep: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--checks') opts.checks = value().split(',').map((c) => c.trim()).filter(Boolean);
    else if (a === '--server-command') opts.serverCommand = JSON.parse(value());
    else if (a === '--vsix') opts.vsix = path.resolve(value());
    else if (a === '--out') opts.out = path.resolve(value());
    else if (a === '--timeout-ms') opts.timeoutMs = Number(value());
    else if (a === '--keep') opts.keep = true;
    else usage(`unknown argument ${a}`);
  }
  if (!opts.checks.every((c) => 'abcdrsp'.includes(c) && c.length === 1)) usage('--checks takes letters from a,b,c,d,s,p,r');
  if (!Array.isArray(opts.serverCommand) || !opts.serverCommand.every((w) => typeof w === 'string')) usage('--server-command takes a JSON array of strings');
  return opts;
}

function usage(message) {
  process.stderr.write(`vscode_e2e: ${message}\nusage: node tests/editor/vscode_e2e.js [--checks a,b,c,d,s,p] [--server-command JSON] [--vsix FILE] [--out DIR] [--timeout-ms N] [--keep]\n`);
  process.exit(2);
}

const t0 = Date.now();
const say = (msg) => process.stderr.write(`[e2e ${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Thrown inside a waitFor condition: stop waiting, the condition can no longer become true. */
class Fatal extends Error {}

async function waitFor(what, fn, timeoutMs, intervalMs = 200) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (error) {
      if (error instanceof Fatal) throw error;
      last = error;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The first English line of the .proto doc comment of `field` (what hover must show). */
function protoDoc(field) {
  const lines = fs.readFileSync(PROTO, 'utf8').split('\n');
  const at = lines.findIndex((l) => new RegExp(`\\b${field}\\s*=\\s*\\d+`).test(l));
  let i = at - 1;
  while (i >= 0 && lines[i].trim().startsWith('//')) i--;
  const first = lines[i + 1].trim().replace(/^\/\/\s*/, '');
  return first.split(/\s+/).slice(0, 4).join(' ');
}

function buildVsix() {
  say('building the .vsix (npm run package in vscode-client)');
  const r = cp.spawnSync('npm', ['run', 'package'], { cwd: path.join(REPO, 'vscode-client'), stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run package failed:\n${r.stdout}\n${r.stderr}`);
  return path.join(REPO, 'build', 'vscode', 'kvcal.vsix');
}

function prepareDirs(opts) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kvcal-e2e-'));
  const dirs = {
    tmp,
    userData: path.join(tmp, 'user-data'),
    extensions: path.join(tmp, 'extensions'),
    xdgConfig: path.join(tmp, 'xdg-config'),
    xdgData: path.join(tmp, 'xdg-data'),
    workspace: path.join(tmp, 'examples'),
  };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  fs.cpSync(path.join(REPO, 'examples'), dirs.workspace, { recursive: true });
  // (s): a user schema and a document naming it; (p): a post-training config without a header
  // and a name VS Code gives to Properties, and an INI file kvcal must leave alone.
  fs.mkdirSync(path.join(dirs.workspace, 'protos', 'acme'), { recursive: true });
  fs.writeFileSync(path.join(dirs.workspace, 'protos', 'acme', 'job.proto'), JOB_PROTO);
  fs.mkdirSync(path.join(dirs.workspace, 'jobs'));
  fs.writeFileSync(path.join(dirs.workspace, 'jobs', 'nightly.txtpb'), JOB_TXTPB);
  fs.mkdirSync(path.join(dirs.workspace, 'ptq'));
  fs.copyFileSync(path.join(REPO, 'tests', 'data', 'amct', 'ptq', 'clean', 'resnet50_common_overrides_skip.cfg'), path.join(dirs.workspace, 'ptq', 'resnet50.cfg'));
  fs.writeFileSync(path.join(dirs.workspace, 'setup.cfg'), SETUP_CFG);
  // A hostile workspace: were the server started with it on Python's import path (`python -m`
  // with the workspace as working directory), these would run in the server and stop it.
  dirs.trapMarker = path.join(tmp, 'WORKSPACE-CODE-RAN');
  for (const module of ['cattrs.py', 'pygls.py']) {
    fs.writeFileSync(path.join(dirs.workspace, module), `open(${JSON.stringify(dirs.trapMarker)}, "a").write("${module}\\n")\nraise SystemExit(3)\n`);
  }
  fs.mkdirSync(path.join(dirs.userData, 'User'), { recursive: true });
  const settings = {
    'kvcal.server.command': opts.serverCommand,
    // Quiet, deterministic workbench: no welcome page, no trust prompt, no AI panel, no updates.
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    'chat.disableAIFeatures': true,
    'security.workspace.trust.enabled': false,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'extensions.ignoreRecommendations': true,
    // Completion rows can only come from the language server.
    'editor.wordBasedSuggestions': 'off',
    'editor.snippetSuggestions': 'none',
    'editor.quickSuggestions': { other: false, comments: false, strings: false },
    'editor.suggestOnTriggerCharacters': false,
    'editor.hover.delay': 200,
    'editor.minimap.enabled': false,
    'files.autoSave': 'off',
  };
  dirs.settingsFile = path.join(dirs.userData, 'User', 'settings.json');
  fs.writeFileSync(dirs.settingsFile, JSON.stringify(settings, null, 2));
  return dirs;
}

function codeServerEnv(dirs) {
  return { ...process.env, XDG_CONFIG_HOME: dirs.xdgConfig, XDG_DATA_HOME: dirs.xdgData };
}

function installExtension(tools, dirs, vsix) {
  say(`installing ${path.relative(REPO, vsix)} into a throwaway extensions dir`);
  const r = cp.spawnSync(tools.codeServer, ['--install-extension', vsix, '--extensions-dir', dirs.extensions, '--user-data-dir', dirs.userData], {
    env: codeServerEnv(dirs),
    encoding: 'utf8',
  });
  if (r.status !== 0 || !/was successfully installed/.test(r.stdout + r.stderr)) throw new Error(`installing the .vsix failed:\n${r.stdout}\n${r.stderr}`);
}

async function startCodeServer(tools, dirs, port) {
  const log = fs.openSync(path.join(dirs.tmp, 'code-server.log'), 'w');
  // detached: its own process group (setsid), so that stopping kills the file watcher and the
  // language server too, not only the main pid.
  const child = cp.spawn(
    tools.codeServer,
    [
      '--bind-addr', `127.0.0.1:${port}`,
      '--auth', 'none',
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--user-data-dir', dirs.userData,
      '--extensions-dir', dirs.extensions,
      dirs.workspace,
    ],
    { detached: true, stdio: ['ignore', log, log], env: codeServerEnv(dirs) },
  );
  fs.closeSync(log);
  const stop = () => {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return;
    }
    const end = Date.now() + 3000;
    while (Date.now() < end) {
      try {
        process.kill(-child.pid, 0);
      } catch {
        return;
      }
      cp.spawnSync('sleep', ['0.1']);
    }
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  let exited = null;
  child.once('exit', (code) => (exited = code));
  await waitFor('code-server /healthz', async () => {
    if (exited !== null) throw new Error(`code-server exited with ${exited}; see ${path.join(dirs.tmp, 'code-server.log')}`);
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    return res.ok;
  }, 60000);
  return stop;
}

/** The Problems panel rows, as text. */
async function problemRows(page) {
  return page.locator('.markers-panel .monaco-tl-row').allInnerTexts();
}

/** Every notification so far: toasts hide after a while, the notification center keeps them. */
async function notifications(page) {
  try {
    await page.keyboard.press('Escape');
    await runCommand(page, 'Notifications: Show Notifications');
    const items = page.locator('.notifications-center .notification-list-item');
    await items.first().waitFor({ timeout: 2000 }).catch(() => undefined);
    return await items.allInnerTexts();
  } catch {
    return [];
  }
}

/** Puts the keyboard focus into the active text editor (clicking the start of a text line). */
async function focusEditor(page) {
  const editor = page.locator('.editor-instance .monaco-editor').first();
  await waitFor('the editor to take the focus', async () => {
    await page.keyboard.press('Escape'); // closes hovers and suggestion lists that would take the click
    await page.mouse.move(0, 0);
    // A text line, not the top of the editor: code lenses (Calibrate!) sit above line 1.
    const box = await editor.locator('.view-line').first().boundingBox();
    if (!box) return false;
    await page.mouse.click(box.x + 2, box.y + box.height / 2);
    return /\bfocused\b/.test((await editor.getAttribute('class')) ?? '');
  }, 5000, 300);
}

/** The kvcal status bar item as "$(icon) text", or null when it is not shown. */
async function statusText(page) {
  const item = page.locator('.statusbar-item', { hasText: 'kvcal' }).first();
  if ((await item.count()) === 0) return null;
  return item.evaluate((el) => {
    const icon = [...el.querySelectorAll('.codicon')].map((i) => [...i.classList].find((c) => c.startsWith('codicon-') && c !== 'codicon-modifier-spin')).join(' ');
    return `$(${(icon || '').replace(/^codicon-/, '')}) ${el.innerText.trim()}`;
  });
}

/** The kvcal schema status bar item's text (the label after the icon), or null when it is not shown. */
async function schemaStatus(page) {
  const item = page.locator('.statusbar-item:has(.codicon-symbol-structure)').first();
  if ((await item.count()) === 0 || !(await item.isVisible())) return null;
  return (await item.innerText()).trim();
}

/** The language mode VS Code shows in the status bar for the active editor. */
async function languageMode(page) {
  return (await page.locator('#status\\.editor\\.mode').innerText()).trim();
}

/** The Problems panel as { file name: [marker rows] } (the tree lists each file, then its markers). */
async function problemsByFile(page) {
  return page.locator('.markers-panel .monaco-list-row').evaluateAll((rows) => {
    const groups = {};
    let file = null;
    for (const row of rows.sort((x, y) => Number(x.dataset.index) - Number(y.dataset.index))) {
      const text = row.innerText.replace(/\s+/g, ' ').trim();
      if (row.querySelector('.marker-icon')) {
        if (file) groups[file].push(text);
      } else {
        file = (row.querySelector('.label-name')?.textContent ?? text).trim();
        groups[file] = [];
      }
    }
    return groups;
  });
}

/** Hovers the first `word` of the active editor until the hover shows `expected`; returns its text. */
async function hoverWord(page, word, expected, timeoutMs) {
  const span = page.locator('.editor-instance .view-line span span', { hasText: new RegExp(`^${word}$`) }).first();
  await span.waitFor({ timeout: timeoutMs });
  return waitFor(`a hover on ${word} showing "${expected}"`, async () => {
    await page.mouse.move(0, 0);
    await span.hover();
    const hover = page.locator('.monaco-hover:not(.hidden) .monaco-hover-content');
    await hover.first().waitFor({ state: 'visible', timeout: 3000 });
    const t = (await hover.allInnerTexts()).join('\n');
    return t.replace(/\s+/g, ' ').includes(expected) ? t : null;
  }, timeoutMs, 500);
}

async function runCommand(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10000 });
  await input.fill(`>${title}`);
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first().waitFor({ timeout: 10000 });
  await page.keyboard.press('Enter');
}

async function openFile(page, name) {
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10000 });
  await input.fill(name);
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: name }).first().waitFor({ timeout: 10000 });
  await page.keyboard.press('Enter');
  await page.locator(`.tab.active[aria-label^="${name}"]`).waitFor({ timeout: 10000 });
  await focusEditor(page);
}

/** Selects the first match of `text` in the active editor (find widget, then Escape). */
async function selectText(page, text) {
  // Ctrl+F goes to whatever has the focus (the Problems panel's filter, say): give it to the
  // editor first, and try again if the editor's find widget did not open.
  const find = page.locator('.find-widget.visible textarea, .find-widget.visible input').first();
  for (let attempt = 0; ; attempt++) {
    await focusEditor(page);
    await page.keyboard.press('Control+F');
    try {
      await find.waitFor({ state: 'visible', timeout: 5000 });
      break;
    } catch (err) {
      if (attempt >= 2) throw err;
      await page.keyboard.press('Escape');
    }
  }
  await find.fill(text);
  await page.locator('.find-widget.visible .matchesCount', { hasText: /\b1 of \d+/ }).waitFor({ timeout: 5000 });
  await page.keyboard.press('Enter');
  await waitFor('the find widget to close, leaving the match selected', async () => {
    if ((await page.locator('.find-widget.visible').count()) === 0) return true;
    await page.keyboard.press('Escape');
    return false;
  }, 5000, 200);
}

/** Waits until the active editor shows the consecutive lines `texts` (indentation aside). */
async function editorLines(page, ...texts) {
  await waitFor(`the editor lines ${JSON.stringify(texts)}`, async () => {
    // Monaco reuses line nodes: DOM order is not line order, their position is.
    const lines = await page.locator('.editor-instance .view-line').evaluateAll((nodes) =>
      nodes
        .map((n) => [n.getBoundingClientRect().top, n.innerText.replace(/\u00a0/g, ' ').trim()])
        .sort((x, y) => x[0] - y[0])
        .map(([, text]) => text),
    );
    return lines.some((_, i) => texts.every((t, j) => lines[i + j] === t));
  }, 5000);
}

// --- the checks ---------------------------------------------------------------------------------

const CHECKS = {
  async b(page, opts) {
    // The sample data the server read from the config's `# kvcal: data=` header (kvcal.documentInfo).
    const status = await waitFor('the status bar to show the sample data the header names', async () => {
      const t = await statusText(page);
      return t === '$(check) kvcal: kv_samples.safetensors' ? t : null;
    }, opts.timeoutMs).catch(async (e) => {
      throw new Error(`${e.message}; it shows ${JSON.stringify(await statusText(page))}`);
    });
    const field = 'batch_num';
    const expected = protoDoc(field);
    const span = page.locator('.editor-instance .view-line span span', { hasText: new RegExp(`^${field}$`) }).first();
    await span.waitFor({ timeout: opts.timeoutMs });
    const text = await waitFor(`a hover on ${field} showing "${expected}"`, async () => {
      await page.mouse.move(0, 0);
      await span.hover();
      const hover = page.locator('.monaco-hover:not(.hidden) .monaco-hover-content');
      await hover.first().waitFor({ state: 'visible', timeout: 3000 });
      const t = (await hover.allInnerTexts()).join('\n');
      return t.replace(/\s+/g, ' ').includes(expected) ? t : null;
    }, opts.timeoutMs, 500);
    await page.waitForTimeout(400); // the hover fades in
    await opts.screenshot(opts.hoverShot ?? 'b-hover');
    return `status bar ${JSON.stringify(status)}; hover on ${field}: ${JSON.stringify(text.replace(/\s+/g, ' ').slice(0, 160))}`;
  },

  async a(page, opts) {
    await page.mouse.move(0, 0);
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+Shift+M');
    await page.locator('.markers-panel').waitFor({ timeout: 10000 });
    const before = await problemRows(page);
    if (before.some((t) => /num-of-bins/.test(t))) throw new Error(`num-of-bins is reported before the mistake is made:\n${before.join('\n')}`);
    // The mistake: 4096 bins -> 1000 (HFMG allows 1024, 2048, 4096, 8192 only).
    await focusEditor(page);
    await selectText(page, 'num_of_bins: 4096');
    await page.keyboard.type('num_of_bins: 1000');
    const rows = await waitFor('a Problems row with the code num-of-bins', async () => {
      const r = await problemRows(page);
      return r.some((t) => /num-of-bins/.test(t)) ? r : null;
    }, opts.timeoutMs);
    const row = rows.find((t) => /num-of-bins/.test(t)).replace(/\s+/g, ' ');
    await opts.screenshot('a-problems');
    // Put the value back: the diagnostic must go (no stale results), and the file is as it was for (c) and (d).
    await focusEditor(page);
    await selectText(page, 'num_of_bins: 1000');
    await page.keyboard.type('num_of_bins: 4096');
    await editorLines(page, 'num_of_bins: 4096');
    await waitFor('the num-of-bins problem to clear once the value is fixed', async () => {
      const r = await problemRows(page);
      return !r.some((t) => /num-of-bins|kvcal\(syntax\)/.test(t));
    }, opts.timeoutMs);
    await page.keyboard.press('Control+Shift+M'); // hide the panel again
    return `Problems: ${JSON.stringify(row)}; cleared once fixed`;
  },

  async c(page, opts) {
    // A new line in the override's ifmr_quantize block, after `search_step: 0.01`.
    await focusEditor(page);
    await selectText(page, 'search_step: 0.01');
    await page.keyboard.press('End');
    await page.keyboard.press('Enter');
    const want = ['search_range_start', 'max_percentile', 'min_percentile'];
    const labels = await waitFor(`completion offering ${want.join(', ')}`, async () => {
      await page.keyboard.press('Control+Space');
      const rows = page.locator('.suggest-widget.visible .monaco-list-row .label-name');
      await rows.first().waitFor({ timeout: 3000 });
      const l = (await rows.allInnerTexts()).map((t) => t.trim());
      return want.every((w) => l.includes(w)) ? l : null;
    }, opts.timeoutMs, 500);
    await opts.screenshot('c-completion');
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+Shift+K'); // delete the line we added
    await editorLines(page, 'search_step: 0.01', 'quant_granularity: per_channel');
    if (labels.includes('num_of_bins')) throw new Error(`completion in ifmr_quantize offers HFMG's num_of_bins: ${labels.join(', ')}`);
    return `completion rows: ${labels.join(', ')}`;
  },

  async d(page, opts) {
    await focusEditor(page);
    await page.keyboard.press('Control+B'); // hide the side bar: room for the result table
    await runCommand(page, 'kvcal: Calibrate');
    const frame = page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
    const rows = frame.locator('table.layers tbody tr');
    await waitFor('the calibration webview with one row per layer', async () => {
      // A refusal or failure shows as a notification: no need to wait out the timeout.
      const toasts = await page.locator('.notifications-toasts .notification-toast').allInnerTexts();
      const refused = toasts.find((t) => /calibration (not done|of .* failed)/.test(t));
      if (refused) throw new Fatal(`the calibration did not run: ${refused.replace(/\s+/g, ' ')}`);
      return (await rows.count()) >= LAYERS.length;
    }, opts.timeoutMs * 4, 500);
    const table = (await rows.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
    const missing = LAYERS.filter((l) => !table.some((r) => r.startsWith(l)));
    if (missing.length) throw new Error(`the result table lacks ${missing.join(', ')}:\n${table.join('\n')}`);
    const header = (await frame.locator('table.layers thead').innerText()).replace(/\s+/g, ' ').trim();
    const images = frame.locator('img');
    await waitFor('the histogram pictures to load', async () => {
      const n = await images.count();
      if (n === 0) return false;
      const widths = await images.evaluateAll((imgs) => imgs.map((i) => i.naturalWidth));
      return widths.every((w) => w > 0);
    }, opts.timeoutMs);
    const nImages = await images.count();
    await opts.screenshot('d-calibrate');
    return `result table [${header}]: ${table.length} rows, first: ${JSON.stringify(table[0])}; ${nImages} pictures loaded`;
  },
};

/** (s): a .txtpb checked against the workspace's own .proto, named by its header. */
CHECKS.s = async (page, opts) => {
  await openFile(page, 'nightly.txtpb');
  const mode = await languageMode(page);
  if (mode !== 'Protocol Buffer Text Format') throw new Error(`nightly.txtpb opened as ${JSON.stringify(mode)}, not as Protocol Buffer Text Format`);
  const label = await waitFor('the status bar to show the schema the header names', async () => {
    const t = await schemaStatus(page);
    return t === 'Job' || t === 'acme.v3.Job' ? t : null;
  }, opts.timeoutMs).catch(async (e) => {
    throw new Error(`${e.message}; the schema item shows ${JSON.stringify(await schemaStatus(page))}`);
  });
  // The tooltip: the message's full name, how it was found, and the .proto.
  const tooltip = await waitFor('the schema item tooltip', async () => {
    await page.mouse.move(0, 0);
    await page.locator('.statusbar-item:has(.codicon-symbol-structure)').first().hover();
    const hover = page.locator('.workbench-hover:visible, .monaco-hover:not(.hidden):visible').first();
    await hover.waitFor({ timeout: 3000 });
    const t = (await hover.innerText()).replace(/\s+/g, ' ');
    return /acme\.v3\.Job/.test(t) && /header/.test(t) && /protos\/acme\/job\.proto/.test(t) ? t : null;
  }, opts.timeoutMs, 500);
  await opts.screenshot('s-schema-tooltip');
  await page.mouse.move(0, 0);
  await page.keyboard.press('Control+Shift+M');
  await page.locator('.markers-panel').waitFor({ timeout: 10000 });
  const rows = await waitFor("the Problems panel's rows for nightly.txtpb", async () => {
    const groups = await problemsByFile(page);
    const r = groups['nightly.txtpb'];
    return r && r.some((t) => /unknown-field/.test(t)) ? r : null;
  }, opts.timeoutMs).catch(async (e) => {
    throw new Error(`${e.message}: ${JSON.stringify(await problemsByFile(page))}`);
  });
  await opts.screenshot('s-schema-problems');
  const expected = /outptu.*did you mean 'output'/;
  if (rows.length !== 1 || !expected.test(rows[0])) {
    throw new Error(`expected one problem, the user schema's unknown-field on outptu: ${JSON.stringify(rows)}`);
  }
  if (rows.some((t) => /AMCT|num-of-bins|batch-num|no-layers|'name'|'parallelism'/.test(t))) throw new Error(`an AMCT schema's problems on nightly.txtpb: ${JSON.stringify(rows)}`);
  await page.keyboard.press('Control+Shift+M'); // hide the panel again
  await focusEditor(page);
  const hover = await hoverWord(page, 'parallelism', 'How many workers run the job at once.', opts.timeoutMs);
  await page.waitForTimeout(400);
  await opts.screenshot('s-schema-hover');
  return `language ${mode}; status bar schema ${JSON.stringify(label)} (tooltip ${JSON.stringify(tooltip.slice(0, 160))}); Problems ${JSON.stringify(rows)}; hover ${JSON.stringify(hover.replace(/\s+/g, ' ').slice(0, 120))}`;
};

/** (p): a post-training config VS Code opens as Properties is served; Select Schema writes its header; setup.cfg stays INI. */
CHECKS.p = async (page, opts) => {
  await openFile(page, 'setup.cfg');
  const setupMode = await languageMode(page);
  await page.waitForTimeout(1500); // time for the extension to (wrongly) claim it
  const setupAfter = await languageMode(page);
  if (/AMCT|Protocol Buffer/.test(setupAfter) || (await schemaStatus(page)) !== null) {
    throw new Error(`setup.cfg (INI) was claimed: ${JSON.stringify(setupMode)} -> ${JSON.stringify(setupAfter)}, schema item ${JSON.stringify(await schemaStatus(page))}`);
  }
  await opts.screenshot('p-setup-cfg');

  await openFile(page, 'resnet50.cfg');
  const mode = await waitFor('resnet50.cfg to be served as an AMCT config', async () => ((await languageMode(page)) === 'AMCT Config' ? 'AMCT Config' : null), opts.timeoutMs).catch(async (e) => {
    throw new Error(`${e.message}: the language mode is ${JSON.stringify(await languageMode(page))}`);
  });
  const label = await waitFor('the status bar to show the AMCTConfig schema', async () => {
    const t = await schemaStatus(page);
    return t && t.startsWith('AMCTConfig') ? t : null;
  }, opts.timeoutMs).catch(async (e) => {
    throw new Error(`${e.message}; the schema item shows ${JSON.stringify(await schemaStatus(page))}`);
  });
  await opts.screenshot('p-ptq-status');

  // Select Schema from the status bar item: the bundled schemas first, the workspace's .proto too.
  await page.locator('.statusbar-item:has(.codicon-symbol-structure)').first().click();
  const rows = page.locator('.quick-input-widget .monaco-list-row');
  await rows.first().waitFor({ timeout: 10000 });
  const labels = await waitFor('the schema choices', async () => {
    const l = await rows.evaluateAll((items) =>
      items.map((r) => `${r.querySelector('.label-name')?.textContent?.trim()} — ${r.querySelector('.label-description')?.textContent?.trim()}`),
    );
    return l.some((t) => t.startsWith('Job — acme.v3.Job')) ? l : null;
  }, opts.timeoutMs);
  await opts.screenshot('p-select-schema');
  const first = labels.findIndex((t) => t.startsWith('Job — '));
  if (!labels.slice(0, first).some((t) => /^AMCTConfig — .*\(bundled\)/.test(t)) || labels.slice(first).some((t) => /bundled/.test(t))) {
    throw new Error(`bundled schemas do not come first: ${JSON.stringify(labels)}`);
  }
  await page.locator('.quick-input-widget input').fill('AMCTRetrainConfig');
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'AMCTRetrainConfig' }).first().waitFor({ timeout: 5000 });
  await page.keyboard.press('Enter');
  await editorLines(page, '# proto-file: retrain_config_pytorch.proto', '# proto-message: AMCTPytorchProto.AMCTRetrainConfig');
  const pinned = await waitFor('the status bar to show the schema the new header names', async () => {
    const t = await schemaStatus(page);
    return t === 'AMCTRetrainConfig' ? t : null;
  }, opts.timeoutMs).catch(async (e) => {
    throw new Error(`${e.message}; the schema item shows ${JSON.stringify(await schemaStatus(page))}`);
  });
  await opts.screenshot('p-header-written');
  await focusEditor(page);
  await page.keyboard.press('Control+Z');
  await waitFor('the status bar to show AMCTConfig again after undo', async () => (await schemaStatus(page))?.startsWith('AMCTConfig'), opts.timeoutMs);
  return `setup.cfg stays ${JSON.stringify(setupAfter)}; resnet50.cfg: ${mode}, status bar ${JSON.stringify(label)}; Select Schema offers ${labels.length} rows (${JSON.stringify(labels.slice(0, 3))} …); header written -> ${JSON.stringify(pinned)}; undone`;
};

/** (r): the extension restarts the server when kvcal.server.command changes (here: broken -> working). */
CHECKS.r = async (page, opts) => {
  const before = await statusText(page);
  // As a user would, in settings a workspace cannot write: kvcal.server.command is a machine
  // setting (a .vscode/settings.json no longer chooses the program). code-server is a remote
  // window: its machine settings are Machine/settings.json, which VS Code watches.
  const machine = path.join(opts.dirs.userData, 'Machine', 'settings.json');
  fs.mkdirSync(path.dirname(machine), { recursive: true });
  const current = fs.existsSync(machine) ? JSON.parse(fs.readFileSync(machine, 'utf8') || '{}') : {};
  fs.writeFileSync(machine, JSON.stringify({ ...current, 'kvcal.server.command': REPO_SERVER }, null, 2));
  await waitFor('the status bar to show the restarted server running', async () => (await statusText(page))?.startsWith('$(check)'), opts.timeoutMs * 2);
  await focusEditor(page);
  const hover = await CHECKS.b(page, { ...opts, timeoutMs: opts.timeoutMs * 2, hoverShot: 'r-restarted' });
  return `status bar ${JSON.stringify(before)} -> ${JSON.stringify(await statusText(page))} after the setting changed; ${hover}`;
};

// --- main ---------------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const tools = findTools();
  if (!tools) {
    process.stderr.write('vscode_e2e: code-server and playwright-core are not set up: run scripts/setup-editor-tests.sh\n');
    return 3;
  }
  if (!fs.existsSync(CHROMIUM)) {
    process.stderr.write(`vscode_e2e: no Chromium at ${CHROMIUM}: run scripts/setup-editor-tests.sh\n`);
    return 3;
  }
  const { chromium } = require(tools.playwrightCore);
  fs.mkdirSync(opts.out, { recursive: true });
  for (const f of fs.readdirSync(opts.out)) if (/\.(png|log|json)$/.test(f)) fs.rmSync(path.join(opts.out, f));

  const vsix = opts.vsix ?? buildVsix();
  const dirs = prepareDirs(opts);
  installExtension(tools, dirs, vsix);
  const port = await freePort();
  say(`starting code-server on 127.0.0.1:${port}; server command: ${JSON.stringify(opts.serverCommand)}`);
  const stop = await startCodeServer(tools, dirs, port);
  const results = {};
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    });
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.setDefaultTimeout(15000);
    opts.screenshot = async (name) => {
      const file = path.join(opts.out, `${name}.png`);
      await page.screenshot({ path: file });
      say(`screenshot ${path.relative(REPO, file)}`);
    };
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(dirs.workspace)}`);
    await page.locator('.monaco-workbench .part.statusbar').waitFor({ timeout: 60000 });
    say('workbench loaded');
    await openFile(page, 'quant.cfg');
    const status = await waitFor('the kvcal status bar item to leave "starting"', async () => {
      const t = await statusText(page);
      return t && !t.startsWith('$(loading') ? t : null;
    }, opts.timeoutMs).catch((e) => `(${e.message})`);
    say(`status bar: ${status}`);
    results.status = status;

    opts.dirs = dirs;
    for (const check of ['b', 'a', 'c', 'd', 's', 'p', 'r'].filter((c) => opts.checks.includes(c))) {
      say(`check (${check}) ...`);
      try {
        const detail = await CHECKS[check](page, opts);
        results[check] = { ok: true, detail };
        say(`check (${check}) PASSED: ${detail}`);
      } catch (error) {
        results[check] = { ok: false, detail: error.message };
        say(`check (${check}) FAILED: ${error.message}`);
        await opts.screenshot(`${check}-FAILED`).catch(() => undefined);
        const toasts = await notifications(page);
        if (toasts.length) say(`notifications on screen:\n  ${toasts.map((t) => t.replace(/\s+/g, ' ')).join('\n  ')}`);
        results[check].notifications = toasts.map((t) => t.replace(/\s+/g, ' '));
        await page.keyboard.press('Escape').catch(() => undefined);
      }
    }
  } finally {
    if (browser) await browser.close().catch(() => undefined);
    stop();
    results.workspaceCodeRan = fs.existsSync(dirs.trapMarker);
    if (results.workspaceCodeRan) say(`FAILED: the server imported the workspace's own modules: ${fs.readFileSync(dirs.trapMarker, 'utf8').trim()}`);
    collectLogs(dirs, opts.out);
    if (!opts.keep) fs.rmSync(dirs.tmp, { recursive: true, force: true });
    else say(`kept ${dirs.tmp}`);
  }
  const failed = opts.checks.filter((c) => !results[c]?.ok);
  if (results.workspaceCodeRan) failed.push('workspace-code');
  fs.writeFileSync(path.join(opts.out, 'results.json'), JSON.stringify(results, null, 2));
  process.stdout.write(`${JSON.stringify({ passed: failed.length === 0, failed, results })}\n`);
  say(failed.length ? `FAILED: ${failed.map((c) => `(${c})`).join(' ')}` : `all checks passed: ${opts.checks.map((c) => `(${c})`).join(' ')}`);
  return failed.length ? 1 : 0;
}

/** The extension's output channel as VS Code mirrors it on disk, and code-server's own log. */
function collectLogs(dirs, out) {
  const found = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/kvcal[^/]*\.log$/.test(e.name)) found.push(p); // exthost1/kvcal.kvcal/kvcal.log (a log output channel)
    }
  };
  try {
    walk(path.join(dirs.userData, 'logs'));
  } catch {
    /* no logs */
  }
  if (found.length) fs.writeFileSync(path.join(out, 'kvcal-output.log'), found.map((f) => fs.readFileSync(f, 'utf8')).join('\n'));
  const cs = path.join(dirs.tmp, 'code-server.log');
  if (fs.existsSync(cs)) fs.copyFileSync(cs, path.join(out, 'code-server.log'));
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`vscode_e2e: ${error.stack || error}\n`);
    process.exit(1);
  },
);
