// A real adapter (through the adapter contract) that owns the test device.
import type { Adapter, AdapterContext } from '../../src/adapters/adapter.js';
import type { ContextFor } from '../../src/adapters/index.js';
import { declareTestDevice, type TestDevice } from './test-device.js';

export class TestAdapter implements Adapter {
  readonly id = 'test';
  declared?: TestDevice;
  constructor(
    private readonly ctx: AdapterContext,
    private readonly without: string[] = [],
  ) {}

  async start(): Promise<void> {
    this.declared = declareTestDevice(this.ctx.devices, 'test_device', this.id);
    for (const key of this.without) this.declared.device.removeEntity(key);
  }

  async stop(): Promise<void> {}

  failSafe(): void {}
}

/** For AppConfig.extraAdapters; `holder.adapter` gives the test the running instance. */
export function testAdapters(holder: { adapter?: TestAdapter }, without: string[] = []): (contextFor: ContextFor) => TestAdapter[] {
  return (contextFor) => {
    holder.adapter = new TestAdapter(contextFor('test'), without);
    return [holder.adapter];
  };
}
