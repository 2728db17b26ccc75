export {
  ScreenProcessor,
  failureReasonOf,
  type ResultPublisher,
  type ScreenProcessorDeps,
} from './screen-processor.js';
export { WorkerService, type WorkerServiceOptions } from './worker-service.js';
