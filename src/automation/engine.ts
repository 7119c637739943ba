// The automation engine: reads the measurements, computes the surplus, shares it out by
// priority, lets each rule decide, and shows every decision and its reason in HA. It never
// speaks a device protocol: rules act through targets (the bridge's command path for this
// add-on's entities). An engine-wide dry run decides and explains but sends nothing.
import { z } from 'zod';
import type { Bridge } from '../core/bridge.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Device } from '../core/device.js';
import type { Entity } from '../core/device.js';
import type { EntitySpec } from '../core/entity.js';
import type { Logger } from '../core/logger.js';
import type { HaChanges } from '../core/ha-changes.js';
import type { Measurement } from '../measurements/measurement.js';
import type { Measurements } from '../measurements/service.js';
import type { AutomationOptions, RuleOptions } from './options.js';
import { isTimeZone } from './options.js';
import type { Rule, RuleDecision } from './rule.js';
import { SurplusFollowRule } from './rules/surplus-follow.js';
import { SurplusSwitchRule } from './rules/surplus-switch.js';
import { VaillantPvRule } from './rules/vaillant-pv.js';
import { TEMPO_MEMORY_SCOPE, TempoEssRule, type TempoColours } from './rules/tempo-ess.js';
import { EvChargeRule } from './rules/ev-charge.js';
import { tempoEssOptions } from './options.js';
import type { Notice } from '../notify/messages.js';
import { computeSurplus, type SurplusInputs } from './surplus.js';
import { createLevelTarget, createTarget, type Target } from './targets.js';

export interface EngineDeps {
  options: AutomationOptions;
  clock: Clock;
  log: Logger;
  haChanges?: HaChanges;
  /** Without a bridge (the what-if replay) there are no HA entities and no MQTT. */
  bridge?: Bridge;
  /** Where the rules' measurements come from; automation.sources are defined there already. */
  measurements: Measurements;
  /** Replaces every rule's target (the replay records instead of switching). */
  targetFor?: (rule: { name: string }) => Target;
  tickMs?: number;
  /** The Tempo colours, when the Tempo family is configured (tempo_ess rules read them). */
  tempo?: TempoColours;
  /** Sends a notification (Prowl, HA notify), when notifications are configured. */
  notify?: (notice: Notice) => void;
}

export type DecisionListener = (rule: Rule, decision: RuleDecision, changed: boolean) => void;

const STATES = ['off', 'waiting', 'on', 'holding', 'blocked'];
const persisted = z.object({ value: z.unknown(), base: z.unknown() });

export class Engine {
  readonly rules: Rule[] = [];
  /** Removed tempo_ess rules still holding the user's GX values. */
  private readonly orphans: TempoEssRule[] = [];
  readonly decisions = new Map<string, RuleDecision>();
  dryRun: boolean;
  private surplusInputs?: SurplusInputs;
  private tick?: TimerHandle;
  private listeners = new Set<DecisionListener>();
  private entities = new Map<string, Record<string, Entity<EntitySpec>>>();
  private surplusEntity?: Entity<EntitySpec>;
  private evaluating = false;
  private batching = false;
  private readonly timezone: string;

  constructor(private readonly deps: EngineDeps) {
    this.dryRun = deps.options.dry_run;
    // The option is checked at start; the container's TZ is not ours to trust.
    const systemZone = process.env.TZ && isTimeZone(process.env.TZ) ? process.env.TZ : 'UTC';
    this.timezone = deps.options.timezone ?? systemZone;
  }

  /** The named measurements (automation.sources) the surplus and the rules read. */
  get sources(): ReadonlyMap<string, Measurement> {
    return this.deps.measurements.all;
  }

  onDecision(listener: DecisionListener): void {
    this.listeners.add(listener);
  }

