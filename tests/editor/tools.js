// Where the editor-test tools (code-server, playwright-core; pinned by this folder's
// package-lock.json) live: one cache directory per lock-file content, shared by every
// checkout on the machine, so a second clone or a CI re-run does not install them again.
// The one owner of that path: scripts/setup-editor-tests.sh and vscode_e2e.js both ask here.
//
//   node tests/editor/tools.js dir   -> prints the directory
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function cacheRoot() {
  if (process.env.KVCAL_EDITOR_CACHE) return process.env.KVCAL_EDITOR_CACHE;
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(xdg, 'kvcal-editor-tests');
}

function toolsDir() {
  const lock = fs.readFileSync(path.join(__dirname, 'package-lock.json'));
  const key = crypto.createHash('sha256').update(lock).digest('hex').slice(0, 12);
  return path.join(cacheRoot(), key);
}

/** Paths inside a complete tools directory, or null when setup has not finished there. */
function tools(dir = toolsDir()) {
  if (!fs.existsSync(path.join(dir, '.complete'))) return null;
  return {
    dir,
    codeServer: path.join(dir, 'node_modules', '.bin', 'code-server'),
    playwrightCore: path.join(dir, 'node_modules', 'playwright-core'),
  };
}

module.exports = { toolsDir, tools };

if (require.main === module) {
  if (process.argv[2] === 'dir') process.stdout.write(toolsDir() + '\n');
  else {
    process.stderr.write('usage: node tests/editor/tools.js dir\n');
    process.exit(2);
  }
}
