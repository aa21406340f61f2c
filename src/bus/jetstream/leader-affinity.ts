/**
 * Writes go to the stream leader's node when the gateway has a connection there. A publish that
 * another node receives crosses a route to the leader and comes back the same way: two more
 * processes to wake per write, about a quarter of a write's time with one in flight (measured
 * with nats.js alone on a 3-node cluster here: 1,202–1,534 writes/s on the leader's node against
 * 823–1,357/s on the others, in the same run).
 *
 * The gateway keeps a publishing connection on every node it can reach (jetstream-store.ts),
 * learns each stream's leader from the stream's info, cached for {@link LEADER_TTL_MS} and read
 * again in the background, and a stream's write lane takes the leader's connection when it is
 * made. A lane is made only when the stream has no write of this gateway in flight and keeps its
 * connection while any is (write-lane.ts), so switching never reorders writes. After a leader
 * change writes still work, through the routes, until the next read of the leader. A leader on a
 * node without a connection (down at the start, or back after its connection moved elsewhere)
 * makes the gateway connect to the nodes it misses.
 */
import type { PubAckPublish } from './pub-ack-publisher.js';

/** How long a stream's leader, once read, is trusted before it is read again (in the background). */
export const LEADER_TTL_MS = 2000;
/** A leader on a node with no connection asks for connections to the missing nodes at most this often. */
export const RECONNECT_INTERVAL_MS = 10_000;
/** Streams whose leader is remembered, at most (past it the map starts again). */
export const MAX_LEADERS = 10_000;

/** A publishing client and the node its connection is on now (it moves on a reconnect). */
export interface PlacedPublisher {
  publisher: PubAckPublish;
  /** The server name of the node the connection is on, undefined while it is not connected. */
  serverName(): string | undefined;
}

export class LeaderAffinity {
  private readonly leaders = new Map<string, { leader: string | undefined; readMs: number }>();
  private readonly reading = new Set<string>();
  private next = 0;
  private lastMissingMs = -Infinity;

  constructor(
    /** The publishers; {@link add} appends to it. */
    private readonly placed: PlacedPublisher[],
    /** Reads the server name of the leader of eventbus stream `streamName` (undefined: none now). */
    private readonly readLeader: (streamName: string) => Promise<string | undefined>,
    /**
     * Told (at most every {@link RECONNECT_INTERVAL_MS}) that a leader is on a node no publisher is
     * on: a node that was down when the gateway started, or whose connection moved to another
     * node while it was down. The owner connects to the missing nodes and {@link add}s them.
     */
    private readonly nodeMissing: () => void = () => {},
  ) {}

  /** A publisher on a node none was on (see nodeMissing). */
  add(placed: PlacedPublisher): void {
    this.placed.push(placed);
  }

  /**
   * The publisher for a new lane of `streamName`: one on the leader's node when the leader is
   * known and one is there, else the next in turn. Starts a read of the leader when it is not
   * known or is older than {@link LEADER_TTL_MS}; never waits for it.
   */
  pick(streamName: string): PubAckPublish {
    const known = this.leaders.get(streamName);
    if (known === undefined || Date.now() - known.readMs > LEADER_TTL_MS) this.refresh(streamName);
    const leader = known?.leader;
    if (leader !== undefined) {
      const onLeader = this.placed.find((p) => p.serverName() === leader);
      if (onLeader !== undefined) return onLeader.publisher;
      const nowMs = Date.now();
      if (nowMs - this.lastMissingMs >= RECONNECT_INTERVAL_MS) {
        this.lastMissingMs = nowMs;
        this.nodeMissing();
      }
    }
    return this.placed[this.next++ % this.placed.length]!.publisher;
  }

  /** Streams whose leader is remembered now (for tests of the bound). */
  get remembered(): number {
    return this.leaders.size;
  }

  /** The stream was deleted here: its leader is forgotten. */
  forget(streamName: string): void {
    this.leaders.delete(streamName);
  }

  private refresh(streamName: string): void {
    if (this.reading.has(streamName)) return;
    this.reading.add(streamName);
    const remember = (leader: string | undefined) => {
      if (this.leaders.size >= MAX_LEADERS && !this.leaders.has(streamName)) this.leaders.clear();
      this.leaders.set(streamName, { leader, readMs: Date.now() });
    };
    this.readLeader(streamName)
      .then(remember, () => remember(undefined))
      .finally(() => this.reading.delete(streamName));
  }
}
