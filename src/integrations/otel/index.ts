/**
 * `decionis/otel`: one OpenTelemetry span per decision, through
 * `@opentelemetry/api` only (an optional peer: `decionis` itself never loads it).
 *
 * Built on the client's public `hooks.onCall`: the span starts when the intent
 * is captured, its W3C trace context travels on the authority request
 * (`traceparent`, via the global propagator), and it ends when the decision is
 * final, before the gated function runs. Attributes say what was decided,
 * never what was asked: no parameters, no context values, no keys.
 */
import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Tracer,
  type TracerProvider,
} from "@opentelemetry/api";
import {
  BlockedError,
  DecionisError,
  VERSION,
  type CallObserver,
  type CallStartEvent,
  type ClientOptions,
} from "../../index.js";

/** Options of {@link otelHooks} and {@link withTracing}. */
export interface TracingOptions {
  /** @default `tracerProvider.getTracer("decionis", VERSION)` */
  tracer?: Tracer;
  /** @default the global provider (`trace.getTracerProvider()`) */
  tracerProvider?: TracerProvider;
  /** Span name. @default "decionis.enforce" */
  spanName?: string;
}

/** The attribute names, all under `decionis.`. */
export const ATTRIBUTES = {
  decisionId: "decionis.decision_id",
  status: "decionis.status",
  reasonCodes: "decionis.reason_codes",
  action: "decionis.action",
  tenant: "decionis.tenant_id",
  attempts: "decionis.attempts",
  verifyMode: "decionis.verify_mode",
  escalationId: "decionis.escalation_id",
  waitMs: "decionis.wait_ms",
  intentId: "decionis.intent_id",
  policyRefs: "decionis.policy_refs",
  mode: "decionis.mode",
  errorCode: "decionis.error_code",
} as const;

/**
 * Client hooks that trace every `enforce` / `decide` call. Spans are children
 * of the active context (e.g. the HTTP request being served).
 *
 * @example
 * const client = new DecionisClient({ apiKey, hooks: { ...otelHooks() } });
 *
 * @throws when `@opentelemetry/api` is not installed (at import of `decionis/otel`): `npm install @opentelemetry/api`.
 */
export function otelHooks(options: TracingOptions = {}): { onCall: (event: CallStartEvent) => CallObserver } {
  const tracer = options.tracer ?? (options.tracerProvider ?? trace.getTracerProvider()).getTracer("decionis", VERSION);
  const name = options.spanName ?? "decionis.enforce";
  return { onCall: (event) => startSpan(tracer, name, event) };
}

/**
 * The same client options with tracing added; hooks already there keep working
 * (an existing `onCall` is called too, and its headers are kept).
 *
 * @example
 * const client = new DecionisClient(withTracing({ apiKey, tenantId: "acme" }));
 */
export function withTracing(clientOptions: ClientOptions = {}, options: TracingOptions = {}): ClientOptions {
  const ours = otelHooks(options).onCall;
  const theirs = clientOptions.hooks?.onCall;
  const onCall =
    theirs === undefined
      ? ours
      : (event: CallStartEvent): CallObserver => {
          const a = ours(event);
          let b: CallObserver | undefined;
          try {
            b = theirs(event);
          } catch {
            b = undefined;
          }
          return typeof b === "object" && b !== null ? both(a, b) : a;
        };
  return { ...clientOptions, hooks: { ...clientOptions.hooks, onCall } };
}

function both(a: CallObserver, b: CallObserver): CallObserver {
  return {
    headers: { ...b.headers, ...a.headers },
    onRetry: (event) => {
      a.onRetry?.(event);
      return b.onRetry?.(event);
    },
    onEnd: (event) => {
      a.onEnd?.(event);
      return b.onEnd?.(event);
    },
  };
}

function startSpan(tracer: Tracer, name: string, { intent, verify }: CallStartEvent): CallObserver {
  const parent = context.active();
  const attributes: Attributes = {
    [ATTRIBUTES.action]: intent.binding.action.type,
    [ATTRIBUTES.tenant]: intent.tenantId,
    [ATTRIBUTES.intentId]: intent.intentId,
    [ATTRIBUTES.verifyMode]: verify,
    [ATTRIBUTES.mode]: intent.mode,
  };
  if (intent.policyRefs.length > 0) attributes[ATTRIBUTES.policyRefs] = [...intent.policyRefs];
  const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, parent);
  const headers: Record<string, string> = {};
  propagation.inject(trace.setSpan(parent, span), headers);
  let attempts = 1;
  return {
    headers,
    onRetry: () => {
      attempts++;
    },
    onEnd: ({ decision, error, waitMs }) => {
      const result: Attributes = { [ATTRIBUTES.attempts]: attempts };
      if (decision !== undefined) {
        result[ATTRIBUTES.decisionId] = decision.decisionId;
        result[ATTRIBUTES.status] = error instanceof BlockedError ? error.status : decision.status;
        result[ATTRIBUTES.reasonCodes] = [...decision.reasonCodes];
        if (decision.escalationId !== null) result[ATTRIBUTES.escalationId] = decision.escalationId;
      }
      if (waitMs !== undefined) result[ATTRIBUTES.waitMs] = Math.round(waitMs);
      const status = result[ATTRIBUTES.status];
      if (error === undefined && status === "ALLOW") {
        span.setStatus({ code: SpanStatusCode.OK });
      } else {
        // Names and codes only: an error message can quote the explanation or a server's words.
        const type = error instanceof Error ? error.name : error === undefined ? String(status) : typeof error;
        result["error.type"] = type;
        if (error instanceof DecionisError) result[ATTRIBUTES.errorCode] = error.code;
        span.setStatus({ code: SpanStatusCode.ERROR, message: status === undefined ? type : String(status) });
      }
      span.setAttributes(result);
      span.end();
    },
  };
}
