// The pigpiod simulator as another client than ours sees it: pigpio-client (guymcswain), unchanged,
// over real TCP, and raw sockets for the 16-byte framing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { PIGPIO_COMMAND, PIGPIO_ERROR, PigpiodSimulator, attachPigpiod, PI_OUTPUT } from '../../src/simulators/pigpiod.js';

// pigpio-client ships no types; this is the part of its API the tests use.
interface ClientGpio {
  modeSet(mode: 'input' | 'output', callback: (error: Error | null) => void): void;
  write(level: 0 | 1): Promise<number>;
  read(): Promise<number>;
  modeGet(): Promise<number>;
  setServoPulsewidth(pulseUs: number): Promise<number>;
  getServoPulsewidth(): Promise<number>;
  notify(callback: (level: number | null, tick: number | null) => void): void;
  endNotify(callback?: () => void): void;
}
interface PigpioClient {
  on(event: 'connected', listener: (info: { pigpioVersion: number; hwVersion: number }) => void): void;
  on(event: 'disconnected', listener: (reason: string) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  once(event: string, listener: (...args: any[]) => void): void;
  gpio(gpio: number): ClientGpio;
  end(callback?: () => void): void;
}
type PigpioError = Error & { code: string; api: string };

// A missing answer or event fails the test instead of hanging the run.
const TIMEOUT_MS = 5000;

const require = createRequire(import.meta.url);
const { pigpio } = require('pigpio-client') as { pigpio(options: { host: string; port: number; timeout?: number }): PigpioClient };

async function daemon(t: { after(fn: () => Promise<void>): void }, options: ConstructorParameters<typeof PigpiodSimulator>[0] = {}) {
  const sim = new PigpiodSimulator(options);
  const port = await sim.listen();
  t.after(() => sim.close());
  return { sim, port };
}

async function connectedClient(t: { after(fn: () => void): void }, sim: PigpiodSimulator) {
  // pigpio-client emits 'connected' before its EVM request on the command socket has gone out;
  // a client that ends at once then writes after end. Ready means EVM answered.
  const eventMonitorAnswered = answerTo(sim, PIGPIO_COMMAND.EVM);
  const client = pigpio({ host: '127.0.0.1', port: sim.port });
  const info = await new Promise<{ pigpioVersion: number; hwVersion: number }>((resolve, reject) => {
    client.once('connected', resolve);
    client.once('error', reject);
  });
  assert.equal(await eventMonitorAnswered, 0);
  t.after(() => client.end());
  return { client, info };
}

/** The result of the simulator's next answer to `cmd`. */
function answerTo(sim: PigpiodSimulator, cmd: number): Promise<number> {
  return new Promise((resolve) => {
    const listener = (answered: { cmd: number; result: number }) => {
      if (answered.cmd !== cmd) return;
      sim.off('request', listener);
      resolve(answered.result);
    };
    sim.on('request', listener);
  });
}

const modeSet = (gpio: ClientGpio, mode: 'input' | 'output') =>
  new Promise<void>((resolve, reject) => gpio.modeSet(mode, (error) => (error ? reject(error) : resolve())));

async function until(sim: PigpiodSimulator, condition: () => boolean, event = 'request'): Promise<void> {
  while (!condition()) await once(sim, event);
}

test('pigpio-client connects with both sockets and reads the version and the hardware revision', { timeout: TIMEOUT_MS }, async (t) => {
  const { sim } = await daemon(t);
  const { info } = await connectedClient(t, sim);
  assert.equal(info.pigpioVersion, 79);
  assert.equal(info.hwVersion, 0xa02082);
  assert.equal(sim.clientCount, 2, 'a command socket and a notification socket');
});

test('mode, write and read through pigpio-client land on the pin and in the history', { timeout: TIMEOUT_MS }, async (t) => {
  const { sim } = await daemon(t);
  const { client } = await connectedClient(t, sim);
  const relay = client.gpio(17);
  await modeSet(relay, 'output');
  assert.equal(sim.pin(17).mode, PI_OUTPUT);
  assert.equal(await relay.write(1), 0);
  assert.deepEqual({ level: sim.pin(17).level, driven: sim.pin(17).driven }, { level: 1, driven: true });
  assert.equal(await relay.read(), 1);
  assert.equal(await relay.modeGet(), PI_OUTPUT);
  await modeSet(relay, 'input');
  assert.equal(sim.pin(17).driven, false, 'an input is high impedance');
  assert.deepEqual(
    sim.history.filter((entry) => entry.gpio === 17).map(({ what, value }) => [what, value]),
    [['mode', 1], ['write', 1], ['mode', 0]],
  );
});

test('a servo pulse width set through pigpio-client reads back, and WRITE stops the pulses', { timeout: TIMEOUT_MS }, async (t) => {
  const { sim } = await daemon(t);
  const { client } = await connectedClient(t, sim);
  const servo = client.gpio(21);
  assert.equal(await servo.setServoPulsewidth(1500), 0);
  assert.equal(await servo.getServoPulsewidth(), 1500);
  assert.deepEqual({ servoUs: sim.pin(21).servoUs, mode: sim.pin(21).mode }, { servoUs: 1500, mode: PI_OUTPUT });
  await servo.write(0);
  await assert.rejects(servo.getServoPulsewidth(), (error: PigpioError) => error.code === 'PI_NOT_SERVO_GPIO');
  assert.equal(sim.pin(21).servoUs, 0);
});

test('a bad pulse width gets pigpio’s error and leaves the pin alone', { timeout: TIMEOUT_MS }, async (t) => {
  const { sim } = await daemon(t);
  const { client } = await connectedClient(t, sim);
  const servo = client.gpio(21);
  await servo.setServoPulsewidth(1200);
  await assert.rejects(servo.setServoPulsewidth(2600), (error: PigpioError) => error.code === 'PI_BAD_PULSEWIDTH' && error.api === 'SERVO');
  await assert.rejects(servo.setServoPulsewidth(499), (error: PigpioError) => error.code === 'PI_BAD_PULSEWIDTH');
  assert.equal(await servo.getServoPulsewidth(), 1200);
  await assert.rejects(client.gpio(4).getServoPulsewidth(), (error: PigpioError) => error.code === 'PI_NOT_SERVO_GPIO');
  assert.equal(sim.pin(21).servoUs, 1200);
});

test('notifications arrive on the second socket when an input pin changes', { timeout: TIMEOUT_MS }, async (t) => {
  const { sim } = await daemon(t);
  const { client } = await connectedClient(t, sim);
  // pigpio-client reads bank 1, then sends NB; the pin may change only once NB is in place.
  const monitoring = answerTo(sim, PIGPIO_COMMAND.NB);
  const levels: number[] = [];
  const seen = new Promise<void>((resolve) =>
    client.gpio(5).notify((level) => {
      if (level === null) return;
      levels.push(level);
      if (levels.length === 2) resolve();
    }),
  );
  assert.equal(await monitoring, 0);
  sim.setExternalLevel(5, 1);
  sim.setExternalLevel(5, 0);
  await seen;
  assert.deepEqual(levels, [1, 0]);
});

test('dropClients closes both sockets and pigpio-client reports disconnected', { timeout: TIMEOUT_MS }, async (t) => {
  const { sim } = await daemon(t);
  const { client } = await connectedClient(t, sim);
  const disconnected = new Promise<string>((resolve) => client.on('disconnected', resolve));
  sim.dropClients();
  assert.match(await disconnected, /closed unexpectedly/);
  await until(sim, () => sim.clientCount === 0, 'disconnection');
});

test('refused connections look like a stopped daemon, and the port comes back', { timeout: TIMEOUT_MS }, async (t) => {
  const { sim, port } = await daemon(t);
  await sim.refuseConnections(true);
  const refused = await new Promise<NodeJS.ErrnoException>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', resolve);
  });
  assert.equal(refused.code, 'ECONNREFUSED');
  await sim.refuseConnections(false);
  const { info } = await connectedClient(t, sim);
  assert.equal(info.pigpioVersion, 79);
});

