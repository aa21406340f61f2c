/**
 * The free functions of `eventbus/storage` and the research tools of `eventbus/storage/testing`,
 * called with what an embedder may pass by mistake: every refusal is an EventBusError
 * INVALID_FIELD (INVALID_STREAM_NAME for a stream name) naming the argument in `context.field`,
 * with a reason that says what was expected; never a TypeError from deep inside, a wrong answer
 * (an event id with a dot in it) or a change made before the refusal (SimIO's real operation ran
 * before its model refused the path; a materialize of no image after removing the root's files).
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import {
  checkFilter,
  deadLetterStreamName,
  decodeEventId,
  ErrorCodes,
  eventIdOf,
  inspectStoreDirectory,
  isEventBusError,
  isIdOf,
  matchesFilter,
  nodeIO,
  restoreSnapshot,
  verifyDirectory,
} from 'eventbus/storage';
import { DurabilityModel, faultState, readJournal, replayJournal, SimIO, seededRandom, systemError } from 'eventbus/storage/testing';
import { refusedWith } from '../helpers/engine-refusal.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';

const F = ErrorCodes.INVALID_FIELD;

/** The reason of the EventBusError `call` throws (a test failure if it throws anything else). */
function reasonOf(t: TapTest, call: () => unknown): string {
  try {
    call();
  } catch (error) {
    if (isEventBusError(error)) return error.reason;
    t.fail(`expected an EventBusError, got ${String(error)}`);
    return '';
  }
  t.fail('expected a refusal, got success');
  return '';
}

t.test('verifyDirectory, restoreSnapshot and inspectStoreDirectory refuse a missing path or file layer by name', async (t) => {
  const dir = tempDir(t, 'public-tools');
  const calls: [string, () => unknown, string][] = [
    ['verifyDirectory without a dir', () => (verifyDirectory as (io: unknown) => unknown)(nodeIO), 'dir'],
    ['verifyDirectory with a number', () => verifyDirectory(nodeIO, 5 as never), 'dir'],
    ['verifyDirectory with "" (the working directory)', () => verifyDirectory(nodeIO, ''), 'dir'],
    ['verifyDirectory with an io that is no FileIO', () => verifyDirectory({} as never, dir), 'io'],
    ['restoreSnapshot without paths', () => (restoreSnapshot as (io: unknown) => unknown)(nodeIO), 'snapshotDir'],
    ['restoreSnapshot with a number as target', () => restoreSnapshot(nodeIO, dir, 5 as never), 'dataDir'],
    ['restoreSnapshot without io', () => restoreSnapshot(undefined as never, dir, path.join(dir, 'x')), 'io'],
    ['inspectStoreDirectory with a number', () => inspectStoreDirectory(5 as never), 'dir'],
    ['inspectStoreDirectory with an io that is no FileIO', () => inspectStoreDirectory(dir, 5 as never), 'io'],
  ];
  for (const [label, call, field] of calls) await refusedWith(t, call, F, field, label);
  t.match(reasonOf(t, () => verifyDirectory(nodeIO, '')), /^dir must be a non-empty path, got ""$/, 'the reason says what was expected and what came');
  t.notOk(fs.existsSync(path.join(dir, 'x')), 'nothing was restored');
});

