/**
 * The event store on a replicated NATS JetStream cluster (the `jetstream` backend): the eventbus
 * process becomes a gateway that keeps nothing durable of its own. Streams are JetStream streams
 * (names.ts), the catalog a KV bucket (catalog.ts), writes publishes acknowledged by the quorum
 * (writer.ts), consumers durable pull consumers (consumers.ts), snapshots the stream snapshot API
 * (stream-snapshot.ts). Several gateways may serve one cluster at once and agree on every answer.
 * What this backend cannot do exactly on nats-server 2.9 is refused with a code and listed in
 * docs/protocol.md ("The jetstream backend").
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  Events,
  connect,
  headers as natsHeaders,
  type ConnectionOptions,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
} from 'nats';
import { ErrorCodes, EventBusError, OriginalReasons, isEventBusError } from '../../errors.js';
import { decodeEventId, encodeEventId } from '../../storage/format/event-id.js';
import type { EventStatus, SnapshotResult } from '../../storage/index.js';
import { deadLetterStreamName, validateStreamName } from '../../storage/stream-name.js';
import { checkFilter } from '../../storage/index.js';
import { deadLetterPayload } from '../../storage/consumers/dead-letter-record.js';
import type { AppendOptions, AppendResult, ConsumeQuery, EventStore, EventToAppend, ReadQuery, StoreSubscription, WriteRefusal } from '../event-store.js';
import type { SubscriptionLimits, SubscriptionSink, SubscriptionStart } from '../subscription.js';
import type { Delivery, EventPage, StreamInfoView, StreamView } from '../results.js';
import { DEFAULT_PAGE_STREAMS, MAX_PAGE_CONSUMERS, MAX_PAGE_STREAMS, isBrokenStream, type ListStreamsQuery, type ListedStream, type StreamListing } from '../stream-listing.js';
import { checkAppend, DEFAULT_BATCH_LIMITS } from '../append-checks.js';
import { Catalog, type CatalogEntry } from './catalog.js';
import { Consumers } from './consumers.js';
import { EventReads } from './event-reads.js';
import { JetStreamSubscription, type SubscriptionDeps } from './subscription.js';
import { resolveJetStreamOptions, type JetStreamOptions, type ResolvedJetStreamOptions } from './jetstream-options.js';
import { payloadOf, timeOfMsg } from './message-view.js';
import { CATALOG_BUCKET, Headers, consumerOfDeadLetterSubject, deadLetterSubject, jsConsumerName, jsStreamName, keyOfSubject } from './names.js';
import { JsErrors, backendError, isTransient, jsErrorCode, sleep } from './nats-errors.js';
import { connectFailure, natsAccessOptions } from './nats-access.js';
import { PubAckPublisher } from './pub-ack-publisher.js';
import { repairStream, retryOnStream, streamConfig } from './stream-config.js';
import { snapshotStream } from './stream-snapshot.js';
import { consumerPositions, type ConsumerPosition } from './consumer-resume.js';
import { LeaderAffinity, type PlacedPublisher } from './leader-affinity.js';
import { RetryPauses } from './retry-pauses.js';
import { WriteHorizon } from './write-horizon.js';
import { Writer } from './writer.js';

/**
 * Most bytes of an event's metadata: it is a header (Eb-Meta), and nats-server takes at most 64 KiB
 * of headers a message; the rest is room for the others (key, type, msg id, version, time).
 */
const MAX_METADATA_BYTES = 62 * 1024;

/** A NATS connection's drain at close, at most (then it is closed): shutdown stays short when the cluster is gone. */
const CLOSE_DRAIN_TIMEOUT_MS = 2000;

/**
 * Requests the cluster did not answer are retried for at most this long once shutdown begins
 * (a short election may still end in time), then fail with BACKEND_UNAVAILABLE (retry-pauses.ts).
 */
const SHUTDOWN_RETRY_GRACE_MS = 2000;

/** Snapshot of one stream: stalled after this long without its end. */
const SNAPSHOT_TIMEOUT_MS = 120_000;

