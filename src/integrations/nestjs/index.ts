/**
 * `decionis/nestjs`: the client by injection (and as the default of `@gate`
 * on services), a route-level `@Gate(options)`, and an exception filter that
 * answers SDK errors as RFC 9457 problems. NestJS 11 (CommonJS) and 12 (ESM).
 * Nest itself needs `experimentalDecorators` and `emitDecoratorMetadata`.
 *
 * Written without decorator syntax (decorators are applied by hand), so this
 * file compiles the same under either decorator standard.
 *
 * @example
 * \@Module({ imports: [DecionisModule.forRoot({ tenantId: "acme", system: "orders" })] })
 * class AppModule {}
 */
import {
  Catch,
  Inject,
  Injectable,
  Module,
  Optional,
  SetMetadata,
  UseInterceptors,
  applyDecorators,
  type ArgumentsHost,
  type CallHandler,
  type DynamicModule,
  type ExceptionFilter,
  type ExecutionContext,
  type InjectionToken,
  type ModuleMetadata,
  type NestInterceptor,
  type OnModuleDestroy,
  type OptionalFactoryDependency,
  type Provider,
} from "@nestjs/common";
import { APP_FILTER } from "@nestjs/core";
import { from, lastValueFrom, type Observable } from "rxjs";
import {
  ConfigurationError,
  DecionisClient,
  DecionisError,
  getDefaultClient,
  setDefaultClient,
  type ClientOptions,
} from "../../index.js";
import { toHttpProblem } from "../http.js";
import { routeGate, type RouteGateOptions } from "../route.js";

export { toHttpProblem, PROBLEM_CONTENT_TYPE, type HttpProblem, type DecionisProblem } from "../http.js";
export type { RequestResolvable, RouteGateOptions } from "../route.js";

/** Injection token of the module's client: `@Inject(DECIONIS_CLIENT)`, or inject `DecionisClient` by type. */
export const DECIONIS_CLIENT = Symbol.for("decionis.nestjs.client");
/** Metadata key under which `@Gate` records its options (on the handler or the controller). */
export const GATE_ROUTE_METADATA = "decionis:gate-route";
const MODULE_OPTIONS = Symbol.for("decionis.nestjs.options");

/** Options of {@link DecionisModule.forRoot}: the client's options, or a client. */
export interface DecionisModuleOptions extends ClientOptions {
  /** A client built elsewhere, used instead of building one from the options. */
  client?: DecionisClient;
  /** Make the client the default of `@gate` / `gate()` that name none (process-wide). @default true */
  setAsDefault?: boolean;
}

/** Options of {@link DecionisModule.forRootAsync}. */
export interface DecionisModuleAsyncOptions extends Pick<ModuleMetadata, "imports"> {
  useFactory: (...args: any[]) => DecionisModuleOptions | Promise<DecionisModuleOptions>;
  inject?: (InjectionToken | OptionalFactoryDependency)[];
  /** Register {@link DecionisExceptionFilter} for the whole app. @default true */
  exceptionFilter?: boolean;
}

/** How to answer: the platform's (Express or Fastify) response object, duck-typed. */
interface ResponseLike {
  status?: (code: number) => unknown;
  code?: (code: number) => unknown;
  setHeader?: (name: string, value: string) => unknown;
  header?: (name: string, value: string) => unknown;
  send?: (body: string) => unknown;
  end?: (body: string) => unknown;
}

/**
 * Answers SDK errors with their HTTP mapping (BLOCK 403, ESCALATE /
 * REVIEW_REQUIRED 202, unavailable 503, invalid input 400) as
 * `application/problem+json`, on Express or Fastify. `DecionisModule`
 * registers it for the whole app; or `app.useGlobalFilters(new DecionisExceptionFilter())`.
 */
export class DecionisExceptionFilter implements ExceptionFilter<DecionisError> {
  catch(exception: DecionisError, host: ArgumentsHost): void {
    const problem = toHttpProblem(exception);
    // Not HTTP (RPC, websockets): leave it to that transport's handling.
    if (problem === undefined || host.getType() !== "http") throw exception;
    const res = host.switchToHttp().getResponse<ResponseLike>();
    const body = JSON.stringify(problem.body);
    if (typeof res.code === "function" && typeof res.header === "function") {
      res.code(problem.status);
      for (const [name, value] of Object.entries(problem.headers)) res.header(name, value);
    } else {
      res.status?.(problem.status);
      for (const [name, value] of Object.entries(problem.headers)) res.setHeader?.(name, value);
    }
    if (typeof res.send === "function") res.send(body);
    else res.end?.(body);
  }
}
Catch(DecionisError)(DecionisExceptionFilter);

/**
 * The interceptor behind {@link Gate}: asks for a decision about the request
 * and runs the handler only on a verified ALLOW. Uses the module's client, or
 * the default client without the module.
 */