t.test('eventIdOf, isIdOf and decodeEventId refuse what no stream has, instead of making a malformed id', async (t) => {
  const epochs = [{ storePart: 7, fromOffset: 0 }];
  const calls: [string, () => unknown, string][] = [
    ['eventIdOf with a fractional stream number', () => eventIdOf(1.5, epochs, 0), 'streamNumber'],
    ['eventIdOf with stream number 0', () => eventIdOf(0, epochs, 0), 'streamNumber'],
    ['eventIdOf with a string stream number', () => eventIdOf('1' as never, epochs, 0), 'streamNumber'],
    ['eventIdOf with a negative offset', () => eventIdOf(1, epochs, -1), 'offset'],
    ['eventIdOf with offset 2^53', () => eventIdOf(1, epochs, 2 ** 53), 'offset'],
    ['eventIdOf without epochs', () => eventIdOf(1, null as never, 0), 'epochs'],
    ['eventIdOf with an epoch without storePart', () => eventIdOf(1, [{ fromOffset: 0 }] as never, 0), 'epochs[0].storePart'],
    ['eventIdOf with a misspelt epoch key', () => eventIdOf(1, [{ storePart: 7, fromOffset: 0, from: 3 }] as never, 0), 'epochs[0].from'],
    ['eventIdOf with epochs out of order', () => eventIdOf(1, [{ storePart: 7, fromOffset: 5 }, { storePart: 8, fromOffset: 2 }], 0), 'epochs[1].fromOffset'],
    ['eventIdOf with a store part past 36 bits', () => eventIdOf(1, [{ storePart: 2 ** 40, fromOffset: 0 }], 3), 'epochs[0].storePart'],
    ['eventIdOf with a 33-bit stream number and a store part', () => eventIdOf(2 ** 33, epochs, 0), 'streamNumber'],
    ['isIdOf without a location', () => isIdOf(undefined as never, epochs), 'location'],
    ['isIdOf without epochs', () => isIdOf({ streamNumber: 1, offset: 0, storePart: 7 }, undefined as never), 'epochs'],
    ['decodeEventId of a number', () => decodeEventId(5 as never), 'id'],
    ['decodeEventId of undefined', () => decodeEventId(undefined as never), 'id'],
  ];
  for (const [label, call, field] of calls) await refusedWith(t, call, F, field, label);
  // What is accepted still works, and round-trips.
  const id = eventIdOf(1, epochs, 42);
  t.same(decodeEventId(id), { streamNumber: 1, offset: 42, storePart: 7 });
  t.ok(isIdOf(decodeEventId(id)!, epochs));
  t.equal(decodeEventId('not an id'), null, 'a string that is no id is null, not an error');
  t.ok(eventIdOf(2 ** 33, [{ storePart: null, fromOffset: 0 }], 0), 'the legacy layout holds 48-bit stream numbers');
});

t.test('matchesFilter and checkFilter refuse a filter of the wrong shape, naming the part', async (t) => {
  const calls: [string, () => unknown, string][] = [
    ['matchesFilter without a filter', () => matchesFilter(undefined as never, null), 'filter'],
    ['matchesFilter with a null filter', () => matchesFilter(null as never, null), 'filter'],
    ['matchesFilter with a numeric key', () => matchesFilter({ key: 5 } as never, { key: 'a' }), 'key'],
    ['matchesFilter with types as a string', () => matchesFilter({ types: 'x' } as never, { type: 'x' }), 'types'],
    ['matchesFilter with a number among types', () => matchesFilter({ types: ['x', 3] } as never, { type: 'x' }), 'types[1]'],
    ['matchesFilter with type for types', () => matchesFilter({ type: 'x' } as never, { type: 'x' }), 'filter.type'],
    ['matchesFilter with attributes that are a number', () => matchesFilter({ types: ['x'] }, 5 as never), 'attributes'],
    ['checkFilter without a filter', () => checkFilter(undefined as never), 'filter'],
    ['checkFilter with a numeric key', () => checkFilter({ key: 5 } as never), 'key'],
    ['checkFilter with type for types', () => checkFilter({ type: 'x' } as never), 'filter.type'],
  ];
  for (const [label, call, field] of calls) await refusedWith(t, call, F, field, label);
  t.equal(matchesFilter({ key: 'a', types: ['x'] }, { key: 'a', type: 'x' }), true, 'a good filter matches');
  t.equal(matchesFilter({ key: 'a' }, null), false, 'an event without attributes does not match a key');
});

t.test('deadLetterStreamName refuses a name that is not a string', async (t) => {
  await refusedWith(t, () => deadLetterStreamName(5 as never), ErrorCodes.INVALID_STREAM_NAME, 'streamName', 'a number');
  t.equal(deadLetterStreamName('jobs'), '$dlq:jobs');
});

t.test('seededRandom refuses a seed it would fold into another, and its methods what they cannot honour', async (t) => {
  const calls: [string, () => unknown, string][] = [
    ['a fractional seed', () => seededRandom(1.5), 'seed'],
    ['a negative seed', () => seededRandom(-1), 'seed'],
    ['a seed past 32 bits', () => seededRandom(2 ** 32), 'seed'],
    ['NaN', () => seededRandom(NaN), 'seed'],
    ['a string', () => seededRandom('7' as never), 'seed'],
    ['int with min above max', () => seededRandom(1).int(5, 1), 'max'],
    ['int with a fractional min', () => seededRandom(1).int(0.5, 3), 'min'],
    ['chance above 1', () => seededRandom(1).chance(1.5), 'p'],
    ['chance below 0', () => seededRandom(1).chance(-0.1), 'p'],
    ['bytes of a negative length', () => seededRandom(1).bytes(-1), 'length'],
    ['pick of nothing', () => seededRandom(1).pick([]), 'items'],
  ];
  for (const [label, call, field] of calls) await refusedWith(t, call, F, field, label);
  t.match(reasonOf(t, () => seededRandom(1.5)), /^seed must be a whole number from 0 to 4294967295, got 1\.5$/);
  t.same([seededRandom(2 ** 32 - 1).int(0, 9), seededRandom(0).pick(['a'])].length, 2, 'the bounds themselves are accepted');
});

