// The demo starts one simulator per device family and points the add-on's options at them.
// Each family adds its simulator here when it lands.

export interface DemoSimulators {
  names: string[];
  /** Options entries that connect the adapters to the simulators (e.g. { givenergy: [...] }). */
  options: Record<string, unknown>;
  stop(): Promise<void>;
}

export async function startDemoSimulators(): Promise<DemoSimulators> {
  const running: Array<{ name: string; stop(): Promise<void> }> = [];
  return {
    names: running.map((s) => s.name),
    options: {},
    stop: async () => {
      for (const sim of running.reverse()) await sim.stop();
    },
  };
}
