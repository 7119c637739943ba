// An in-process MQTT broker (aedes) for the demo, and for tests on a machine without Mosquitto.
// Not part of the add-on image: there the Mosquitto add-on is the broker.
import { createServer, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';

export class EmbeddedBroker {
  private server?: Server;
  private sockets = new Set<Socket>();
  private constructor(private readonly aedes: Aedes) {}

  static async create(): Promise<EmbeddedBroker> {
    return new EmbeddedBroker(await Aedes.createBroker());
  }

  /** Listens on 127.0.0.1:port (0 = any free port) and resolves with the port. */
  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    const server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      this.aedes.handle(socket);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address();
    return typeof address === 'object' && address ? address.port : port;
  }

  /** Drops every connection and stops listening; sessions and retained messages stay (like a broker restart with persistence). */
  async pause(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  async close(): Promise<void> {
    await this.pause();
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
  }
}