t.test('SimIO refuses a path outside its root or a descriptor it did not open before doing anything', async (t) => {
  const base = tempDir(t, 'sim-io-args');
  const root = path.join(base, 'root');
  fs.mkdirSync(root);
  const sim = new SimIO({ root });
  const outside = path.join(base, 'outside');
  const foreign = fs.openSync(path.join(base, 'foreign'), 'w+');
  t.teardown(() => fs.closeSync(foreign));
  const calls: [string, () => unknown, string][] = [
    ['mkdir outside the root', () => sim.mkdir(outside), 'dir'],
    ['open outside the root', () => sim.open(path.join(base, 'foreign'), 'r+'), 'file'],
    ['rename out of the root', () => sim.rename(path.join(root, 'a'), outside), 'to'],
    ['syncDir of the root\'s parent', () => sim.syncDirNow(base), 'dir'],
    ['a path that is not a string', () => sim.mkdir(5 as never), 'dir'],
    ['writev on a descriptor it did not open', () => sim.writev(foreign, [Buffer.from('x')], 0), 'fd'],
    ['truncate on a descriptor it did not open', () => sim.truncate(foreign, 0), 'fd'],
  ];
  for (const [label, call, field] of calls) await refusedWith(t, call, F, field, label);
  t.notOk(fs.existsSync(outside), 'the directory outside the root was not made');
  t.equal(fs.fstatSync(foreign).size, 0, 'nothing was written through the foreign descriptor');
  t.equal(sim.ops, 0, 'no refused call counted as an operation (crashAtOp points stay where they were)');
  sim.mkdir(path.join(root, 'inside'));
  await sim.syncDir(root);
  t.ok(fs.existsSync(path.join(root, 'inside')), 'a path under the root still works');
});

t.test('DurabilityModel.apply refuses a record that does not fit what it saw, as INVALID_FIELD record', async (t) => {
  const root = tempDir(t, 'model-args');
  const model = DurabilityModel.fromDisk(root);
  await refusedWith(t, () => model.apply({ op: 'sync-end', token: 9 }), F, 'record', 'a sync that never began');
  await refusedWith(t, () => model.apply({ op: 'unlink', path: path.join(root, 'missing') }), F, 'record', 'an unlink of a file it does not have');
  await refusedWith(t, () => model.apply({ op: 'mkdir', path: '/elsewhere/dir' }), F, 'record', 'a directory outside the root');
});

t.test('the rest of the research tools refuse what they cannot use: a root, a mode, an image, an errno, a journal, a model', async (t) => {
  const root = tempDir(t, 'tools-args');
  const model = DurabilityModel.fromDisk(root);
  fs.writeFileSync(path.join(root, 'kept'), 'x');
  const calls: [string, () => unknown, string][] = [
    ['DurabilityModel.fromDisk of a missing directory', () => DurabilityModel.fromDisk(path.join(root, 'missing')), 'root'],
    ['DurabilityModel.fromDisk of a number', () => DurabilityModel.fromDisk(5 as never), 'root'],
    ['durableImage of an unknown mode (was: drop)', () => model.durableImage('tron' as never), 'mode'],
    ['materialize of no image (was: everything under the root removed, then a TypeError)', () => model.materialize(null as never), 'image'],
    ['systemError of an errno it cannot give', () => systemError('ENOENT' as never, 'open'), 'errno'],
    ['readJournal of a missing file', () => readJournal(path.join(root, 'no-journal')), 'file'],
    ['replayJournal without a model', () => replayJournal(null as never, path.join(root, 'no-journal')), 'model'],
    ['faultState of a number', () => faultState(5 as never), 'control'],
  ];
  for (const [label, call, field] of calls) await refusedWith(t, call, F, field, label);
  t.ok(fs.existsSync(path.join(root, 'kept')), 'the refused materialize removed nothing');
});