  async start(): Promise<void> {
    const o = this.deps.options;
    const grid = o.surplus?.grid ? this.sources.get(o.surplus.grid) : undefined;
    if (grid && o.surplus) {
      this.surplusInputs = {
        grid,
        gridPositiveIsImport: o.surplus.grid_positive_is_import,
        residualW: o.surplus.residual_w,
        batterySoc: o.surplus.battery_soc ? this.sources.get(o.surplus.battery_soc) : undefined,
        batteryPower: o.surplus.battery_power ? this.sources.get(o.surplus.battery_power) : undefined,
        batteryPowerPositiveIsCharge: o.surplus.battery_power_positive_is_charge,
        batteryPrioritySoc: o.surplus.battery_priority_soc ?? undefined,
      };
    }
    const ctx = { clock: this.deps.clock, log: this.deps.log, timezone: this.timezone, settleTimeS: o.settle_time };
    for (const r of o.rules) {
      const rule = this.createRule(r, ctx);
      rule.adopt?.(this.deps.clock.now());
      this.rules.push(rule);
    }
    this.adoptOrphans(ctx);
    this.dryRun = this.restore('automation', 'dry_run', o.dry_run) as boolean;
    for (const rule of this.rules) this.restoreRule(rule, o.rules.find((r) => rule.name === r.name)!);
    if (this.deps.bridge) this.declareEntities(this.deps.bridge);
    for (const source of this.sources.values()) source.onChange(() => this.evaluate());
    // tickMs 0: the caller drives evaluation (the replay evaluates once per simulated second).
    if (this.deps.tickMs !== 0) this.tick = this.deps.clock.setInterval(() => this.evaluate(), this.deps.tickMs ?? 1000);
    this.evaluate();
    this.deps.log.info(`automation: ${this.rules.length} rule(s), ${this.sources.size} source(s)${this.dryRun ? ', dry run' : ''}`);
  }

  /**
   * tempo_ess rules that were removed from the options but had changed the GX: each gives the
   * user's values back once the GX answers, then forgets them.
   */
  private adoptOrphans(ctx: ConstructorParameters<typeof TempoEssRule>[2]): void {
    const { bridge, haChanges } = this.deps;
    if (!bridge || !haChanges) return;
    const configured = new Set(this.rules.map((r) => r.slug));
    for (const slug of haChanges.keys(TEMPO_MEMORY_SCOPE)) {
      if (configured.has(slug)) continue;
      const kept = haChanges.get(TEMPO_MEMORY_SCOPE, slug, z.object({ schedule: z.number().optional(), victron: z.string().optional() }).passthrough(), {});
      const options = tempoEssOptions.parse({ type: 'tempo_ess', name: slug, enabled: false, schedule: kept.schedule, victron: kept.victron });
      this.orphans.push(new TempoEssRule(options, { bridge, haChanges, notify: this.deps.notify }, ctx));
    }
  }

  /** Sets several sources at once, then evaluates once. */
  batch(update: () => void): void {
    this.batching = true;
    try {
      update();
    } finally {
      this.batching = false;
    }
    this.evaluate();
  }

  /** One pass: surplus, then every rule in priority order. Cheap; runs on every measurement. */
  evaluate(): void {
    if (this.evaluating || this.batching) return; // a target that answers synchronously must not recurse
    this.evaluating = true;
    try {
      const now = this.deps.clock.now();
      const surplus = this.surplusInputs ? computeSurplus(this.surplusInputs) : ({ ok: false, why: 'no grid source is configured (automation.surplus.grid)' } as const);
      if (surplus.ok) this.surplusEntity?.update(Math.round(surplus.watts));
      else this.surplusEntity?.update(null);
      for (const orphan of this.orphans) orphan.giveBackWhenPossible();
      const ordered = this.rules.map((rule, index) => ({ rule, index })).sort((a, b) => a.rule.priority() - b.rule.priority() || a.index - b.index);
      let reserved = 0;
      ordered.forEach(({ rule }, i) => {
        // Lower priorities' visible draw is available to this one: they back off first.
        const lower = ordered.slice(i + 1).reduce((sum, { rule: r }) => {
          const dec = this.decisions.get(r.slug);
          return sum + (dec ? Math.max(0, dec.consumingW - dec.reservedW) : 0);
        }, 0);
        const input = surplus.ok
          ? {
              ok: true as const,
              watts: surplus.watts + lower - reserved,
              explain: surplus.explain + (reserved ? `, after ${reserved} W kept for higher priorities` : '') + (lower ? `, counting ${lower} W lower priorities give up` : ''),
            }
          : surplus;
        const decision = rule.evaluate({ now, surplus: input, dryRun: this.dryRun });
        reserved += decision.reservedW;
        const previous = this.decisions.get(rule.slug);
        const changed = previous?.state !== decision.state;
        this.decisions.set(rule.slug, decision);
        if (changed) this.deps.log.info(`${rule.name}: ${decision.reason}`);
        this.show(rule, decision);
        for (const listener of this.listeners) listener(rule, decision, changed);
      });
    } finally {
      this.evaluating = false;
    }
  }

