/** `sqlitening/contract`: the snapshot contract, for apps and tools that read manifests or sign heartbeats themselves. */
export * from '@sqlitening/contract';