export class JetStreamStore implements EventStore {
  readonly backend = 'jetstream';
  private readonly writer: Writer;
  private readonly consumers: Consumers;
  private readonly affinity: LeaderAffinity;
  private closing = false;
  /** False between the main connection's disconnect and its reconnect (readiness). */
  private connected = true;
  private readonly reads: EventReads;
  private readonly subscriptions = new Set<JetStreamSubscription>();
  /** Pauses of every retry loop (writes, stream reads): shutdown ends them (retry-pauses.ts). */
  private readonly pauses = new RetryPauses();

  private constructor(
    private readonly nc: NatsConnection,
    /** Extra connections writes are published over (writer.ts), beside `nc`. */
    /** Publishing connections beside `nc` (leader-affinity.ts); grows when a missing node is reached. */
    private readonly publishConnections: NatsConnection[],
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly catalog: Catalog,
    readonly options: ResolvedJetStreamOptions,
  ) {
    const repair = (entry: CatalogEntry) => this.repair(entry);
    this.reads = new EventReads(js, jsm, () => catalog.storePart, options, {
      state: (entry) => this.state(entry),
      ackFloor: async (entry, consumer) => (await this.consumers.info(entry, jsStreamName(entry.number), jsConsumerName(consumer)))?.ack_floor.stream_seq ?? 0,
    });
    const horizon = new WriteHorizon();
    this.affinity = new LeaderAffinity(
      [nc, ...publishConnections].map(placedOn),
      async (name) => (await jsm.streams.info(jsStreamName((await catalog.require(name)).number))).cluster?.leader,
      () => void this.connectMissingNodes(),
    );
    this.writer = new Writer((name) => this.affinity.pick(name), jsm, catalog, options, repair, horizon, this.pauses);
    this.consumers = new Consumers(nc, jsm, catalog, options, { deadLetter: (entry, consumer, msg) => this.deadLetter(entry, consumer, msg), repair }, () => connect(connectionOptions(options)), horizon);
    void this.watchConnection();
  }

  /** Follows the main connection's state: disconnected from every node, the gateway is not ready. */
  private async watchConnection(): Promise<void> {
    try {
      for await (const status of this.nc.status()) {
        if (status.type === Events.Disconnect) this.connected = false;
        else if (status.type === Events.Reconnect) this.connected = true;
      }
    } catch {
      // The iterator ends with the connection; isClosed() covers that.
    }
  }

  /**
   * What refuses writes now (/readyz): a closed gateway, or no connection to any node of the
   * cluster. A connection to a node of a cluster that lost its quorum still counts as ready: the
   * writes then fail with BACKEND_UNAVAILABLE after `write_timeout_ms`.
   */
  writeRefusals(): WriteRefusal[] {
    if (this.closing || this.nc.isClosed()) return [{ what: 'nats', code: ErrorCodes.CLOSED, reason: 'the connection to the NATS cluster is closed' }];
    if (!this.connected) return [{ what: 'nats', code: ErrorCodes.BACKEND_UNAVAILABLE, reason: `not connected to any NATS server of ${this.options.servers.join(',')} (reconnecting)` }];
    return [];
  }

