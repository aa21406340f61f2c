/**
 * Runs a validated request against the bus and encodes its response line. Never throws and
 * never rejects: every failure becomes a failure line (unexpected ones are INTERNAL, and logged).
 * Every answer is counted by operation and result code (request-counts.ts).
 */
import { ErrorCodes, EventBusError, isEventBusError } from '../errors.js';
import type { EventBus } from '../bus/bus.js';
import type { Logger } from '../storage/logger.js';
import type { MarkEventRequest, Request, WriteEventRequest } from '../protocol/requests.js';
import { appendedBatchBody, encodeFailure, encodeSuccess, snapshotBody, streamBody, streamInfoBody, streamListingBody, writtenBatchBody } from '../protocol/response.js';
import { deliveryResponse, eventPageResponse, WriteAck, type Response } from '../protocol/response-bytes.js';
import type { Delivery } from '../bus/results.js';
import { RequestCounts, type OperationCounts } from './request-counts.js';
import { retentionBody, truncationBody } from '../protocol/settings-bodies.js';

export class Executor {
  /** The hot path's counts, looked up once. */
  private readonly writeCounts: OperationCounts;

  constructor(private readonly bus: EventBus, private readonly logger: Logger, readonly counts: RequestCounts = new RequestCounts()) {
    this.writeCounts = counts.of('write_event');
  }

  /**
   * The response to `request`: a line, or a promise of one. `gone`, aborted when the client's
   * connection closes, ends a `process_events` long-poll without delivering to nobody.
   */
  execute(request: Request, requestIdJson: string | undefined, gone?: AbortSignal): Response | Promise<Response> {
    const op = request.operation;
    try {
      switch (op) {
        case 'health':
        case 'exit':
          return this.success(op, undefined, requestIdJson);
        case 'write_event':
          return this.write(request, requestIdJson);
        case 'create_stream':
          return this.settle(op, this.bus.createStream(request.streamName, request.retention).then(streamBody), requestIdJson);
        case 'delete_stream':
          return this.settle(op, this.bus.deleteStream(request.streamName).then(() => undefined), requestIdJson);
        case 'get_stream_info':
          return this.settle(op, this.bus.streamInfo(request.streamName).then(streamInfoBody), requestIdJson);
        case 'get_stream_events':
          return this.bus.readEvents(request).then(
            (page) => {
              this.counts.of(op).ok += 1;
              return eventPageResponse(page, requestIdJson);
            },
            (error: unknown) => this.failure(op, error, requestIdJson),
          );
        case 'process_events':
        case 'retry_events':
          return (op === 'process_events' ? this.bus.process(request, gone) : this.bus.retry(request)).then(
            (delivery) => this.delivered(op, delivery, requestIdJson),
            (error: unknown) => this.failure(op, error, requestIdJson),
          );
        case 'mark_event':
          return this.settle(op, this.bus.mark(request).then(() => undefined), requestIdJson);
        case 'snapshot_db':
          return this.settle(op, this.bus.snapshot(request.output).then(snapshotBody), requestIdJson);
        case 'list_streams':
          return this.settle(op, this.bus.listStreams(request).then(streamListingBody), requestIdJson);
        case 'set_stream_retention':
          return this.settle(op, this.bus.setRetention(request.streamName, request.retention).then(retentionBody), requestIdJson);
        case 'truncate_stream':
          return this.settle(op, this.bus.truncate(request.streamName, request.beforeOffset).then(truncationBody), requestIdJson);
        case 'unsubscribe':
          // A subscription's connection takes its unsubscribe itself (subscription-session.ts).
          throw new EventBusError(ErrorCodes.NOT_SUBSCRIBED, 'this connection has no subscription to end');
        case 'subscribe':
          // Started by the connection (subscription-session.ts), never run as a request.
          throw new EventBusError(ErrorCodes.INTERNAL, 'subscribe reached the executor');
        case 'append_events': {
          const { key, expectedVersion } = request;
          const appended = this.bus.appendEvents(request.streamName, request.events, { ...(key === undefined ? {} : { key }), ...(expectedVersion === undefined ? {} : { expectedVersion }) });
          return this.settle(op, appended.then(appendedBatchBody), requestIdJson);
        }
      }
    } catch (error) {
      return this.failure(op, error, requestIdJson);
    }
  }

  /** True when executing `request` changes the consumer before it returns (see EventBus.markAppliesAtOnce). */
  markAppliedAtDispatch(request: MarkEventRequest): boolean {
    return this.bus.markAppliesAtOnce(request);
  }

  /** The hot path: no async function, one `then` with both handlers; the reply's bytes are written at flush. */
  private write(request: WriteEventRequest, requestIdJson: string | undefined): Promise<Response> {
    if (request.extras !== null) return this.writeWithExtras(request, requestIdJson);
    return this.bus.writeEvent(request.streamName, request.event).then(
      (event) => {
        this.writeCounts.ok += 1;
        return new WriteAck(event, requestIdJson);
      },
      (error: unknown) => this.failure('write_event', error, requestIdJson),
    );
  }

  /** A write_event with event-sourcing fields: an append_events of one event. */
  private writeWithExtras(request: WriteEventRequest, requestIdJson: string | undefined): Promise<string> {
    const { key, expectedVersion, type, metadata, msgId } = request.extras!;
    const event = { payload: request.event, ...(type === undefined ? {} : { type }), ...(metadata === undefined ? {} : { metadata }), ...(msgId === undefined ? {} : { msgId }) };
    const options = { ...(key === undefined ? {} : { key }), ...(expectedVersion === undefined ? {} : { expectedVersion }) };
    return this.settle('write_event', this.bus.writeEventWith(request.streamName, event, options).then(writtenBatchBody), requestIdJson);
  }

  private settle(operation: string, body: Promise<string | undefined>, requestIdJson: string | undefined): Promise<string> {
    return body.then(
      (json) => this.success(operation, json, requestIdJson),
      (error: unknown) => this.failure(operation, error, requestIdJson),
    );
  }

  /** A success line, counted. */
  private success(operation: string, body: string | undefined, requestIdJson: string | undefined): string {
    this.counts.of(operation).ok += 1;
    return encodeSuccess(operation, body, requestIdJson);
  }

  /** A delivery's response, counted; its events counted as delivered. */
  private delivered(operation: 'process_events' | 'retry_events', delivery: Delivery, requestIdJson: string | undefined): Response {
    this.counts.of(operation).ok += 1;
    this.counts.eventsDelivered += delivery.events.length;
    return deliveryResponse(operation, delivery, requestIdJson);
  }

  /** A failure line, counted; errors that are not EventBusErrors are bugs: logged, answered INTERNAL. */
  failure(operation: string, error: unknown, requestIdJson: string | undefined): string {
    this.counts.of(operation).fail(isEventBusError(error) ? error.code : ErrorCodes.INTERNAL);
    if (!isEventBusError(error)) {
      this.logger.error({ operation, err: error }, 'unexpected error while handling a request');
    } else if (error.code === 'INTERNAL') {
      // Storage failures (IO_ERROR, DISK_FULL, CORRUPT_DATA) are logged by the engine, once.
      this.logger.error({ operation, code: error.code, reason: error.reason }, 'request failed on a broken invariant');
    }
    return encodeFailure(operation, error, requestIdJson);
  }
}
