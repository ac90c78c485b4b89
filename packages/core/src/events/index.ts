export * from './control.js';
export * from './event-log.js';
export * from './publisher.js';
export * from './status-event.js';
