/**
 * What an evaluation measures, by task: a classifier reports test_loss and test_accuracy (a
 * fraction in [0, 1]) on the test split; a language model val_loss and val_perplexity on the
 * validation split. One shape from the rank to the CLI: rank messages, the wire (a
 * map<string, double>), the coordinator's store and `status --json` all carry this map.
 */
export type Metrics = Record<string, number>;

export interface Evaluation {
  step: number;
  metrics: Metrics;
}

/** What a rank reports when its training ends well. */
export interface TrainingReport {
  steps: number;
  finalLoss: number; // mean training loss over the last logging interval
  metrics: Metrics; // of the final evaluation
  samplesPerSec: number; // training samples per second over the whole run, evaluation excluded
  tokensPerSec: number; // a language model's training tokens per second; 0 otherwise
  wallSec: number; // data loading, training and evaluation
}

/** "test loss 0.3012 accuracy 89.47%", "val loss 1.4721 perplexity 4.36": the metrics a person reads. */
export function formatMetrics(m: Metrics): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(m)) {
    const [split, name] = key.includes('_') ? [key.slice(0, key.indexOf('_')), key.slice(key.indexOf('_') + 1)] : ['', key];
    const text = name === 'accuracy' ? `${(100 * value).toFixed(2)}%` : name === 'perplexity' ? value.toFixed(2) : value.toFixed(4);
    parts.push(parts.length === 0 && split ? `${split} ${name} ${text}` : `${name} ${text}`);
  }
  return parts.join(' ');
}

/** The headline number of a job's result for a one-row listing: accuracy or perplexity. */
export function headlineMetric(m: Metrics): string {
  if (m.test_accuracy !== undefined) return `acc ${(100 * m.test_accuracy).toFixed(2)}%`;
  if (m.val_loss !== undefined) return `val ${m.val_loss.toFixed(3)}`;
  return '-';
}
