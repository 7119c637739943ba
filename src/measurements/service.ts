// The measurements service: the one place values from outside come in with their unit and age.
// The app creates it and hands it to the engine, the rules and the adapters; each asks for a
// measurement of an MQTT topic, an entity of this add-on, a Home Assistant entity, a solar
// forecast (forecast.solar) or Victron's cloud (VRM), and reads it only while it is fresh.
import type { Got } from 'got';
import type { Bridge } from '../core/bridge.js';
import type { Clock } from '../core/clock.js';
import type { Entity } from '../core/device.js';
import type { EntitySpec } from '../core/entity.js';
import type { Logger } from '../core/logger.js';
import type { Secrets } from '../core/secrets.js';
import type { Store } from '../core/store.js';
import { ForecastSolarHub } from './forecast-solar.js';
import type { HaClient } from './ha-client.js';
import { Measurement, readNumber, toBase, type MeasuredValue } from './measurement.js';
import type { SourceOptions } from './options.js';
import { VrmHub } from './vrm.js';

export interface MeasurementsDeps {
  clock: Clock;
  log: Logger;
  /** Without a bridge (the what-if replay) measurements are only set by hand. */
  bridge?: Bridge;
  /** Where a forecast survives a restart (forecast.solar sources). */
  store?: Store;
  /** Tokens a cloud login obtains join these, so no log line shows them. */
  secrets?: Secrets;
  /** The HTTP client of cloud sources; without one the shared client is loaded when one is defined. */
  http?: Got;
}

export interface HomeAssistantAccess {
  url: string;
  token: string;
}

/** Inside the add-on the Supervisor proxies Home Assistant's websocket API. */
const SUPERVISOR_WS = 'ws://supervisor/core/websocket';

/** Where Home Assistant's API is: the options' url and token, or the Supervisor's. */
export function homeAssistantAccess(configured: { url?: string; token?: string } | undefined, supervisorToken?: string): HomeAssistantAccess {
  const url = configured?.url ?? (supervisorToken ? SUPERVISOR_WS : undefined);
  // The Supervisor's token is for the Supervisor only: another URL needs a token of its own.
  const token = configured?.token ?? (configured?.url ? undefined : supervisorToken);
  if (!url || !token) {
    throw new Error('Home Assistant entities are used, but there is no API access: set automation.home_assistant.url and token (the add-on gets them from the Supervisor; a url of your own needs its own token)');
  }
  return { url, token };
}

export class Measurements {
  private readonly named = new Map<string, Measurement>();
  private readonly disposers: Array<() => void> = [];
  private ha?: HaClient;
  private forecastSolar?: ForecastSolarHub;
  private vrm?: VrmHub;

  constructor(private readonly deps: MeasurementsDeps) {}

  /** Loaded only when a cloud source is defined: got and its modules cost memory. */
  private readonly http = async (): Promise<Got> => (this.deps.http ??= (await import('../io/http.js')).http);

  /** Home Assistant's websocket API, connected once; needed for HA entities as sources or targets. */
  async connectHomeAssistant(access: HomeAssistantAccess): Promise<HaClient> {
    if (!this.ha) {
      // Loaded only when used: it brings the websocket client.
      const { HaClient } = await import('./ha-client.js');
      this.ha = new HaClient(access.url, access.token, this.deps.log);
      this.ha.start();
    }
    return this.ha;
  }

  get homeAssistant(): HaClient | undefined {
    return this.ha;
  }

  /** The named measurements of the options, by name. */
  get all(): ReadonlyMap<string, Measurement> {
    return this.named;
  }

  get(name: string): Measurement | undefined {
    return this.named.get(name);
  }

  /** A named measurement from the options (`automation.sources`). */
  define(o: SourceOptions): Measurement {
    const measurement = o.mqtt?.topic
      ? this.mqtt(o.name, o.mqtt.topic, { jsonPath: o.mqtt.json_path, unit: o.mqtt.unit }, o.stale_after, o.invert)
      : o.entity
        ? this.entity<number>(o.name, o.entity, o.stale_after, o.invert)
        : o.ha_entity
          ? this.haEntity(o.name, o.ha_entity, o.stale_after, o.invert)
          : o.vrm?.installation_id !== undefined
            ? this.vrmSource(o.name, o.vrm, o.stale_after, o.invert)
            : this.forecastSolarSource(o.name, o.forecast_solar!, o.stale_after, o.invert);
    this.named.set(o.name, measurement);
    return measurement;
  }

