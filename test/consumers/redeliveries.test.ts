/**
 * Consumer.redeliveries answers "none marked 0" from a count rather than a walk over every
 * outstanding entry (process_events asks twice per delivery). The count must follow every change:
 * random sequences of deliveries, marks, redeliveries, dead-lettering, restores, clamps and cuts,
 * checked after each step against a walk over the entries. Replay with EVENTBUS_TEST_SEED=<seed>.
 */
import t from 'tap';
import { Consumer, EntryStates, type EntryState } from '../../src/storage/consumers/consumer.js';
import { seededRandom } from '../helpers/random.js';

const forcedSeed = process.env.EVENTBUS_TEST_SEED;
const SEED = forcedSeed !== undefined && forcedSeed !== '' ? Number(forcedSeed) : Math.floor(Math.random() * 2 ** 31);
t.comment(`seed ${SEED} (replay: EVENTBUS_TEST_SEED=${SEED})`);

function walk(consumer: Consumer): number[] {
  return [...consumer.entries].filter(([, e]) => e.state === EntryStates.REDELIVER && e.deadLettering !== true).map(([offset]) => offset);
}

t.test('redeliveries() agrees with a walk over the entries after every change', async (t) => {
  const r = seededRandom(SEED);
  let mismatches = 0;
  for (let run = 0; run < 200; run++) {
    const consumer = new Consumer(1, 'c', 0, 0);
    for (let step = 0; step < 200; step++) {
      const outstanding = [...consumer.entries.keys()];
      const some = () => outstanding.filter(() => r.chance(0.3));
      switch (r.int(0, 7)) {
        case 0:
          consumer.applyDeliver(consumer.cursor + (r.chance(0.1) ? r.int(1, 3) : 0), r.int(1, 10), 0, r.chance(0.1));
          break;
        case 1:
        case 2:
          consumer.applyMark(some(), r.pick([0, 1, 2] as const));
          break;
        case 3:
          consumer.applyRedeliver(some(), 0, r.chance(0.2), r.chance(0.5));
          break;
        case 4:
          consumer.applyDeadLetter(some());
          break;
        case 5:
          if (consumer.cursor > 0) consumer.restoreEntry(r.int(0, consumer.cursor - 1), { deliveries: 1, state: r.pick([0, 2, 3]) as EntryState, deadlineMs: 0 });
          break;
        case 6:
          consumer.clampTo(r.int(0, consumer.cursor));
          break;
        case 7:
          if (r.chance(0.2)) consumer.cutTo(r.int(0, consumer.cursor));
          break;
      }
      const expected = walk(consumer);
      const got = consumer.redeliveries(Number.MAX_SAFE_INTEGER);
      const first = consumer.redeliveries(1);
      if (JSON.stringify(got) !== JSON.stringify(expected) || JSON.stringify(first) !== JSON.stringify(expected.slice(0, 1))) {
        mismatches++;
        if (mismatches < 5) t.same(got, expected, `run ${run}, step ${step}`);
      }
    }
  }
  t.equal(mismatches, 0);
});
