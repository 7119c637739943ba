// What Home Assistant accepts in an MQTT discovery payload (named for HA's acceptance, not to be
// confused with automation rules). The tables are HA core's sensor/const.py (DEVICE_CLASS_UNITS,
// DEVICE_CLASS_STATE_CLASSES), restricted to the device classes a home-energy bridge can use; the
// checks are the log messages HA prints when it drops an entity (shared research,
// ha-addon-discovery.md §6). The platform modules (discovery/platforms/) refuse a declaration
// with unitProblems; the tests check every payload that reaches the broker with
// deviceDiscoveryProblems, which is written from HA's side and does not ask those modules.

const ENERGY_UNITS = ['J', 'kJ', 'MJ', 'GJ', 'mWh', 'Wh', 'kWh', 'MWh', 'GWh', 'TWh', 'cal', 'kcal', 'Mcal', 'Gcal'];
const VOLUME_UNITS = ['L', 'mL', 'gal', 'fl. oz.', 'm³', 'ft³', 'CCF', 'MCF'];
const PRESSURE_UNITS = ['Pa', 'hPa', 'kPa', 'bar', 'cbar', 'mbar', 'mmHg', 'inHg', 'psi', 'mmH₂O'];

/** device_class -> the units HA accepts with it (null = no unit). */
export const DEVICE_CLASS_UNITS: Record<string, ReadonlyArray<string | null>> = {
  apparent_power: ['mVA', 'VA', 'kVA'],
  battery: ['%'],
  current: ['mA', 'A'],
  duration: ['d', 'h', 'min', 's', 'ms'],
  energy: ENERGY_UNITS,
  energy_storage: ENERGY_UNITS,
  frequency: ['Hz', 'kHz', 'MHz', 'GHz'],
  humidity: ['%'],
  irradiance: ['W/m²', 'BTU/(h⋅ft²)'],
  moisture: ['%'],
  monetary: [], // any ISO 4217 code, checked separately
  power: ['W', 'kW', 'MW', 'GW', 'TW'],
  power_factor: ['%', null],
  pressure: PRESSURE_UNITS,
  reactive_power: ['var'],
  signal_strength: ['dB', 'dBm'],
  temperature: ['°C', '°F', 'K'],
  temperature_delta: ['°C', '°F', 'K'],
  voltage: ['µV', 'mV', 'V', 'kV', 'MV'],
  volume: VOLUME_UNITS,
  volume_storage: VOLUME_UNITS,
  volume_flow_rate: ['m³/h', 'm³/min', 'm³/s', 'ft³/min', 'L/h', 'L/min', 'L/s', 'gal/min', 'mL/s'],
  water: ['CCF', 'ft³', 'm³', 'gal', 'L'],
  gas: ['CCF', 'ft³', 'm³'],
  enum: [null],
  timestamp: [null],
  date: [null],
};

const MEASUREMENT = ['measurement'];
const TOTALS = ['total', 'total_increasing'];

/** device_class -> state classes HA allows with it (empty = none allowed). */
export const DEVICE_CLASS_STATE_CLASSES: Record<string, readonly string[]> = {
  apparent_power: MEASUREMENT,
  battery: MEASUREMENT,
  current: MEASUREMENT,
  duration: ['measurement', 'total', 'total_increasing'],
  energy: TOTALS,
  energy_storage: MEASUREMENT,
  frequency: MEASUREMENT,
  humidity: MEASUREMENT,
  irradiance: MEASUREMENT,
  moisture: MEASUREMENT,
  monetary: ['total'],
  power: MEASUREMENT,
  power_factor: MEASUREMENT,
  pressure: MEASUREMENT,
  reactive_power: MEASUREMENT,
  signal_strength: MEASUREMENT,
  temperature: MEASUREMENT,
  temperature_delta: MEASUREMENT,
  voltage: MEASUREMENT,
  volume: TOTALS,
  volume_storage: MEASUREMENT,
  volume_flow_rate: MEASUREMENT,
  water: TOTALS,
  gas: TOTALS,
  enum: [],
  timestamp: [],
  date: [],
};

