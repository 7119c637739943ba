// Connection failures a user meets at install time, each with a log line that says what is wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { MqttConnection } from '../../src/core/mqtt-connection.js';
import { LogHub } from '../../src/core/logger.js';
import { Secrets } from '../../src/core/secrets.js';
import { eventually } from '../helpers/mqtt-client.js';
import { freePort, mosquittoBinary } from '../helpers/broker.js';
import { tempDir } from '../helpers/app.js';

function connection(port: number, extra: Partial<{ username: string; password: string }> = {}) {
  const lines: string[] = [];
  const logs = new LogHub({ level: 'debug', secrets: new Secrets(), out: { write: (l) => void lines.push(l) } });
  const conn = new MqttConnection(
    { broker: { host: '127.0.0.1', port, clientId: 'conn_test', ...extra }, will: { topic: 't/state', payload: 'offline' }, backoff: { initialMs: 50, maxMs: 400 } },
    logs.child('mqtt'),
  );
  return { conn, lines };
}

test('a broker that hangs up before accepting is reported, and retried', async () => {
  const server = createServer((socket) => socket.destroy());
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)));
  const { conn, lines } = connection(port);
  void conn.start();
  await eventually(() => lines.filter((l) => l.includes('closed the connection before accepting it')).length >= 2, 5000, 'two reported attempts');
  await conn.stop();
  server.close();
});

test('a refused connection is reported and retried with growing delays', async () => {
  const { conn, lines } = connection(await freePort());
  void conn.start();
  await eventually(() => lines.filter((l) => l.includes('reconnecting in')).length >= 4, 5000, 'four retries');
  assert.ok(lines.some((l) => l.includes('ECONNREFUSED')));
  const delays = lines.filter((l) => l.includes('reconnecting in')).map((l) => Number(/in (\d+) ms/.exec(l)![1]));
  assert.ok(delays[3]! > delays[0]!, `backoff grows: ${delays.join(', ')}`);
  assert.ok(delays.every((d) => d <= 400 * 1.2), 'and stays under its ceiling');
  await conn.stop();
});

const canMakePasswords = Boolean(mosquittoBinary()) && spawnSync('sh', ['-c', 'command -v mosquitto_passwd']).status === 0;

test('wrong credentials are named as such', { skip: !canMakePasswords && 'needs mosquitto and mosquitto_passwd' }, async () => {
  const dir = tempDir();
  chmodSync(dir, 0o777);
  const passwd = join(dir, 'passwd');
  writeFileSync(passwd, '');
  assert.equal(spawnSync('mosquitto_passwd', ['-b', passwd, 'energy', 'right-password']).status, 0);
  chmodSync(passwd, 0o644);
  const port = await freePort();
  writeFileSync(join(dir, 'm.conf'), `listener ${port} 127.0.0.1\nallow_anonymous false\npassword_file ${passwd}\n`);
  const broker = spawn(mosquittoBinary()!, ['-c', join(dir, 'm.conf')], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const { conn, lines } = connection(port, { username: 'energy', password: 'wrong-password' });
    void conn.start();
    await eventually(() => lines.some((l) => /not authori[sz]ed|bad user name or password/.test(l)), 5000, 'a credentials message');
    await conn.stop();
  } finally {
    broker.kill();
  }
});
