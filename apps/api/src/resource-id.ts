import { ConveyorError } from '@conveyor/core/errors';
import { isUuid } from '@conveyor/core/jobs';

/** Resources addressed by a UUID in a path: `/v1/<resource>s/:id`. */
export type IdentifiedResource = 'job' | 'flow' | 'schedule' | 'webhook' | 'delivery' | 'API key';

/**
 * The id of a path, checked the same way for every resource: a malformed one is a 400
 * (VALIDATION_FAILED on `id`, or on the path parameter `param` names), never a 404, and the id is returned in lower case.
 */
export function resourceId(resource: IdentifiedResource, raw: string | undefined, param = 'id'): string {
  if (raw === undefined || !isUuid(raw)) {
    throw new ConveyorError('VALIDATION_FAILED', `invalid ${resource} id: must be a UUID`, {
      issues: [{ path: param, message: 'must be a UUID' }],
    });
  }
  return raw.toLowerCase();
}
