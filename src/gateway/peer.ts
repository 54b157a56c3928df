/**
 * Loads an optional peer package synchronously, from where this file is, in
 * both builds (CommonJS has `require`; ESM gets one from `createRequire`), so
 * that importing `decionis` never loads it and choosing a feature that needs it
 * fails at once, naming the package to install.
 */
import { createRequire } from "node:module";
import { ConfigurationError } from "../errors/input.js";

/** This file's own location, as Node reports it (a path under CommonJS, a file: URL under ESM). */
function here(): string | undefined {
  const holder: { stack?: unknown } = {};
  const slot = Object.getOwnPropertyDescriptor(Error, "prepareStackTrace");
  try {
    Error.prepareStackTrace = (_error, frames) => frames;
    Error.captureStackTrace(holder, here);
    return (holder.stack as NodeJS.CallSite[] | undefined)?.[0]?.getFileName() ?? undefined;
  } finally {
    if (slot === undefined) Reflect.deleteProperty(Error, "prepareStackTrace");
    else Object.defineProperty(Error, "prepareStackTrace", slot);
  }
}

/**
 * A `require` resolving from this package: the CommonJS build's own, or one
 * made from this file's URL in the ESM build; undefined in a bundle that keeps
 * no file location. Used by every optional peer (undici, sodium-native, the
 * agent and framework adapters' packages).
 * @internal
 */
export function packageRequire(): NodeJS.Require | undefined {
  if (typeof require === "function") return require;
  const location = here();
  return location === undefined ? undefined : createRequire(location);
}

/** {@link packageRequire}, or one resolving from the working directory in a bundle. @internal */
export function localRequire(): NodeJS.Require {
  return packageRequire() ?? createRequire(`${process.cwd()}/`);
}

/**
 * `require(pkg)` for the feature `feature` (e.g. `transport: "undici"`), whose
 * major version must be one of `majors`.
 *
 * @throws {@link ConfigurationError} on `option`, naming the package, the range and the install command,
 *   when it is missing or of another major version.
 * @internal
 */
export function loadPeer<T>(pkg: string, range: string, majors: readonly number[], feature: string, option: string): T {
  const load = localRequire();
  let module: T;
  try {
    module = load(pkg) as T;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code !== "MODULE_NOT_FOUND" && code !== "ERR_MODULE_NOT_FOUND") throw error;
    throw new ConfigurationError(
      option,
      `${feature} needs the package "${pkg}" (${range}), which is not installed. Install it: npm install ${pkg}`,
      { package: pkg, range },
    );
  }
  let version: string | undefined;
  try {
    version = (load(`${pkg}/package.json`) as { version?: string }).version;
  } catch {
    version = undefined; // no readable manifest: trust the module itself
  }
  const major = Number(version?.split(".")[0]);
  if (version !== undefined && !majors.includes(major))
    throw new ConfigurationError(
      option,
      `${feature} needs the package "${pkg}" (${range}); version ${version} is installed. Install a supported one: npm install ${pkg}@${majors[0]}`,
      { package: pkg, range, installed: version },
    );
  return module;
}
