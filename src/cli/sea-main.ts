/**
 * Entry point of the self-contained `eventbus` binary (Node single executable application,
 * built by `npm run build:sea`; see src/cli/sea-build.ts). The same command as main.ts, without
 * top-level await, which the CommonJS bundle a single executable needs cannot hold.
 */
import { run } from './run.js';
import { seaResources } from './sea-resources.js';

void run(process.argv, seaResources());
