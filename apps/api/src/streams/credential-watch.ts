/**
 * How often an open stream checks its credential again: every half auth-cache TTL, with
 * lookups at most that old, so a key revoked on any replica (or expired, or a JWT past its
 * `exp`) closes the stream within one AUTH_CACHE_TTL_MS. At least 50 ms; every second when
 * the cache is off (AUTH_CACHE_TTL_MS=0), so streams do not query Postgres in a loop.
 */
export function credentialCheckMs(cacheTtlMs: number): number {
  return cacheTtlMs > 0 ? Math.max(50, Math.floor(cacheTtlMs / 2)) : 1_000;
}

export interface CredentialWatch {
  /** Resolves false once the credential no longer authenticates with the stream's scope. */
  check: () => Promise<boolean>;
  everyMs: number;
  /** Called once, when `check` said false. */
  onLost: () => void;
}

/**
 * Re-checks a stream's credential every `everyMs` until stopped (call the returned function
 * when the stream ends). A check that fails to run (Postgres down) keeps the stream: the
 * next one decides, so an outage does not drop every client at once.
 */
export function watchCredential({ check, everyMs, onLost }: CredentialWatch): () => void {
  let checking = false;
  let stopped = false;
  const timer = setInterval(() => {
    if (checking || stopped) return;
    checking = true;
    check()
      .then((ok) => {
        if (ok || stopped) return;
        stopped = true;
        clearInterval(timer);
        onLost();
      })
      .catch(() => {})
      .finally(() => {
        checking = false;
      });
  }, everyMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
