// One block per device family: each turns its part of the options into adapter instances. A
// family's code is loaded only when it is configured: each brings its own libraries (Vaillant
// the HTTP client, 20 MB of memory), which a home without that device should not carry.
import type { Options } from '../options.js';
import type { Adapter, AdapterContext } from './adapter.js';

export type ContextFor = (module: string) => AdapterContext;

export async function createAdapters(options: Options, contextFor: ContextFor): Promise<Adapter[]> {
  const adapters: Adapter[] = [];
  if (options.givenergy.length) {
    const { GivEnergyAdapter } = await import('./givenergy/adapter.js');
    const inverters = options.givenergy.map((o) => new GivEnergyAdapter(o, contextFor(`givenergy ${o.host}`)));
    adapters.push(...inverters);
    if (options.givenergy_rest?.enabled) {
      const { GivTcpRestServer } = await import('./givenergy/givtcp-rest.js');
      const context = contextFor('givtcp-rest');
      adapters.push(new GivTcpRestServer(options.givenergy_rest, inverters, context.log, context.clock));
    }
  }
  if (options.vaillant.length) {
    const { VaillantAdapter } = await import('./vaillant/adapter.js');
    adapters.push(...options.vaillant.map((o) => new VaillantAdapter(o, contextFor(`vaillant ${o.username}`))));
  }
  return adapters;
}
