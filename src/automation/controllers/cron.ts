// node-cron, loaded the first time a schedule is checked or used: a home without schedules does
// not carry it (4 MB of resident memory). One copy for the options check and the windows alike.
import { createRequire } from 'node:module';
import type * as NodeCron from 'node-cron';

let loaded: typeof NodeCron | undefined;

export function nodeCron(): typeof NodeCron {
  loaded ??= createRequire(import.meta.url)('node-cron') as typeof NodeCron;
  return loaded;
}