export const STATE_CLASSES = ['measurement', 'measurement_angle', 'total', 'total_increasing'];
export const BINARY_SENSOR_CLASSES = [
  'battery', 'battery_charging', 'carbon_monoxide', 'cold', 'connectivity', 'door', 'garage_door',
  'gas', 'heat', 'light', 'lock', 'moisture', 'motion', 'moving', 'occupancy', 'opening', 'plug',
  'power', 'presence', 'problem', 'running', 'safety', 'smoke', 'sound', 'tamper', 'update',
  'vibration', 'window',
];
export const NUMBER_DEVICE_CLASSES = Object.keys(DEVICE_CLASS_UNITS).filter(
  (dc) => !['enum', 'timestamp', 'date', 'energy_storage', 'volume_storage'].includes(dc),
);
/** The MQTT platforms HA's device discovery takes that we publish (a new platform is added here too). */
export const KNOWN_PLATFORMS = [
  'sensor', 'binary_sensor', 'switch', 'number', 'select', 'button', 'text', 'time', 'climate', 'water_heater',
];
const DEVICE_KEYS = new Set([
  'identifiers', 'ids', 'connections', 'cns', 'manufacturer', 'mf', 'model', 'mdl', 'model_id', 'mdl_id', 'name',
  'hw_version', 'hw', 'serial_number', 'sn', 'sw_version', 'sw', 'via_device', 'suggested_area', 'sa',
  'configuration_url', 'cu',
]);
const REQUIRED: Record<string, string[]> = {
  sensor: ['state_topic'],
  binary_sensor: ['state_topic'],
  switch: ['command_topic'],
  number: ['command_topic'],
  select: ['command_topic', 'options'],
  button: ['command_topic'],
  text: ['command_topic'],
  time: ['command_topic'],
};
export const ID_PATTERN = /^[a-zA-Z0-9_-]+$/;
export const ICON_PATTERN = /^mdi:[a-z0-9-]+$/;

export function discoveryTopicIsLegal(topic: string, prefix: string): boolean {
  if (!topic.startsWith(prefix + '/')) return false;
  return /^\w+\/(?:[a-zA-Z0-9_-]+\/)?[a-zA-Z0-9_-]+\/config$/.test(topic.slice(prefix.length + 1));
}

/** The problems HA would report for one sensor-like declaration (empty when HA accepts it). */
export function unitProblems(
  platform: string,
  deviceClass: string | undefined,
  unit: string | undefined,
  stateClass: string | undefined,
): string[] {
  const problems: string[] = [];
  if (stateClass !== undefined && !STATE_CLASSES.includes(stateClass)) {
    problems.push(`state_class '${stateClass}' is not one of ${STATE_CLASSES.join(', ')}`);
  }
  if (deviceClass === undefined) return problems;
  const units = DEVICE_CLASS_UNITS[deviceClass];
  if (!units) return [...problems, `device_class '${deviceClass}' is not a ${platform} device class`];
  if (deviceClass === 'monetary') {
    if (!unit || !/^[A-Z]{3}$/.test(unit)) problems.push(`monetary needs an ISO 4217 currency unit, not '${unit}'`);
  } else if (!units.includes(unit ?? null)) {
    problems.push(`unit '${unit ?? 'none'}' is not valid together with device class '${deviceClass}' (HA drops the entity)`);
  }
  if (platform === 'sensor' && stateClass !== undefined) {
    const allowed = DEVICE_CLASS_STATE_CLASSES[deviceClass] ?? [];
    if (!allowed.includes(stateClass)) {
      problems.push(`state class '${stateClass}' is impossible for device class '${deviceClass}'; expected one of: ${allowed.join(', ') || 'none'}`);
    }
  }
  return problems;
}

type Json = Record<string, unknown>;