test('a restart stops servo pulses; outputs keep their level', { timeout: TIMEOUT_MS }, async (t) => {
  const { sim } = await daemon(t);
  const { client } = await connectedClient(t, sim);
  await client.gpio(21).setServoPulsewidth(1800);
  await client.gpio(17).write(1);
  sim.dropClients({ restart: true });
  assert.equal(sim.pin(21).servoUs, 0);
  assert.equal(sim.pin(21).function, 'none');
  assert.deepEqual({ level: sim.pin(17).level, driven: sim.pin(17).driven }, { level: 1, driven: true });
});

test('a command delay holds back the answer and the requests behind it', { timeout: TIMEOUT_MS }, async (t) => {
  const { sim } = await daemon(t);
  const { client } = await connectedClient(t, sim);
  sim.setCommandDelay(150, PIGPIO_COMMAND.SERVO);
  const started = performance.now();
  const order: string[] = [];
  const servo = client.gpio(21).setServoPulsewidth(1000).then(() => order.push('servo'));
  const read = client.gpio(17).read().then(() => order.push('read'));
  await Promise.all([servo, read]);
  assert.ok(performance.now() - started >= 140, 'the answer waited for the delay');
  assert.deepEqual(order, ['servo', 'read']);
});

test('attachPigpiod drives the relay only while its pin is an output at the active level', { timeout: TIMEOUT_MS }, async (t) => {
  const { sim } = await daemon(t, { initialPins: { 17: { mode: PI_OUTPUT, level: 0 } } });
  const seen: Array<['relay', boolean] | ['servo', number]> = [];
  attachPigpiod(sim, { setRelay: (on) => seen.push(['relay', on]), setServoPulse: (us) => seen.push(['servo', us]) }, { relayGpio: 17, activeLow: true, servoGpio: 21 });
  assert.deepEqual(seen.splice(0), [['relay', true], ['servo', 0]], 'a low pin left behind energizes an active-low relay');
  const { client } = await connectedClient(t, sim);
  await client.gpio(17).write(1);
  await modeSet(client.gpio(17), 'input');
  await client.gpio(17).write(0);
  await client.gpio(21).setServoPulsewidth(2000);
  await client.gpio(21).setServoPulsewidth(0);
  assert.deepEqual(seen, [['relay', false], ['relay', false], ['relay', true], ['servo', 2000], ['servo', 0]]);
});

