import { Engine, isEventBusError } from 'eventbus/storage';

const dataDir = process.argv[2] ?? 'example-data';
const engine = await Engine.open({ dataDir, maxEventBytes: 1024 });
try {
  if (engine.getStream('small') === undefined) await engine.createStream('small');
  const attempts = [
    () => engine.append('no-such-stream', Buffer.from('{}')),
    () => engine.append('small', Buffer.alloc(2048)),
    () => Engine.open({ dataDir }), // one engine per data directory, in this process or another
  ];
  for (const attempt of attempts) {
    try {
      await attempt();
    } catch (error) {
      // Every failure is an EventBusError with a stable code and a human reason; anything else is a bug.
      if (!isEventBusError(error)) throw error;
      console.log(`${error.code}: ${error.reason}`);
    }
  }
} finally {
  await engine.close();
}
