const hooks = new Set<() => void>();
let installed = false;

/**
 * Runs `hook` synchronously when this process exits, however it exits, so a private
 * server never outlives the process that started it. Returns a function that removes it.
 */
export function onProcessExit(hook: () => void): () => void {
  if (!installed) {
    installed = true;
    process.once('exit', () => {
      for (const h of hooks) h();
    });
  }
  hooks.add(hook);
  return () => hooks.delete(hook);
}