  /** Connects to the cluster, waits for JetStream (up to startTimeoutMs) and opens the catalog. */
  static async open(options: JetStreamOptions): Promise<JetStreamStore> {
    const resolved = resolveJetStreamOptions(options);
    const deadline = Date.now() + resolved.startTimeoutMs;
    const silent = await silentServers(resolved.servers, resolved.requestTimeoutMs);
    if (silent.length === resolved.servers.length) {
      throw new EventBusError(ErrorCodes.BACKEND_UNAVAILABLE, `cannot connect to NATS at ${resolved.servers.join(',')}: ${silent.join('; ')} (is it a NATS client port?)`);
    }
    let nc: NatsConnection;
    try {
      nc = await connect(connectionOptions(resolved));
    } catch (error) {
      throw new EventBusError(ErrorCodes.BACKEND_UNAVAILABLE, `cannot connect to NATS at ${resolved.servers.join(',')}: ${connectFailure(error)}`, { cause: error });
    }
    try {
      const jsm = await nc.jetstreamManager({ timeout: resolved.requestTimeoutMs, checkAPI: false });
      const js = nc.jetstream({ timeout: resolved.requestTimeoutMs });
      for (;;) {
        try {
          const catalog = await Catalog.open(js, resolved.replicas);
          const extra: NatsConnection[] = [];
          try {
            for (let i = 1; i < resolved.publishConnections; i++) extra.push(await connect(connectionOptions(resolved)));
            extra.push(...(await connectToEveryNode(nc, extra, resolved)));
          } catch (error) {
            await Promise.all(extra.map((c) => c.close()));
            throw error;
          }
          return new JetStreamStore(nc, extra, js, jsm, catalog, resolved);
        } catch (error) {
          if (isEventBusError(error) || Date.now() >= deadline) throw backendError('opening the catalog (is JetStream enabled, with a meta leader?)', error);
          await sleep(250);
        }
      }
    } catch (error) {
      await nc.close();
      throw error;
    }
  }

  /** Adds publishing connections on the nodes none is on now (leader-affinity.ts); failures leave writes on the routes. */
  private async connectMissingNodes(): Promise<void> {
    if (this.closing) return;
    const added = await connectToEveryNode(this.nc, this.publishConnections, this.options).catch(() => []);
    for (const connection of added) {
      if (this.closing) {
        await connection.close();
        continue;
      }
      this.publishConnections.push(connection);
      this.affinity.add(placedOn(connection));
    }
  }

  /**
   * Closes the NATS connection (nothing to make durable: the cluster has it). Retries still under
   * way stop (their requests fail with BACKEND_UNAVAILABLE): no timer outlives the store.
   */
  async close(): Promise<void> {
    this.closing = true;
    this.pauses.stop();
    this.consumers.endWaits();
    await this.consumers.close();
    await Promise.all([this.nc, ...this.publishConnections].map((c) => drainOrClose(c, Math.min(this.options.requestTimeoutMs, CLOSE_DRAIN_TIMEOUT_MS))));
  }

  async createStream(name: string, allowReserved = false): Promise<StreamView> {
    validateStreamName(name, { allowReserved });
    const count = (await this.catalog.listNames()).length;
    if (count >= this.options.maxStreams) throw new EventBusError(ErrorCodes.TOO_MANY_STREAMS, `too many streams (the limit is ${this.options.maxStreams})`);
    const entry = await this.catalog.create(name);
    try {
      await this.jsm.streams.add(streamConfig(name, entry.number, this.options));
    } catch (error) {
      // Already added, with another gateway's options, by a repair that found the new catalog
      // entry first (stream-config.ts): the number is this create's alone, so it is this stream.
      if (jsErrorCode(error) === JsErrors.streamNameInUse) return { id: entry.id, name, createdMs: entry.createdMs };
      await this.catalog.delete(name).catch(() => {});
      throw backendError(`creating stream '${name}'`, error);
    }
    return { id: entry.id, name, createdMs: entry.createdMs };
  }

  /**
   * Leaves the catalog first (every gateway then answers STREAM_NOT_FOUND), then deletes the
   * JetStream stream: a crash in between leaves an orphan no name points to, never a name
   * without its events.
   */
  async deleteStream(name: string): Promise<void> {
    const entry = await this.catalog.require(name, true);
    await this.catalog.delete(name);
    this.affinity.forget(name);
    try {
      await this.jsm.streams.delete(jsStreamName(entry.number));
    } catch (error) {
      if (jsErrorCode(error) !== JsErrors.streamNotFound) throw backendError(`deleting stream '${name}'`, error);
    }
  }

  streamInfo(name: string): Promise<StreamInfoView> {
    return this.catalog.with(name, (entry) => this.infoOf(entry));
  }

