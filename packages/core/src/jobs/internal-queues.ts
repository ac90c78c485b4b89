// The names are the SDK's, so defineJob can refuse them without depending on core.
export { CALLBACKS_QUEUE, internalQueues, isInternalQueue, SCHEDULES_QUEUE } from '@conveyor/sdk';