  /** One line per rule type: how the options become a rule. */
  private createRule(r: RuleOptions, ctx: ConstructorParameters<typeof SurplusSwitchRule>[2]): Rule {
    switch (r.type) {
      case 'surplus_switch':
        return new SurplusSwitchRule(r, this.deps.targetFor?.(r) ?? createTarget(r.target, this.targetDeps()), ctx);
      case 'surplus_follow': {
        // The replay's simulated load takes levels too (its targetFor reads only the rule's name).
        const simulated = this.deps.targetFor?.(r);
        if (simulated) return new SurplusFollowRule(r, { level: simulated.level ?? createLevelTarget(r.target, {}), onOff: r.switch_target ? simulated : undefined }, ctx);
        const deps = this.targetDeps();
        return new SurplusFollowRule(r, { level: createLevelTarget(r.target, deps), onOff: r.switch_target ? createTarget(r.switch_target, deps) : undefined }, ctx);
      }
      case 'vaillant_pv':
        if (!this.deps.bridge) throw new Error(`rule '${r.name}': vaillant_pv rules cannot be replayed yet (they read the heat pump's state)`);
        return new VaillantPvRule(r, this.deps.bridge, ctx, this.deps.measurements);
      case 'tempo_ess':
        if (!this.deps.bridge) throw new Error(`rule '${r.name}': tempo_ess rules cannot be replayed (they follow the Tempo calendar and the GX)`);
        return new TempoEssRule(r, { bridge: this.deps.bridge, tempo: this.deps.tempo, haChanges: this.deps.haChanges, notify: this.deps.notify }, ctx);
      case 'ev_charge': {
        if (!this.deps.bridge) throw new Error(`rule '${r.name}': ev_charge rules cannot be replayed yet (they read the charger's state)`);
        const inputs = () => this.surplusInputs;
        const gridImport = () => {
          const s = inputs();
          const v = s?.grid.value;
          if (!s || v === undefined) return { ok: false as const, why: s ? s.grid.why() : 'no grid source is configured (automation.surplus.grid)' };
          return { ok: true as const, watts: s.gridPositiveIsImport ? v : -v };
        };
        const gridReadAt = () => {
          const grid = inputs()?.grid;
          return grid && Number.isFinite(grid.ageS) ? this.deps.clock.now() - grid.ageS * 1000 : undefined;
        };
        return new EvChargeRule(r, { bridge: this.deps.bridge, gridCurrent: r.grid_current ? this.sources.get(r.grid_current) : undefined, gridImport, gridReadAt }, ctx);
      }
    }
  }

  // ---- targets ----

  private targetDeps() {
    const bridge = this.deps.bridge;
    return {
      bridge,
      ha: this.deps.measurements.homeAssistant,
      publish: bridge ? (topic: string, payload: string) => bridge.publishExternal(topic, payload) : undefined,
      follow: bridge
        ? (topic: string) => {
            let latest: string | undefined;
            bridge.subscribeExternal(topic, (payload) => (latest = payload));
            return () => latest;
          }
        : undefined,
    };
  }

  // ---- what HA shows and changes ----

  /** A value changed from HA wins over the options until the options value itself changes. */
  private restore(scope: string, key: string, fromOptions: unknown): unknown {
    const saved = this.deps.haChanges?.get(scope, key, persisted, undefined as never);
    if (saved && JSON.stringify(saved.base) === JSON.stringify(fromOptions)) return saved.value;
    return fromOptions;
  }

  private remember(scope: string, key: string, fromOptions: unknown, value: unknown): void {
    void this.deps.haChanges?.set(scope, key, { value, base: fromOptions });
  }

