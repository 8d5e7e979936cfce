/** The package version, recorded in manifests and heartbeats (kept equal to package.json by a test). */
export const VERSION = '0.1.0';
export const TOOL = `sqlitening/${VERSION}`;
