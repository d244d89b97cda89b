// Builds what browsers download into a folder of its own, static/builds/<id>/, then points the
// link static/dist at it, ready to be served as it is:
//   - the embed loader at a fixed name (dist/loader/embed.js: its URL sits in customers' pages),
//   - the call page and the widget as ES modules with code splitting, the stylesheet, every file
//     named by its content hash (cached for a year, immutable), listed in dist/manifest.json,
//   - every script minified again by terser (two compress passes), which esbuild's minifier
//     leaves 6% bigger in gzip; --watch skips it,
//   - a brotli and a gzip copy of each, so the app serves compressed bytes without a proxy (the
//     gzip one by zopfli: 3% smaller than zlib's best for clients without brotli, for a few
//     seconds of build; --watch keeps zlib's),
//   - source maps beside them, unreferenced: visitors never download them.
// A build never changes once the link names it, and the link is switched in one step (a new link
// renamed over the old), so a server running meanwhile keeps serving the build it started with
// until it is reloaded (webapp/pages/assets.py). The last KEEP builds stay: a reloaded server still
// serves their hashed files, so a page opened before the deploy still loads its lazy chunks.
// Usage: node scripts/build-assets.mjs [--watch]
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { gzipAsync } from '@gfx/zopfli';
import { randomBytes } from 'node:crypto';
import {
  existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, watch,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import * as esbuild from 'esbuild';
import { minify } from 'terser';

const DIST = 'static/dist'; // a link to the current build, the one a starting server serves
const BUILDS = 'static/builds';
const KEEP = 3; // a server not reloaded keeps its files through KEEP - 1 more builds
const COMPRESSIBLE = /\.(js|css|svg|json)$/;
const WATCH = process.argv.includes('--watch');
// Chrome (V8 13.6+) compiles every function of a file that starts with this comment as the file
// loads, on a background thread, rather than each one on the main thread the first time it runs;
// other browsers ignore it. The click then no longer compiles livekit-client's connection code as
// it first runs: connected in x0.83 of the time on loopback, for Talk enabled 60-90 ms later at
// load and 1 MB more heap (bench/README.md, "The floor").
const COMPILE_HINT = '//# allFunctionsCalledOnLoad';
const shared = { bundle: true, minify: true, legalComments: 'none', logLevel: 'warning' };

const loader = {
  ...shared,
  entryPoints: { embed: 'static/src/embed/loader.js' },
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
  banner: { js: COMPILE_HINT },
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
function manifest(metafile, outdir) {
  const names = { 'static/src/page.js': 'call.js', 'static/src/embed/widget.js': 'widget.js',
    'static/css/call.css': 'call.css' };
  const entries = {};
  for (const [file, output] of Object.entries(metafile.outputs)) {
    if (output.entryPoint && names[output.entryPoint]) {
      const preload = output.imports.filter((i) => i.kind === 'import-statement')
        .map((i) => relative(outdir, i.path));
      entries[names[output.entryPoint]] = { file: relative(outdir, file), preload };
    }
  }
  return entries;
}

/**
 * Minifies each script of a build again with terser, in place, its source map carried through.
 * esbuild bundles and shakes the tree; terser's compressor, given two passes, then inlines and
 * drops what esbuild's single pass keeps: livekit-client's chunk is 155 kB under gzip -9 instead of
 * 165 kB, for about 8 s of build (bench/README.md, "Page weight for clients without brotli").
 */
async function compact(files, { module, preamble }) {
  for (const file of files.filter((name) => name.endsWith('.js'))) {
    const mapFile = `${file}.map`;
    const map = existsSync(mapFile) ? readFileSync(mapFile, 'utf8') : undefined; // the loader has none
    const { code, map: newMap } = await minify(readFileSync(file, 'utf8'), {
      module,
      compress: { passes: 2 },
      format: { comments: false, preamble },
      sourceMap: map && { content: map, includeSources: true },
    });
    writeFileSync(file, code);
    if (map) writeFileSync(mapFile, newMap);
  }
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

/** A build's folder name: when it was made, then random bytes; names sort by age. */
function buildId(made = new Date()) {
  return `${made.toISOString().replace(/[-:.]/g, '')}-${randomBytes(3).toString('hex')}`;
}

/** Points DIST at `outdir` in one step: a new link, renamed over the old one. */
function switchTo(outdir) {
  const found = lstatSync(DIST, { throwIfNoEntry: false });
  if (found?.isDirectory()) {
    // The layout before builds had folders of their own: that folder becomes a kept build.
    renameSync(DIST, join(BUILDS, buildId(found.mtime)));
  }
  const link = `${DIST}.${basename(outdir)}`;
  symlinkSync(relative(dirname(DIST), outdir), link);
  renameSync(link, DIST);
}

/** Removes all but the KEEP newest builds; the current one always stays. */
function prune(current) {
  for (const name of readdirSync(BUILDS).sort().slice(0, -KEEP)) {
    if (join(BUILDS, name) !== current) rmSync(join(BUILDS, name), { recursive: true, force: true });
  }
}

/** Builds into `outdir`: the bundles, their compressed copies, then the manifest. */
async function buildInto(outdir) {
  const [loaded, built] = await Promise.all([
    esbuild.build({ ...loader, outdir: `${outdir}/loader`, metafile: true }),
    esbuild.build({ ...app, outdir }),
  ]);
  const outputs = [...Object.keys(loaded.metafile.outputs), ...Object.keys(built.metafile.outputs)];
  if (!WATCH) {
    await compact(Object.keys(loaded.metafile.outputs), { module: false });
    await compact(Object.keys(built.metafile.outputs), { module: true, preamble: COMPILE_HINT });
  }
  await compress(outputs.filter((file) => !file.endsWith('.map')));
  // Last: a build with a manifest is whole (a server serves the kept builds only then).
  const entries = manifest(built.metafile, outdir);
  writeFileSync(`${outdir}/manifest.json`, `${JSON.stringify(entries, null, 2)}\n`);
  return { outputs, entries };
}

/** A new build in a folder of its own, made the current one once it is whole. */
async function build() {
  const outdir = join(BUILDS, buildId());
  mkdirSync(outdir, { recursive: true });
  const { outputs, entries } = await buildInto(outdir).catch((error) => {
    rmSync(outdir, { recursive: true, force: true });
    throw error;
  });
  switchTo(outdir);
  prune(outdir);
  const sizes = Object.values(entries).map((entry) => basename(entry.file)).join(', ');
  console.log(`built ${outputs.length} files into ${outdir}/, now ${DIST} (${sizes})`);
}

await build();
if (WATCH) {
  // Rebuild everything on any change: the hashes and the manifest move together. One build at a
  // time: the last change's build is the one left current.
  let pending;
  let building = Promise.resolve();
  const rebuild = () => {
    clearTimeout(pending);
    pending = setTimeout(() => {
      building = building.then(build).catch((error) => console.error(error.message));
    }, 100);
  };
  for (const folder of ['static/src', 'static/css']) watch(folder, { recursive: true }, rebuild);
  console.log('watching static/src and static/css');
}