export class DecionisGateInterceptor implements NestInterceptor {
  readonly #client: DecionisClient | undefined;
  readonly #runs = new WeakMap<object, ReturnType<typeof routeGate>>();
  constructor(client?: DecionisClient) {
    this.#client = client ?? undefined;
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const options = (Reflect.getMetadata(GATE_ROUTE_METADATA, context.getHandler()) ??
      Reflect.getMetadata(GATE_ROUTE_METADATA, context.getClass())) as RouteGateOptions<unknown> | undefined;
    // Fail closed: a gated handler never runs ungated.
    if (options === undefined)
      throw new ConfigurationError("Gate", "DecionisGateInterceptor found no @Gate options on this handler");
    if (context.getType() !== "http")
      throw new ConfigurationError("Gate", `@Gate gates HTTP routes; this is a ${context.getType()} handler`);
    let run = this.#runs.get(options);
    if (run === undefined) {
      run = routeGate({ ...options, client: options.client ?? this.#client ?? getDefaultClient() });
      this.#runs.set(options, run);
    }
    const request: unknown = context.switchToHttp().getRequest();
    const operation = `${context.getClass().name}.${context.getHandler().name}`;
    return from(run(request, operation, () => lastValueFrom(next.handle(), { defaultValue: undefined })));
  }
}
Injectable()(DecionisGateInterceptor);
Optional()(DecionisGateInterceptor, undefined, 0);
Inject(DECIONIS_CLIENT)(DecionisGateInterceptor, undefined, 0);

/**
 * Gates a route (or every route of a controller): the intent is resolved from
 * the request — `req.user` set by your guards, `req.params`, `req.body` as
 * parsed (pipes run after it, inside the handler's call) — and the handler runs
 * only on a verified ALLOW. Anything else throws the SDK's typed error, which
 * {@link DecionisExceptionFilter} answers.
 *
 * @example
 * \@Post(":symbol")
 * \@Gate({ action: "PLACE_ORDER", actor: (req) => ({ id: req.user.id, type: "CUSTOMER" }),
 *          resource: (req) => req.params.symbol })
 * place(\@Body() dto: OrderDto) { … }
 *
 * @throws {@link ConfigurationError} at declaration for options without an `action`.
 */
export function Gate<Req = any>(options: RouteGateOptions<Req>): MethodDecorator & ClassDecorator {
  routeGate(options); // validates now, at declaration
  return applyDecorators(SetMetadata(GATE_ROUTE_METADATA, options), UseInterceptors(DecionisGateInterceptor));
}

/** Clients the module built (and so closes); a client handed in stays its owner's. */
const owned = new WeakSet<DecionisClient>();

function clientFrom(options: DecionisModuleOptions): DecionisClient {
  const { client, setAsDefault, ...clientOptions } = options;
  const built = client ?? new DecionisClient(clientOptions);
  if (client === undefined) owned.add(built);
  if (setAsDefault !== false) setDefaultClient(built);
  return built;
}

function providers(options: Provider, exceptionFilter: boolean): Provider[] {
  return [
    options,
    { provide: DECIONIS_CLIENT, useFactory: clientFrom, inject: [MODULE_OPTIONS] },
    { provide: DecionisClient, useExisting: DECIONIS_CLIENT },
    DecionisGateInterceptor,
    ...(exceptionFilter ? [{ provide: APP_FILTER, useClass: DecionisExceptionFilter }] : []),
  ];
}

/**
 * Provides a `DecionisClient` to the whole app (global module), makes it the
 * default of `@gate` on services, and registers {@link DecionisExceptionFilter}.
 * On shutdown it closes the client it built (queued outcome reports are sent).
 */
export class DecionisModule implements OnModuleDestroy {
  readonly #client: DecionisClient;
  constructor(client: DecionisClient) {
    this.#client = client;
  }

  /**
   * @example
   * DecionisModule.forRoot({ apiKey: process.env.DECIONIS_API_KEY, tenantId: "acme" })
   * @param exceptionFilter - register the problem+json filter for the whole app. @default true
   */
  static forRoot(options: DecionisModuleOptions = {}, exceptionFilter = true): DynamicModule {
    return {
      module: DecionisModule,
      global: true,
      providers: providers({ provide: MODULE_OPTIONS, useValue: options }, exceptionFilter),
      exports: [DECIONIS_CLIENT, DecionisClient, DecionisGateInterceptor],
    };
  }

  /**
   * @example
   * DecionisModule.forRootAsync({ imports: [ConfigModule], inject: [ConfigService],
   *   useFactory: (config: ConfigService) => ({ apiKey: config.get("DECIONIS_API_KEY"), tenantId: "acme" }) })
   */
  static forRootAsync(options: DecionisModuleAsyncOptions): DynamicModule {
    return {
      module: DecionisModule,
      global: true,
      imports: options.imports ?? [],
      providers: providers(
        { provide: MODULE_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] },
        options.exceptionFilter !== false,
      ),
      exports: [DECIONIS_CLIENT, DecionisClient, DecionisGateInterceptor],
    };
  }

  async onModuleDestroy(): Promise<void> {
    if (getDefaultClientIfSet() === this.#client) setDefaultClient(undefined);
    if (owned.has(this.#client)) await this.#client.close();
  }
}
Module({})(DecionisModule);
Inject(DECIONIS_CLIENT)(DecionisModule, undefined, 0);

function getDefaultClientIfSet(): DecionisClient | undefined {
  return (globalThis as { [k: symbol]: DecionisClient | undefined })[Symbol.for("decionis.defaultClient")];
}
