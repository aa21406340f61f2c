#!/usr/bin/env node
/**
 * The `eventbus` command (the npm build; sea-main.ts is the single executable's).
 *
 *   eventbus serve [--host] [--port] [--data] [--config FILE] [--fsync always|interval|never] [--log-level]
 *   eventbus snapshot [--data DIR] --output DIR | verify [--data DIR | PATH] | restore SNAPSHOT [--data NEWDIR]
 *   eventbus docs [protocol|operations]
 *   eventbus streams | create NAME | delete NAME | info NAME | write NAME [JSON] | read NAME [--follow]
 *            | consume NAME [--ack] | bench | completion bash|zsh      (client-program.ts)
 *
 * Options fall back to EVENTBUS_* environment variables, then the config file, then defaults.
 * Errors are printed as one line, `eventbus: <reason>` (client commands: `eventbus: CODE: reason`);
 * the exit status says what kind of failure it was (exit-status.ts).
 */
import { packageResources } from './package-resources.js';
import { run } from './run.js';

await run(process.argv, packageResources());
