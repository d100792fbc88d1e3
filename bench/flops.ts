/**
 * FLOPs of one training step of a sequential model, counting the matrix products and
 * convolutions only (as MLPerf and the MFU literature do; element-wise work is left out):
 *   linear  [B, IN] → [B, OUT]        forward 2·B·IN·OUT, weight grad 2·B·IN·OUT, input grad 2·B·IN·OUT
 *   conv2d  3×3, H×W, IC → OC         forward 2·B·H·W·OC·IC·9, and the same for each gradient
 * The input gradient of the first layer with parameters is not needed and not computed.
 */
import type { LayerConfig } from '../worker/native.js';

export function trainingStepFlops(layers: LayerConfig[], input: [number, number, number], batch: number): number {
  let [c, h, w] = input;
  let total = 0;
  let seenTrainable = false;
  for (const layer of layers) {
    let forward = 0;
    if (layer.kind === 'linear') {
      forward = 2 * batch * c * h * w * layer.out;
      [c, h, w] = [layer.out, 1, 1];
    } else if (layer.kind === 'conv2d') {
      forward = 2 * batch * h * w * layer.out * c * 9;
      c = layer.out;
    } else if (layer.kind === 'maxpool2d') {
      [h, w] = [h / 2, w / 2];
    } else if (layer.kind === 'flatten') {
      [c, h, w] = [c * h * w, 1, 1];
    }
    if (forward === 0) continue;
    total += forward * (seenTrainable ? 3 : 2);
    seenTrainable = true;
  }
  return total;
}