  private restoreRule(rule: Rule, o: RuleOptions): void {
    const scope = `rule_${rule.slug}`;
    rule.enabled = this.restore(scope, 'enabled', o.enabled) as boolean;
    rule.mode = this.restore(scope, 'mode', o.mode) as string;
    for (const s of rule.settings) s.set(Number(this.restore(scope, s.key, (o as Record<string, unknown>)[s.key])));
  }

  private declareEntities(bridge: Bridge): void {
    const o = this.deps.options;
    const engine = bridge.device({ id: 'automation', name: 'Automation', manufacturer: 'energy2mqtt', model: 'Automation engine' }, 'automation');
    engine
      .switch({
        key: 'dry_run', name: 'Dry run', icon: 'mdi:test-tube', category: 'config',
        command: (on) => {
          this.dryRun = on;
          this.remember('automation', 'dry_run', o.dry_run, on);
          this.evaluate();
          return on;
        },
      })
      .update(this.dryRun);
    this.surplusEntity = engine.sensor({ key: 'surplus', name: 'Surplus', deviceClass: 'power', unit: 'W', stateClass: 'measurement', deadband: 10 });

    for (const rule of this.rules) {
      const ruleOptions = o.rules.find((r) => r.name === rule.name)!;
      const scope = `rule_${rule.slug}`;
      const device = bridge.device({ id: `rule_${rule.slug}`, name: rule.name, manufacturer: 'energy2mqtt', model: `${rule.model} rule` }, 'automation');
      this.declareRuleControls(device, rule, ruleOptions, scope);
      rule.declareEntities?.(device);
      this.entities.set(rule.slug, {
        state: device.sensor({ key: 'state', name: 'State', deviceClass: 'enum', options: STATES, icon: 'mdi:state-machine' }),
        reason: device.sensor({ key: 'reason', name: 'Reason', icon: 'mdi:comment-question-outline' }),
        next: device.sensor({ key: 'next_change', name: 'Next possible change', deviceClass: 'timestamp' }),
      });
    }
  }

  private declareRuleControls(device: Device, rule: Rule, o: RuleOptions, scope: string): void {
    const changed = () => this.evaluate();
    device
      .switch({
        key: 'enabled', name: 'Enabled', icon: 'mdi:solar-power',
        command: async (on) => {
          rule.enabled = on;
          this.remember(scope, 'enabled', o.enabled, on);
          if (!on) await rule.release();
          changed();
          return on;
        },
      })
      .update(rule.enabled);
    device
      .select({
        key: 'mode', name: 'Mode', options: rule.modes, icon: 'mdi:tune',
        command: (mode) => {
          rule.mode = mode;
          this.remember(scope, 'mode', o.mode, mode);
          changed();
          return mode;
        },
      })
      .update(rule.mode);
    for (const s of rule.settings) {
      device
        .number({
          key: s.key, name: s.name, min: s.min, max: s.max, step: s.step, unit: s.unit || undefined, deviceClass: s.deviceClass, category: 'config',
          command: (value) => {
            s.set(value);
            this.remember(scope, s.key, (o as Record<string, unknown>)[s.key], value);
            changed();
            return value;
          },
        })
        .update(s.get());
    }
  }

  private show(rule: Rule, decision: RuleDecision): void {
    const e = this.entities.get(rule.slug);
    if (!e) return;
    e.state!.update(STATES.includes(decision.state) ? decision.state : null);
    e.reason!.update(decision.reason.length > 250 ? decision.reason.slice(0, 249) + '…' : decision.reason);
    e.next!.update(decision.nextChangeAt ? new Date(decision.nextChangeAt).toISOString() : null);
  }

  /** Waits until every switching started so far is done. */
  async settled(): Promise<void> {
    await Promise.all(this.rules.map((r) => r.settled()));
  }

  /** On a crash or a signal: every rule puts its load in its safe state, synchronously. */
  failSafe(): void {
    this.tick?.cancel();
    for (const rule of this.rules) {
      try {
        rule.failSafe();
      } catch (err) {
        this.deps.log.error(`${rule.name}: fail-safe failed: ${(err as Error).message}`);
      }
    }
  }

  async stop(): Promise<void> {
    this.tick?.cancel();
    for (const rule of this.rules) await (rule.shutdown ? rule.shutdown() : rule.release());
    for (const orphan of this.orphans) await orphan.settled();
    for (const rule of this.rules) rule.dispose?.();
  }
}
