/** Every workload of `npm run bench`, in the order a full run measures them. */
import { appendBatchWorkload } from './append-batch.js';
import { clientVsRawWorkload } from './client-vs-raw.js';
import { diskWorkload } from './disk.js';
import { drainRelaxedWorkload, drainWorkload } from './drain.js';
import { ebloadWorkload } from './ebload.js';
import { engineWorkload } from './engine.js';
import { engineBatchingWorkload } from './engine-batching.js';
import { engineObserverWorkload } from './engine-observer.js';
import { enginePreallocWorkload } from './engine-prealloc.js';
import { engineRecoveryWorkload } from './engine-recovery.js';
import { idleWorkload } from './idle.js';
import { jetstreamGatewayWorkload } from './jetstream-gateway.js';
import { keyIndexWorkload } from './key-index.js';
import { markCostWorkload } from './mark-cost.js';
import { metricsCostWorkload } from './metrics-cost.js';
import { mixedWorkload } from './mixed.js';
import { snapshotWorkload } from './snapshot.js';
import { subscribeLatencyWorkload } from './subscribe-latency.js';
import { keyReadWorkload } from './key-read.js';
import { writeWorkloads } from './write.js';
import type { Workload } from './workload.js';

export const WORKLOADS: readonly Workload[] = [
  diskWorkload,
  ...writeWorkloads,
  drainWorkload,
  drainRelaxedWorkload,
  mixedWorkload,
  clientVsRawWorkload,
  ebloadWorkload,
  markCostWorkload,
  metricsCostWorkload,
  appendBatchWorkload,
  keyIndexWorkload,
  engineWorkload,
  engineBatchingWorkload,
  engineRecoveryWorkload,
  enginePreallocWorkload,
  engineObserverWorkload,
  snapshotWorkload,
  subscribeLatencyWorkload,
  keyReadWorkload,
  idleWorkload,
  jetstreamGatewayWorkload,
];

/** `write` selects write-*, `redis` selects redis-*; exact names always work. */
export function matches(name: string, selectors: readonly string[]): boolean {
  return selectors.length === 0 || selectors.some((s) => name === s || name.startsWith(`${s}-`));
}

/** The workloads `--only` selects: by name or group, opt-in ones only by their exact name. */
export function selectWorkloads(only: readonly string[]): Workload[] {
  return WORKLOADS.filter((w) => (w.optIn === true ? only.includes(w.name) : matches(w.name, only)));
}