  private async infoOf(entry: CatalogEntry): Promise<StreamInfoView> {
    const name = entry.name;
    const state = await this.state(entry);
    const consumers = await this.consumers.list(entry, await this.deadLetterCounts(name));
    const firstOffset = state.messages === 0 ? state.last_seq : state.first_seq - 1;
    return { id: entry.id, name, createdMs: entry.createdMs, eventCount: state.messages, firstOffset, nextOffset: state.last_seq, bytes: state.bytes, segmentCount: 0, consumers, damage: [] };
  }

  async listStreams(query: ListStreamsQuery): Promise<StreamListing> {
    const maxStreams = Math.min(query.maxStreams ?? DEFAULT_PAGE_STREAMS, MAX_PAGE_STREAMS);
    const from = query.fromName === undefined ? null : Buffer.from(query.fromName, 'utf8');
    const names = (await this.catalog.listNames())
      .map((name) => ({ name, key: Buffer.from(name, 'utf8') }))
      .filter((entry) => from === null || Buffer.compare(entry.key, from) >= 0)
      .sort((a, b) => Buffer.compare(a.key, b.key));
    const streams: ListedStream[] = [];
    let consumers = 0;
    for (const { name } of names) {
      if (streams.length >= maxStreams) return { streams, nextName: name };
      let listed: ListedStream;
      try {
        listed = await this.streamInfo(name);
      } catch (error) {
        if (isEventBusError(error, ErrorCodes.STREAM_NOT_FOUND)) continue; // deleted while listed
        throw error;
      }
      const count = isBrokenStream(listed) ? 0 : listed.consumers.length;
      if (streams.length > 0 && consumers + count > MAX_PAGE_CONSUMERS) return { streams, nextName: name };
      streams.push(listed);
      consumers += count;
    }
    return { streams, nextName: null };
  }

  /**
   * Checks the append as the engine does (append-checks.ts), in the engine's order: an unknown
   * stream first, then the fields and sizes, then (several events) NOT_SUPPORTED; the writer
   * does the rest.
   */
  append(streamName: string, events: readonly EventToAppend[], options: AppendOptions): Promise<AppendResult> {
    try {
      checkAppend(events, options, { maxEventBytes: this.options.maxEventBytes, ...DEFAULT_BATCH_LIMITS });
      events.forEach((event, i) => {
        const bytes = event.metadata?.length ?? 0;
        if (bytes > MAX_METADATA_BYTES) {
          throw new EventBusError(ErrorCodes.EVENT_TOO_LARGE, `event ${i}'s metadata is ${bytes} bytes; the jetstream backend keeps metadata in a NATS header, which holds at most ${MAX_METADATA_BYTES}`, {
            context: { field: `events[${i}].metadata`, limit: MAX_METADATA_BYTES, bytes },
          });
        }
      });
    } catch (refusal) {
      // Rare: the lookup costs a catalog read only here. A catalog that cannot be read leaves the refusal.
      return this.catalog.require(streamName).then(
        () => Promise.reject(refusal),
        (error: unknown) => Promise.reject(isEventBusError(error, ErrorCodes.STREAM_NOT_FOUND) ? error : refusal),
      );
    }
    if (events.length > 1) return this.catalog.require(streamName).then(() => this.writer.append(streamName, events, options));
    return this.writer.append(streamName, events, options);
  }

  /** A page of `get_stream_events` (event-reads.ts). */
  read(query: ReadQuery): Promise<EventPage> {
    return this.catalog.with(query.streamName, (entry) => this.reads.page(entry, query));
  }

  consume(streamName: string, consumer: string, query: ConsumeQuery): Promise<Delivery> {
    return this.consumers.consume(streamName, consumer, query);
  }

  /** The same fetch as consume: JetStream cannot hand out only the due retries (docs/protocol.md). */
  retry(streamName: string, consumer: string, maxEvents: number | undefined): Promise<Delivery> {
    return this.consumers.consume(streamName, consumer, { ...(maxEvents === undefined ? {} : { maxEvents }), autoAck: false }, true);
  }

