// The myVaillant system report (GET /systems/{id}/tli, or vrc700/v1/systems/{id}) into plain values. Items of state,
// properties and configuration are joined by `index`, not position; a field that is absent stays
// undefined (the entity shows unknown, never 0). TLI and VRC700 key variants (research §2).

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

export interface Zone {
  index: number;
  name: string;
  roomTemperature?: number;
  humidity?: number;
  /** What the zone aims for now (the veto setpoint during a veto; 0 in eco periods, see below). */
  desiredSetpoint?: number;
  heatingSetpoint?: number;
  heatingMode?: string;
  specialFunction?: string;
  quickVetoEnd?: Date;
  setBackTemperature?: number;
  manualSetpoint?: number;
  heatingState?: string;
  /** The setpoint of the time program right now (for "normal setpoint" when desired reads 0). */
  programSetpoint?: (at: Date) => number | undefined;
}

export interface HotWater {
  index: number;
  temperature?: number;
  setpoint?: number;
  mode?: string;
  specialFunction?: string;
  minSetpoint?: number;
  maxSetpoint?: number;
}

export interface SystemReport {
  systemId: string;
  controller?: string;
  outdoorTemperature?: number;
  waterPressure?: number;
  flowTemperature?: number;
  energyManagerState?: string;
  zones: Zone[];
  hotWater: HotWater[];
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
const list = (v: unknown): Json[] => (Array.isArray(v) ? v.filter((x): x is Json => !!x && typeof x === 'object') : []);
const byIndex = (items: Json[], index: number): Json => items.find((x) => x.index === index) ?? {};
const DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

function date(v: unknown): Date | undefined {
  const s = str(v);
  if (!s) return undefined;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) || d.getTime() <= 0 ? undefined : d; // 1970-01-01 means "none"
}

export function parseReport(systemId: string, report: unknown): SystemReport {
  const r = (report && typeof report === 'object' ? report : {}) as Json;
  const state = (r.state ?? {}) as Json;
  const properties = (r.properties ?? {}) as Json;
  const configuration = (r.configuration ?? {}) as Json;
  const sys = (state.system ?? {}) as Json;

  const zones = list(state.zones)
    .filter((z) => typeof z.index === 'number')
    .map((z): Zone | undefined => {
      const index = z.index as number;
      const props = byIndex(list(properties.zones), index);
      if (props.isActive === false) return undefined;
      const cfg = byIndex(list(configuration.zones), index);
      const heating = (cfg.heating ?? {}) as Json;
      const program = heating.timeProgramHeating as Json | undefined;
      return {
        index,
        name: str((cfg.general as Json | undefined)?.name) ?? `Zone ${index}`,
        roomTemperature: num(z.currentRoomTemperature),
        humidity: num(z.currentRoomHumidity),
        desiredSetpoint: num(z.desiredRoomTemperatureSetpoint),
        heatingSetpoint: num(z.desiredRoomTemperatureSetpointHeating),
        heatingMode: str(heating.operationModeHeating),
        specialFunction: str(z.currentSpecialFunction),
        quickVetoEnd: z.currentSpecialFunction === 'QUICK_VETO' ? date(z.quickVetoEndDateTime) : undefined,
        setBackTemperature: num(heating.setBackTemperature),
        manualSetpoint: num(heating.manualModeSetpointHeating ?? heating.dayTemperatureHeating),
        heatingState: str(z.heatingState),
        programSetpoint: program
          ? (at: Date) => {
              const minutes = at.getHours() * 60 + at.getMinutes();
              const slot = list(program[DAYS[at.getDay()]!]).find((s) => minutes >= (s.startTime as number) && minutes < (s.endTime as number));
              // VRC700 slots carry no setpoint: inside one the zone heats to its day temperature.
              return num(slot?.setpoint) ?? (slot ? num(heating.dayTemperatureHeating) : undefined);
            }
          : undefined,
      };
    })
    .filter((z): z is Zone => z !== undefined);

  // TLI says dhw, VRC700 says domesticHotWater.
  const dhwState = list(state.dhw ?? state.domesticHotWater);
  const hotWater = dhwState
    .filter((d) => typeof d.index === 'number')
    .map((d): HotWater => {
      const index = d.index as number;
      const cfg = byIndex(list(configuration.dhw ?? configuration.domesticHotWater), index);
      const props = byIndex(list(properties.dhw ?? properties.domesticHotWater), index);
      return {
        index,
        temperature: num(d.currentDhwTemperature ?? d.currentDomesticHotWaterTemperature),
        setpoint: num(cfg.tappingSetpoint),
        mode: str(cfg.operationModeDhw ?? cfg.operationModeDomesticHotWater),
        specialFunction: str(d.currentSpecialFunction),
        minSetpoint: num(props.minSetpoint),
        maxSetpoint: num(props.maxSetpoint),
      };
    });

  return {
    systemId,
    controller: str((properties.system as Json | undefined)?.controllerType),
    outdoorTemperature: num(sys.outdoorTemperature),
    waterPressure: num(sys.systemWaterPressure),
    flowTemperature: num(sys.systemFlowTemperature),
    energyManagerState: str(sys.energyManagerState),
    zones,
    hotWater,
  };
}

/** The zone's normal heating setpoint: what it aims for, or (eco period: 0) its program or set-back value. */
export function normalSetpoint(zone: Zone, at: Date): number | undefined {
  if (zone.specialFunction !== 'QUICK_VETO' && zone.desiredSetpoint && zone.desiredSetpoint > 5) return zone.desiredSetpoint;
  return zone.programSetpoint?.(at) ?? zone.heatingSetpoint ?? zone.setBackTemperature ?? zone.manualSetpoint;
}
