// The dashboard page: asks the JSON API for each panel and draws it with plotly.js.
// Values arrive as exact decimal strings; cards format those strings exactly, charts
// convert them to numbers only to plot, and CSV exports carry the strings themselves.
// Times arrive in UTC and are shown in the viewer's zone.
"use strict";

(() => {
  const PRESETS = ["1h", "6h", "24h", "7d", "30d"];
  const RANGE_NAMES = {
    "1h": "Last hour", "6h": "Last 6 hours", "24h": "Last day", "7d": "Last week", "30d": "Last 30 days",
  };
  const ROLLING_WORDS = { "30m": "30 minutes", "24h": "24 hours", "7d": "7 days" };
  const ROLLING_NAMES = { "30m": "30-minute sum", "24h": "24-hour sum", "7d": "7-day sum" };
  const SYMBOL = /^[A-Z0-9]{2,20}$/;
  const DAY_MS = 86400000;
  const MINUTE_MS = 60000;
  const GRAIN_MS = { minute: MINUTE_MS, hour: 3600000, day: DAY_MS };
  const DAILY_DAYS = 30;
  const REQUEST_TIMEOUT_MS = 60000; // a year of minutes takes a SQLite database seconds per panel
  const COARSE_REFRESH_S = 60; // an hour's or a day's point changes once a minute at most
  const TOUCH = window.matchMedia("(pointer: coarse)").matches;
  const NARROW = window.matchMedia("(max-width: 700px)");
  // No plotly toolbar: the panel's own buttons export, a drag zooms, a double click resets.
  // On a touch screen a drag scrolls the page instead of zooming.
  const PLOT_CONFIG = { responsive: true, displaylogo: false, displayModeBar: false, scrollZoom: false };

  const state = {
    symbol: null,
    range: "1h", // a preset, or "custom"
    anchor: "latest",
    start: null, // custom window, ISO UTC
    end: null,
    live: true,
    config: null,
    timer: null,
    busy: false,
    again: null, // a refresh asked for while one was running: "window", "live" or "health"
    refreshes: 0,
    answers: {}, // the last answer drawn in each panel, for redrawing and export
    shown: null, // the window on screen: {key, window, grain}
    loading: false,
    online: true,
    offlineSince: null,
    lastAnswerAt: null,
    serverNow: null,
  };

  // ---- formatting --------------------------------------------------------------

  const pad = (n, width = 2) => String(n).padStart(width, "0");

  function zoneName() {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  }

  function offsetLabel(date) {
    const minutes = -date.getTimezoneOffset();
    const sign = minutes >= 0 ? "+" : "−";
    const abs = Math.abs(minutes);
    return `UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
  }

  // An ISO UTC time (or epoch ms) as the viewer's wall-clock time, the form plotly plots as it is.
  function localStamp(when) {
    const d = new Date(when);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  const localMinute = (when) => localStamp(when).slice(0, 16);
  const clock = (when) => localStamp(when).slice(11, 16);

  // The time of day for moments of the same day as `now`, the date and time for older ones.
  function clockOrDate(iso, now) {
    const stamp = localStamp(iso);
    return stamp.slice(0, 10) === localStamp(now).slice(0, 10) ? stamp.slice(11) : stamp.slice(0, 16);
  }

  function inputValue(ms) {
    return localStamp(ms).slice(0, 16).replace(" ", "T");
  }

  function groupDigits(digits) {
    return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  // An exact decimal string rounded half away from zero to `places`, grouped, without floats.
  function formatDecimal(text, places) {
    if (text === null || text === undefined) return "—";
    const negative = text.startsWith("-");
    const [whole, fraction = ""] = (negative ? text.slice(1) : text).split(".");
    let scaled = BigInt(whole + fraction.slice(0, places).padEnd(places, "0"));
    if ((fraction.charAt(places) || "0") >= "5") scaled += 1n;
    const digits = scaled.toString().padStart(places + 1, "0");
    const head = digits.slice(0, digits.length - places);
    const tail = places ? "." + digits.slice(digits.length - places) : "";
    return (negative && scaled !== 0n ? "−" : "") + groupDigits(head) + tail;
  }

  function formatSigned(text, places) {
    const formatted = formatDecimal(text, places);
    return formatted.startsWith("−") || /^[0,.]+$/.test(formatted) ? formatted : "+" + formatted;
  }

  const formatInt = (n) => (n === null || n === undefined ? "—" : groupDigits(String(n)));

  function ago(seconds) {
    if (seconds < 0) return "ahead of this clock";
    if (seconds < 90) return `${seconds} s ago`;
    const minutes = Math.round(seconds / 60);
    if (minutes < 90) return `${minutes} min ago`;
    const hours = Math.round(seconds / 3600);
    if (hours < 48) return `${hours} h ago`;
    return `${formatInt(Math.round(seconds / 86400))} days ago`;
  }

  function spanWords(ms) {
    const days = ms / DAY_MS;
    if (days >= 2) return `${Math.round(days * 10) / 10} days`;
    const hours = ms / 3600000;
    return hours >= 1 ? `${Math.round(hours * 10) / 10} hours` : `${Math.round(ms / MINUTE_MS)} minutes`;
  }

  const num = (text) => (text === null ? null : Number(text));

  // ---- the API -----------------------------------------------------------------

  // No answer at all (the server is down, or hung): the page is offline.
  class NoAnswer extends Error {}
  // An answer, but an error: a 400, a 503 from the database, ...
  class ApiError extends Error {
    constructor(path, status, body) {
      super(`${path}: HTTP ${status}${body && body.error ? `: ${body.error}` : ""}`);
      this.status = status;
      this.body = body || {};
    }
  }

  async function getJSON(path, params) {
    const query = new URLSearchParams(params).toString();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
    let response;
    try {
      response = await fetch(query ? `${path}?${query}` : path, { cache: "no-store", signal: abort.signal });
    } catch (error) {
      throw new NoAnswer(`${path}: ${error.name === "AbortError" ? "no answer within 60 s" : error.message}`);
    } finally {
      clearTimeout(timer);
    }
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      if (response.ok) throw new ApiError(path, response.status, { error: "not JSON" });
    }
    if (!response.ok) throw new ApiError(path, response.status, body);
    return body;
  }

  // What a person can do about an error; the API's own text goes to the console only.
  function friendly(error) {
    if (error instanceof NoAnswer) return "No answer from the dashboard's server for this panel; retrying.";
    if (!(error instanceof ApiError)) return "This panel could not be drawn (see the browser console).";
    if (error.status === 503 && error.body.reason === "no_tables") {
      return "The database has no cryptotrades tables yet: start the pipeline, or run cryptotrades db migrate.";
    }
    if (error.status === 503) return "The database is not answering right now; retrying.";
    if (error.status === 400) {
      return "This window cannot be shown: choose a preset, or a custom window of at most 400 days.";
    }
    return `The server could not answer for this panel (HTTP ${error.status}); retrying.`;
  }

  function windowParams() {
    const symbol = state.symbol;
    if (state.range === "custom") return { symbol, start: state.start, end: state.end };
    return { symbol, range: state.range, anchor: state.anchor };
  }

  // The per-day panels show 30 days ending with the window (or the custom window, if longer).
  function dailyParams() {
    const symbol = state.symbol;
    if (state.range !== "custom") return { symbol, range: "30d", anchor: state.anchor };
    const end = Date.parse(state.end);
    const start = Math.min(Date.parse(state.start), end - DAILY_DAYS * DAY_MS);
    return { symbol, start: new Date(start).toISOString(), end: state.end };
  }

  // ---- charts ------------------------------------------------------------------

  // The charts' colours come from the page's CSS variables: light or dark as the system says.
  function theme() {
    const css = getComputedStyle(document.documentElement);
    const v = (name) => css.getPropertyValue(name).trim();
    const t = {
      buy: v("--buy"), sell: v("--sell"), running: v("--running"), all: v("--neutral"), trades: v("--trades"),
      grid: v("--line"), zero: v("--zero"), ink: v("--chart-ink"), muted: v("--muted"), card: v("--card"),
      stale: v("--stale"),
    };
    return Object.assign(t, {
      buyArea: alpha(t.buy, 0.12), sellArea: alpha(t.sell, 0.12),
      buyBar: alpha(t.buy, 0.75), sellBar: alpha(t.sell, 0.75),
    });
  }

  function alpha(hex, a) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
  }

  function timeAxisTitle() {
    return `your time (${zoneName()}, ${offsetLabel(new Date())})`;
  }

  // The window's whole span on the time axis, empty or not: points sit at the start of
  // their minute (hour, day), so the axis runs from the first point's to the last one's.
  function timeAxis(body, t, extra) {
    const half = GRAIN_MS[body.window.grain] / 2;
    return Object.assign({
      type: "date", gridcolor: t.grid, linecolor: t.grid, automargin: true,
      range: [localStamp(Date.parse(body.window.start) - half), localStamp(Date.parse(body.window.end) - half)],
    }, extra);
  }

  // Margins around the plot: narrower on a phone (the axes' automargin still makes room).
  function margins(right) {
    return NARROW.matches ? { l: 40, r: right ? 40 : 10, t: 24, b: 40 } : { l: 70, r: right ? 70 : 20, t: 28, b: 44 };
  }

  function layout(t, extra) {
    const base = {
      margin: margins(false),
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: t.card,
      font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: t.ink },
      hovermode: "x unified",
      hoverlabel: { bgcolor: t.card, bordercolor: t.grid, font: { color: t.ink } },
      showlegend: true,
      // Above the plot, left: clear of the data and of the panel's buttons (in its header).
      // On a phone, small, so that two entries share a row.
      legend: Object.assign(
        { orientation: "h", x: 0, xanchor: "left", y: 1.02, yanchor: "bottom", bgcolor: "rgba(0,0,0,0)" },
        NARROW.matches ? { font: { size: 11 }, itemwidth: 30 } : {},
      ),
      dragmode: TOUCH ? false : "zoom",
      bargap: 0.15,
      uirevision: windowKey(),
    };
    return Object.assign(base, extra);
  }

  // A value axis; one with nothing to show has no tick labels that would pretend to a scale.
  function valueAxis(t, empty, extra) {
    const axis = Object.assign({ gridcolor: t.grid, zerolinecolor: t.zero, automargin: true }, extra);
    if (empty) Object.assign(axis, { range: [0, 1], showticklabels: false, zeroline: false });
    return axis;
  }

  // Ranges for a left and a right axis that put zero at the same height on both.
  function alignedRanges(left, right) {
    const extent = (values) => {
      const finite = values.filter((v) => v !== null && Number.isFinite(v));
      return [Math.max(0, ...finite.map((v) => -v)), Math.max(0, ...finite)];
    };
    const [leftDown, leftUp] = extent(left);
    const [rightDown, rightUp] = extent(right);
    const share = (down, up) => (down + up === 0 ? 0 : down / (down + up));
    const below = Math.max(share(leftDown, leftUp), share(rightDown, rightUp));
    const span = (down, up) => {
      const needed = Math.max(below > 0 ? down / below : 0, below < 1 ? up / (1 - below) : 0) || 1;
      return needed * 1.08;
    };
    const leftSpan = span(leftDown, leftUp);
    const rightSpan = span(rightDown, rightUp);
    return [
      [-below * leftSpan, (1 - below) * leftSpan],
      [-below * rightSpan, (1 - below) * rightSpan],
    ];
  }

  function draw(id, traces, chartLayout) {
    return Plotly.react(document.getElementById(id), traces, chartLayout, PLOT_CONFIG);
  }

  // Minutes whose row differs from Binance's own kline (body.differing): a dashed line each,
  // across every plot of the chart. The health strip's card lists them.
  function marked(body, t, chartLayout) {
    const minutes = body.differing || [];
    chartLayout.shapes = minutes.map((minute) => ({
      type: "line", xref: "x", yref: "paper", x0: localStamp(minute.time), x1: localStamp(minute.time),
      y0: 0, y1: 1, line: { color: t.stale, width: 2, dash: "dot" }, name: `differs from Binance: ${minute.text}`,
    }));
    return chartLayout;
  }

  const lineMode = (n) => (n <= 90 ? "lines+markers" : "lines");

  function renderCandles(body) {
    const t = theme();
    const s = body.series;
    const grain = body.window.grain;
    const empty = s.time.length === 0;
    const x = s.time.map(localStamp);
    const delta = s.btc_delta.map(num);
    const cumulative = s.btc_delta_cumulative.map(num);
    const [deltaRange, cumulativeRange] = alignedRanges(delta, cumulative);
    const traces = [
      {
        type: "candlestick", name: "Price (open, high, low, close)", x,
        open: s.open.map(num), high: s.high.map(num), low: s.low.map(num), close: s.close.map(num),
        increasing: { line: { color: t.buy, width: 1 }, fillcolor: t.buy },
        decreasing: { line: { color: t.sell, width: 1 }, fillcolor: t.sell },
        yaxis: "y",
      },
      {
        type: "bar", name: "BTC bought − sold", x, y: delta, yaxis: "y2",
        marker: { color: delta.map((v) => (v >= 0 ? t.buyBar : t.sellBar)) },
        hovertemplate: "%{y:+,.5f} BTC",
      },
      {
        type: "scatter", mode: "lines", name: "Running sum (BTC)", x, y: cumulative, yaxis: "y3",
        line: { color: t.running, width: 2 }, hovertemplate: "%{y:+,.5f} BTC",
      },
      {
        type: "bar", name: `Trades per ${grain}`, x, y: s.trades, yaxis: "y4",
        marker: { color: t.trades }, hovertemplate: "%{y:,} trades",
      },
    ];
    draw("chart-candles", traces, marked(body, t, layout(t, {
      // Each of its four plots has a titled axis; on a phone its legend would take four rows.
      margin: NARROW.matches ? Object.assign(margins(true), { t: 8 }) : margins(true),
      showlegend: !NARROW.matches,
      xaxis: timeAxis(body, t, { anchor: "y4", rangeslider: { visible: false }, title: { text: timeAxisTitle(), standoff: 8 } }),
      yaxis: valueAxis(t, empty, { domain: [0.45, 1], title: { text: "USD per BTC" }, tickformat: ",.0f" }),
      yaxis2: valueAxis(t, empty, { domain: [0.2, 0.41], title: { text: `BTC / ${grain}` }, range: deltaRange }),
      yaxis3: valueAxis(t, empty, {
        overlaying: "y2", side: "right", showgrid: false, range: cumulativeRange, tickmode: "auto", nticks: 4,
        title: { text: "running sum, BTC", font: { color: t.running } }, tickfont: { color: t.running },
      }),
      yaxis4: valueAxis(t, empty, { domain: [0, 0.16], title: { text: "trades" }, rangemode: "tozero" }),
    })));
    return s.time.length;
  }

  function renderPrices(body) {
    const t = theme();
    const s = body.series;
    const x = s.time.map(localStamp);
    const mode = lineMode(x.length);
    draw("chart-prices", [
      { type: "scatter", mode, name: "Buy", x, y: s.avg_price_buy.map(num), line: { color: t.buy, width: 2 },
        marker: { size: 4 }, hovertemplate: "%{y:,.2f} USD" },
      { type: "scatter", mode, name: "Sell", x, y: s.avg_price_sell.map(num), line: { color: t.sell, width: 2 },
        marker: { size: 4 }, hovertemplate: "%{y:,.2f} USD" },
    ], marked(body, t, layout(t, {
      xaxis: timeAxis(body, t),
      yaxis: valueAxis(t, x.length === 0, { tickformat: ",.0f", title: { text: "USD per BTC" } }),
    })));
    return s.time.length;
  }

  function renderSpread(body) {
    const t = theme();
    const s = body.series;
    const grain = body.window.grain;
    const x = s.time.map(localStamp);
    const spread = s.usd_spread.map(num);
    const running = s[`usd_spread_${body.rolling}`].map(num);
    const [spreadRange, runningRange] = alignedRanges(spread, running);
    const empty = x.length === 0;
    draw("chart-spread", [
      { type: "bar", name: "Bought − sold", x, y: spread,
        marker: { color: spread.map((v) => (v >= 0 ? t.buyBar : t.sellBar)) },
        hovertemplate: "%{y:+,.2f} USD" },
      { type: "scatter", mode: "lines", name: ROLLING_NAMES[body.rolling], x, y: running, yaxis: "y2",
        line: { color: t.running, width: 2 }, hovertemplate: "%{y:+,.2f} USD" },
    ], marked(body, t, layout(t, {
      margin: margins(true),
      xaxis: timeAxis(body, t),
      yaxis: valueAxis(t, empty, { tickformat: "~s", range: spreadRange, title: { text: `USD / ${grain}` } }),
      yaxis2: valueAxis(t, empty, {
        overlaying: "y", side: "right", showgrid: false, zeroline: false, tickformat: "~s", range: runningRange,
        tickmode: "auto", nticks: 6,
        title: { text: `USD, ${ROLLING_WORDS[body.rolling]}`, font: { color: t.running } }, tickfont: { color: t.running },
      }),
    })));
    return s.time.length;
  }

  function renderUsd(body) {
    const t = theme();
    const s = body.series;
    const x = s.time.map(localStamp);
    const fill = x.length <= 360 ? "tozeroy" : "none"; // areas of thousands of points only blur
    const width = x.length <= 360 ? 2 : 1;
    const mode = lineMode(x.length); // a lone point (trades in one hour of thirty days) needs its marker
    draw("chart-usd", [
      { type: "scatter", mode, name: "Bought", x, y: s.total_usd_buy.map(num), fill, marker: { size: 4 },
        fillcolor: t.buyArea, line: { color: t.buy, width }, hovertemplate: "%{y:,.2f} USD" },
      { type: "scatter", mode, name: "Sold", x, y: s.total_usd_sell.map(num), fill, marker: { size: 4 },
        fillcolor: t.sellArea, line: { color: t.sell, width }, hovertemplate: "%{y:,.2f} USD" },
    ], marked(body, t, layout(t, {
      xaxis: timeAxis(body, t),
      yaxis: valueAxis(t, x.length === 0, { tickformat: "~s", title: { text: `USD / ${body.window.grain}` }, rangemode: "tozero" }),
    })));
    return s.time.length;
  }

  // Days with rows, as categories: a short history reads as clearly as a long one. Without
  // rows, the days asked for, as dates.
  function dayAxis(body, t) {
    if (body.series.day.length) {
      return { type: "category", gridcolor: t.grid, title: { text: "UTC day", standoff: 8 }, automargin: true };
    }
    const last = new Date(Date.parse(body.days.last) + DAY_MS).toISOString().slice(0, 10);
    return { type: "date", range: [body.days.first, last], gridcolor: t.grid, title: { text: "UTC day", standoff: 8 } };
  }

  function showDays(body) {
    for (const label of document.querySelectorAll(".days-label")) {
      label.textContent = `${body.days.first} to ${body.days.last}`;
    }
  }

  function renderDailyCounts(body) {
    const t = theme();
    const s = body.series;
    const x = s.day;
    showDays(body);
    draw("chart-daily-counts", [
      { type: "bar", name: "Buys", x, y: s.total_count_buy, marker: { color: t.buy }, hovertemplate: "%{y:,}" },
      { type: "bar", name: "Sells", x, y: s.total_count_sell, marker: { color: t.sell }, hovertemplate: "%{y:,}" },
      { type: "bar", name: "All", x, y: s.total_count, marker: { color: t.all }, hovertemplate: "%{y:,}" },
    ], layout(t, { barmode: "group", bargap: x.length < 4 ? 0.55 : 0.2, xaxis: dayAxis(body, t), uirevision: "days",
      yaxis: valueAxis(t, x.length === 0, { tickformat: ",~r", title: { text: "aggregate trades" }, rangemode: "tozero" }) }));
    return x.length;
  }

  function renderDailyPrices(body) {
    const t = theme();
    const s = body.series;
    const x = s.day;
    showDays(body);
    draw("chart-daily-prices", [
      { type: "scatter", mode: "lines+markers", name: "Buy", x, y: s.avg_price_buy.map(num),
        line: { color: t.buy, width: 2 }, marker: { size: 8 }, hovertemplate: "%{y:,.2f} USD" },
      { type: "scatter", mode: "lines+markers", name: "Sell", x, y: s.avg_price_sell.map(num),
        line: { color: t.sell, width: 2 }, marker: { size: 8, symbol: "diamond" }, hovertemplate: "%{y:,.2f} USD" },
    ], layout(t, { xaxis: dayAxis(body, t), uirevision: "days",
      yaxis: valueAxis(t, x.length === 0, { tickformat: ",.0f", title: { text: "USD per BTC" } }) }));
    return x.length;
  }

  // ---- cards -------------------------------------------------------------------

  function setText(id, text, title) {
    const el = document.getElementById(id);
    el.textContent = text;
    if (title !== undefined) el.title = title;
    return el;
  }

  function renderHealth(body) {
    state.serverNow = body.now; // "updated" is the server's time of the answer, not this machine's
    const card = document.querySelector(".status-card");
    card.dataset.status = body.status;
    if (body.newest_minute) {
      setText("health-newest", localMinute(body.newest_minute), `${body.newest_minute} (UTC)`);
      const label = { fresh: "keeping up", lagging: "lagging", stale: "stale" }[body.status] || body.status;
      setText("health-age", `${ago(body.newest_minute_age_s)} · ${label}`);
    } else {
      setText("health-newest", "no rows yet");
      setText("health-age", `waiting for the first ${state.symbol} minute`);
    }
    setText("health-objects", formatInt(body.objects_processed));
    setText("health-objects-sub", body.last_processed
      ? `${formatInt(body.lines_read)} lines · last ${clockOrDate(body.last_processed, body.now)}`
      : "none yet", body.last_processed ? `last processed ${body.last_processed} (UTC)` : "");
    setText("health-rejected", formatInt(body.lines_rejected));
    setText("health-rejected-sub", `quarantined, from ${formatInt(body.objects_with_rejects)} object${body.objects_with_rejects === 1 ? "" : "s"}`);
    setText("health-duplicates", formatInt(body.duplicate_trades));
    setText("health-duplicates-sub", `counted once · ${formatInt(body.redeliveries)} repeated events`);
    if (body.dead_letters === null) {
      setText("health-dead", "—");
      setText("health-dead-sub", body.dead_letters_note || "not reported", body.dead_letters_note || "");
    } else {
      setText("health-dead", formatInt(body.dead_letters));
      setText("health-dead-sub", "events the pipeline gave up on");
    }
    renderCheck(body.minute_check);
    return 1;
  }

  // How many minutes of the last 24 h agree with Binance's own klines (the same line as
  // `cryptotrades status`), and the first that differ.
  function renderCheck(check) {
    const card = document.querySelector(".check-card");
    if (!check) {
      card.dataset.check = "none";
      setText("health-check", "—");
      setText("health-check-sub", "no klines stored yet", "");
      return;
    }
    card.dataset.check = check.differs ? "differs" : "agrees";
    setText("health-check", `${formatInt(check.agrees)} of ${formatInt(check.checked)}`, check.text);
    const first = check.differing.map((minute) => minute.text).join("; ");
    setText("health-check-sub", check.differs
      ? `minutes, last 24 h · ${formatInt(check.differs)} differ: ${first}${check.differs > check.differing.length ? " …" : ""}`
      : "minutes, last 24 h · all agree", check.text);
  }

  function renderTotals(body) {
    const t = body.totals;
    setText("kpi-count", formatInt(t.total_count));
    setText("kpi-count-sub", `aggregate trades · ${formatInt(t.trades)} fills · ${formatInt(t.minutes)} min`);
    setText("kpi-usd-buy", "$" + formatDecimal(t.total_usd_buy, 2), `${t.total_usd_buy} USD exactly`);
    setText("kpi-usd-buy-sub", `${formatDecimal(t.total_btc_buy, 4)} BTC in ${formatInt(t.total_count_buy)} buys`);
    setText("kpi-usd-sell", "$" + formatDecimal(t.total_usd_sell, 2), `${t.total_usd_sell} USD exactly`);
    setText("kpi-usd-sell-sub", `${formatDecimal(t.total_btc_sell, 4)} BTC in ${formatInt(t.total_count_sell)} sells`);
    const net = setText("kpi-net", formatSigned(t.usd_net, 2).replace(/^([+−]?)/, "$1$"), `${t.usd_net} USD exactly`);
    net.classList.toggle("positive", !t.usd_net.startsWith("-") && /[1-9]/.test(t.usd_net));
    net.classList.toggle("negative", t.usd_net.startsWith("-"));
    setText("kpi-net-sub", "USD, buy pressure when positive");
    return t.minutes;
  }

  function clearTotals(message) {
    for (const id of ["kpi-count", "kpi-usd-buy", "kpi-usd-sell", "kpi-net"]) setText(id, "—", message);
    for (const id of ["kpi-count-sub", "kpi-usd-buy-sub", "kpi-usd-sell-sub", "kpi-net-sub"]) setText(id, message);
  }

  // ---- panels, export ----------------------------------------------------------

  const DAILY_COUNT_COLUMNS = ["day", "total_count_buy", "total_count_sell", "total_count", "trades_buy", "trades_sell"];
  const DAILY_PRICE_COLUMNS = ["day", "avg_price_buy", "avg_price_sell", "total_usd_buy", "total_btc_buy",
    "total_usd_sell", "total_btc_sell"];

  const PANELS = [
    { id: "health", path: "/api/health", params: () => ({ symbol: state.symbol }), render: renderHealth, window: false },
    { id: "totals", path: "/api/totals", params: windowParams, render: renderTotals, window: true },
    { id: "panel-candles", path: "/api/candles", params: windowParams, render: renderCandles, chart: "chart-candles",
      name: "candles", window: true },
    { id: "panel-prices", path: "/api/prices", params: windowParams, render: renderPrices, chart: "chart-prices",
      name: "prices", window: true },
    { id: "panel-spread", path: "/api/spread", params: windowParams, render: renderSpread, chart: "chart-spread",
      name: "spread", window: true },
    { id: "panel-usd", path: "/api/usd", params: windowParams, render: renderUsd, chart: "chart-usd",
      name: "usd", window: true },
    { id: "panel-daily-counts", path: "/api/daily", params: dailyParams, render: renderDailyCounts,
      chart: "chart-daily-counts", name: "trades-per-day", columns: DAILY_COUNT_COLUMNS, window: true },
    { id: "panel-daily-prices", path: "/api/daily", params: dailyParams, render: renderDailyPrices,
      chart: "chart-daily-prices", name: "price-per-day", columns: DAILY_PRICE_COLUMNS, window: true },
  ];
  const CHART_PANELS = PANELS.filter((panel) => panel.chart);

  function setPanelState(id, panelState, message) {
    const panel = document.getElementById(id);
    panel.dataset.state = panelState;
    const box = panel.querySelector(".message");
    if (box) {
      box.hidden = !message;
      box.replaceChildren();
      if (message) box.appendChild(Object.assign(document.createElement("span"), { textContent: message }));
    }
    for (const button of panel.querySelectorAll(".tools button")) button.disabled = panelState !== "ready";
  }

  function emptyMessage(panel, body) {
    if (!body.newest_minute) return `No ${state.symbol} trades stored yet.`;
    const where = panel.columns ? "on these days" : "in this window";
    return `No ${state.symbol} trades ${where}; the newest is from ${localMinute(body.newest_minute)}.`;
  }

  function csvCell(value) {
    if (value === null || value === undefined) return "";
    const text = String(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }

  // The panel's data as the API sent it: decimal strings, not the numbers plotted.
  function toCsv(panelId) {
    const panel = PANELS.find((p) => p.id === panelId);
    const series = state.answers[panelId].series;
    const columns = panel.columns || Object.keys(series);
    const lines = [columns.join(",")];
    for (let i = 0; i < series[columns[0]].length; i++) {
      lines.push(columns.map((column) => csvCell(series[column][i])).join(","));
    }
    return lines.join("\r\n") + "\r\n";
  }

  function fileName(panel, extension) {
    const body = state.answers[panel.id];
    const compact = (iso) => iso.replace(/[-:]/g, "").replace(/00Z$/, "Z").replace(/\.\d+/, "");
    const span = body.days && panel.columns
      ? `days-${body.days.first}-${body.days.last}`
      : `${body.window.grain}-${compact(body.window.start)}-${compact(body.window.end)}`;
    return `cryptotrades-${body.symbol}-${panel.name}-${span}.${extension}`;
  }

  function download(href, name) {
    const link = Object.assign(document.createElement("a"), { href, download: name });
    document.body.appendChild(link);
    link.click();
    link.remove();
  }

  function exportCsv(panel) {
    const url = URL.createObjectURL(new Blob([toCsv(panel.id)], { type: "text/csv;charset=utf-8" }));
    download(url, fileName(panel, "csv"));
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  // The chart as drawn, on the card's colour, titled with the market, panel and window
  // in a band added above it.
  const EXPORT_TITLE_PX = 32;

  async function pngOf(panel) {
    const el = document.getElementById(panel.chart);
    const t = theme();
    const heading = document.querySelector(`#${panel.id} h2`).textContent;
    const body = state.answers[panel.id];
    const when = body.days
      ? `UTC days ${body.days.first} to ${body.days.last}`
      : document.getElementById("window-label").textContent;
    const margin = Object.assign({}, el.layout.margin);
    margin.t = (margin.t || 28) + EXPORT_TITLE_PX;
    const height = el.clientHeight + EXPORT_TITLE_PX;
    const figure = {
      data: el.data,
      layout: Object.assign({}, el.layout, {
        paper_bgcolor: t.card, margin,
        title: {
          text: `<b>${state.symbol} · ${heading}</b> · ${when}`, font: { size: 13, color: t.ink },
          x: 0, xref: "paper", xanchor: "left", y: 1 - 12 / height, yref: "container", yanchor: "top",
        },
      }),
    };
    return Plotly.toImage(figure, {
      format: "png", width: el.clientWidth, height, scale: 2,
    });
  }

  async function exportPng(panel) {
    download(await pngOf(panel), fileName(panel, "png"));
  }

  function addTools() {
    for (const panel of CHART_PANELS) {
      const header = document.querySelector(`#${panel.id} > header`);
      const heading = header.querySelector("h2").textContent;
      const tools = Object.assign(document.createElement("div"), { className: "tools" });
      const buttons = [
        ["PNG", `Download “${heading}” as a PNG image`, () => exportPng(panel)],
        ["CSV", `Download the data of “${heading}” as CSV (exact values, UTC times)`, () => exportCsv(panel)],
      ];
      for (const [label, title, action] of buttons) {
        const button = Object.assign(document.createElement("button"), {
          type: "button", textContent: label, title, disabled: true,
        });
        button.dataset.export = label.toLowerCase();
        button.setAttribute("aria-label", title);
        button.addEventListener("click", () => {
          Promise.resolve().then(action).catch((error) => console.error(`export: ${error.stack || error}`));
        });
        tools.appendChild(button);
      }
      header.appendChild(tools);
    }
  }

  // ---- refresh loop ------------------------------------------------------------

  function windowKey() {
    const span = state.range === "custom" ? `${state.start}/${state.end}` : `${state.range}/${state.anchor}`;
    return `${state.symbol}/${span}`;
  }

  function setLoading(loading) {
    state.loading = loading;
    document.body.dataset.loading = String(loading);
    for (const panel of PANELS) {
      if (panel.window) document.getElementById(panel.id).dataset.loading = String(loading);
    }
  }

  // One request per distinct path and parameters (the two per-day panels share one).
  function requester() {
    const asked = new Map();
    return (path, params) => {
      const key = `${path}?${new URLSearchParams(params)}`;
      if (!asked.has(key)) asked.set(key, getJSON(path, params));
      return asked.get(key);
    };
  }

  const REFRESH_RANK = { health: 0, live: 1, window: 2 };

  // mode "window": a new window or market, shown as loading; "live": a quiet refresh;
  // "health": only the health strip (a fixed window, or probing a server that went away).
  async function refresh(mode = "live") {
    if (mode === "window") {
      setLoading(true); // at once, even while another refresh is on its way
      showWindow();
    }
    if (state.busy) {
      if (!state.again || REFRESH_RANK[mode] > REFRESH_RANK[state.again]) state.again = mode;
      return;
    }
    state.busy = true;
    state.again = null;
    clearTimeout(state.timer);
    const key = windowKey();
    try {
      const panels = mode === "health" ? PANELS.filter((panel) => panel.id === "health") : PANELS;
      const ask = requester();
      const results = await Promise.allSettled([
        ...panels.map((panel) => ask(panel.path, panel.params())),
        ask("/api/symbols", {}),
      ]);
      if (key !== windowKey()) return; // answers for a window no longer on screen
      if (results.every((result) => result.status === "rejected" && result.reason instanceof NoAnswer)) {
        goOffline(results[0].reason);
        return;
      }
      const wasOffline = !state.online;
      goOnline();
      const symbols = results.pop();
      if (symbols.status === "fulfilled") fillSymbols(symbols.value);
      results.forEach((result, index) => apply(panels[index], result, key));
      if (wasOffline && mode === "health") state.again = state.again || "live"; // catch up on what was missed
      state.refreshes += 1;
      document.body.dataset.refreshes = String(state.refreshes);
      document.body.dataset.ready = "true";
      if (state.serverNow) setText("updated-label", `updated ${localStamp(state.serverNow).slice(11)}`);
    } catch (error) {
      console.error(`refresh: ${error.stack || error.message}`);
    } finally {
      state.busy = false;
      if (!state.again) setLoading(false);
      showWindow();
      syncControls();
      if (state.again) refresh(state.again);
      else schedule();
    }
  }

  function apply(panel, result, key) {
    let error = result.reason;
    if (result.status === "fulfilled") {
      const body = result.value;
      if (panel.path === "/api/candles") state.shown = { key, window: body.window };
      try {
        const points = panel.render(body);
        state.answers[panel.id] = body;
        const empty = panel.chart && points === 0;
        setPanelState(panel.id, empty ? "empty" : "ready", empty ? emptyMessage(panel, body) : "");
        return;
      } catch (drawing) {
        error = drawing; // one panel that cannot draw leaves the others be
      }
    }
    console.error(`${panel.path}: ${error.message}`);
    const message = friendly(error);
    delete state.answers[panel.id];
    setPanelState(panel.id, "error", message);
    if (panel.id === "totals") clearTotals(message);
    if (panel.chart) Plotly.purge(document.getElementById(panel.chart)); // not another window's drawing
  }

  function goOffline(reason) {
    if (state.online) {
      console.warn(`the dashboard's server is not answering: ${reason.message}`);
      state.online = false;
      state.offlineSince = Date.now();
    }
    document.body.dataset.connection = "offline";
    const banner = document.getElementById("offline-banner");
    const last = state.lastAnswerAt ? ` (its last answer came at ${localStamp(state.lastAnswerAt).slice(11)})` : "";
    banner.textContent = `The dashboard's server stopped answering at ${clock(state.offlineSince)}${last}.` +
      ` The figures below are what it sent then, greyed until it answers again; retrying every ${state.config.refresh_seconds} s.`;
    banner.hidden = false;
  }

  function goOnline() {
    state.lastAnswerAt = Date.now();
    if (state.online) return;
    state.online = true;
    state.offlineSince = null;
    document.body.dataset.connection = "online";
    document.getElementById("offline-banner").hidden = true;
  }

  // The markets the database holds (body: /api/symbols' answer; null before it came).
  function fillSymbols(body) {
    const known = body ? body.symbols : [];
    const names = known.map((entry) => entry.symbol);
    if (!names.includes(state.symbol)) names.unshift(state.symbol);
    const select = document.getElementById("symbol");
    const options = names.map((name) => {
      const entry = known.find((s) => s.symbol === name);
      const label = entry || !body ? name : `${name} (no rows)`;
      return { name, label, title: entry ? `newest minute ${entry.newest_minute} (UTC)` : "" };
    });
    const current = [...select.options].map((option) => option.textContent).join("|");
    if (current !== options.map((o) => o.label).join("|")) {
      select.replaceChildren(...options.map((o) => Object.assign(document.createElement("option"), {
        value: o.name, textContent: o.label, title: o.title,
      })));
    }
    select.value = state.symbol;
  }

  function grainOnScreen() {
    if (state.shown && state.shown.key === windowKey()) return state.shown.window.grain;
    const minutes = state.range === "custom"
      ? (Date.parse(state.end) - Date.parse(state.start)) / MINUTE_MS
      : state.config.ranges[state.range];
    const grains = state.config.grains;
    return Object.keys(grains).find((grain) => minutes <= grains[grain].max_minutes) || "day";
  }

  // Seconds between live refreshes: the setting for an hour, longer for a day or a week,
  // whose thousands of points take the browser seconds to draw (a week: every 84 s); a
  // point per hour or day changes at most once a minute.
  function refreshSeconds() {
    if (grainOnScreen() !== "minute") return Math.max(state.config.refresh_seconds, COARSE_REFRESH_S);
    const minutes = state.config.ranges[state.range] || 60;
    return Math.max(state.config.refresh_seconds, Math.round(minutes / 120));
  }

  function schedule() {
    clearTimeout(state.timer);
    if (document.hidden) return;
    if (!state.online) {
      state.timer = setTimeout(() => refresh("health"), state.config.refresh_seconds * 1000);
    } else if (state.range === "custom") {
      state.timer = setTimeout(() => refresh("health"), refreshSeconds() * 1000);
    } else if (state.live) {
      state.timer = setTimeout(() => refresh("live"), refreshSeconds() * 1000);
    }
  }

  // "2026-01-01 08:13 → 09:13" within a day, both dates across days.
  function spanLabel(start, end) {
    const [from, to] = [localMinute(start), localMinute(end)];
    return `${from} → ${from.slice(0, 10) === to.slice(0, 10) ? to.slice(11) : to}`;
  }

  function describeRequest() {
    if (state.range === "custom") return `Custom window: ${spanLabel(state.start, state.end)}`;
    const ending = state.anchor === "latest" ? "ending with the newest data" : "ending now";
    return `${RANGE_NAMES[state.range]}, ${ending}`;
  }

  // The window line always says which window is asked for: never a stale "Loading…".
  function showWindow() {
    const shown = state.shown && state.shown.key === windowKey() ? state.shown.window : null;
    const grain = shown ? shown.grain : grainOnScreen();
    if (state.loading) {
      setText("window-label", `${describeRequest()}: loading…`);
    } else if (shown) {
      const lead = shown.range ? describeRequest() : "Custom window";
      setText("window-label", `${lead}: ${spanLabel(shown.start, shown.end)}`, `${shown.start} → ${shown.end} (UTC)`);
    } else if (!state.online) {
      setText("window-label", `${describeRequest()}: not loaded, the server is not answering`);
    } else {
      setText("window-label", `${describeRequest()}: not loaded`);
    }
    setText("grain-label", `a point per ${grain}`,
      grain === "minute" ? "" : "Windows longer than 7 days are summed per hour, longer than 90 days per day: exactly, from the minutes.");
    for (const word of document.querySelectorAll("[data-grain-word]")) word.textContent = grain;
    const rolling = (state.config.rolling || {})[grain];
    for (const words of document.querySelectorAll("[data-rolling-words]")) words.textContent = ROLLING_WORDS[rolling] || "";
    const end = shown ? new Date(shown.end) : new Date();
    setText("zone-label", `times in ${zoneName()} (${offsetLabel(end)}), stored in UTC`);
  }

  function redrawCharts() {
    for (const panel of CHART_PANELS) {
      if (state.answers[panel.id]) panel.render(state.answers[panel.id]);
    }
  }

  // ---- controls ----------------------------------------------------------------

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    const symbol = (params.get("symbol") || "").toUpperCase();
    if (SYMBOL.test(symbol)) state.symbol = symbol;
    if (params.get("start") && params.get("end") && !Number.isNaN(Date.parse(params.get("start")))
      && !Number.isNaN(Date.parse(params.get("end")))) {
      state.range = "custom";
      state.start = new Date(params.get("start")).toISOString();
      state.end = new Date(params.get("end")).toISOString();
    } else if (PRESETS.includes(params.get("range"))) {
      state.range = params.get("range");
    }
    if (["latest", "now"].includes(params.get("anchor"))) state.anchor = params.get("anchor");
    if (params.get("live") === "off") state.live = false;
  }

  function writeHash() {
    const params = state.range === "custom"
      ? { symbol: state.symbol, start: state.start, end: state.end }
      : { symbol: state.symbol, range: state.range, anchor: state.anchor };
    if (!state.live) params.live = "off";
    history.replaceState(null, "", "#" + new URLSearchParams(params).toString());
  }

  function syncControls() {
    for (const button of document.querySelectorAll(".segmented button")) {
      button.setAttribute("aria-pressed", String(button.dataset.range === state.range));
    }
    const custom = state.range === "custom";
    document.title = `cryptotrades · ${state.symbol}`;
    document.getElementById("custom").hidden = !custom;
    document.getElementById("anchor").value = state.anchor;
    document.getElementById("anchor").disabled = custom;
    const live = document.getElementById("live");
    live.disabled = custom;
    live.setAttribute("aria-pressed", String(state.live && !custom && state.online));
    let label;
    if (!state.online) label = `Offline since ${clock(state.offlineSince)}`;
    else if (custom) label = "Fixed window";
    else label = state.live ? `Live · ${refreshSeconds()}s` : "Paused";
    live.querySelector(".label").textContent = label;
    live.title = !state.online
      ? "The dashboard's server is not answering; the page retries on its own"
      : custom ? "A custom window does not move" : state.live ? "Click to pause" : "Click to refresh live";
  }

  // Not in syncControls, which runs on every refresh: it would overwrite what is being typed.
  function fillCustomInputs() {
    if (state.range !== "custom") return;
    document.getElementById("custom-start").value = inputValue(Date.parse(state.start));
    document.getElementById("custom-end").value = inputValue(Date.parse(state.end));
  }

  function choose(change) {
    Object.assign(state, change);
    writeHash();
    syncControls();
    fillCustomInputs();
    refresh("window");
  }

  // The custom window's inputs, checked here so that the server never has to refuse them.
  function customWindow() {
    const hint = document.getElementById("custom-hint");
    const start = new Date(document.getElementById("custom-start").value);
    const end = new Date(document.getElementById("custom-end").value);
    const longest = state.config.grains.day.max_minutes * MINUTE_MS;
    let problem = null;
    if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) problem = "Give both times.";
    else if (end <= start) problem = "The end must come after the start.";
    else if (end - start > longest) problem = `At most ${spanWords(longest)}; this is ${spanWords(end - start)}.`;
    hint.classList.toggle("invalid", Boolean(problem));
    hint.textContent = problem || "in your time zone; a point a minute up to 7 days, an hour up to 90 days, a day up to 400 days";
    return problem ? null : { start: start.toISOString(), end: end.toISOString() };
  }

  function wireControls() {
    for (const button of document.querySelectorAll(".segmented button")) {
      button.addEventListener("click", () => {
        if (button.dataset.range !== "custom") {
          choose({ range: button.dataset.range });
          return;
        }
        // Start from the window on screen, so Custom then Show changes nothing until edited.
        const w = state.shown && state.shown.window;
        const end = w ? Date.parse(w.end) : Math.ceil(Date.now() / MINUTE_MS) * MINUTE_MS;
        const start = w ? Date.parse(w.start) : end - 3600000;
        choose({ range: "custom", start: new Date(start).toISOString(), end: new Date(end).toISOString() });
      });
    }
    document.getElementById("symbol").addEventListener("change", (event) => choose({ symbol: event.target.value }));
    document.getElementById("anchor").addEventListener("change", (event) => choose({ anchor: event.target.value }));
    document.getElementById("live").addEventListener("click", () => choose({ live: !state.live }));
    document.getElementById("custom").addEventListener("submit", (event) => {
      event.preventDefault();
      // datetime-local values are the viewer's wall-clock time: Date parses them as local.
      const chosen = customWindow();
      if (chosen) choose(Object.assign({ range: "custom" }, chosen));
    });
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) refresh(state.live || !state.online ? "live" : "health");
    });
    window.addEventListener("hashchange", () => {
      readHash();
      syncControls();
      fillCustomInputs();
      refresh("window");
    });
    // Dark or light as the system says, and again when it changes: charts redrawn in the new
    // colours; and their legends laid out again when the page crosses the phone's width.
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", redrawCharts);
    NARROW.addEventListener("change", redrawCharts);
  }

  async function start() {
    try {
      state.config = await getJSON("/api/config", {});
    } catch (error) {
      console.warn(`/api/config: ${error.message}`);
      setText("window-label", "The dashboard's server is not answering; trying again in 5 s.");
      document.body.dataset.loading = "false";
      setTimeout(start, 5000);
      return;
    }
    state.symbol = state.config.symbol;
    setText("database-label", state.config.database);
    readHash();
    writeHash();
    fillSymbols(null);
    addTools();
    wireControls();
    syncControls();
    fillCustomInputs();
    await refresh("window");
  }

  // Exposed for tests and the curious: exact formatting without floats, the CSV and PNG exports.
  window.cryptotrades = { formatDecimal, alignedRanges, toCsv, pngOf: (id) => pngOf(PANELS.find((p) => p.id === id)), state };
  start();
})();
