/**
 * The dossier page in a real browser: Debian's chromium driven by
 * playwright-core opens the page of an escalated-then-approved decision,
 * reads the visible text, and checks that `<script>` and event-handler
 * payloads put in intent fields do not run (escaping, and the page's CSP).
 * A screenshot is kept as a CI artifact in `.tmp/dossier-page.png`.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { BlockedError } from "../../src/index.js";
import { call, order, useHarness } from "./helpers.js";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = join(__dirname, "..", "..", ".tmp");
const h = useHarness();
let context: BrowserContext;
let profile: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run installs it when missing)`);
  profile = mkdtempSync(join(tmpdir(), "decionis-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}, 60_000);

afterAll(async () => {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
});

test("an escalated-then-approved decision's page reads right, and injected scripts do not run", async () => {
  const error = await h.client
    .enforce(
      order(500_000, {
        actor: { id: "<script>window.__pwned = 1; alert(1)</script>", type: "TRADING_BOT" },
        parameters: { symbol: "EURUSD", memo: '<img src=x onerror="window.__pwned = 2; alert(2)">' },
      }),
    )
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(BlockedError);
  const blocked = error as BlockedError;
  const approved = await call(
    h.authority,
    "POST",
    `/v1/authority/escalations/${blocked.escalationId!}/approve`,
    { by: "alice <script>alert(3)</script>", note: "desk confirmed" },
    { authorization: `Bearer ${h.authority.approverKey}` },
  );
  expect(approved.status).toBe(200);

  const page = await context.newPage();
  const dialogs: string[] = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  const requests: string[] = [];
  page.on("request", (r) => requests.push(r.url()));
  const response = await page.goto(`${h.authority.url}/dossiers/${blocked.dossierId!}`, { waitUntil: "load" });
  expect(response?.status()).toBe(200);
  expect(response?.headers()["content-security-policy"]).toContain("default-src 'none'");

  const visible = await page.innerText("body");
  const firstLines = visible
    .split("\n")
    .filter((l) => l.trim() !== "")
    .slice(0, 4)
    .join("\n");
  expect(firstLines).toContain("APPROVED");
  expect(firstLines).toContain("Escalated, approved by alice <script>alert(3)</script>; not executed yet");
  expect(visible).toContain("First decision");
  expect(visible).toMatch(/Status\s+ESCALATE/);
  expect(visible).toContain("<script>window.__pwned = 1; alert(1)</script> (TRADING_BOT)");
  expect(visible).toContain('<img src=x onerror=\\"window.__pwned = 2; alert(2)\\">');
  expect(visible).toContain("context.notional greaterThan 100000 — the intent had 500000");
  expect(visible).toContain("Valid: verifies against this authority's JWKS");

  // Nothing ran: no script element, no dialog, no marker, no image fetched.
  // Expressions as strings: they run in the page, which this file's (non-DOM) types do not describe.
  expect(await page.evaluate('document.querySelectorAll("script, img").length')).toBe(0);
  expect(await page.evaluate("typeof window.__pwned")).toBe("undefined");
  expect(dialogs).toEqual([]);
  expect(requests).toEqual([`${h.authority.url}/dossiers/${blocked.dossierId!}`]);

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, "dossier-page.png"), fullPage: true });
  expect(existsSync(join(ARTIFACTS, "dossier-page.png"))).toBe(true);
  await page.close();
}, 60_000);
