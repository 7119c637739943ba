// Trouble codes (GET systems/{id}/diagnostic-trouble-codes: a list per device serial number) and
// Ambisense rooms (GET api/v1/ambisense/facilities/{id}/rooms) into plain values. Both answers are
// read leniently: a field that is absent stays undefined.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

export interface TroubleCode {
  code: string;
  title?: string;
  serialNumber?: string;
  occurred?: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() ? v.trim() : typeof v === 'number' ? String(v) : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Every code of every device, in the order the cloud lists them. */
export function parseTroubleCodes(json: unknown): TroubleCode[] {
  const out: TroubleCode[] = [];
  const visit = (item: unknown, serial?: string) => {
    if (!item || typeof item !== 'object') return;
    const o = item as Json;
    const codes = o.codes ?? o.diagnosticTroubleCodes;
    if (Array.isArray(codes)) {
      for (const c of codes) visit(c, str(o.serialNumber) ?? serial);
      return;
    }
    const code = str(o.code) ?? str(o.codeValidationInformation?.code);
    if (code) out.push({ code, title: str(o.title) ?? str(o.description), serialNumber: serial ?? str(o.serialNumber), occurred: str(o.occurrenceTimestamp) });
  };
  if (Array.isArray(json)) for (const item of json) visit(item);
  else visit(json);
  return out;
}

/** What the trouble-code sensor shows: "none", or the first code with its title and how many more. */
export function troubleSummary(codes: TroubleCode[]): string {
  if (codes.length === 0) return 'none';
  const first = codes[0]!;
  const text = first.title ? `${first.code}: ${first.title}` : first.code;
  return codes.length > 1 ? `${text} (+${codes.length - 1} more)` : text;
}

export interface Room {
  index: number;
  name: string;
  temperature?: number;
  setpoint?: number;
  humidity?: number;
  windowOpen?: boolean;
  mode?: string;
  /** Any of its devices (thermostatic valves) with a low battery. */
  lowBattery?: boolean;
  /** Any of its devices out of radio reach. */
  unreachable?: boolean;
  /** Valve position in %, where a device reports one. */
  valvePosition?: number;
}

export function parseRooms(json: unknown): Room[] {
  if (!Array.isArray(json)) return [];
  const rooms: Room[] = [];
  for (const r of json) {
    if (!r || typeof r !== 'object' || typeof (r as Json).roomIndex !== 'number') continue;
    const room = r as Json;
    const cfg = (room.roomConfiguration ?? {}) as Json;
    const devices = Array.isArray(cfg.devices) ? (cfg.devices as Json[]).filter((d) => d && typeof d === 'object') : [];
    const flag = (k: string) => (devices.some((d) => typeof d[k] === 'boolean') ? devices.some((d) => d[k] === true) : undefined);
    const positions = devices.map((d) => num(d.valvePosition ?? d.valveOpening)).filter((v): v is number => v !== undefined);
    rooms.push({
      index: room.roomIndex as number,
      name: str(cfg.name) ?? `Room ${room.roomIndex}`,
      temperature: num(cfg.currentTemperature),
      setpoint: num(cfg.temperatureSetpoint),
      humidity: num(cfg.currentHumidity),
      windowOpen: typeof cfg.windowState === 'boolean' ? cfg.windowState : undefined,
      mode: str(cfg.operationMode),
      lowBattery: flag('lowBat'),
      unreachable: flag('unreach'),
      valvePosition: positions.length ? Math.max(...positions) : undefined,
    });
  }
  return rooms;
}
