// A device as HA shows it, and the entities it holds. Adapters create them through the bridge.
import {
  commandSchema, type BinarySensorSpec, type ButtonSpec, type ClimateSpec, type WaterHeaterSpec, type CommandOf, type EntitySpec, type NumberSpec,
  type SelectSpec, type SensorSpec, type SwitchSpec, type TextSpec, type TimeSpec, type ValueOf,
} from './entity.js';
import type { z } from 'zod';

export interface DeviceInfo {
  /** Stable id from something the device keeps (a serial number), [a-zA-Z0-9_-]. */
  id: string;
  name: string;
  manufacturer?: string;
  model?: string;
  modelId?: string;
  serialNumber?: string;
  swVersion?: string;
  hwVersion?: string;
  suggestedArea?: string;
  configurationUrl?: string;
  /** The id of the device it is reached through (a battery behind its inverter); the add-on's own otherwise. */
  viaDevice?: string;
}

export type CommandSource = 'mqtt' | 'automation' | 'rest';

/** Runs a parsed command against the device. It may return the new value, or update the entity itself. */
export type CommandHandler<S extends EntitySpec> = (
  value: CommandOf<S>,
  source: CommandSource,
) => Promise<ValueOf<S> | void> | ValueOf<S> | void;

/** What the bridge does for devices and entities; implemented by Bridge. */
export interface DeviceHost {
  entityChanged(entity: Entity<EntitySpec>): void;
  deviceChanged(device: Device): void;
  availabilityChanged(device: Device): void;
  removeDevice(device: Device): Promise<void>;
}

export class Entity<S extends EntitySpec> {
  value: ValueOf<S> | null = null;
  /** False until the first update: an entity never set publishes nothing. */
  hasValue = false;
  lastPayload?: string;
  lastNumber?: number;
  lastPublishedAt = 0;
  private commandParser?: z.ZodType<unknown>;

  constructor(
    readonly device: Device,
    readonly spec: S,
    readonly handler: CommandHandler<S> | undefined,
    private readonly host: DeviceHost,
  ) {}

  /** The command schema, built on first use: most entities are sensors and never need one. */
  get schema(): z.ZodType<unknown> {
    return (this.commandParser ??= commandSchema(this.spec));
  }

  get key(): string {
    return this.spec.key;
  }

  /** Sets the entity's value; the bridge publishes it if it changed beyond the deadband. */
  update(value: ValueOf<S> | null): void {
    this.value = value;
    this.hasValue = true;
    this.host.entityChanged(this as unknown as Entity<EntitySpec>);
  }
}

type Without<S> = Omit<S, 'component'>;
type WithCommand<S extends EntitySpec> = Without<S> & { command: CommandHandler<S> };

export class Device {
  readonly entities = new Map<string, Entity<EntitySpec>>();
  private isAvailable = true;

  constructor(
    public info: DeviceInfo,
    readonly owner: string,
    private readonly host: DeviceHost,
  ) {}

  get id(): string {
    return this.info.id;
  }

  get available(): boolean {
    return this.isAvailable;
  }

  sensor(spec: Without<SensorSpec>): Entity<SensorSpec> {
    return this.add({ ...spec, component: 'sensor' });
  }
  binarySensor(spec: Without<BinarySensorSpec>): Entity<BinarySensorSpec> {
    return this.add({ ...spec, component: 'binary_sensor' });
  }
  switch(spec: WithCommand<SwitchSpec>): Entity<SwitchSpec> {
    return this.commanded<SwitchSpec>('switch', spec);
  }
  number(spec: WithCommand<NumberSpec>): Entity<NumberSpec> {
    return this.commanded<NumberSpec>('number', spec);
  }
  select(spec: WithCommand<SelectSpec>): Entity<SelectSpec> {
    return this.commanded<SelectSpec>('select', spec);
  }
  button(spec: WithCommand<ButtonSpec>): Entity<ButtonSpec> {
    return this.commanded<ButtonSpec>('button', spec);
  }
  text(spec: WithCommand<TextSpec>): Entity<TextSpec> {
    return this.commanded<TextSpec>('text', spec);
  }
  time(spec: WithCommand<TimeSpec>): Entity<TimeSpec> {
    return this.commanded<TimeSpec>('time', spec);
  }
  climate(spec: WithCommand<ClimateSpec>): Entity<ClimateSpec> {
    return this.commanded<ClimateSpec>('climate', spec);
  }
  waterHeater(spec: WithCommand<WaterHeaterSpec>): Entity<WaterHeaterSpec> {
    return this.commanded<WaterHeaterSpec>('water_heater', spec);
  }

  private commanded<S extends EntitySpec>(component: S['component'], spec: WithCommand<S>): Entity<S> {
    const { command, ...rest } = spec;
    return this.add({ ...rest, component } as unknown as S, command);
  }

  /** Declares an entity; declaring a key again replaces it. */
  add<S extends EntitySpec>(spec: S, handler?: CommandHandler<S>): Entity<S> {
    const entity = new Entity(this, spec, handler, this.host);
    this.entities.set(spec.key, entity as unknown as Entity<EntitySpec>);
    this.host.deviceChanged(this);
    return entity;
  }

  /** Takes an entity away; HA removes it at the next discovery publish. */
  removeEntity(key: string): void {
    if (this.entities.delete(key)) this.host.deviceChanged(this);
  }

  setAvailable(available: boolean): void {
    if (available === this.isAvailable) return;
    this.isAvailable = available;
    this.host.availabilityChanged(this);
  }

  /** Removes the device and its entities from HA. */
  remove(): Promise<void> {
    return this.host.removeDevice(this);
  }
}