  /** A number from an MQTT topic: plain, or a JSON field; W, kW or %. */
  mqtt(name: string, topic: string, read: { jsonPath?: string; unit?: string }, staleAfterS: number, invert = false): Measurement {
    const measurement = new Measurement(name, `MQTT ${topic}`, staleAfterS, this.deps.clock, invert);
    const bridge = this.deps.bridge;
    if (bridge) {
      this.disposers.push(
        bridge.subscribeExternal(topic, (payload) => {
          const n = readNumber(payload, read.jsonPath);
          if (typeof n === 'number') measurement.set(toBase(n, read.unit));
          else measurement.reject(n.problem);
        }),
      );
    }
    return measurement;
  }

  /**
   * An entity of this add-on (`<device_id>/<entity_key>`): numbers in their base unit (kW -> W),
   * switches as booleans, texts as strings. An unknown value is no value.
   */
  entity<T extends MeasuredValue = number>(name: string, ref: string, staleAfterS: number, invert = false): Measurement<T> {
    const [deviceId, key] = ref.split('/') as [string, string];
    const measurement = new Measurement<T>(name, `entity ${ref}`, staleAfterS, this.deps.clock, invert);
    const bridge = this.deps.bridge;
    if (bridge) {
      const take = (e: Entity<EntitySpec>) => {
        const v = e.value;
        if (typeof v === 'number') measurement.set(toBase(v, e.spec.component === 'sensor' ? e.spec.unit : undefined) as T);
        else if (typeof v === 'boolean' || typeof v === 'string') measurement.set(v as T);
        else measurement.reject(`entity ${ref} is unknown`);
      };
      this.disposers.push(bridge.onUpdate((e) => e.device.id === deviceId && e.key === key && take(e)));
      const existing = bridge.entity(deviceId, key);
      if (existing?.hasValue) take(existing);
    }
    return measurement;
  }

  /** A Home Assistant entity's numeric state, its unit honoured (kW -> W). */
  haEntity(name: string, id: string, staleAfterS: number, invert = false): Measurement {
    const measurement = new Measurement(name, `Home Assistant ${id}`, staleAfterS, this.deps.clock, invert);
    const ha = this.ha;
    if (!ha) {
      // The replay sets its values by hand; in the running add-on the app connects first.
      if (!this.deps.bridge) return measurement;
      throw new Error(`the source '${name}' reads ${id}, but there is no connection to Home Assistant's API`);
    }
    ha.watch(id);
    ha.onState((entityId, state) => {
      if (entityId !== id) return;
      const n = Number(state.state);
      if (state.state.trim() !== '' && Number.isFinite(n)) measurement.set(toBase(n, state.attributes.unit_of_measurement as string | undefined));
      else measurement.reject(`${id} is ${state.state}`);
    });
    return measurement;
  }

  /** The forecast PV power now (W) of a forecast.solar plane; see forecast-solar.ts. */
  forecastSolarSource(name: string, o: NonNullable<SourceOptions['forecast_solar']>, staleAfterS: number, invert = false): Measurement {
    // The replay sets its values by hand: no cloud is asked.
    if (!this.deps.bridge) return new Measurement(name, 'forecast.solar', staleAfterS, this.deps.clock, invert);
    this.forecastSolar ??= new ForecastSolarHub({ clock: this.deps.clock, log: this.deps.log, http: this.http, store: this.deps.store });
    return this.forecastSolar.measurement(name, o, staleAfterS, invert);
  }

  /** One diagnostics code of a VRM installation; see vrm.ts. */
  vrmSource(name: string, o: NonNullable<SourceOptions['vrm']>, staleAfterS: number, invert = false): Measurement {
    if (!this.deps.bridge) return new Measurement(name, `VRM installation ${o.installation_id} ${o.code}`, staleAfterS, this.deps.clock, invert);
    this.vrm ??= new VrmHub({ clock: this.deps.clock, log: this.deps.log, http: this.http, secrets: this.deps.secrets });
    return this.vrm.measurement(name, o, staleAfterS, invert);
  }

  async stop(): Promise<void> {
    this.forecastSolar?.stop();
    this.vrm?.stop();
    for (const dispose of this.disposers.splice(0)) dispose();
    await this.ha?.stop();
  }
}
