/** How far a vector of parameters is from a reference one. */

/** The largest |actual − reference| over the largest |reference|: a difference relative to the parameters' scale. */
export function worstRelative(actual: ArrayLike<number>, reference: ArrayLike<number>): number {
  if (actual.length !== reference.length) return Infinity;
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < reference.length; i++) {
    scale = Math.max(scale, Math.abs(reference[i]));
    worst = Math.max(worst, Math.abs(actual[i] - reference[i]));
  }
  return worst / scale;
}
