/**
 * Disk errors (src/storage/testing/faulty-io.ts): a failed write or fsync is never acknowledged; the
 * append fails with DISK_FULL (ENOSPC) or IO_ERROR (anything else); the stream then refuses
 * appends, saying why, until the store is reopened; reads of what was acknowledged keep working;
 * and after a reopen on a healthy disk every acknowledged event is there and nothing of a failed
 * write shows.
 */
import fs from 'node:fs';
import t from 'tap';
import { EventBusError } from '../../src/errors.js';
import type { Engine } from '../../src/storage/engine.js';
import { FaultyIO, type FaultSpec } from 'eventbus/storage/testing';
import { dataEnd, openEngine, payload, readAll, segmentFiles, streamDir } from '../helpers/store.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';

const OPTIONS = { segmentSizeBytes: 2048 };

/** A store through a FaultyIO with one stream holding `acknowledged` events. */
async function setup(t: TapTest, acknowledged: number) {
  const dataDir = tempDir(t, 'disk-errors');
  const io = new FaultyIO();
  const engine = await openEngine(dataDir, { ...OPTIONS, io });
  await engine.createStream('s');
  const payloads: Buffer[] = [];
  for (let i = 0; i < acknowledged; i++) {
    payloads.push(payload(`ack${i}`, 60));
    await engine.append('s', payloads[i]!);
  }
  return { dataDir, io, engine, payloads, dir: streamDir(engine, 's') };
}

async function settleAll(promises: Promise<unknown>[]): Promise<{ resolved: number; errors: EventBusError[] }> {
  const results = await Promise.allSettled(promises);
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as EventBusError] : []));
  return { resolved: results.length - errors.length, errors };
}

/** After the failure: refused appends, working reads; after reopen: every acknowledged event. */
async function expectFailedStream(t: TapTest, ctx: Awaited<ReturnType<typeof setup>>, refusalCode: string, acknowledged: Buffer[]): Promise<void> {
  const refused = await settleAll([ctx.engine.append('s', Buffer.from('after the failure'))]);
  t.equal(refused.errors[0]?.code, refusalCode, `later appends refused with ${refusalCode}`);
  t.match(refused.errors[0]?.reason, /refuses appends until reopened/, 'and the reason says why and what to do');
  ctx.io.clearFaults();
  const stillRefused = await settleAll([ctx.engine.append('s', Buffer.from('disk healthy again'))]);
  t.equal(stillRefused.errors.length, 1, 'still refused once the disk is healthy, until reopened');
  const events = readAll(ctx.engine, 's');
  t.ok(acknowledged.every((p, i) => events[i]?.payload.equals(p)), 'reads of acknowledged events keep working');
  await ctx.engine.close();

  const reopened = await openEngine(ctx.dataDir, OPTIONS);
  const after = readAll(reopened, 's');
  t.ok(acknowledged.every((p, i) => after[i]?.offset === i && after[i]!.payload.equals(p)), 'after reopen every acknowledged event is there');
  t.same(reopened.stats('s').damage, [], 'and no damage');
  const next = await reopened.append('s', Buffer.from('healthy'));
  t.equal(next.offset, reopened.stats('s').nextOffset - 1, 'appends work again');
  await reopened.close();
}

t.test('ENOSPC writing an append: DISK_FULL, nothing acknowledged, nothing left behind', async (t) => {
  for (const [what, fault] of [
    ['on the log', { op: 'writev', errno: 'ENOSPC', path: /\.log$/, persistent: true }],
    ['part-way through the log write', { op: 'writev', errno: 'ENOSPC', path: /\.log$/, partialBytes: 50, persistent: true }],
    ['on the index', { op: 'writev', errno: 'ENOSPC', path: /\.index$/, persistent: true }],
  ] as [string, FaultSpec][]) {
    await t.test(what, async (t) => {
      const ctx = await setup(t, 20);
      const active = segmentFiles(ctx.dir).at(-1)!;
      // The log may be preallocated past its data: compare the data, not the file size.
      const dataBefore = dataEnd(active.log);
      ctx.io.inject(fault);
      const failed = await settleAll(Array.from({ length: 5 }, (_, i) => ctx.engine.append('s', payload(`lost${i}`, 60))));
      t.equal(failed.resolved, 0, 'nothing acknowledged');
      t.ok(failed.errors.every((e) => e.code === 'DISK_FULL'), 'every append of the failed write: DISK_FULL');
      t.match(failed.errors[0]?.reason, /disk full/);
      t.equal(dataEnd(active.log), dataBefore, 'no part of the failed write is left in the log');
      t.ok(fs.readFileSync(active.log).subarray(dataBefore).every((b) => b === 0), 'past the data: only zeros, if anything');
      t.equal(ctx.engine.stats('s').nextOffset, 20);
      await expectFailedStream(t, ctx, 'DISK_FULL', ctx.payloads);
      const reopened = await openEngine(ctx.dataDir, OPTIONS);
      t.equal(readAll(reopened, 's').filter((e) => e.payload.toString().startsWith('lost')).length, 0, 'no failed event ever appears');
      await reopened.close();
    });
  }
});

