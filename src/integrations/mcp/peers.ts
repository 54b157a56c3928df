/**
 * Loaded first by `decionis/mcp`: names the package to install when the MCP
 * SDK is missing. Under CommonJS this runs before the SDK is required; under
 * ESM, Node refuses the adapter's static import first, naming the package too.
 */

if (typeof require === "function") {
  try {
    require.resolve("@modelcontextprotocol/sdk/server/mcp.js");
  } catch {
    throw new Error(
      "decionis/mcp needs the MCP TypeScript SDK: npm install @modelcontextprotocol/sdk (version 1.24 or later)",
    );
  }
}
