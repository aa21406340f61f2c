/**
 * Little-endian 64-bit integers as two 32-bit halves.
 *
 * Offsets and millisecond timestamps stay below 2^53, so they fit a JavaScript number exactly;
 * splitting them avoids BigInt, which is slow on the append path.
 */

const TWO_32 = 0x1_0000_0000;

export function writeU64(buffer: Buffer, position: number, value: number): void {
  // Not `value % TWO_32`: a remainder of a number above 2^31 is a call to fmod, a twentieth of
  // the append path's CPU in a profile; a subtraction is exact for integers below 2^53.
  const high = Math.floor(value / TWO_32);
  buffer.writeUInt32LE(value - high * TWO_32, position);
  buffer.writeUInt32LE(high, position + 4);
}

export function readU64(buffer: Buffer, position: number): number {
  return buffer.readUInt32LE(position) + buffer.readUInt32LE(position + 4) * TWO_32;
}
