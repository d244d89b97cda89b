// Builds what browsers download into static/dist/, ready to be served as it is:
//   - the embed loader at a fixed name (dist/loader/embed.js: its URL sits in customers' pages),
//   - the call page and the widget as ES modules with code splitting, the stylesheet, every file
//     named by its content hash (cached for a year, immutable), listed in dist/manifest.json,
//   - a brotli and a gzip copy of each, so the app serves compressed bytes without a proxy (the
//     gzip one by zopfli: 3% smaller than zlib's best for clients without brotli, for a few
//     seconds of build; --watch keeps zlib's),
//   - source maps beside them, unreferenced: visitors never download them.
// Usage: node scripts/build-assets.mjs [--watch]
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { gzipAsync } from '@gfx/zopfli';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, watch, writeFileSync } from 'node:fs';
import { basename, dirname, relative } from 'node:path';
import * as esbuild from 'esbuild';

const DIST = 'static/dist';
// Built beside it, then swapped in: a server running meanwhile never finds the folder half-built.
const STAGE = `${DIST}.next`;
const COMPRESSIBLE = /\.(js|css|svg|json)$/;
const WATCH = process.argv.includes('--watch');
const shared = { bundle: true, minify: true, legalComments: 'none', logLevel: 'warning' };

const loader = {
  ...shared,
  entryPoints: { embed: 'static/src/embed/loader.js' },
  outdir: `${STAGE}/loader`,
  format: 'iife',
  target: 'es2018',
  plugins: [cssAsText(['static/src/embed/'])],
};

const app = {
  ...shared,
  entryPoints: {
    call: 'static/src/page.js',
    widget: 'static/src/embed/widget.js',
    'call-style': 'static/css/call.css',
  },
  outdir: STAGE,
  format: 'esm',
  splitting: true,
  target: 'es2020',
  entryNames: '[name]-[hash]',
  chunkNames: 'chunks/[name]-[hash]',
  assetNames: 'assets/[name]-[hash]',
  loader: { '.css': 'css', '.svg': 'file' },
  // The widget and shell styles are imported as text into shadow roots; the page's own
  // stylesheet is an entry of its own.
  plugins: [cssAsText(['static/src/embed/'])],
  sourcemap: 'external',
  metafile: true,
};

/** Imports of .css files under `folders` become strings, minified (a shadow root adopts them). */
function cssAsText(folders) {
  return {
    name: 'css-as-text',
    setup(build) {
      build.onLoad({ filter: /\.css$/ }, async (args) => {
        const path = relative(process.cwd(), args.path);
        if (!folders.some((folder) => path.startsWith(folder))) return undefined;
        const { code } = await esbuild.transform(readFileSync(args.path, 'utf8'), { loader: 'css', minify: true });
        return { contents: code, loader: 'text' };
      });
    },
  };
}

/**
 * The manifest templates read: for each entry point (by the name templates ask for) its file
 * under dist/ and the chunks it imports at once, which the page preloads (no waterfall).
 */
function manifest(metafile) {
  const names = { 'static/src/page.js': 'call.js', 'static/src/embed/widget.js': 'widget.js',
    'static/css/call.css': 'call.css' };
  const entries = {};
  for (const [file, output] of Object.entries(metafile.outputs)) {
    if (output.entryPoint && names[output.entryPoint]) {
      const preload = output.imports.filter((i) => i.kind === 'import-statement').map((i) => relative(STAGE, i.path));
      entries[names[output.entryPoint]] = { file: relative(STAGE, file), preload };
    }
  }
  return entries;
}

/**
 * Writes file.br and file.gz beside each compressible output (best compression: built once),
 * unless compressing saves too little to be worth a Vary (tiny entry files).
 */
async function compress(files) {
  for (const file of files.filter((name) => COMPRESSIBLE.test(name))) {
    const bytes = readFileSync(file);
    const variants = {
      br: brotliCompressSync(bytes, {
        params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length },
      }),
      gz: WATCH ? gzipSync(bytes, { level: 9 }) : Buffer.from(await gzipAsync(bytes, { numiterations: 15 })),
    };
    for (const [suffix, packed] of Object.entries(variants)) {
      if (packed.length < bytes.length * 0.9) writeFileSync(`${file}.${suffix}`, packed);
    }
  }
}

async function build() {
  rmSync(STAGE, { recursive: true, force: true });
  const [loaded, built] = await Promise.all([
    esbuild.build({ ...loader, metafile: true }),
    esbuild.build(app),
  ]);
  const outputs = [...Object.keys(loaded.metafile.outputs), ...Object.keys(built.metafile.outputs)];
  const entries = manifest(built.metafile);
  mkdirSync(dirname(`${STAGE}/manifest.json`), { recursive: true });
  writeFileSync(`${STAGE}/manifest.json`, `${JSON.stringify(entries, null, 2)}\n`);
  await compress(outputs.filter((file) => !file.endsWith('.map')));
  const old = `${DIST}.old`;
  rmSync(old, { recursive: true, force: true });
  if (existsSync(DIST)) renameSync(DIST, old);
  renameSync(STAGE, DIST);
  rmSync(old, { recursive: true, force: true });
  const sizes = Object.values(entries).map((entry) => basename(entry.file)).join(', ');
  console.log(`built ${outputs.length} files into ${DIST}/ (${sizes})`);
}

await build();
if (WATCH) {
  // Rebuild everything on any change: the hashes and the manifest move together.
  let pending;
  const rebuild = () => {
    clearTimeout(pending);
    pending = setTimeout(() => build().catch((error) => console.error(error.message)), 100);
  };
  for (const folder of ['static/src', 'static/css']) watch(folder, { recursive: true }, rebuild);
  console.log('watching static/src and static/css');
}
