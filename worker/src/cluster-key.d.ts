/** Types of cluster-key.js (plain JavaScript, so the operator's script runs it in Node as the worker does). */
export declare const MIN_ROOT_LENGTH: number;
export declare function deriveClusterKey(root: string, cluster: string, version: number): Promise<string>;
