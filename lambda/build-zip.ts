/**
 * `npm run build:lambda`: bundles the transfer handler with esbuild into one
 * ES module and zips it for AWS Lambda (handler `index.handler`, Node.js 20).
 * The AWS SDK v3 is bundled, not taken from the runtime: the runtime's copy
 * changes under us, and this pins the exact versions the tests ran.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { zipSync } from 'fflate';

/** The folder holding package.json, found upwards from this module (it runs from source or from dist/). */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above the build script');
    dir = up;
  }
  return dir;
}

/** Builds the bundle and the zip; returns their paths and sizes. */
export async function buildLambdaZip(outDir?: string) {
  const root = projectRoot();
  outDir ??= join(root, 'dist-lambda');
  mkdirSync(outDir, { recursive: true });
  const bundle = join(outDir, 'index.mjs');
  await build({
    entryPoints: [join(root, 'lambda', 'transfer-handler.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    // Some SDK dependencies still call require(); ES modules need one made for them.
    banner: { js: "import { createRequire as __flantsRequire } from 'node:module'; const require = __flantsRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  const zip = join(outDir, 'flants-transfer.zip');
  // A fixed timestamp keeps the artifact byte-identical for identical code.
  writeFileSync(zip, zipSync({ 'index.mjs': [readFileSync(bundle), { mtime: new Date('2026-01-01T00:00:00Z') }] }, { level: 9 }));
  return { bundle, zip, bundleBytes: statSync(bundle).size, zipBytes: statSync(zip).size };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await buildLambdaZip();
  console.log(`lambda bundle ${r.bundle} (${(r.bundleBytes / 1e6).toFixed(2)} MB, AWS SDK v3 bundled)`);
  console.log(`lambda zip    ${r.zip} (${(r.zipBytes / 1e6).toFixed(2)} MB): deploy with handler index.handler on nodejs20.x`);
}
