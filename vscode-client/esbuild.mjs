// Builds the extension bundle (dist/extension.js) or, with --tests, the node unit tests
// (out/test/*.test.js, run by `node --test out/test/`). Type checking is `npm run typecheck`.
//   node esbuild.mjs [--production] [--watch] [--tests]
import * as esbuild from 'esbuild';
import { readdirSync } from 'node:fs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
const tests = process.argv.includes('--tests');

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  logLevel: 'warning',
};

const options = tests
  ? {
      ...common,
      // The tests cover the plain modules, which never import vscode: keep it external so
      // that an accidental import fails loudly at run time instead of being bundled.
      entryPoints: readdirSync('test').filter((f) => f.endsWith('.test.ts')).map((f) => `test/${f}`),
      outdir: 'out/test',
      external: ['vscode'],
      sourcemap: 'inline',
    }
  : {
      ...common,
      entryPoints: ['src/extension.ts'],
      outfile: 'dist/extension.js',
      external: ['vscode'],
      minify: production,
      sourcemap: !production,
    };

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
