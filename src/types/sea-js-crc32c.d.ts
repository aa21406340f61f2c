// In the single executable, esbuild maps this name to fast-crc32c's JavaScript implementation
// (src/cli/sea-build.ts); src/cli/sea-crc32c.ts falls back to it.
declare module 'eventbus-sea-js-crc32c' {
  const javascript: {
    /** CRC32C of `input`, continuing from `initial` (default 0). */
    calculate(input: Buffer | string, initial?: number): number;
  };
  export = javascript;
}
