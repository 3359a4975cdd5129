// The live charts of one run: a grid of Vega-Lite views that stay in the page while the run trains.
//
// Streamlit redraws an st.vega_lite_chart on every rerun of the live fragment: it re-renders the
// element, re-sizes the Vega view and runs its dataflow, whether or not the chart's data changed. This
// renderer keeps one Vega view per chart for as long as the page shows the run and, on each redraw,
// hands a view only the datasets whose content changed. A chart the reader cannot see (scrolled out of
// view, or the tab hidden) is brought up to date when it comes into view.
//
// Python side: ui/live_charts/__init__.py. What arrives in `data` (JSON in bytes):
//   {loader: file name of Streamlit's vega-embed loader, config: Vega-Lite config,
//    rows: [{two: side by side, cells: [cell, ...]}, ...]}
//   cell: {slot, title, caption, chart: {spec_key, spec, datasets: {name: {key, columns, values}}}}
//         or {slot, note} where the run's data has no such chart.

const grids = new WeakMap(); // the component's parent element -> its Grid
const MARGIN_PX = 200; // a chart this close to the window's edge counts as in view: drawn before it is seen
const SCROLL_WAIT_MS = 100; // after a scroll, the charts that came into view are drawn this much later
let embedPromise = null; // vega-embed, loaded once per page

// vega-embed as Streamlit's own charts load it: the same library, already in the page's cache.
function loadEmbed(loader) {
  if (embedPromise === null) {
    embedPromise = Promise.resolve().then(() => {
      const main = document.querySelector('script[type="module"][src*="/static/js/index."]');
      const base = main ? main.src : new URL("static/js/", document.baseURI).href;
      return import(new URL(loader, base).href);
    }).then(async (module) => {
      const load = Object.values(module).find((value) => typeof value === "function");
      return (await load()).embed;
    }).catch((error) => {
      embedPromise = null; // tried again at the next redraw
      throw error;
    });
  }
  return embedPromise;
}

// A dataset sent by columns ({columns, values}) as the row objects Vega reads.
function rows(dataset) {
  const { columns, values } = dataset;
  const n = values.length ? values[0].length : 0;
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const row = {};
    for (let c = 0; c < columns.length; c++) row[columns[c]] = values[c][i];
    out[i] = row;
  }
  return out;
}

// Set an element's text, and hide it when there is none; the page is not touched when nothing changes.
function setText(element, text) {
  text = text || "";
  if (element.textContent !== text) element.textContent = text;
  if (element.hidden !== !text) element.hidden = !text;
}

class Cell {
  constructor(slot) {
    this.slot = slot;
    this.element = document.createElement("div");
    this.element.className = "cell";
    this.element.dataset.slot = slot;
    this.title = document.createElement("h3");
    this.plot = document.createElement("div");
    this.plot.className = "plot";
    this.plot.dataset.testid = "lfmLiveChart";
    this.caption = document.createElement("p");
    this.caption.className = "caption";
    this.element.append(this.title, this.plot, this.caption);
    this.view = null; // the Vega view, once drawn
    this.specKey = null; // the spec it was drawn from
    this.datasetKeys = {}; // dataset name -> key of the content it holds
    this.wanted = null; // the newest chart data, not yet drawn
    this.busy = Promise.resolve(); // draws of one cell run one after another
    this.draws = 0;
  }

  show(cell) {
    setText(this.title, cell.title);
    setText(this.caption, cell.note ?? cell.caption);
    if (cell.note !== undefined) {
      this.wanted = null;
      if (this.view !== null) this.finalize();
      if (!this.plot.hidden) this.plot.hidden = true;
    } else {
      if (this.plot.hidden) this.plot.hidden = false;
      this.wanted = cell.chart;
    }
  }

  // Draw the newest data if there is any; a new spec is embedded anew, new data swapped in place.
  draw(embed, config) {
    const chart = this.wanted;
    if (chart === null) return this.busy;
    this.wanted = null;
    this.busy = this.busy.then(async () => {
      if (this.view === null || chart.spec_key !== this.specKey) {
        const datasets = {};
        for (const [name, dataset] of Object.entries(chart.datasets)) datasets[name] = rows(dataset);
        this.finalize();
        // logLevel 1: errors only, not Vega's warnings about a layer with no data yet (e.g. no λ change)
        const result = await embed(this.plot, { ...chart.spec, datasets, config },
          { renderer: "svg", logLevel: 1, actions: { export: true, source: false, compiled: false, editor: false } });
        this.view = result.view;
        this.specKey = chart.spec_key;
        this.datasetKeys = Object.fromEntries(Object.entries(chart.datasets).map(([n, d]) => [n, d.key]));
      } else {
        const changed = Object.entries(chart.datasets).filter(([name, d]) => this.datasetKeys[name] !== d.key);
        if (changed.length === 0) return; // the same data: nothing to draw
        for (const [name, dataset] of changed) {
          this.view.data(name, rows(dataset));
          this.datasetKeys[name] = dataset.key;
        }
        await this.view.runAsync();
      }
      this.draws += 1;
      this.plot.dataset.draws = String(this.draws); // how many times it was drawn (for tests and benches)
    }).catch((error) => {
      this.specKey = null; // embed it anew next time
      console.error(`live chart ${this.slot}:`, error);
    });
    return this.busy;
  }