  async mark(consumer: string, eventIds: readonly string[], status: EventStatus): Promise<void> {
    const groups = new Map<number, { entry: CatalogEntry; ids: string[]; offsets: number[] }>();
    for (const id of eventIds) {
      const location = decodeEventId(id);
      const entry = location === null || location.storePart !== this.catalog.storePart ? null : await this.catalog.byNumber(location.streamNumber);
      if (location === null || entry === null) throw new EventBusError(ErrorCodes.EVENT_NOT_FOUND, OriginalReasons.eventNotFound(id));
      let group = groups.get(entry.number);
      if (group === undefined) groups.set(entry.number, (group = { entry, ids: [], offsets: [] }));
      group.ids.push(id);
      group.offsets.push(location.offset);
    }
    for (const { entry, ids, offsets } of groups.values()) {
      // Checked only when the consumers cannot tell without it (consumers.ts, mark): an event this
      // gateway delivered and holds exists, so its stream's state need not be read.
      const checkExists = async () => {
        const state = await this.state(entry).catch((error: unknown) => {
          if (isEventBusError(error, ErrorCodes.STREAM_NOT_FOUND)) throw new EventBusError(ErrorCodes.EVENT_NOT_FOUND, OriginalReasons.eventNotFound(ids[0]!));
          throw error;
        });
        offsets.forEach((offset, i) => {
          if (offset >= state.last_seq) throw new EventBusError(ErrorCodes.EVENT_NOT_FOUND, OriginalReasons.eventNotFound(ids[i]!));
        });
      };
      await this.consumers.mark(entry, consumer, ids, offsets, status, checkExists);
    }
  }

