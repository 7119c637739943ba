// One Modbus TCP connection to a GivEVC through modbus-serial's client: one request at a time
// (the charger's port locks up when hammered, research §3), a time limit on connecting and on
// every answer, and a name for why nothing came back.
import modbusSerial from 'modbus-serial';

// modbus-serial is CommonJS; under NodeNext its typed default export is the `default` property.
const ModbusRTU = modbusSerial.default;
type ModbusClient = InstanceType<typeof ModbusRTU>;

export class NoAnswer extends Error {}

export interface EvcClientOptions {
  host: string;
  port: number;
  unitId: number;
  /** Per request and for connecting. */
  timeoutMs: number;
}

export class EvcClient {
  private client?: ModbusClient;
  private queue: Promise<unknown> = Promise.resolve();
  /** Requests answered on the current connection: none while local control is off. */
  answered = 0;
  closed = false;

  constructor(private readonly options: EvcClientOptions) {}

  get connected(): boolean {
    return this.client?.isOpen === true;
  }

  /** Runs one piece of work on the connection after the ones before it. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async connect(): Promise<void> {
    if (this.closed) throw new Error('the connection is closed');
    await this.disconnect();
    const client = new ModbusRTU();
    this.client = client;
    this.answered = 0;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.connectTCP(this.options.host, { port: this.options.port }),
        new Promise((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`no TCP connection within ${this.options.timeoutMs / 1000} s`)), this.options.timeoutMs);
        }),
      ]);
    } catch (err) {
      await this.disconnect();
      throw new Error(describe(err), { cause: err });
    } finally {
      clearTimeout(timer);
    }
    if (this.closed) {
      await this.disconnect();
      throw new Error('the connection is closed');
    }
    client.setID(this.options.unitId);
    client.setTimeout(this.options.timeoutMs);
  }

  readHolding(start: number, count: number): Promise<number[]> {
    return this.serial(async () => {
      const client = this.open();
      const result = await client.readHoldingRegisters(start, count).catch((err: unknown) => this.failed(err));
      this.answered++;
      if (result.data.length !== count) throw new Error(`asked for ${count} registers from ${start}, got ${result.data.length}`);
      return result.data;
    });
  }

  /** FC16 with one value, as GivTCP writes. */
  write(address: number, value: number): Promise<void> {
    return this.serial(async () => {
      const client = this.open();
      await client.writeRegisters(address, [value]).catch((err: unknown) => this.failed(err));
      this.answered++;
    });
  }

  private open(): ModbusClient {
    if (!this.client?.isOpen) throw new Error('not connected to the charger');
    return this.client;
  }

  private failed(err: unknown): never {
    const e = err as { errno?: string; name?: string };
    if (e?.errno === 'ETIMEDOUT' || e?.name === 'TransactionTimedOutError') throw new NoAnswer(`no answer within ${this.options.timeoutMs / 1000} s`);
    throw new Error(describe(err));
  }

  async disconnect(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      try {
        client.destroy(() => (clearTimeout(timer), resolve()));
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.disconnect();
  }
}

/** A short reason from modbus-serial's errors (ECONNREFUSED, "Timed out", "Modbus exception 3: ..."). */
export function describe(err: unknown): string {
  const e = err as { code?: string; errno?: string; message?: string; name?: string };
  if (typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code)) return e.code;
  if (typeof e?.errno === 'string' && /^E[A-Z]+$/.test(e.errno)) return e.errno;
  return (e?.message ?? String(err)).slice(0, 200);
}
