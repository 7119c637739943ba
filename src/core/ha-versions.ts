// The lowest Home Assistant Core release that accepts everything we publish. HA validates a
// device discovery payload as a whole: one component of a platform it does not know drops every
// entity of that device, with only a warning in its log. config.yaml's `homeassistant:` is
// derived from these tables (test/core/ha-versions.test.ts), so a newer platform or key cannot
// be added silently. Versions are the first release; "inferred" means read from dates, not notes.
// A platform's version, with its source, is in the platform's own module (discovery/platforms/).
import type { Component } from './entity.js';
import { HA_CORE, type Since } from './discovery/platform.js';
import { ALL_PLATFORMS } from './discovery/registry.js';

export type { Since };

/** Per platform: the first release whose MQTT discovery takes it with every key we send for it. */
export const PLATFORM_SINCE = Object.fromEntries(ALL_PLATFORMS.map((p) => [p.component, p.since])) as Record<Component, Since>;

/**
 * What every device payload relies on, whatever its platforms. Everything else we send (the
 * availability list and availability_mode, qos, origin, entity_category, enabled_by_default, the
 * climate and water-heater topics and templates) is older than every entry of both tables.
 * Device keys are listed because HA rejects an unknown key inside `dev` (home-assistant/core
 * issue 108069), where an unknown key of a component is only ignored.
 */
export const FEATURE_SINCE = {
  device_discovery: {
    since: '2024.11.0',
    source: `homeassistant/device/<id>/config with cmps and o: release notes 2024.11 (https://www.home-assistant.io/blog/2024/11/06/release-202411/), ${HA_CORE}/pull/118757`,
  },
  default_entity_id: {
    since: '2025.10.0',
    source: `${HA_CORE}/pull/151775 (replaces object_id); first seen in 2025.10.0b1 (https://github.com/zivillian/ism7mqtt/issues/171)`,
  },
  device_model_id: {
    since: '2024.9.0',
    source: `${HA_CORE}/pull/123152, docs https://github.com/home-assistant/home-assistant.io/pull/34117 (opened after the 2024.8 beta; release inferred)`,
  },
  device_serial_number: { since: '2024.2.0', source: `${HA_CORE}/pull/108105, for 2024.2 per the maintainer in ${HA_CORE}/issues/108069` },
} satisfies Record<string, Since>;

/** Compares release numbers part by part as numbers (2026.10.0 is after 2026.5.0). */
export function compareVersions(a: string, b: string): number {
  const pa = parts(a);
  const pb = parts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  return 0;
}

function parts(version: string): number[] {
  if (!/^\d+(\.\d+)*$/.test(version)) throw new Error(`'${version}' is not a release number like 2026.5.0`);
  return version.split('.').map(Number);
}

/** The lowest HA release that accepts these platforms together with every feature we rely on. */
export function minimumHaVersion(components: Iterable<Component>): string {
  const versions = [...Object.values(FEATURE_SINCE), ...[...components].map((c) => PLATFORM_SINCE[c])].map((s) => s.since);
  return versions.reduce((max, v) => (compareVersions(v, max) > 0 ? v : max));
}