  /**
   * Every stream of the catalog, then the catalog bucket itself, each through JetStream's stream
   * snapshot (with its consumers) into a new directory: `<js name>.snap` and `<js name>.snap.json`
   * (its configuration) per stream and for the catalog, and a MANIFEST.json naming them, with each
   * stream's consumers' positions (read just before its snapshot). Each stream is a point in time of its own, not the store.
   */
  async snapshot(parentDir: string): Promise<SnapshotResult> {
    const createdAt = new Date().toISOString();
    const dir = path.join(parentDir, `snapshot-${createdAt.replace(/[-:]/g, '')}`);
    const streams: { name: string; js_name: string; messages: number; bytes: number; consumers: ConsumerPosition[] }[] = [];
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      for (const name of (await this.catalog.listNames()).sort()) {
        const entry = await this.catalog.get(name);
        if (entry === null) continue;
        const jsName = jsStreamName(entry.number);
        let taken = { messages: 0, bytes: 0 };
        // Each consumer's position, for a restore to resume its `new` consumers from (consumer-resume.ts).
        const consumers = await consumerPositions(this.jsm, jsName, async () => {
          taken = await snapshotStream(this.nc, jsName, path.join(dir, `${jsName}.snap`), SNAPSHOT_TIMEOUT_MS, this.options.requestTimeoutMs);
        });
        streams.push({ name, js_name: jsName, ...taken, consumers });
      }
      const catalogStream = `KV_${CATALOG_BUCKET}`;
      const catalogTaken = await snapshotStream(this.nc, catalogStream, path.join(dir, `${catalogStream}.snap`), SNAPSHOT_TIMEOUT_MS, this.options.requestTimeoutMs);
      const manifest = { backend: 'jetstream', created_at: createdAt, catalog: catalogStream, catalog_messages: catalogTaken.messages, streams };
      writeFileSync(path.join(dir, 'MANIFEST.json'), JSON.stringify(manifest, null, 1), { mode: 0o600 });
    } catch (error) {
      throw snapshotFailure(error);
    }
    return {
      path: dir,
      createdAt,
      streams: streams.length,
      events: streams.reduce((sum, s) => sum + s.messages, 0),
      bytes: streams.reduce((sum, s) => sum + s.bytes, 0),
      linkedFiles: 0,
      copiedFiles: streams.length * 2 + 3,
      copyFallback: false,
      leftOut: [],
    };
  }

  /** Shutdown begins: long-polls and subscriptions end now, retries of unanswered requests within SHUTDOWN_RETRY_GRACE_MS. */
  endWaits(): void {
    this.pauses.stopAfter(SHUTDOWN_RETRY_GRACE_MS);
    this.consumers.endWaits();
    for (const subscription of [...this.subscriptions]) subscription.endWith(ErrorCodes.SHUTTING_DOWN, 'the server is shutting down');
  }

  /** A catch-up subscription (subscription.ts). */
  subscribe(name: string, from: SubscriptionStart, sink: SubscriptionSink, limits: SubscriptionLimits): StoreSubscription {
    // A bad filter is refused at once, as on the engine (the rest is found asynchronously).
    if (from.key !== undefined || from.types !== undefined) checkFilter({ ...(from.key === undefined ? {} : { key: from.key }), ...(from.types === undefined ? {} : { types: from.types }) });
    const deps: SubscriptionDeps = {
      js: this.js,
      jsm: this.jsm,
      catalog: this.catalog,
      options: this.options,
      state: (entry) => this.state(entry),
      offsetAtTime: async (entry, timeMs) => {
        const state = await this.state(entry);
        return this.reads.offsetAtTime(entry, { firstSeq: state.messages === 0 ? state.last_seq + 1 : state.first_seq, lastSeq: state.last_seq }, timeMs);
      },
    };
    const subscription: JetStreamSubscription = new JetStreamSubscription(deps, name, from, sink, limits, () => this.subscriptions.delete(subscription));
    this.subscriptions.add(subscription);
    return subscription;
  }

  /** The stream's state and leader (its server name), from the leader; STREAM_NOT_FOUND when JetStream no longer has it. */
  private async state(entry: CatalogEntry): Promise<{ messages: number; first_seq: number; last_seq: number; bytes: number; leader: string | undefined }> {
    const how = { catalog: this.catalog, repair: (e: CatalogEntry) => this.repair(e), deadlineMs: Date.now() + this.options.writeTimeoutMs, pauseMs: 100, pauses: this.pauses, doing: `reading stream '${entry.name}'` };
    return retryOnStream(entry, how, async () => {
      const info = await this.jsm.streams.info(jsStreamName(entry.number));
      return { ...info.state, leader: info.cluster?.leader };
    });
  }


  /**
   * Completes a create that stopped between the catalog and JetStream (stream-config.ts): true
   * when the catalog still names `entry` and its JetStream stream now exists.
   */
  private async repair(entry: CatalogEntry): Promise<boolean> {
    const now = await this.catalog.get(entry.name, true).catch(() => null);
    if (now === null || now.number !== entry.number) return false;
    return repairStream(this.jsm, entry, this.options);
  }

  /**
   * Dead letters per consumer of `name`: events of `$dlq:<name>` on each consumer's dead-letter
   * subject (names.ts). Records written before those subjects were on the consumer's key subject
   * (with the consumer as their key): they are counted too.
   */
  private async deadLetterCounts(name: string): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    const dlq = await this.catalog.get(deadLetterStreamName(name));
    if (dlq === null) return counts;
    try {
      const jsName = jsStreamName(dlq.number);
      const info = await this.jsm.streams.info(jsName, { subjects_filter: `${jsName}.>` });
      for (const [subject, count] of Object.entries(info.state.subjects ?? {})) {
        const consumer = consumerOfDeadLetterSubject(jsName, subject) ?? keyOfSubject(jsName, subject);
        if (consumer !== undefined) counts.set(consumer, (counts.get(consumer) ?? 0) + count);
      }
    } catch {
      // The dead-letter stream is gone or unreadable: no counts.
    }
    return counts;
  }

  /**
   * Writes the dead-letter record of `msg` to `$dlq:<stream>` (created on first use) on the
   * consumer's dead-letter subject. As on the engine the record has no key, version or type: only
   * the time header, and a msg id of the gateway's own (never shown). Published through the
   * writer: retried through elections and timeouts as a write is (up to `write_timeout_ms`), and
   * its sequence in the write horizon, so a consumer of `$dlq:<stream>` waits for it (consumers.ts).
   */
  private async deadLetter(entry: CatalogEntry, consumer: string, msg: JsMsg): Promise<void> {
    try {
      await this.writeDeadLetter(entry, consumer, msg);
    } catch (error) {
      throw inCallersTerms(entry.name, error);
    }
  }

  /** The move itself (see deadLetter); its failures name the dead-letter stream by its internal name. */
  private async writeDeadLetter(entry: CatalogEntry, consumer: string, msg: JsMsg): Promise<void> {
    const dlqName = deadLetterStreamName(entry.name);
    let dlq = await this.catalog.get(dlqName);
    if (dlq === null) {
      try {
        await this.createStream(dlqName, true);
      } catch (error) {
        if (!isEventBusError(error, ErrorCodes.STREAM_EXISTS)) throw error;
      }
      dlq = await this.catalog.require(dlqName, true);
    }
    const offset = msg.seq - 1;
    const origin = { id: encodeEventId(entry.number, offset, this.catalog.storePart), stream: entry.name, stream_id: entry.id, offset, consumer, delivery_count: msg.info.deliveryCount - 1 };
    // Within the events' own limit (a body that would not fit is left out, saying so): a record
    // past it could be refused by the cluster's max_payload, and the move would never succeed.
    const record = deadLetterPayload(origin, { offset, timestampMs: timeOfMsg(msg), payload: payloadOf(msg), attributes: null }, new Date().toISOString(), this.options.maxEventBytes);
    const h = natsHeaders();
    // Fixed per event and consumer: a dead letter written twice (two gateways, a retry) is stored once.
    h.set(Headers.msgId, `dlq:${jsStreamName(entry.number)}:${consumer}:${msg.seq}`);
    h.set(Headers.timeMs, String(Date.now()));
    try {
      await this.writer.publishRecord(dlq, deadLetterSubject(jsStreamName(dlq.number), consumer), record, h);
    } catch (error) {
      // The writer's own failure speaks of a client's write and its msg_id: this one is the gateway's.
      const cause = isEventBusError(error, ErrorCodes.BACKEND_UNAVAILABLE) ? (error.cause ?? error) : error;
      if (isEventBusError(cause)) throw cause; // STREAM_NOT_FOUND: the dead-letter stream was deleted meanwhile
      throw new EventBusError(ErrorCodes.BACKEND_UNAVAILABLE, `dead-lettering an event of stream '${entry.name}': the JetStream cluster did not answer within ${this.options.writeTimeoutMs} ms (${(cause as Error).message})`, { cause });
    }
  }
}

