/**
 * Ephemeral readers (`get_stream_events`, `subscribe`) on the stream leader's node.
 *
 * A reader is a pull consumer of one replica, and nats-server 2.9 places it on any of the
 * stream's replicas (checked on a 3-node cluster: 6, 5 and 1 of 12 readers on the three nodes).
 * A reader reads its own node's copy of the stream. A follower's copy may lag, and a node that
 * was killed and came back was seen, for a while after, to hold messages at other sequences than
 * the leader's: pages read from it named events by the wrong offsets (a 100-cycle fault run; the
 * leader's copy was right, and the same reads minutes later were too). So a reader not on the
 * leader is deleted and made again, up to {@link READER_PLACEMENT_TRIES} times; the caller is told
 * whether the last one landed there, and reads from the leader some other way when it did not.
 */
import type { ConsumerConfig, JetStreamManager } from 'nats';

/** Readers made before giving up on the leader's node: with 3 replicas, 1 read in 26 gives up. */
export const READER_PLACEMENT_TRIES = 8;

/** A reader made by {@link addReaderOnLeader}. */
export interface PlacedReader {
  name: string;
  /** True when it is on the leader's node (or the leader is not known: nothing to compare). */
  onLeader: boolean;
}

/**
 * Makes an ephemeral reader of `jsName` with `config`, on the node of `leader` (the stream
 * leader's server name) when it can within {@link READER_PLACEMENT_TRIES} tries. Throws what
 * creating a consumer throws.
 */
export async function addReaderOnLeader(jsm: JetStreamManager, jsName: string, config: Partial<ConsumerConfig>, leader: string | undefined): Promise<PlacedReader> {
  for (let attempt = 1; ; attempt++) {
    const info = await jsm.consumers.add(jsName, config);
    const node = info.cluster?.leader;
    if (leader === undefined || node === undefined || node === leader) return { name: info.name, onLeader: true };
    if (attempt >= READER_PLACEMENT_TRIES) return { name: info.name, onLeader: false };
    await jsm.consumers.delete(jsName, info.name).catch(() => {});
  }
}
