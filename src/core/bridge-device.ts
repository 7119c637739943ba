// The add-on's own device in HA: connection state, version and the log level.
import { z } from 'zod';
import { BRIDGE_DEVICE_ID, type Bridge } from './bridge.js';
import { LOG_LEVELS, type LogHub, type LogLevel } from './logger.js';
import type { HaChanges } from './ha-changes.js';

export function declareBridgeDevice(bridge: Bridge, logs: LogHub, haChanges: HaChanges, version: string): void {
  const device = bridge.device(
    { id: BRIDGE_DEVICE_ID, name: 'energy2mqtt', manufacturer: 'energy2mqtt', model: 'Bridge', swVersion: version },
    'bridge',
  );
  // Shown while the bridge is connected; the broker's last will turns it unavailable otherwise.
  device.binarySensor({ key: 'connection', name: 'Connection state', deviceClass: 'connectivity', category: 'diagnostic' }).update(true);
  device.sensor({ key: 'version', name: 'Version', icon: 'mdi:information-outline', category: 'diagnostic' }).update(version);
  const saved = haChanges.get('bridge', 'log_level', z.enum(LOG_LEVELS as [LogLevel, ...LogLevel[]]), logs.level);
  logs.setLevel(saved);
  device
    .select({
      key: 'log_level',
      name: 'Log level',
      icon: 'mdi:format-list-bulleted',
      category: 'config',
      options: LOG_LEVELS,
      command: async (level) => {
        logs.setLevel(level as LogLevel);
        await haChanges.set('bridge', 'log_level', level);
        return level;
      },
    })
    .update(saved);
}
