/**
 * The listening half of every test server here: 127.0.0.1 on a free port, and
 * a `close()` that does not wait for kept-alive connections.
 */
import type { AddressInfo, Server, Socket } from "node:net";

export interface Listening {
  port: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Also destroy `socket` on close (a connection the server opened itself, e.g. a proxy's upstream). */
  track(socket: Socket): void;
  /** Destroys every connection still open, then closes the server. */
  close(): Promise<void>;
}

export async function listenLoopback(server: Server): Promise<Listening> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  };
  server.on("connection", track);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    track,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}