/** Checks one component of a device-based discovery payload as HA would; returns problems. */
export function componentProblems(id: string, cmp: Json, deviceName?: string): string[] {
  const problems: string[] = [];
  const p = cmp.p ?? cmp.platform;
  const at = (msg: string) => problems.push(`${id}: ${msg}`);
  if (typeof p !== 'string' || !KNOWN_PLATFORMS.includes(p)) {
    at(`platform '${String(p)}' is not supported`);
    return problems;
  }
  if (!ID_PATTERN.test(id)) at('component id has characters HA does not accept');
  if (typeof cmp.unique_id !== 'string' || cmp.unique_id === '') at('unique_id is missing');
  if ('object_id' in cmp || 'obj_id' in cmp) at('object_id is deprecated; use default_entity_id');
  const entityId = cmp.default_entity_id;
  if (typeof entityId !== 'string' || !new RegExp(`^${p}\\.[a-z0-9_]+$`).test(entityId)) {
    at(`default_entity_id '${String(entityId)}' must be '${p}.<lower-case id>'`);
  }
  for (const key of REQUIRED[p] ?? []) if (cmp[key] === undefined) at(`'${key}' is required for ${p}`);
  if (cmp.icon !== undefined && !ICON_PATTERN.test(String(cmp.icon))) at(`icon '${String(cmp.icon)}' must be 'mdi:<name>'`);
  const cat = cmp.entity_category;
  if (cat !== undefined && cat !== 'config' && cat !== 'diagnostic') at(`entity_category '${String(cat)}' is invalid`);
  if (cat === 'config' && (p === 'sensor' || p === 'binary_sensor')) at(`entity_category config is not allowed on a ${p}`);
  if (typeof cmp.name === 'string' && deviceName && cmp.name.toLowerCase().startsWith(deviceName.toLowerCase())) {
    at('name starts with the device name; HA strips it and warns');
  }
  const dc = cmp.device_class as string | undefined;
  const unit = cmp.unit_of_measurement as string | undefined;
  const sc = cmp.state_class as string | undefined;
  if (p === 'sensor' || p === 'number') {
    problems.push(...unitProblems(p, dc, unit, sc).map((m) => `${id}: ${m}`));
    if (p === 'number' && dc !== undefined && !NUMBER_DEVICE_CLASSES.includes(dc)) at(`'${dc}' is not a number device class`);
  }
  if (p === 'sensor' && cmp.options !== undefined) {
    if (dc !== 'enum') at('options need device_class enum');
    if (sc !== undefined || unit !== undefined) at('options cannot go with state_class or unit');
    if (!Array.isArray(cmp.options) || cmp.options.length === 0) at('an empty options list is not allowed');
  }
  if (p === 'binary_sensor' && dc !== undefined && !BINARY_SENSOR_CLASSES.includes(dc)) at(`'${dc}' is not a binary_sensor device class`);
  if (p === 'select' && (!Array.isArray(cmp.options) || cmp.options.length === 0)) at('a select needs options');
  if (p === 'number') {
    const min = cmp.min as number | undefined;
    const max = cmp.max as number | undefined;
    if (min !== undefined && max !== undefined && !(min < max)) at('min must be below max');
    if (cmp.step !== undefined && !((cmp.step as number) >= 0.001)) at('step must be at least 0.001');
  }
  return problems;
}

/** Checks a whole device discovery payload (topic and JSON) as HA would; returns problems. */
export function deviceDiscoveryProblems(topic: string, payload: Json, prefix = 'homeassistant'): string[] {
  const problems: string[] = [];
  if (!discoveryTopicIsLegal(topic, prefix)) problems.push(`illegal discovery topic '${topic}'`);
  const dev = payload.dev as Json | undefined;
  const o = payload.o as Json | undefined;
  const cmps = payload.cmps as Record<string, Json> | undefined;
  if (!dev) problems.push('dev is missing');
  if (!o || typeof o.name !== 'string') problems.push('o.name is missing');
  if (!cmps || typeof cmps !== 'object') problems.push('cmps is missing');
  if (dev) {
    for (const key of Object.keys(dev)) if (!DEVICE_KEYS.has(key)) problems.push(`extra key '${key}' not allowed in device`);
    const ids = dev.identifiers ?? dev.ids;
    if (!(typeof ids === 'string' || (Array.isArray(ids) && ids.length > 0))) problems.push('device needs identifiers');
  }
  if ('availability' in payload && 'availability_topic' in payload) problems.push('availability and availability_topic are exclusive');
  for (const [id, cmp] of Object.entries(cmps ?? {})) {
    problems.push(...componentProblems(id, cmp, dev?.name as string | undefined));
  }
  return problems;
}
