// The ids of the devices the Vaillant adapter declares, and the keys of the entities the
// vaillant_pv rule reads and commands: written once here, used by the adapter and the rule.

export const vaillantDeviceId = {
  system: (short: string) => `vaillant_${short}`,
  zone: (short: string, index: number) => `vaillant_${short}_zone_${index}`,
  dhw: (short: string, index: number) => `vaillant_${short}_dhw_${index}`,
  /** A heat generator (heat pump, backup heater) by the start of its device uuid. */
  generator: (short: string, uuid: string) => `vaillant_${short}_gen_${uuid.replace(/[^a-zA-Z0-9]/g, '').slice(0, 8).toLowerCase()}`,
  /** An Ambisense room. */
  room: (short: string, index: number) => `vaillant_${short}_room_${index}`,
};

/** Which device of which system an id names (the inverse of vaillantDeviceId). */
export function parseVaillantDeviceId(id: string): { short: string; kind: 'system' | 'zone' | 'dhw'; index?: number } | undefined {
  const parts = id.split('_');
  if (parts[0] !== 'vaillant' || !parts[1]) return undefined;
  if (parts.length === 2) return { short: parts[1], kind: 'system' };
  if (parts.length === 4 && (parts[2] === 'zone' || parts[2] === 'dhw') && /^\d+$/.test(parts[3]!)) return { short: parts[1], kind: parts[2], index: Number(parts[3]) };
  return undefined;
}

/** The owner of every device of one myVaillant account. */
export const vaillantOwner = (username: string) => `vaillant/${username}`;

export const ZONE_KEYS = { normalSetpoint: 'normal_setpoint', quickVeto: 'quick_veto', vetoSetpoint: 'quick_veto_setpoint', vetoDuration: 'quick_veto_duration' } as const;
export const DHW_KEYS = { temperature: 'temperature', setpoint: 'setpoint', boost: 'boost' } as const;
