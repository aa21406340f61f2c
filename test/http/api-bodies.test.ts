/**
 * The admin API's request bodies: bytes that are not UTF-8 are refused (INVALID_UTF8), never
 * decoded with U+FFFD in their place; a lone surrogate in a name is refused as on the TCP side;
 * `retention` is taken by POST /api/streams with create_stream's checks; and a member an action
 * does not take is refused naming it, never silently ignored.
 */
import t from 'tap';
import { httpServerFor, rawHttp, statusOf } from './http-helpers.js';

interface Answer {
  status: number;
  json: unknown;
}

async function post(port: number, path: string, body: string | Buffer, method = 'POST'): Promise<Answer> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: { 'content-type': 'application/json' }, body });
  const text = await response.text();
  return { status: response.status, json: text === '' ? undefined : JSON.parse(text) };
}

t.test('a body that is not UTF-8 is 400 INVALID_UTF8, and nothing is created', async (t) => {
  const server = await httpServerFor(t);
  const port = server.httpPort;
  for (const bytes of [[0xff, 0xfe], [0xc3], [0xed, 0xa0, 0x80] /* a surrogate encoded */, [0xc0, 0xaf] /* overlong */]) {
    const body = Buffer.concat([Buffer.from('{"name":"'), Buffer.from(bytes), Buffer.from('"}')]);
    const answer = await post(port, '/api/streams', body);
    t.equal(answer.status, 400, `bytes ${Buffer.from(bytes).toString('hex')}: 400`);
    t.match(answer.json, { error: { status: 400, code: 'INVALID_UTF8', reason: /not valid UTF-8/ } });
  }
  const snapshot = await post(port, '/api/snapshots', Buffer.concat([Buffer.from('{"output":"'), Buffer.from([0xff]), Buffer.from('"}')]));
  t.match([snapshot.status, snapshot.json], [400, { error: { code: 'INVALID_UTF8' } }], 'a snapshot output too');
  t.same(server.engine.listStreams(), [], 'no stream was created');
  const good = await post(port, '/api/streams', Buffer.from('{"name":"caf\u00e9 \u2615"}'));
  t.equal(good.status, 201, 'UTF-8 names are taken');
});

t.test('a lone surrogate (escaped in JSON) in a name or output is refused, as on the TCP side', async (t) => {
  const server = await httpServerFor(t);
  const port = server.httpPort;
  for (const name of ['\\ud800', 'a\\udc00b']) {
    const answer = await post(port, '/api/streams', `{"name":"${name}"}`);
    t.match([answer.status, answer.json], [400, { error: { code: 'INVALID_STREAM_NAME' } }], `name "${name}": 400 INVALID_STREAM_NAME`);
  }
  const client = await server.client();
  await t.rejects(client.createStream('\ud800'), { code: 'INVALID_STREAM_NAME' }, 'the TCP side answers the same');
  const snapshot = await post(port, '/api/snapshots', '{"output":"x\\ud800"}');
  t.equal(snapshot.status, 400, 'an output with a lone surrogate: 400');
  t.same(server.engine.listStreams(), []);
});

t.test('POST /api/streams takes retention, checked as create_stream checks it', async (t) => {
  const server = await httpServerFor(t);
  const port = server.httpPort;
  const made = await post(port, '/api/streams', '{"name":"kept5","retention":{"max_events":5,"max_age_ms":null}}');
  t.equal(made.status, 201);
  const client = await server.client();
  const info = await client.getStreamInfo('kept5');
  t.match(info.retention, { maxEvents: 5 }, 'the stream has the retention asked for');
  for (const [retention, field] of [
    ['{"max_events":-1}', 'retention.max_events'],
    ['{"max_events":1.5}', 'retention.max_events'],
    ['{"max_events":5.0}', 'retention.max_events'],
    ['{"max_event":5}', 'retention.max_event'],
    ['5', 'retention'],
  ] as const) {
    const answer = await post(port, '/api/streams', `{"name":"bad","retention":${retention}}`);
    t.equal(answer.status, 400, `retention ${retention}: 400`);
    t.match(answer.json, { error: { code: 'INVALID_FIELD', reason: new RegExp(field.replace('.', '\\.')) } });
  }
  t.same(server.engine.listStreams().map((s) => s.name), ['kept5'], 'no stream made by a refused request');
});

t.test('a body member an action does not take is 400 INVALID_FIELD naming it', async (t) => {
  const server = await httpServerFor(t);
  const port = server.httpPort;
  const create = await post(port, '/api/streams', '{"name":"x","retension":{"max_events":5}}');
  t.equal(create.status, 400, 'a misspelt member of a create: 400');
  t.match(create.json, { error: { code: 'INVALID_FIELD', reason: /unknown member "retension".*"name" and "retention"/ } });
  const snapshot = await post(port, '/api/snapshots', '{"ouput":"elsewhere"}');
  t.match([snapshot.status, snapshot.json], [400, { error: { code: 'INVALID_FIELD', reason: /"ouput"/ } }], 'a misspelt member of a snapshot: 400, none taken');
  const notObject = await post(port, '/api/snapshots', '[]');
  t.match([notObject.status, notObject.json], [400, { error: { code: 'INVALID_JSON' } }], 'a body that is not an object: 400');
  const client = await server.client();
  await client.createStream('y');
  const remove = await post(port, '/api/streams/y', '{"name":"z"}', 'DELETE');
  t.match([remove.status, remove.json], [400, { error: { code: 'INVALID_FIELD', reason: /"name".*takes no members/ } }], 'a DELETE with a body member: 400');
  t.equal((await client.getStreamInfo('y')).name, 'y', 'not deleted');
  t.equal((await post(port, '/api/streams/y', '{}', 'DELETE')).status, 200, 'an empty object is fine');
  t.same(server.engine.listStreams(), [], 'nothing else made');
  const raw = await rawHttp(port, `POST /api/snapshots HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
  t.equal(statusOf(raw), 201, 'an empty object takes the default snapshot');
});
