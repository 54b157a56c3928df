/**
 * decionis — an execution gate for code that acts.
 *
 * The public face. Held back on purpose: the enforcer, intent capture and
 * axios mapping (internal; their shapes may change), and the wire schemas
 * (the protocol itself is documented in docs/protocol.md).
 */
export { DecionisClient, type EnforceExecuteOptions, type WaitForDecisionOptions } from "./client.js";
export { configure, setDefaultClient, getDefaultClient } from "./default-client.js";
export {
  gate,
  decionisGate,
  type GateOptions,
  type GateDecorator,
  type GatedFunction,
  type Resolvable,
} from "./gate/gate.js";
export { gated, getGatedMethods, type GatedClassOptions, type GatedMethodInfo } from "./gate/decorators.js";
export type { Decision, DecisionStatus } from "./decision.js";
export type { CallOptions } from "./enforcer.js";
export type {
  IntentInput,
  ActorInput,
  TargetInput,
  ExecutionIntent,
  JsonObject,
  JsonObjectInput,
  JsonValue,
} from "./intent/capture.js";
export { canonicalJson, intentHash } from "./intent/canonical.js";
export type { DecisionGateway, EnforceRequest, GatewayCallOptions } from "./gateway/gateway.js";
export type {
  WireJwks as Jwks,
  WireEnforceRequest,
  WireDecision,
  WireEscalation,
  WireConsumeRequest,
  WireOutcome,
} from "./gateway/wire.js";
export { HttpGateway, type HttpGatewayOptions } from "./gateway/http.js";
export { UndiciGateway } from "./gateway/undici.js";
export type { CircuitBreakerOptions, CircuitState, CircuitStateChange } from "./gateway/breaker.js";
export { RetryPolicy, type RetryPolicyOptions } from "./retry.js";
export type { ClientOptions, ClientHooks, VerifyMode } from "./options.js";
export type { CallObserver, CallStartEvent, CallEndEvent } from "./options.js";
export type { Transport } from "./options.js";
export type { Mode } from "./gateway/wire.js";
export { InMemoryReplayStore, type ReplayStore, type InMemoryReplayStoreOptions } from "./grants/replay.js";
export type { GrantClaims } from "./grants/jws.js";
export { ed25519Backend, type Ed25519Backend, type Ed25519Choice } from "./grants/ed25519.js";
export { EscalationTimeoutError, type EscalationUpdate, type WaitOptions } from "./escalation/wait.js";
export { verifyDossier, type Dossier, type DossierVerification } from "./dossier.js";
export { VERSION } from "./version.js";
export * from "./errors/index.js";
