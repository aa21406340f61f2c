/**
 * The admin page's files: our page (index.html, admin.js, admin.css in ./page) and uPlot, the
 * chart library, served from this server so that the page works offline (no CDN). Where the bytes
 * come from depends on the build: the npm build reads them from the package, the single
 * executable from its embedded assets (src/cli/*-resources.ts).
 */

/** Each file the page needs, by the path it is served at (under /assets/, index.html at /). */
export const PAGE_FILES = {
  'index.html': 'text/html; charset=utf-8',
  'admin.js': 'text/javascript; charset=utf-8',
  'admin.css': 'text/css; charset=utf-8',
  'uPlot.iife.min.js': 'text/javascript; charset=utf-8',
  'uPlot.min.css': 'text/css; charset=utf-8',
} as const;

export type PageFile = keyof typeof PAGE_FILES;

/** The files of uPlot's package (`uplot/dist/…`); the others are ours, in src/server/http/page/. */
export const UPLOT_FILES: readonly PageFile[] = ['uPlot.iife.min.js', 'uPlot.min.css'];

export function isPageFile(name: string): name is PageFile {
  return Object.hasOwn(PAGE_FILES, name);
}

/** Gives the bytes of a page file (read once, then kept). */
export type PageAssets = (name: PageFile) => Buffer;

/** The single executable's asset key of a page file. */
export function pageAssetKey(name: PageFile): string {
  return `page/${name}`;
}