  finalize() {
    if (this.view !== null) this.view.finalize();
    this.view = null;
    this.specKey = null;
    this.datasetKeys = {};
    this.plot.replaceChildren();
  }
}

class Grid {
  constructor(parent) {
    this.root = document.createElement("div");
    this.root.className = "grid";
    parent.append(this.root);
    this.cells = new Map(); // slot -> Cell
    this.data = null;
    this.layout = null; // the slots of each row, as drawn
    this.calls = 0; // calls of the component that gave this grid data (see the default export)
    this.release = null; // the timer that takes the grid down, after a cleanup
    // Which charts are in view is measured at each redraw and after each scroll or resize, from the
    // cells' boxes, so it never waits on the browser: an IntersectionObserver reports only when the page
    // renders its next frame.
    let pending = null;
    this.onMove = () => {
      if (pending === null) pending = setTimeout(() => { pending = null; this.drawVisible(); }, SCROLL_WAIT_MS);
    };
    document.addEventListener("scroll", this.onMove, { capture: true, passive: true });
    window.addEventListener("resize", this.onMove, { passive: true });
    document.addEventListener("visibilitychange", this.onMove);
  }

  update(data) {
    this.data = data;
    const layout = JSON.stringify(data.rows.map((row) => [row.two, row.cells.map((cell) => cell.slot)]));
    for (const cellData of data.rows.flatMap((row) => row.cells)) {
      let cell = this.cells.get(cellData.slot);
      if (cell === undefined) {
        cell = new Cell(cellData.slot);
        this.cells.set(cellData.slot, cell);
      }
      cell.show(cellData);
    }
    if (layout !== this.layout) this.arrange(data.rows);
    this.layout = layout;
    this.drawVisible();
  }

  // Lay the cells out in rows (a row of two side by side), and drop the cells no row holds.
  arrange(rowsData) {
    const slots = new Set(rowsData.flatMap((row) => row.cells.map((cell) => cell.slot)));
    for (const [slot, cell] of this.cells) {
      if (slots.has(slot)) continue;
      cell.finalize();
      this.cells.delete(slot);
    }
    this.root.replaceChildren(...rowsData.map((row) => {
      const line = document.createElement("div");
      line.className = row.two ? "row two" : "row";
      line.append(...row.cells.map((cell) => this.cells.get(cell.slot).element));
      return line;
    }));
  }

  // Draw the newest data of every chart in (or near) the window; the others wait until they are.
  drawVisible() {
    if (this.data === null || document.visibilityState === "hidden") return;
    const { loader } = this.data;
    // the page's own font (the theme hands it to the component as a CSS variable), as Streamlit's charts use
    const font = getComputedStyle(this.root).getPropertyValue("--st-font").trim();
    const config = font ? { ...this.data.config, font } : this.data.config;
    const inView = [...this.cells.values()].filter((cell) => {
      if (cell.wanted === null) return false; // nothing new to draw
      const box = cell.element.getBoundingClientRect();
      return box.width > 0 && box.bottom > -MARGIN_PX && box.top < window.innerHeight + MARGIN_PX;
    });
    if (inView.length === 0) return;
    loadEmbed(loader).then((embed) => {
      for (const cell of inView) cell.draw(embed, config);
    }).catch((error) => console.error("live charts: could not load vega-embed", error));
  }

  destroy() {
    document.removeEventListener("scroll", this.onMove, { capture: true });
    window.removeEventListener("resize", this.onMove);
    document.removeEventListener("visibilitychange", this.onMove);
    for (const cell of this.cells.values()) cell.finalize();
    this.root.remove();
  }
}

// Streamlit calls this with the newest data whenever it changes, and calls the function it returns when
// the component leaves the page, but also when a call was overtaken by a newer one before it ran (the
// newer call may come first). So one grid serves every call into the same parent element, and a cleanup
// takes it down only if no later call came and none comes within RELEASE_WAIT_MS.
const RELEASE_WAIT_MS = 1000;

export default function (component) {
  const { data, parentElement } = component;
  let grid = grids.get(parentElement);
  if (grid === undefined) {
    grid = new Grid(parentElement);
    grids.set(parentElement, grid);
  }
  clearTimeout(grid.release);
  grid.calls += 1;
  const call = grid.calls;
  grid.update(JSON.parse(new TextDecoder().decode(data)));
  return () => {
    if (grid.calls !== call) return; // a newer call has the grid now
    grid.release = setTimeout(() => {
      grid.destroy();
      grids.delete(parentElement);
    }, RELEASE_WAIT_MS);
  };
}
