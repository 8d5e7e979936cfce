import { sameSecret } from './same-secret.js';

/**
 * Whether a request carries `Authorization: Bearer <token>`, compared as a
 * whole in constant time (same-secret.ts): the reads' token and the admin
 * token are checked the same way.
 */
export function hasBearer(request: Request, token: string): Promise<boolean> {
  return sameSecret(request.headers.get('authorization') ?? '', `Bearer ${token}`);
}
