// The platform registry: one module per HA platform, each listed once, and the entity API that
// callers use (entity.ts) derived from it without a change in what it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_PLATFORMS, PLATFORMS } from '../../src/core/discovery/registry.js';
import {
  COMMAND_COMPONENTS, PART_COMPONENTS, type BinarySensorSpec, type ButtonSpec, type ClimateSpec, type CommandOf, type EntitySpec, type NumberSpec,
  type PartCommand, type SelectSpec, type SensorSpec, type SwitchSpec, type TextSpec, type ThermostatState, type TimeSpec, type ValueOf, type WaterHeaterSpec,
} from '../../src/core/entity.js';

test('every platform is registered once, under its own component', () => {
  const components = ALL_PLATFORMS.map((p) => p.component);
  assert.equal(new Set(components).size, components.length);
  for (const [component, platform] of Object.entries(PLATFORMS)) assert.equal(platform.component, component);
  assert.deepEqual(components, ['sensor', 'binary_sensor', 'switch', 'number', 'select', 'button', 'text', 'time', 'climate', 'water_heater']);
});

test('which platforms take commands, per part, and have a state', () => {
  assert.deepEqual([...COMMAND_COMPONENTS], ['switch', 'number', 'select', 'button', 'text', 'time', 'climate', 'water_heater']);
  assert.deepEqual([...PART_COMPONENTS], ['climate', 'water_heater']);
  assert.deepEqual(ALL_PLATFORMS.filter((p) => !p.hasState).map((p) => p.component), ['button']);
});

// Compile-time: the value and command types derived from the registry are the ones entity.ts
// spelled out before (typecheck fails here if one changes).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const valueTypes: [
  Same<ValueOf<SensorSpec>, number | string | null>,
  Same<ValueOf<BinarySensorSpec>, boolean | null>,
  Same<ValueOf<SwitchSpec>, boolean | null>,
  Same<ValueOf<NumberSpec>, number | null>,
  Same<ValueOf<SelectSpec>, string | null>,
  Same<ValueOf<ButtonSpec>, null>,
  Same<ValueOf<TextSpec>, string | null>,
  Same<ValueOf<TimeSpec>, string | null>,
  Same<ValueOf<ClimateSpec>, ThermostatState | null>,
  Same<ValueOf<WaterHeaterSpec>, ThermostatState | null>,
  Same<ValueOf<EntitySpec>, number | string | boolean | ThermostatState | null>,
] = [true, true, true, true, true, true, true, true, true, true, true];
const commandTypes: [
  Same<CommandOf<SwitchSpec>, boolean>,
  Same<CommandOf<NumberSpec>, number>,
  Same<CommandOf<SelectSpec>, string>,
  Same<CommandOf<ButtonSpec>, 'PRESS'>,
  Same<CommandOf<TextSpec>, string>,
  Same<CommandOf<TimeSpec>, string>,
  Same<CommandOf<ClimateSpec>, PartCommand>,
  Same<CommandOf<WaterHeaterSpec>, PartCommand>,
  // A sensor takes no commands: its command type is now never (it was string, unused).
  Same<CommandOf<SensorSpec>, never>,
] = [true, true, true, true, true, true, true, true, true];

test('the value and command types are what they were (checked by the compiler)', () => {
  assert.ok(valueTypes.every(Boolean) && commandTypes.every(Boolean));
});
