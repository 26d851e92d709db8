/**
 * Downtime tracking: heartbeat, offline windows, admin alerts after long outages.
 *
 * @module
 */
export { createDowntimeMonitor, DEFAULT_ALERT_AFTER_MS, DEFAULT_HEARTBEAT_MS } from "./monitor.js";
export type { DowntimeMonitor, DowntimeMonitorOptions } from "./monitor.js";
export { isInsideWindow } from "./window.js";
export { downtimeAlertText, formatDuration, formatInstant, TELEGRAM_UPDATE_RETENTION_MS } from "./format.js";
export type { AlertTextOptions } from "./format.js";
