/** Streams a whole tensor through a WASM job in chunks, as many passes as the job asks for. */
import type { TensorLocation } from '../../formats/checkpoint';
import { lookupDType } from '../../formats/dtypes';
import type { ReaderOptions } from '../tensorReader';
import type { WasmJob } from '../wasmCore';
import type { TaskContext } from './taskContext';

export async function streamTensor(ctx: TaskContext, location: TensorLocation, job: WasmJob, chunkBytes: number, options: ReaderOptions = {}): Promise<void> {
  const reader = ctx.reader(location, options);
  const groupBytes = lookupDType(location.dtype)?.groupBytes ?? 1;
  const chunk = Math.max(groupBytes, chunkBytes - (chunkBytes % groupBytes));
  try {
    // Progress counts the first pass only: later passes re-read the same bytes.
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
