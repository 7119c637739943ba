// One line per device family: each turns its part of the options into adapter instances.
import type { Options } from '../options.js';
import type { Adapter, AdapterContext } from './adapter.js';

export type ContextFor = (module: string) => AdapterContext;

export function createAdapters(_options: Options, _contextFor: ContextFor): Adapter[] {
  const adapters: Adapter[] = [];
  return adapters;
}
