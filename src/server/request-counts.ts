/**
 * Counts of the server's answers: requests by operation and result code, and events delivered
 * to consumers. Plain numbers bumped on the reply path (one property increment per answer, no
 * allocation, no label hashing); the metrics endpoint reads them when scraped.
 *
 * Both label sets are closed: operations are the protocol's (plus `decode_request` for lines that
 * never became a request), codes are `OK` or a code of the one error table. Anything else a
 * client could send is counted under `decode_request` / its error code, so a client can never
 * make new series appear.
 */
import { ErrorCodes } from '../errors.js';
import { DECODE_REQUEST, OPERATIONS } from '../protocol/operations.js';

/** The result code of a success. */
export const OK = 'OK';

/** Answers of one operation. */
export class OperationCounts {
  /** Successful answers. */
  ok = 0;
  /** Failed answers by error code. */
  readonly failed = new Map<string, number>();

  fail(code: string): void {
    // Codes outside the table are bugs answered INTERNAL (encodeFailure does the same).
    const known = Object.hasOwn(ErrorCodes, code) ? code : ErrorCodes.INTERNAL;
    this.failed.set(known, (this.failed.get(known) ?? 0) + 1);
  }
}

export class RequestCounts {
  private readonly byOperation = new Map<string, OperationCounts>();
  /** Events handed to consumers by process_events and retry_events. */
  eventsDelivered = 0;

  constructor() {
    for (const operation of [...OPERATIONS, DECODE_REQUEST]) this.byOperation.set(operation, new OperationCounts());
  }

  /** The counts of `operation` (an unknown name counts as `decode_request`). */
  of(operation: string): OperationCounts {
    return this.byOperation.get(operation) ?? this.byOperation.get(DECODE_REQUEST)!;
  }

  /** Every operation with its counts, in protocol order. */
  entries(): IterableIterator<[string, OperationCounts]> {
    return this.byOperation.entries();
  }

  /** Successful write_event answers so far. */
  get writesOk(): number {
    return this.of('write_event').ok;
  }
}
