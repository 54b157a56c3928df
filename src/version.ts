/** The package version, sent as `user-agent: decionis-node/<version>`. A test keeps it equal to package.json. */
export const VERSION = "0.1.0";
