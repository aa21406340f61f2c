// fast-crc32c ships no type declarations; this is the part of its API we use.
declare module 'fast-crc32c' {
  const fastCrc32c: {
    /** CRC32C of `input`, continuing from `initial` (default 0). */
    calculate(input: Buffer | string, initial?: number): number;
  };
  export = fastCrc32c;
}