/**
 * The servers that take a TCP connection but do not greet as a NATS server (its `INFO` line)
 * within `timeoutMs`, each as a sentence; a server that refuses or cannot be resolved is not
 * listed (the NATS client says why). Asked before the NATS client connects: when its connect
 * times out waiting for the greeting, nats.js (2.29) leaves the socket open, which kept a gateway
 * that could not start alive, not listening, forever.
 */
async function silentServers(servers: readonly string[], timeoutMs: number): Promise<string[]> {
  const answers = await Promise.all(servers.map((server) => new Promise<string | null>((resolve) => {
    let url: URL;
    try {
      url = new URL(server.includes('://') ? server : `nats://${server}`);
    } catch {
      resolve(null);
      return;
    }
    const socket = net.connect({ host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port === '' ? 4222 : Number(url.port) });
    let received = '';
    const done = (answer: string | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(`${server} accepted the connection but sent nothing within ${timeoutMs} ms`), timeoutMs);
    socket.on('error', () => done(null));
    socket.on('close', () => done(null));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.length >= 5 || received.includes('\n')) done(received.startsWith('INFO') ? null : `${server} answered, but not as a NATS server`);
    });
  })));
  return answers.filter((answer): answer is string => answer !== null);
}

/**
 * A failed move of an event of `streamName` to its dead-letter stream, as the caller of
 * process_events sees it: the same code and context, and a reason that names the caller's stream
 * and "its dead-letter stream", not the name that stream is kept under (`$dlq:<stream>`, internal).
 */
