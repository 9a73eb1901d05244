/** Streaming one tensor through a WASM job chunk by chunk, as many passes as the job asks for. */
import type { TensorLocation } from '../../formats/checkpoint';
import { lookupDType } from '../../formats/dtypes';
import type { ReaderOptions } from '../tensorReader';
import type { WasmJob } from '../wasmCore';
import type { TaskContext } from './taskContext';

/** Pushes the tensor's bytes in chunks of whole element groups (about `chunkBytes`) until the job's last pass;
 *  progress counts the first pass only. Closes the reader; the caller disposes the job. */
export async function streamPasses(location: TensorLocation, job: WasmJob, ctx: TaskContext, chunkBytes: number, options: ReaderOptions = {}): Promise<void> {
  const reader = ctx.reader(location, options);
  const groupBytes = lookupDType(location.dtype)?.groupBytes ?? 1;
  const chunk = Math.max(groupBytes, chunkBytes - (chunkBytes % groupBytes));
  try {
    let firstPass = true;
    do {
      for (let done = 0; done < location.bytes; ) {
        ctx.checkCancelled();
        const len = Math.min(chunk, location.bytes - done);
        await reader.read(done, ctx.core.input(len));
        job.push();
        done += len;
        if (firstPass) ctx.progress(len);
      }
      firstPass = false;
    } while (job.endPass());
  } finally {
    reader.close();
  }
}
