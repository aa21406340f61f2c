/**
 * The snapshots this server took (snapshot_db on TCP, the admin page's button), the most recent
 * first: what the admin page lists and /metrics counts. Bounded: the last {@link RECENT_SNAPSHOTS}.
 */
import type { EventBus } from '../bus/bus.js';
import type { SnapshotView } from '../bus/results.js';
import { ErrorCodes, isEventBusError } from '../errors.js';

export const RECENT_SNAPSHOTS = 20;

export interface SnapshotRecord {
  /** When it started (ms since the epoch). */
  startedMs: number;
  durationMs: number;
  /** `OK` or the error code. */
  code: string;
  /** Path relative to the snapshots root (failed: undefined). */
  path: string | undefined;
  streams: number;
  events: number;
  bytes: number;
  /** The failure's reason. */
  reason: string | undefined;
}

export class SnapshotLog {
  private readonly recent: SnapshotRecord[] = [];
  /** Snapshots taken by result code, since start. */
  readonly counts = new Map<string, number>();
  /** Told of each snapshot as it ends (the metrics' duration histogram). */
  onRecord: ((record: SnapshotRecord) => void) | null = null;

  /** Takes a snapshot through `bus`, recording how it went. */
  async take(bus: EventBus, output: string): Promise<SnapshotView> {
    const startedMs = Date.now();
    const started = performance.now();
    try {
      const view = await bus.snapshot(output);
      this.record({ startedMs, durationMs: performance.now() - started, code: 'OK', path: view.path, streams: view.streams, events: view.events, bytes: view.bytes, reason: undefined });
      return view;
    } catch (error) {
      const code = isEventBusError(error) ? error.code : ErrorCodes.INTERNAL;
      const reason = isEventBusError(error) ? error.reason : String(error);
      this.record({ startedMs, durationMs: performance.now() - started, code, path: undefined, streams: 0, events: 0, bytes: 0, reason });
      throw error;
    }
  }

  /** The recent snapshots, newest first. */
  list(): readonly SnapshotRecord[] {
    return this.recent;
  }

  private record(record: SnapshotRecord): void {
    this.recent.unshift(record);
    if (this.recent.length > RECENT_SNAPSHOTS) this.recent.pop();
    this.counts.set(record.code, (this.counts.get(record.code) ?? 0) + 1);
    this.onRecord?.(record);
  }
}
