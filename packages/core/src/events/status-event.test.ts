import { describe, expect, it } from 'vitest';
import { queueJobId } from '../jobs/job-key.js';
import { eventChannels } from './status-event.js';

describe('eventChannels', () => {
  it("names a job's channel alike from its tenant and id and from its BullMQ id", () => {
    const channels = eventChannels('p');
    const id = '0b7e3f55-6d0e-4f5a-9c1e-1a2b3c4d5e6f';
    expect(channels.queueJob(queueJobId('acme', id))).toBe(channels.job('acme', id));
    // Another tenant's job of the same id has another channel.
    expect(channels.job('other', id)).not.toBe(channels.job('acme', id));
  });
});
