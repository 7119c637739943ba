// A real broker for a test: Mosquitto on a free port when the binary is there (required when
// E2M_REQUIRE_MOSQUITTO=1, as in CI), otherwise the embedded broker. It says which.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBroker } from '../../src/embedded-broker.js';

export interface TestBroker {
  kind: 'mosquitto' | 'embedded';
  port: number;
  /** Kills the broker abruptly (SIGKILL for Mosquitto, right after it saved its sessions). */
  kill(): Promise<void>;
  /** Starts it again on the same port with the sessions and retained messages it had saved. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const MOSQUITTO_PATHS = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto'];
let announced = false;

export function mosquittoBinary(): string | undefined {
  const found = MOSQUITTO_PATHS.find((p) => existsSync(p));
  if (found) return found;
  const which = spawnSync('sh', ['-c', 'command -v mosquitto'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`broker did not open port ${port}`);
}

/** Options for a broker of a device's own (Victron's GX): a user and password required. */
export interface TestBrokerOptions {
  credentials?: { username: string; password: string };
}

export async function startTestBroker(options: TestBrokerOptions = {}): Promise<TestBroker> {
  const binary = mosquittoBinary();
  if (!binary && process.env.E2M_REQUIRE_MOSQUITTO === '1') {
    throw new Error('Mosquitto is required (E2M_REQUIRE_MOSQUITTO=1) but no mosquitto binary was found');
  }
  if (options.credentials && !binary) throw new Error('a broker with credentials needs Mosquitto (apt-get install mosquitto)');
  const broker = binary ? await startMosquitto(binary, options) : await startEmbedded();
  if (!announced) {
    announced = true;
    console.log(`# test broker: ${broker.kind === 'mosquitto' ? `Mosquitto (${binary})` : 'embedded aedes broker (no mosquitto binary found)'}`);
  }
  return broker;
}

async function startMosquitto(binary: string, options: TestBrokerOptions): Promise<TestBroker> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'e2m-mosquitto-'));
  // Started as root, Mosquitto drops to its own user, which must be able to write persistence here.
  chmodSync(dir, 0o777);
  const access = ['allow_anonymous true'];
  if (options.credentials) {
    const passwd = join(dir, 'passwd');
    writeFileSync(passwd, '');
    const made = spawnSync('mosquitto_passwd', ['-b', passwd, options.credentials.username, options.credentials.password]);
    if (made.status !== 0) throw new Error(`mosquitto_passwd failed: ${made.stderr?.toString() ?? made.error?.message}`);
    chmodSync(passwd, 0o644);
    access.splice(0, 1, 'allow_anonymous false', `password_file ${passwd}`);
  }
  const conf = join(dir, 'mosquitto.conf');
  // Persistence on (saving on every change would make Mosquitto rewrite its whole store per
  // message; kill() asks it to save right before the SIGKILL instead).
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      ...access,
      'persistence true',
      `persistence_location ${dir}/`,
      'autosave_interval 1',
      'max_queued_messages 100000',
      'log_type error',
      'log_dest stderr',
    ].join('\n') + '\n',
  );
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn(binary, ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
    await waitForPort(port);
  };
  const kill = async () => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    // A broker with persistence has its sessions on disk when it dies: SIGUSR1 makes Mosquitto
    // write them now instead of at its next autosave, then SIGKILL gives no chance to say goodbye.
    const db = join(dir, 'mosquitto.db');
    const before = existsSync(db) ? statSync(db).mtimeMs : 0;
    c.kill('SIGUSR1');
    const end = Date.now() + 3000;
    while (Date.now() < end && !(existsSync(db) && statSync(db).mtimeMs > before)) await new Promise((r) => setTimeout(r, 20));
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };
  await launch();
  return {
    kind: 'mosquitto',
    port,
    kill,
    restart: launch,
    stop: async () => {
      const c = child;
      if (!c || c.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve());
        c.kill('SIGTERM');
      });
    },
  };
}

async function startEmbedded(): Promise<TestBroker> {
  const embedded = await EmbeddedBroker.create();
  const port = await embedded.listen(0);
  return {
    kind: 'embedded',
    port,
    kill: () => embedded.pause(),
    restart: async () => void (await embedded.listen(port)),
    stop: () => embedded.close(),
  };
}
