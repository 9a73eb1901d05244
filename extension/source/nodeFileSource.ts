/** Local files through positional reads of a FileHandle; the only module of the readers' side that touches `fs`. */
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { FormatError } from '../formats/formatError';
import type { ByteSource, SourceOpener } from './byteSource';

export class NodeFileSource implements ByteSource {
  private constructor(
    readonly name: string,
    readonly size: number,
    private readonly handle: FileHandle,
  ) {}

  static async open(path: string): Promise<NodeFileSource> {
    try {
      const handle = await open(path, 'r');
      try {
        const info = await handle.stat();
        if (!info.isFile()) throw new FormatError('UNSUPPORTED_FORMAT', 'not a regular file', path);
        return new NodeFileSource(path, info.size, handle);
      } catch (error) {
        await handle.close();
        throw error;
      }
    } catch (error) {
      throw asFormatError(error, path);
    }
  }

  async read(offset: number, target: Uint8Array): Promise<number> {
    let filled = 0;
    try {
      while (filled < target.length) {
        const { bytesRead } = await this.handle.read(target, filled, target.length - filled, offset + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
    } catch (error) {
      throw asFormatError(error, this.name);
    }
    return filled;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

function asFormatError(error: unknown, path: string): FormatError {
  if (error instanceof FormatError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new FormatError('FILE_NOT_FOUND', 'no such file or folder', path);
  if (code === 'EISDIR') return new FormatError('UNSUPPORTED_FORMAT', 'a folder, not a file', path);
  return new FormatError('READ_ERROR', (error as Error).message, path);
}

export const nodeSourceOpener: SourceOpener = {
  open: (path) => NodeFileSource.open(path),
  exists: async (path) => {
    try {
      await stat(path);
      return true;
    } catch {
      return false;
    }
  },
  isDirectory: async (path) => {
    try {
      return (await stat(path)).isDirectory();
    } catch (error) {
      throw asFormatError(error, path);
    }
  },
  listDirectory: async (path) => {
    try {
      return await readdir(path);
    } catch (error) {
      throw asFormatError(error, path);
    }
  },
};