t.test('ENOSPC creating the next segment at a roll: DISK_FULL', async (t) => {
  const ctx = await setup(t, 5);
  ctx.io.inject({ op: 'open', errno: 'ENOSPC', path: /\.log$/, persistent: true });
  const failed = await settleAll(Array.from({ length: 40 }, (_, i) => ctx.engine.append('s', payload(`roll${i}`, 60))));
  t.equal(failed.resolved, 0, 'nothing of the write that needed a new segment is acknowledged');
  t.ok(failed.errors.length > 0 && failed.errors.every((e) => e.code === 'DISK_FULL'));
  await expectFailedStream(t, ctx, 'DISK_FULL', ctx.payloads);
});

t.test('EIO from fsync: IO_ERROR, nothing acknowledged, the stream refuses appends', async (t) => {
  const ctx = await setup(t, 20);
  ctx.io.inject({ op: ['datasync', 'datasyncNow'], errno: 'EIO', path: /\.log$/ });
  const failed = await settleAll(Array.from({ length: 5 }, (_, i) => ctx.engine.append('s', payload(`unsynced${i}`, 60))));
  t.equal(failed.resolved, 0, 'nothing acknowledged');
  t.ok(failed.errors.every((e) => e.code === 'IO_ERROR'), 'IO_ERROR');
  t.match(failed.errors[0]?.reason, /fsync .* failed \(EIO\)/);
  await expectFailedStream(t, ctx, 'STREAM_FAILED', ctx.payloads);
});

t.test('EIO from the directory fsync of a roll: IO_ERROR', async (t) => {
  const ctx = await setup(t, 5);
  ctx.io.inject({ op: 'syncDir', errno: 'EIO', path: ctx.dir });
  const failed = await settleAll(Array.from({ length: 40 }, (_, i) => ctx.engine.append('s', payload(`roll${i}`, 60))));
  t.equal(failed.resolved, 0, 'nothing of the rolled write is acknowledged');
  t.ok(failed.errors.length > 0 && failed.errors.every((e) => e.code === 'IO_ERROR'));
  await expectFailedStream(t, ctx, 'STREAM_FAILED', ctx.payloads);
});

t.test('a failure in one stream does not stop the others', async (t) => {
  const ctx = await setup(t, 3);
  await ctx.engine.createStream('other');
  ctx.io.inject({ op: 'writev', errno: 'EIO', path: new RegExp(`^${ctx.dir}/`), persistent: true });
  await t.rejects(ctx.engine.append('s', Buffer.from('x')), { code: 'IO_ERROR' });
  t.equal((await ctx.engine.append('other', Buffer.from('fine'))).offset, 0, 'the other stream still takes appends');
  await ctx.engine.close();
});

t.test('EIO reading: the read fails with IO_ERROR, and the next read works', async (t) => {
  const ctx = await setup(t, 10);
  const fault = ctx.io.inject({ op: 'read', errno: 'EIO', path: /\.log$/, persistent: true });
  let error: unknown;
  try {
    ctx.engine.read('s', 0);
  } catch (caught) {
    error = caught;
  }
  t.ok(error instanceof EventBusError, 'an EventBusError, not a raw system error');
  t.equal((error as EventBusError | undefined)?.code, 'IO_ERROR');
  fault.clear();
  t.equal(readAll(ctx.engine, 's').length, 10);
  await ctx.engine.close();
});

t.test('ENOSPC creating a stream: DISK_FULL and the stream does not exist', async (t) => {
  const dataDir = tempDir(t, 'disk-errors');
  const io = new FaultyIO();
  let engine: Engine = await openEngine(dataDir, { ...OPTIONS, io });
  io.inject({ op: 'writev', errno: 'ENOSPC', path: /catalog/ });
  await t.rejects(engine.createStream('new'), { code: 'DISK_FULL' });
  t.equal(engine.getStream('new'), undefined);
  await engine.close();
  engine = await openEngine(dataDir, OPTIONS);
  t.equal(engine.getStream('new'), undefined, 'not after a reopen either');
  t.same(fs.readdirSync(`${dataDir}/streams`), [], 'and no files of it remain');
  await engine.createStream('new');
  await engine.close();
});
