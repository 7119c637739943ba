// One block per device family: each turns its part of the options into adapter instances.
import type { Options } from '../options.js';
import type { Adapter, AdapterContext } from './adapter.js';
import { GivEnergyAdapter } from './givenergy/adapter.js';
import { GivTcpRestServer } from './givenergy/givtcp-rest.js';
import { VaillantAdapter } from './vaillant/adapter.js';

export type ContextFor = (module: string) => AdapterContext;

export function createAdapters(options: Options, contextFor: ContextFor): Adapter[] {
  const adapters: Adapter[] = [];
  const inverters = options.givenergy.map((o) => new GivEnergyAdapter(o, contextFor(`givenergy ${o.host}`)));
  adapters.push(...inverters);
  if (inverters.length && options.givenergy_rest?.enabled) {
    const context = contextFor('givtcp-rest');
    adapters.push(new GivTcpRestServer(options.givenergy_rest, inverters, context.log, context.clock));
  }
  adapters.push(...options.vaillant.map((o) => new VaillantAdapter(o, contextFor(`vaillant ${o.username}`))));
  return adapters;
}
