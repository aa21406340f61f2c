/**
 * The operations on a stream's own settings (stream-settings.ts): its retention limits and its
 * truncation, each made durable in the catalog before it takes effect, and the retention pass
 * that applies them. Neither removes an event before the key index has written its entry out
 * (KeyIndex.persistBelow): a key whose events are all gone keeps its version across a crash.
 */
import { ErrorCodes, EventBusError } from '../errors.js';
import type { Catalog, CatalogEntry } from './catalog.js';
import type { RetentionPolicy } from './log/segment-list.js';
import type { Logger } from './logger.js';
import type { StreamRegistry, StreamState } from './stream-registry.js';
import { checkRetention, effectiveRetention, type StreamRetention } from './stream-settings.js';

/** What the settings work with: the engine's pieces. */
export interface AdminParts {
  streams: StreamRegistry;
  catalog: Catalog;
  /** The store's retention (EngineOptions.retention). */
  storeRetention: RetentionPolicy;
  logger: Logger;
}

/** A stream's retention: what applies, and what the stream sets itself. */
export interface RetentionView {
  /** The limits that apply (0 = unlimited). */
  effective: RetentionPolicy;
  /** The stream's own limits (the others follow the store). */
  own: StreamRetention;
}

export class StreamAdmin {
  constructor(private readonly parts: AdminParts) {}

  retentionOf(entry: CatalogEntry): RetentionView {
    return { effective: effectiveRetention(this.parts.storeRetention, entry.retention), own: { ...entry.retention } };
  }

  /**
   * Replaces the stream's own retention (limits left out follow the store's), durably, and
   * applies it at once. Throws INVALID_FIELD, STREAM_NOT_FOUND, DISK_FULL or IO_ERROR.
   */
  async setRetention(name: string, retention: StreamRetention): Promise<RetentionView> {
    checkRetention(retention);
    const { catalog, streams } = this.parts;
    const state = streams.get(name);
    catalog.checkWritable();
    const previous = state.entry.retention;
    state.entry.retention = { ...retention };
    try {
      await catalog.persist();
    } catch (error) {
      state.entry.retention = previous;
      throw error;
    }
    await this.applyTo(state, Date.now());
    return this.retentionOf(state.entry);
  }

  /**
   * Truncates the stream before `beforeOffset`: once durable in the catalog, no read or consumer
   * sees an event below it; its segments are removed now if wholly below it (as retention
   * would). Truncating below the first offset changes nothing. Throws INVALID_FIELD past the
   * stream's end, STREAM_NOT_FOUND, DISK_FULL or IO_ERROR.
   */
  async truncate(name: string, beforeOffset: number): Promise<{ firstOffset: number; nextOffset: number }> {
    const { catalog, streams } = this.parts;
    const state = streams.get(name);
    const end = state.log.visibleOffset;
    if (!Number.isSafeInteger(beforeOffset) || beforeOffset < 0 || beforeOffset > end) {
      // Named as the Engine's argument is; the server renames it for its reply (bus/wire-fields.ts).
      throw new EventBusError(ErrorCodes.INVALID_FIELD, `beforeOffset must be from 0 to the stream's next offset (${end}), got ${beforeOffset}`, {
        context: { field: 'beforeOffset', expected: `an integer from 0 to ${end}` },
      });
    }
    // The key index must not need the removed events again (their keys' versions, at the next open).
    if (beforeOffset > (state.entry.truncatedBefore ?? 0)) await state.keys.persistBelow(beforeOffset);
    if (beforeOffset > (state.entry.truncatedBefore ?? 0)) {
      catalog.checkWritable();
      const previous = state.entry.truncatedBefore;
      state.entry.truncatedBefore = beforeOffset;
      try {
        await catalog.persist();
      } catch (error) {
        state.entry.truncatedBefore = previous;
        throw error;
      }
    } else {
      await catalog.persist(); // an earlier, larger truncation may still be on its way to disk
    }
    state.log.truncateTo(state.entry.truncatedBefore ?? 0);
    await this.applyTo(state, Date.now());
    return { firstOffset: state.log.firstOffset, nextOffset: state.log.visibleOffset };
  }

  /** The retention pass over every open stream, one after another; returns the segments removed. */
  async applyRetention(nowMs: number): Promise<number> {
    let removed = 0;
    for (const state of this.parts.streams.open()) removed += await this.applyTo(state, nowMs);
    return removed;
  }

  /**
   * Removes what retention and truncation no longer need of one stream, once the key index has
   * written out the entries of the events that go (the log cannot give them back). A failure to
   * write them out keeps the segments (logged; the next pass tries again).
   */
  private async applyTo(state: StreamState, nowMs: number): Promise<number> {
    const policy = effectiveRetention(this.parts.storeRetention, state.entry.retention);
    const reach = state.log.retentionReach(policy, nowMs);
    if (reach > state.keys.writtenOutTo) {
      try {
        await state.keys.persistBelow(reach, true);
      } catch (error) {
        this.parts.logger.warn({ stream: state.entry.name, err: error }, 'retention waits: the key index could not write out the entries of the events it would remove');
      }
    }
    // The stream may have been deleted, or the store closed, meanwhile.
    if (!state.keys.isOpen || this.parts.streams.find(state.entry.name) !== state) return 0;
    return state.log.applyRetention(policy, nowMs, state.keys.writtenOutTo);
  }
}
