/** Turns a sequential model of the job spec into the addon's layer list (DESIGN.md, "Models"); a gpt is one native model. */
import type { CnnModelSpec, MlpModelSpec } from '../jobs/types.js';
import type { LayerConfig } from './native.js';

export function modelLayers(model: MlpModelSpec | CnnModelSpec, classes: number): LayerConfig[] {
  const act = { kind: model.activation } as const;
  if (model.kind === 'mlp') {
    const hidden = model.hidden.flatMap((width): LayerConfig[] => [{ kind: 'linear', out: width }, act]);
    return [{ kind: 'flatten' }, ...hidden, { kind: 'linear', out: classes }];
  }
  // SimpleCNN: (conv 3×3 → act → max-pool 2×2) twice, then two Linear layers.
  const [c1, c2] = model.channels;
  return [
    { kind: 'conv2d', out: c1 }, act, { kind: 'maxpool2d' },
    { kind: 'conv2d', out: c2 }, act, { kind: 'maxpool2d' },
    { kind: 'flatten' },
    { kind: 'linear', out: model.hidden }, act,
    { kind: 'linear', out: classes },
  ];
}
