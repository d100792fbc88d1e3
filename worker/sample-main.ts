/** Entry point of the process `ringmaster sample` starts (common/one-shot.ts). */
import { serveOneRequest } from './one-shot.js';
import { sample } from './sampling.js';

serveOneRequest('sample', sample);
