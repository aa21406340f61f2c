/**
 * The load generator's reply framing: replies split anywhere across socket reads are counted
 * once each, failures are told apart, and RESP values come back whole (a miscount here would
 * silently inflate or deflate every figure of a run).
 */
import t from 'tap';
import { respFramer } from '../../bench/core/framers.js';
import { lineFramer } from '../../src/cli/bench/line-framer.js';
import { RespParser, respCommand } from '../../bench/core/resp.js';
import { stat } from '../../bench/core/figures.js';

t.test('JSON lines: every reply counted once wherever the reads split it; failures counted', async (t) => {
  const replies = Buffer.from('{"operation":"write_event","status":true,"body":{}}\n{"operation":"write_event","status":false,"reason":"x"}\n{"operation":"write_event","status":true}\n');
  for (let cut = 0; cut <= replies.length; cut++) {
    const framer = lineFramer('{"operation":"write_event","status":true');
    const count = framer.feed(replies.subarray(0, cut)) + framer.feed(replies.subarray(cut));
    t.equal(count, 3, `cut at ${cut}`);
    t.equal(framer.failures, 1, `cut at ${cut}`);
  }
  const bytewise = lineFramer('{"operation":"write_event","status":true');
  let count = 0;
  for (const byte of replies) count += bytewise.feed(Buffer.from([byte]));
  t.equal(count, 3);
  t.equal(bytewise.failures, 1);
});

t.test('RESP: values whole across any split; errors are failures', async (t) => {
  const replies = Buffer.from('$15\r\n1700000000000-0\r\n-ERR no such key\r\n:3\r\n*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\ne\r\n$4\r\nhé!\r\n*-1\r\n');
  for (let cut = 0; cut <= replies.length; cut++) {
    const parser = new RespParser();
    const values = [...parser.feed(replies.subarray(0, cut)), ...parser.feed(replies.subarray(cut))];
    t.equal(values.length, 5, `cut at ${cut}`);
    t.equal(values[0], '1700000000000-0');
    t.ok(values[1] instanceof Error && values[1].message === 'ERR no such key');
    t.equal(values[2], 3);
    t.same(values[3], [['s', [['1-0', ['e', 'hé!']]]]]);
    t.equal(values[4], null);
  }
  const framer = respFramer();
  let count = 0;
  for (const byte of replies) count += framer.feed(Buffer.from([byte]));
  t.equal(count, 5);
  t.equal(framer.failures, 1);
});

t.test('RESP commands are arrays of bulk strings with byte lengths', async (t) => {
  t.equal(respCommand(['XADD', 's', '*', 'e', '{"é":1}']).toString(), '*5\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$1\r\ne\r\n$8\r\n{"é":1}\r\n');
});

t.test('a figure is the median of its repetitions with min and max', async (t) => {
  t.same(stat([3, 1, 2]), { median: 2, min: 1, max: 3, reps: [3, 1, 2] });
  t.same(stat([4, 1, 2, 3]), { median: 2.5, min: 1, max: 4, reps: [4, 1, 2, 3] });
  t.throws(() => stat([]));
});
