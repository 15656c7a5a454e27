// @dalle2/dalle2/queue: scale-out on BullMQ + Redis (workers, the submitting client, the web server's
// queue executor, resumable batches).
export { parseRedisUrl, redactRedisUrl, RedisUrlError, type RedisConnection } from './redisUrl.js';
export { QueueClient, type QueueClientOptions, type JobHandlers, type QueueJobState } from './client.js';
export { QueueWorker, type QueueWorkerOptions } from './worker.js';
export { queueExecutor } from './executor.js';
export { runBatch, batchItems, type BatchItem, type BatchOptions, type BatchEvents } from './batch.js';
export { WorkerRegistry, ModelMismatchError, type LiveWorker } from './registry.js';
export { DEFAULT_QUEUE_NAME, toWire, fromWire, type WireSpec, type QueueJobData, type QueueJobResult, type QueueImage, type QueueProgress } from './protocol.js';
