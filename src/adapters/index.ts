// One block per device family: each turns its part of the options into adapter instances. A
// family's code is loaded only when it is configured: each brings its own libraries (Vaillant
// the HTTP client, 20 MB of memory), which a home without that device should not carry.
import type { Options } from '../options.js';
import type { Adapter, AdapterContext } from './adapter.js';
import type { Notice } from '../notify/messages.js';

export type ContextFor = (module: string) => AdapterContext;

export async function createAdapters(options: Options, contextFor: ContextFor, notify?: (notice: Notice) => void): Promise<Adapter[]> {
  const adapters: Adapter[] = [];
  const inverters = options.givenergy.length
    ? await import('./givenergy/adapter.js').then(({ GivEnergyAdapter }) => options.givenergy.map((o) => new GivEnergyAdapter(o, contextFor(`givenergy ${o.host}`))))
    : [];
  const chargers = options.givenergy_evc.length
    ? await import('./givenergy-evc/adapter.js').then(({ GivEvcAdapter }) => options.givenergy_evc.map((o) => new GivEvcAdapter(o, contextFor(`givenergy evc ${o.host}`))))
    : [];
  adapters.push(...inverters);
  // GivTCP's REST API serves the inverters and the EV charger routes.
  if (options.givenergy_rest?.enabled && (inverters.length || chargers.length)) {
    const { GivTcpRestServer } = await import('./givenergy/givtcp-rest.js');
    const context = contextFor('givtcp-rest');
    adapters.push(new GivTcpRestServer(options.givenergy_rest, inverters, context.log, context.clock, undefined, chargers));
  }
  adapters.push(...chargers);
  if (options.vaillant.length) {
    const { VaillantAdapter } = await import('./vaillant/adapter.js');
    adapters.push(...options.vaillant.map((o) => new VaillantAdapter(o, contextFor(`vaillant ${o.username}`))));
  }
  if (options.victron.length) {
    const { VictronAdapter } = await import('./victron/adapter.js');
    adapters.push(...options.victron.map((o) => new VictronAdapter(o, contextFor(`victron ${o.host}`))));
  }
  if (options.tempo?.enabled) {
    const { TempoAdapter } = await import('./tempo/adapter.js');
    adapters.push(new TempoAdapter(options.tempo, contextFor('tempo'), { notify }));
  }
  if (options.viessmann_meter.length) {
    const { ViessmannMeterAdapter } = await import('./viessmann-meter/adapter.js');
    adapters.push(...options.viessmann_meter.map((o) => new ViessmannMeterAdapter(o, contextFor(`viessmann meter ${o.name}`))));
  }
  if (options.water_heater.length) {
    const { WaterHeaterAdapter } = await import('./water-heater/adapter.js');
    adapters.push(...options.water_heater.map((o) => new WaterHeaterAdapter(o, contextFor(`water heater ${o.name}`))));
  }
  return adapters;
}
