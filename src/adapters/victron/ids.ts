// The ids the Victron adapter declares and the keys of the controls the tempo_ess rule writes:
// written once here, used by the adapter's entity table and by the rule.

export const victronDeviceId = (portalId: string) => `victron_${portalId.toLowerCase()}`;
/** The GX's broker connection device (not a GX: it says why the GX cannot be reached). */
export const isVictronGxDeviceId = (id: string) => id.startsWith('victron_') && !id.startsWith('victron_link_');

export const VICTRON_KEYS = {
  minSoc: 'min_soc',
  essMode: 'ess_mode',
  dynamicEss: 'dynamic_ess',
  batterySoc: 'battery_soc',
  scheduleSoc: (schedule: number) => `schedule_${schedule}_soc`,
  scheduleDay: (schedule: number) => `schedule_${schedule}_day`,
} as const;