// Raw sockets: the framing as the daemon's socket thread reads it.

function request(cmd: number, p1 = 0, p2 = 0, extension: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt32LE(cmd, 0);
  header.writeUInt32LE(p1, 4);
  header.writeUInt32LE(p2, 8);
  header.writeUInt32LE(extension.length, 12);
  return Buffer.concat([header, extension]);
}

interface Answer {
  cmd: number;
  p1: number;
  p2: number;
  result: number;
}

async function rawSocket(t: { after(fn: () => void): void }, port: number) {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await once(socket, 'connect');
  t.after(() => socket.destroy());
  let received = Buffer.alloc(0);
  socket.on('data', (chunk) => (received = Buffer.concat([received, chunk])));
  const answers = async (count: number): Promise<Answer[]> => {
    while (received.length < count * 16) await once(socket, 'data');
    const taken = received.subarray(0, count * 16);
    received = received.subarray(count * 16);
    return Array.from({ length: count }, (_, index) => ({
      cmd: taken.readUInt32LE(index * 16),
      p1: taken.readUInt32LE(index * 16 + 4),
      p2: taken.readUInt32LE(index * 16 + 8),
      result: taken.readInt32LE(index * 16 + 12),
    }));
  };
  return { socket, answers, pendingBytes: () => received.length };
}

