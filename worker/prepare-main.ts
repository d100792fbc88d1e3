/** Entry point of the process `ringmaster prepare-text` starts (common/one-shot.ts). */
import { serveOneRequest } from './one-shot.js';
import { prepareText } from './prepare-text.js';

serveOneRequest('prepare-text', prepareText);
