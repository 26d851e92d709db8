/**
 * Each task's own temp folder, `<root>/<id>` (0700): made empty when a try starts (a crashed
 * try's files are gone), removed when it ends, and swept at start when a crash left it behind.
 *
 * @module
 */
import { chmod, mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { ensurePrivateDir, PRIVATE_DIR_MODE } from "../shared/private-files.js";

/** The temp folders of one runtime's tasks. */
export class TaskTempDirs {
  /** @param root the folder holding them (made 0700 when missing) */
  constructor(readonly root: string) {}

  /** The folder of task `id` (ids may hold `:`; `/` and the like are escaped). */
  pathOf(id: string): string {
    return join(this.root, encodeURIComponent(id));
  }

  /** Makes an empty folder for a try of `id` and returns its path. */
  async create(id: string): Promise<string> {
    ensurePrivateDir(this.root);
    const dir = this.pathOf(id);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { mode: PRIVATE_DIR_MODE });
    // The umask may have narrowed the mode; never widened it.
    await chmod(dir, PRIVATE_DIR_MODE);
    return dir;
  }

  /** Removes the folder of `id` and everything in it. */
  async remove(id: string): Promise<void> {
    await rm(this.pathOf(id), { recursive: true, force: true });
  }

  /**
   * Removes every folder whose task `keep` does not claim (a try that runs, here or in another
   * process sharing the folder); returns the ids removed.
   */
  async sweep(keep: (id: string) => Promise<boolean>): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const name of names) {
      let id: string;
      try {
        id = decodeURIComponent(name);
      } catch {
        id = name;
      }
      if (await keep(id)) continue;
      await rm(join(this.root, name), { recursive: true, force: true });
      removed.push(id);
    }
    return removed;
  }

  /** The ids of the folders there now (for tests and status). */
  async list(): Promise<string[]> {
    try {
      return (await readdir(this.root)).map((n) => decodeURIComponent(n));
    } catch {
      return [];
    }
  }
}
