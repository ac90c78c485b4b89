// defineJob is the public contract of a job type: it lives in @conveyor/sdk, which a team's
// worker project depends on; core re-exports it for Conveyor's own code.
export {
  type BackoffOptions,
  defineJob,
  type JobDefinition,
  type JobDefinitionInit,
  type JobTypeOptions,
} from '@conveyor/sdk';
