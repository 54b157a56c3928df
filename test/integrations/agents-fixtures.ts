/**
 * What the mcp and langchain adapter suites share: a refunds policy that
 * yields ALLOW, ESCALATE and BLOCK by amount, and the URL of a port that
 * refuses connections (an authority that is down).
 */
import { createServer } from "node:net";
import type { PoliciesFile } from "../../src/local/index.js";

/** ISSUE_REFUND: BLOCK above 1,000, ESCALATE above 100, ALLOW otherwise. */
export const REFUND_POLICIES: PoliciesFile = {
  policies: [
    {
      id: "refunds",
      version: 1,
      rules: [
        {
          id: "too-large",
          conditions: { path: "parameters.amount", operator: "greaterThan", value: 1_000 },
          outcome: "BLOCK",
          reason_codes: ["REFUND_LIMIT_EXCEEDED"],
          explanation: "Refunds above 1,000 are not allowed",
        },
        {
          id: "large",
          conditions: { path: "parameters.amount", operator: "greaterThan", value: 100 },
          outcome: "ESCALATE",
          reason_codes: ["REFUND_NEEDS_APPROVAL"],
          explanation: "Refunds above 100 need a person",
        },
      ],
      default: { outcome: "ALLOW", reason_codes: ["REFUND_OK"], explanation: "Small refund" },
    },
  ],
};

/** http://127.0.0.1:<a port that was just free and is closed again>. */
export async function refusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return `http://127.0.0.1:${port}`;
}
