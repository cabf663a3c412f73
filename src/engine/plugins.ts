import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { InvalidRequest, NotFound } from "../errors.ts"

/** The plugin directory: `--plugin-dir`, or `<data-dir>/plugins`. */
export const pluginDirOf = (config: { readonly pluginDir: string; readonly dataDir: string }) =>
  NodePath.resolve(config.pluginDir === "" ? NodePath.join(config.dataDir, "plugins") : config.pluginDir)

const inside = (dir: string, path: string) => path === dir || path.startsWith(dir + NodePath.sep)

/**
 * The absolute path `name` names under the plugin directory (relative to it, or absolute inside it), or 400 when it
 * leaves the directory (`..`, an absolute path elsewhere, a symlink pointing out).
 */
export const pluginPath = (dir: string, name: string): string | InvalidRequest => {
  const refused = new InvalidRequest({ message: `plugin path '${name}' is outside the plugin directory` })
  if (name.trim() === "" || name.includes("\0")) return new InvalidRequest({ message: `invalid plugin path '${name}'` })
  const path = NodePath.resolve(dir, name)
  if (!inside(dir, path) || path === dir) return refused
  // A symlink inside the directory may still lead out of it: the real path decides.
  let real = path
  try {
    real = NodeFs.realpathSync(path)
  } catch {
    let parent = NodePath.dirname(path)
    while (!NodeFs.existsSync(parent) && parent !== dir) parent = NodePath.dirname(parent)
    real = NodePath.join(NodeFs.realpathSync(parent), NodePath.relative(parent, path))
  }
  return inside(NodeFs.realpathSync(dir), real) ? path : refused
}

/**
 * The plugin `name` names: a `.py` file, or a directory with `__init__.py`; 404 when there is none, 400 when the
 * path leaves the plugin directory.
 */
export const resolvePlugin = (dir: string, name: string): string | InvalidRequest | NotFound => {
  if (name.startsWith("gh:")) {
    return new InvalidRequest({
      message:
        `plugin '${name}': plugins from the InfluxData plugin repository (gh:) cannot be fetched by this server; ` +
        "copy the file into the plugin directory"
    })
  }
  const path = pluginPath(dir, name)
  if (typeof path !== "string") return path
  const stat = NodeFs.statSync(path, { throwIfNoEntry: false })
  if (stat?.isFile() === true) return path
  if (stat?.isDirectory() === true && NodeFs.existsSync(NodePath.join(path, "__init__.py"))) return path
  return new NotFound({ message: `plugin not found: ${name}` })
}

/** Writes a plugin file (creating its directories), as the server's user. */
export const writePluginFile = (path: string, content: string) => {
  NodeFs.mkdirSync(NodePath.dirname(path), { recursive: true })
  const temp = `${path}.${process.pid}.tmp`
  NodeFs.writeFileSync(temp, content)
  NodeFs.renameSync(temp, path)
}
