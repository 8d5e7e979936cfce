/*
 * What may carry secrets in a store's address (a user and password, a query such as a presigned URL's
 * signature or an `?endpoint=` that holds credentials of its own, a fragment), removed before any text
 * leaves the process: error messages, logs, `/healthz`, metrics, heartbeats and the board all pass here.
 */

/** A location without user, password, query or fragment. */
export function redactLocation(location: string): string {
  try {
    const url = new URL(location);
    if (!url.username && !url.password && !url.search && !url.hash) return location;
    url.username = '';
    url.password = '';
    url.search = '';
    url.hash = '';
    return url.href;
  } catch {
    // Not a URL `URL` reads (a bad port, a placeholder): still nothing past `?` or `#`, and no user part.
    return location.replace(/[?#].*$/s, '').replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/]*@/i, '$1');
  }
}

/** Every URL in `text` (anything shaped `scheme://…` up to a space or quote) redacted as {@link redactLocation} does. */
export function redactText(text: string): string {
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi, (url) => {
    // A URL cut by the text around it (a trailing comma or parenthesis) keeps that text.
    const tail = /[),.;:\]]+$/.exec(url)?.[0] ?? '';
    const redacted = redactLocation(url.slice(0, url.length - tail.length));
    // An address URL parsing could not read may still hold user:password@: drop what comes before the @.
    return `${redacted.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1')}${tail}`;
  });
}
