/**
 * A NestJS 12 app (ESM only) for nest12.test.ts: compiled by the test with
 * legacy decorators and metadata, run as a child process, prints its port.
 * AUTHORITY_URL, API_KEY and TENANT come from the environment.
 */
import "reflect-metadata";
import {
  Body,
  CanActivate,
  Controller,
  ExecutionContext,
  Get,
  Injectable,
  Module,
  Param,
  Post,
  SetMetadata,
  UseGuards,
  ValidationPipe,
} from "@nestjs/common";
import { NestFactory, Reflector } from "@nestjs/core";
import { IsInt, IsString, Min } from "class-validator";
import { gate, DecionisClient } from "./src/index.ts";
import { DecionisModule, Gate } from "./src/integrations/nestjs/index.ts";

const seen: unknown[] = [];

class OrderDto {
  @IsString() symbol!: string;
  @IsInt() @Min(1) qty!: number;
}

@Injectable()
class UserGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}
  canActivate(context: ExecutionContext): boolean {
    const roles = this.reflector.get<string[] | undefined>("roles", context.getHandler());
    if (roles !== undefined) seen.push(roles);
    const req = context.switchToHttp().getRequest();
    const id = req.headers["x-user"];
    if (id === undefined) return false;
    req.user = { id };
    return true;
  }
}

@Injectable()
class OrdersService {
  constructor(readonly client: DecionisClient) {}
  @gate({
    action: "PLACE_ORDER",
    actor: { id: "orders-service", type: "CUSTOMER" },
    resource: (dto: OrderDto) => dto.symbol,
    parameters: (dto: OrderDto) => ({ symbol: dto.symbol, qty: dto.qty }),
    context: (dto: OrderDto) => ({ qty: dto.qty }),
  })
  async place(dto: OrderDto): Promise<string> {
    return `service ${dto.symbol} ${dto instanceof OrderDto}`;
  }
}

@Controller("orders")
@UseGuards(UserGuard)
class OrdersController {
  constructor(private readonly orders: OrdersService) {}

  @Post(":symbol")
  @SetMetadata("roles", ["trader"])
  @Gate({
    action: "PLACE_ORDER",
    actor: (req: any) => ({ id: req.user.id, type: "CUSTOMER" }),
    resource: (req: any) => req.params.symbol,
    parameters: (req: any) => ({ symbol: req.params.symbol, qty: req.body.qty }),
    context: (req: any) => ({ qty: req.body.qty }),
  })
  async place(@Param("symbol") symbol: string, @Body() dto: OrderDto) {
    return { placed: symbol, dto: dto instanceof OrderDto, roles: seen.at(-1) };
  }

  @Get(":symbol")
  @Gate({ action: "READ_ORDER", actor: (req: any) => ({ id: req.user.id, type: "CUSTOMER" }) })
  read(@Param("symbol") symbol: string) {
    return { symbol };
  }

  @Post(":symbol/service")
  viaService(@Body() dto: OrderDto) {
    return this.orders.place(dto);
  }
}

@Module({
  imports: [
    DecionisModule.forRootAsync({
      useFactory: async () => ({
        baseUrl: process.env["AUTHORITY_URL"]!,
        apiKey: process.env["API_KEY"]!,
        tenantId: process.env["TENANT"]!,
        maxRetries: 0,
      }),
    }),
  ],
  controllers: [OrdersController],
  providers: [OrdersService, UserGuard],
})
class AppModule {}

const app = await NestFactory.create(AppModule, { logger: false });
app.useGlobalPipes(new ValidationPipe({ transform: true }));
await app.listen(0, "127.0.0.1");
console.log(`listening ${app.getHttpServer().address().port}`);
process.on("SIGTERM", () => {
  void app.close().then(() => process.exit(0));
});
