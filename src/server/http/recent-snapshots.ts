/**
 * The snapshots the engine took since the HTTP port started (snapshot_db on TCP, the admin
 * page's button), newest first, as the engine's observer reports them: what the admin page lists.
 * Bounded: the last {@link RECENT_SNAPSHOTS}.
 */
import path from 'node:path';
import { ErrorCodes } from '../../errors.js';
import type { SnapshotTaken } from '../../storage/index.js';

/** The page's heading (page/index.html) and docs/operations.md say this number. */
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

export class RecentSnapshots {
  private readonly recent: SnapshotRecord[] = [];

  constructor(private readonly snapshotsRoot: string) {}

  /** The engine observer's `snapshot` callback. */
  record(taken: SnapshotTaken): void {
    const { result, error, durationMs } = taken;
    this.recent.unshift({
      startedMs: Date.now() - durationMs,
      durationMs,
      code: error === null ? 'OK' : (error.code ?? ErrorCodes.INTERNAL),
      path: result === null ? undefined : path.relative(this.snapshotsRoot, result.path),
      streams: result?.streams ?? 0,
      events: result?.events ?? 0,
      bytes: result?.bytes ?? 0,
      reason: error?.reason,
    });
    if (this.recent.length > RECENT_SNAPSHOTS) this.recent.pop();
  }

  /** The recent snapshots, newest first. */
  list(): readonly SnapshotRecord[] {
    return this.recent;
  }
}