test('raw framing: a request split over two packets, two requests in one, an extension', { timeout: TIMEOUT_MS }, async (t) => {
  const { sim, port } = await daemon(t);
  const { socket, answers, pendingBytes } = await rawSocket(t, port);

  const write = request(PIGPIO_COMMAND.WRITE, 17, 1);
  const arrived = once(sim, 'received');
  socket.write(write.subarray(0, 7));
  await arrived;
  const rest = once(sim, 'request');
  socket.write(write.subarray(7));
  await rest;
  assert.deepEqual(await answers(1), [{ cmd: PIGPIO_COMMAND.WRITE, p1: 17, p2: 1, result: 0 }]);

  // The header in one packet, its extension in the next: the daemon waits for the whole request.
  const extended = request(PIGPIO_COMMAND.HWVER, 0, 0, Buffer.from('12345678'));
  const headerArrived = once(sim, 'received');
  socket.write(extended.subarray(0, 16));
  await headerArrived;
  const answered = once(sim, 'request');
  socket.write(Buffer.concat([extended.subarray(16), request(PIGPIO_COMMAND.READ, 17)]));
  await answered;
  assert.deepEqual(
    (await answers(2)).map((answer) => [answer.cmd, answer.result >>> 0]),
    [[PIGPIO_COMMAND.HWVER, 0xa02082], [PIGPIO_COMMAND.READ, 1]],
  );

  socket.write(Buffer.concat([request(PIGPIO_COMMAND.READ, 17), request(PIGPIO_COMMAND.SERVO, 21, 3000)]));
  assert.deepEqual(await answers(2), [
    { cmd: PIGPIO_COMMAND.READ, p1: 17, p2: 0, result: 1 },
    { cmd: PIGPIO_COMMAND.SERVO, p1: 21, p2: 3000, result: PIGPIO_ERROR.PI_BAD_PULSEWIDTH },
  ]);

  // Any command may carry an extension; the daemon skips it before reading the next request.
  socket.write(Buffer.concat([request(200, 1, 2, Buffer.from('abcdef')), request(PIGPIO_COMMAND.MODES, 60, 1), request(PIGPIO_COMMAND.MODES, 4, 9), request(PIGPIO_COMMAND.WRITE, 4, 2)]));
  assert.deepEqual(
    (await answers(4)).map((answer) => answer.result),
    [PIGPIO_ERROR.PI_UNKNOWN_COMMAND, PIGPIO_ERROR.PI_BAD_GPIO, PIGPIO_ERROR.PI_BAD_MODE, PIGPIO_ERROR.PI_BAD_LEVEL],
  );
  assert.equal(pendingBytes(), 0);
});

test('raw framing: an extension of 64 KiB or more closes the socket without an answer', { timeout: TIMEOUT_MS }, async (t) => {
  const { port } = await daemon(t);
  const { socket, pendingBytes } = await rawSocket(t, port);
  const header = request(PIGPIO_COMMAND.HWVER);
  header.writeUInt32LE(1 << 16, 12);
  socket.write(header);
  await once(socket, 'close');
  assert.equal(pendingBytes(), 0);
});

test('fuzzed bytes never crash the daemon, and well-shaped random requests all get an echoing answer', { timeout: TIMEOUT_MS }, async (t) => {
  const { sim, port } = await daemon(t);
  let seed = 12345;
  const next = () => (seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0);
  for (let round = 0; round < 40; round += 1) {
    const { socket } = await rawSocket(t, port);
    const closed = once(socket, 'close');
    socket.write(randomBytes(1 + (next() % 200)));
    socket.end();
    await closed;
  }
  const { socket, answers } = await rawSocket(t, port);
  const sent: Array<[number, number, number]> = [];
  for (let index = 0; index < 300; index += 1) {
    const cmd = next() % 130;
    const p1 = next() % 64;
    const p2 = next() % 3000;
    sent.push([cmd, p1, p2]);
    socket.write(request(cmd, p1, p2));
  }
  const got = await answers(sent.length);
  assert.deepEqual(
    got.map((answer) => [answer.cmd, answer.p1, answer.p2]),
    sent,
  );
  const unbounded = new Set<number>([PIGPIO_COMMAND.HWVER, PIGPIO_COMMAND.TICK, PIGPIO_COMMAND.BR1, PIGPIO_COMMAND.BR2]);
  assert.ok(got.every((answer) => unbounded.has(answer.cmd) || (answer.result >= -200 && answer.result <= 40_000)), 'results are error codes, levels, modes or settings');
  assert.ok(got.some((answer) => answer.result === PIGPIO_ERROR.PI_UNKNOWN_COMMAND) && got.some((answer) => answer.result === 0));
  const [hardware] = await (socket.write(request(PIGPIO_COMMAND.HWVER)), answers(1));
  assert.equal(hardware!.result >>> 0, 0xa02082);
  assert.ok(sim.clientCount >= 1);
});
