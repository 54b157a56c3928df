/**
 * Loaded first by `decionis/langchain`: names the packages to install when
 * LangChain is missing. Under CommonJS this runs before they are required;
 * under ESM, Node refuses the adapter's static imports first, naming the
 * package too.
 */
if (typeof require === "function") {
  for (const [name, probe] of [
    ["@langchain/core", "@langchain/core/messages"],
    ["@langchain/langgraph", "@langchain/langgraph"],
  ] as const) {
    try {
      require.resolve(probe);
    } catch {
      throw new Error(
        `decionis/langchain needs ${name}: npm install @langchain/core @langchain/langgraph ` +
          "(and langchain for createAgent's middleware)",
      );
    }
  }
}
