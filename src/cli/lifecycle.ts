/**
 * Set by commands that keep serving after their action returns (servers, foreground mounts).
 * Every other command exits as soon as it is done instead of waiting for idle keep-alive sockets.
 */
export const lifecycle = { longRunning: false };
