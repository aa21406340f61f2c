import t from 'tap';
import { LINE_TOO_LONG, LineReader } from '../../src/protocol/line-reader.js';

function all(reader: LineReader): (string | symbol)[] {
  const out: (string | symbol)[] = [];
  for (;;) {
    const line = reader.next();
    if (line === null) return out;
    out.push(typeof line === 'symbol' ? line : line.toString());
  }
}

t.test('splits lines, drops \\r before \\n, skips blank and whitespace-only lines', async (t) => {
  const reader = new LineReader(100);
  reader.push(Buffer.from('{"a":1}\r\n\n   \t\r\n{"b":2}\n  {"c":3}  \n'));
  t.same(all(reader), ['{"a":1}', '{"b":2}', '  {"c":3}  ']);
  t.notOk(reader.hasPartialLine);
});

t.test('a line split at every byte comes out whole, once', async (t) => {
  const text = '{"operation":"health","x":"\u00e9\u{1F600}"}\r\n';
  const bytes = Buffer.from(text);
  for (let cut = 1; cut < bytes.length; cut++) {
    const reader = new LineReader(100);
    reader.push(bytes.subarray(0, cut));
    t.same(all(reader), [], `nothing before the newline (cut ${cut})`);
    t.ok(reader.hasPartialLine || cut === 0);
    reader.push(bytes.subarray(cut));
    t.same(all(reader), [text.slice(0, -2)]);
  }
});

t.test('a line longer than the limit is reported as soon as known, and nothing more is kept', async (t) => {
  const reader = new LineReader(10);
  reader.push(Buffer.from('{"ok":123}\n'));
  t.same(all(reader), ['{"ok":123}'], 'exactly the limit is fine');
  reader.push(Buffer.from('0123456789'));
  t.same(all(reader), [], 'at the limit without a newline: still waiting');
  reader.push(Buffer.from('\r'));
  t.same(all(reader), [], 'a trailing \\r may still end the line');
  reader.push(Buffer.from('xx'));
  t.same(all(reader), [LINE_TOO_LONG]);
  reader.push(Buffer.from('more\n{"a":1}\n'));
  t.same(all(reader), [], 'after the failure nothing is read');
  t.notOk(reader.hasPartialLine);
});

t.test('a complete line over the limit in one chunk is too long', async (t) => {
  const reader = new LineReader(4);
  reader.push(Buffer.from('{"a":1}\n'));
  t.same(all(reader), [LINE_TOO_LONG]);
});

t.test('pull-based: lines stay buffered until taken', async (t) => {
  const reader = new LineReader(100);
  reader.push(Buffer.from('{"a":1}\n{"b":2}\n{"c"'));
  t.equal(reader.next()!.toString(), '{"a":1}');
  t.ok(reader.hasUnreadBytes);
  reader.push(Buffer.from(':3}\n'));
  t.same(all(reader), ['{"b":2}', '{"c":3}']);
  t.notOk(reader.hasUnreadBytes);
});
