// What the HTTP simulators share: a node:http server on 127.0.0.1 (a free port by default) whose
// requests go to the simulator's handle(), and a close that does not wait for keep-alive sockets.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export abstract class HttpSimulator {
  port = 0;
  private server?: Server;

  protected abstract handle(req: IncomingMessage, res: ServerResponse): void;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(port = 0): Promise<number> {
    const server = createServer((req, res) => this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
    this.port = (server.address() as { port: number }).port;
    return this.port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
