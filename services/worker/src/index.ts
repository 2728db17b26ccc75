export {
  ScreenProcessor,
  failureReasonOf,
  type ModelInputDecoder,
  type ResultPublisher,
  type ScreenProcessorDeps,
} from './screen-processor.js';
export { WorkerService, screenConcurrency, type WorkerServiceOptions } from './worker-service.js';
