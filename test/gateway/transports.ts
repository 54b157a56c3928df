/**
 * The built-in transports every gateway test runs against (issue 12, item 6):
 * `describe.each(TRANSPORTS)("%s transport", (transport) => ...)`.
 */
import { HttpGateway, UndiciGateway, type HttpGatewayOptions, type Transport } from "../../src/index.js";

export const TRANSPORTS: [Transport][] = [["axios"], ["undici"]];

/** The gateway class `new DecionisClient({ transport })` builds. */
export function gatewayOf(transport: Transport, options: HttpGatewayOptions): HttpGateway | UndiciGateway {
  return transport === "undici" ? new UndiciGateway(options) : new HttpGateway(options);
}
