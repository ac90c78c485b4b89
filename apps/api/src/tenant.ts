/** The tenant of every request until authentication (API keys) assigns one per key. */
export const DEFAULT_TENANT = 'default';
