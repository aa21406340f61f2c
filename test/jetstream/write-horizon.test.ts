/**
 * The write horizon (src/bus/jetstream/write-horizon.ts): per stream, the highest sequence a
 * write through this gateway was acknowledged at, which a consumer's read-your-writes compares
 * with what it delivered (consumers.ts; on a real cluster: write-path.test.ts). Bounded.
 */
import t from 'tap';
import { MAX_STREAMS, WriteHorizon } from '../../src/bus/jetstream/write-horizon.js';

t.test('the write horizon: the highest acknowledged sequence per stream, bounded', async (t) => {
  const horizon = new WriteHorizon();
  t.equal(horizon.last('EB_1'), 0, 'nothing written: 0');
  horizon.wrote('EB_1', 5);
  horizon.wrote('EB_1', 3);
  t.equal(horizon.last('EB_1'), 5, 'acknowledgements out of order do not lower it');
  horizon.wrote('EB_1', 9);
  t.equal(horizon.last('EB_1'), 9);
  for (let i = 0; i < MAX_STREAMS + 10; i++) horizon.wrote(`EB_x${i}`, 1);
  t.ok(horizon.size <= MAX_STREAMS, `${horizon.size} streams tracked, at most ${MAX_STREAMS}`);
  horizon.wrote('EB_1', 10);
  t.equal(horizon.last('EB_1'), 10, 'and it goes on tracking');
});
