/** Number and figure formatting shared by the terminal table, the markdown and the live rows. */
import type { Figure, Stat } from '../core/figures.js';
import type { SystemDefinition, SystemId } from '../systems/system.js';

/** Rates and counts as whole numbers with separators; small values with 2–3 significant decimals. */
export function formatNumber(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 100) return Math.round(value).toLocaleString('en-US');
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

export function formatStat(stat: Stat): string {
  return stat.min === stat.max ? formatNumber(stat.median) : `${formatNumber(stat.median)} (${formatNumber(stat.min)}–${formatNumber(stat.max)})`;
}

export function formatRatio(ratio: number): string {
  return `${ratio.toFixed(2)}×`;
}

/** `eventbus, fsync always` and the like; ids of non-systems (disk, engine) as they are. */
export function systemLabel(id: string, definitions: ReadonlyMap<SystemId, SystemDefinition>): string {
  return definitions.get(id as SystemId)?.label ?? id;
}

/** A dagger on systems that do not fsync per acknowledgement, explained under every table. */
export function durabilityMark(id: string, definitions: ReadonlyMap<SystemId, SystemDefinition>): string {
  return definitions.get(id as SystemId)?.durability === 'no-fsync' ? ' †' : '';
}

export function latencyText(figure: Figure): string {
  if (figure.latency === undefined) return '';
  return `p50 ${formatNumber(figure.latency.p50Ms.median)} ms, p99 ${formatNumber(figure.latency.p99Ms.median)} ms`;
}

/** One line per finished figure, for the live display. */
export function figureLine(figure: Figure, definitions: ReadonlyMap<SystemId, SystemDefinition>): string {
  const latency = latencyText(figure);
  return `${figure.case} · ${systemLabel(figure.system, definitions)}${durabilityMark(figure.system, definitions)}: ${formatStat(figure.value)} ${figure.unit}${latency === '' ? '' : `; ${latency}`}${figure.errors > 0 ? `; ${figure.errors} ERRORS` : ''}`;
}
