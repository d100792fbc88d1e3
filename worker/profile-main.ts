/** Entry point of the process `ringmaster profile` starts (common/one-shot.ts). */
import { serveOneRequest } from './one-shot.js';
import { profile } from './profiling.js';

serveOneRequest('profile', profile);
