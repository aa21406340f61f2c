/** The bus's options, for embedded users: a bad value is INVALID_FIELD naming it, never INTERNAL. */
import t from 'tap';
import { EventBus, resolveBusOptions } from '../../src/bus/bus.js';
import { Engine } from '../../src/storage/index.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('bad page options are INVALID_FIELD naming the option', async (t) => {
  t.throws(() => resolveBusOptions({ maxPageEvents: 0 }), { code: 'INVALID_FIELD', message: /maxPageEvents must be a whole number from 1 to 9007199254740991, got 0/ });
  t.throws(() => resolveBusOptions({ maxPageBytes: -1 }), { code: 'INVALID_FIELD', message: /maxPageBytes/ });
  t.throws(() => resolveBusOptions({ defaultPageEvents: 1.5 }), { code: 'INVALID_FIELD', message: /defaultPageEvents/ });
  t.throws(() => resolveBusOptions({ maxPageEvents: 10 }), { code: 'INVALID_FIELD', message: /defaultPageEvents \(1000\) must not be larger than maxPageEvents \(10\)/ });
  t.same(resolveBusOptions({ maxPageEvents: 10, defaultPageEvents: 10 }).maxPageEvents, 10);
});

t.test('a bus built with them refuses the same way', async (t) => {
  const engine = await Engine.open({ dataDir: tempDir(t, 'bus-options'), retentionIntervalMs: 0 });
  t.teardown(() => engine.close());
  t.throws(() => new EventBus(engine, { maxPageEvents: 0 }), { code: 'INVALID_FIELD' });
});
