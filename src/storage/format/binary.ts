/**
 * Little-endian 64-bit integers as two 32-bit halves.
 *
 * Offsets and millisecond timestamps stay below 2^53, so they fit a JavaScript number exactly;
 * splitting them avoids BigInt, which is slow on the append path.
 */

const TWO_32 = 0x1_0000_0000;

export function writeU64(buffer: Buffer, position: number, value: number): void {
  buffer.writeUInt32LE(value % TWO_32, position);
  buffer.writeUInt32LE(Math.floor(value / TWO_32), position + 4);
}

export function readU64(buffer: Buffer, position: number): number {
  return buffer.readUInt32LE(position) + buffer.readUInt32LE(position + 4) * TWO_32;
}
