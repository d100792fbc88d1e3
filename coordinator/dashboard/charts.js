// Line charts of a job's curves against its step, drawn by uPlot. Each chart fills its figure's
// width, follows its resizing, and says in the figure's data-points attribute how many points its
// first curve has (what the end-to-end test waits for).
import uPlot from '/uplot.js';

const HEIGHT = 220;
const AXIS = { stroke: '#5b6472', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#d5d9e0' } };

/**
 * A chart in `figure` (a <figure> holding a .plot element) with one curve per entry of `curves`
 * ({ label, color, sparse }: sparse curves have points at a few steps only, drawn as dots joined
 * across the gaps). `format.legend` writes a y value in the legend, `format.axis` (else uPlot's
 * default) on the axis.
 */
export function lineChart(figure, curves, format) {
  const axisValues = format.axis && ((_u, ticks) => ticks.map(format.axis));
  const plot = figure.querySelector('.plot');
  const options = {
    width: Math.max(plot.clientWidth, 200),
    height: HEIGHT,
    scales: { x: { time: false } },
    axes: [
      { ...AXIS, label: 'step', labelSize: 20, values: (_u, ticks) => ticks.map(formatStep) },
      { ...AXIS, size: 64, ...(axisValues ? { values: axisValues } : {}) },
    ],
    series: [
      { label: 'step', value: (_u, v) => (v == null ? '–' : formatStep(v)) },
      ...curves.map((c) => ({
        label: c.label,
        stroke: c.color,
        width: 2,
        spanGaps: Boolean(c.sparse),
        points: { show: Boolean(c.sparse), size: 6, fill: c.color },
        value: (_u, v) => (v == null ? '–' : format.legend(v)),
      })),
    ],
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
  };
  const chart = new uPlot(options, [[], ...curves.map(() => [])], plot);
  new ResizeObserver(() => chart.setSize({ width: Math.max(plot.clientWidth, 200), height: HEIGHT })).observe(plot);
  return {
    /** Replaces the data: the steps, then one array per curve (null where a curve has no point). */
    setData(steps, ...values) {
      chart.setData([steps, ...values]);
      figure.dataset.points = String(values[0].filter((v) => v != null).length);
    },
  };
}

function formatStep(step) {
  return step >= 10_000 ? `${(step / 1000).toFixed(0)}k` : String(Math.round(step));
}
