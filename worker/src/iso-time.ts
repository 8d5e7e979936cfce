/**
 * A time in ms since the epoch as ISO 8601, null kept. Views carry absolute
 * times, so a view (and its ETag) changes only when the data does.
 */
export const isoTime = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
