/**
 * Private files: the store and the blobs hold users' messages and files, so the data folder is
 * created `0700` and every file unlost writes there `0600`, whatever the process umask.
 *
 * Modes are set per file (created with the mode, then `chmod`ed) rather than by changing the
 * process umask around the open: the umask is process-wide, so the bot's own code running
 * meanwhile (another async task) would create its files with unlost's umask, and
 * `process.umask(mask)` throws in worker threads. A mode given to `open`/`mkdir` is only
 * masked further by the umask (never widened), and the `chmod` after it makes it exact (a
 * umask like 0277 would otherwise leave a file unlost cannot write).
 *
 * @module
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from "node:fs";

/** The mode of unlost's folders: the owner only. */
export const PRIVATE_DIR_MODE = 0o700;
/** The mode of unlost's files: the owner only, read and write. */
export const PRIVATE_FILE_MODE = 0o600;

/** Something about the data folder an operator should fix, with the fix. */
export interface FolderWarning {
  /** What is wrong, in one sentence. */
  readonly message: string;
  /** How to fix it, in one sentence. */
  readonly fix: string;
}

/**
 * Creates `dir` (and missing parents) `0700` when it does not exist; an existing folder is left
 * as it is (it may be shared on purpose: see {@link folderWarning}). Returns whether it was
 * created.
 */
export function ensurePrivateDir(dir: string): boolean {
  if (existsSync(dir)) return false;
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(dir, PRIVATE_DIR_MODE);
  return true;
}

/**
 * Creates `path` empty with mode `0600` when it does not exist, and makes an existing one
 * `0600` (a file of an older unlost was created with the umask's mode, often 0644).
 */
export function ensurePrivateFile(path: string): void {
  const fd = openSync(path, "a", PRIVATE_FILE_MODE);
  closeSync(fd);
  makePrivate(path);
}

/**
 * Makes an existing file `0600`. Best effort: a missing file is fine, and a file of another
 * user (chmod refused) is left alone; {@link folderWarning} tells about open folders.
 */
export function makePrivate(path: string): void {
  try {
    if ((statSync(path).mode & 0o777) !== PRIVATE_FILE_MODE) chmodSync(path, PRIVATE_FILE_MODE);
  } catch {
    // missing, or not ours to change
  }
}

/**
 * A warning when `dir` lets other users in (any group or other permission bit), or undefined.
 * The folder is not changed: it may be shared on purpose (a backup user's group), so the
 * operator decides.
 */
export function folderWarning(dir: string, what = "the data folder"): FolderWarning | undefined {
  let mode: number;
  try {
    mode = statSync(dir).mode & 0o777;
  } catch {
    return undefined;
  }
  if ((mode & 0o077) === 0) return undefined;
  return {
    message: `${what} ${dir} is open to other users (mode ${mode.toString(8).padStart(4, "0")}); it holds your users' messages and files.`,
    fix: `Make it private: chmod 700 ${quoteForShell(dir)}`,
  };
}

function quoteForShell(path: string): string {
  return /^[\w./@%+=:,-]+$/.test(path) ? path : `'${path.replace(/'/g, "'\\''")}'`;
}