function inCallersTerms(streamName: string, error: unknown): unknown {
  if (!isEventBusError(error)) return error;
  const internal = deadLetterStreamName(streamName);
  const prefix = `dead-lettering an event of stream '${streamName}'`;
  const detail = error.reason === OriginalReasons.streamNotFound(internal)
    ? 'its dead-letter stream was deleted meanwhile (the event is due again: a later call moves it to a new one)'
    : error.reason.split(`stream '${internal}'`).join('its dead-letter stream').split(`'${internal}'`).join('its dead-letter stream');
  const reason = detail.startsWith(prefix) ? detail : `${prefix}: ${detail}`;
  return new EventBusError(error.code, reason, { cause: error, ...(error.context === undefined ? {} : { context: error.context }) });
}

/**
 * Why a snapshot failed, as an EventBusError: BACKEND_UNAVAILABLE when the cluster did not answer
 * (no quorum, no leader, unreachable), as every other operation says it; SNAPSHOT_FAILED otherwise
 * (the snapshot's own files, a stream's snapshot that stalled).
 */
function snapshotFailure(error: unknown): EventBusError {
  const unavailable = isEventBusError(error) ? error.code === ErrorCodes.BACKEND_UNAVAILABLE : isTransient(error);
  if (!unavailable) return new EventBusError(ErrorCodes.SNAPSHOT_FAILED, `snapshot failed: ${(error as Error).message}`, { cause: error });
  return isEventBusError(error) ? new EventBusError(error.code, `snapshot failed: ${error.reason}`, { cause: error }) : backendError('snapshot failed', error);
}

/** A connection's publisher, and the node it is on now. */
function placedOn(connection: NatsConnection): PlacedPublisher {
  return { publisher: new PubAckPublisher(connection), serverName: () => connection.info?.server_name };
}

/** Nodes a gateway opens publishing connections to, at most (leader-affinity.ts). */
const MAX_NODE_CONNECTIONS = 16;

/**
 * A publishing connection on each node of the cluster that `nc` and `extra` are not on
 * (leader-affinity.ts): one to each configured server and each client URL the cluster
 * advertises, kept when it lands on a node not yet covered. A node that cannot be reached now is
 * skipped (its streams' writes go through the routes).
 */
async function connectToEveryNode(nc: NatsConnection, extra: readonly NatsConnection[], options: ResolvedJetStreamOptions): Promise<NatsConnection[]> {
  const covered = new Set([nc, ...extra].map((c) => c.info?.server_name));
  const urls = [...new Set([...options.servers, ...(nc.info?.connect_urls ?? [])])].slice(0, MAX_NODE_CONNECTIONS);
  const attempts = await Promise.allSettled(urls.map((url) => connect({ ...connectionOptions(options), servers: [url], noRandomize: true })));
  const kept: NatsConnection[] = [];
  for (const attempt of attempts) {
    if (attempt.status === 'rejected') continue;
    const name = attempt.value.info?.server_name;
    if (name === undefined || covered.has(name)) {
      await attempt.value.close();
      continue;
    }
    covered.add(name);
    kept.push(attempt.value);
  }
  return kept;
}

/**
 * Drains `nc` (what it still has to send goes out), and closes it whatever the drain did. A
 * connection that lost its server may end its drain without closing, or never end it, and its
 * reconnect loop (maxReconnectAttempts -1) then kept the process alive after shutdown.
 */
async function drainOrClose(nc: NatsConnection, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  await Promise.race([nc.drain().catch(() => {}), timedOut]);
  clearTimeout(timer);
  if (!nc.isClosed()) await nc.close().catch(() => {});
}

function connectionOptions(options: ResolvedJetStreamOptions): ConnectionOptions {
  const connection: ConnectionOptions = {
    servers: options.servers,
    name: 'eventbus-gateway',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 5000,
    timeout: options.requestTimeoutMs,
    // Without it the client captures a stack trace (two Errors) for every request in case it
    // fails: 19 % of the gateway's CPU at (16,32). A failure still carries its code, which is
    // all the gateway reads.
    noAsyncTraces: true,
    ...natsAccessOptions(options),
    // Events up to maxEventBytes plus headers: the server's max_payload must allow them too.
  };
  return connection;
}
