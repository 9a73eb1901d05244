//! Decoding jobs: `ws_decode_new(dtype)`; each push turns input slot 0 (whole element groups) into little-endian
//! f64 values, read back through `ws_job_output`. For raw-value readouts and for testing the decoders in wasm.
use crate::{register, Job, JobError};
use weightscope_core::decode::Decoder;
use weightscope_core::DType;

struct DecodeJob {
    decoder: Decoder,
    values: Vec<f64>,
    bytes: Vec<u8>,
}

impl Job for DecodeJob {
    fn push(&mut self, inputs: &[&[u8]]) -> Result<(), JobError> {
        let dtype = self.decoder.dtype();
        if inputs[0].len() % dtype.group_bytes() != 0 {
            return Err(JobError::input("input is not a whole number of elements"));
        }
        self.decoder.decode_all(inputs[0], &mut self.values);
        self.bytes.clear();
        self.bytes.extend(self.values.iter().flat_map(|v| v.to_le_bytes()));
        Ok(())
    }

    fn end_pass(&mut self) -> Result<bool, JobError> {
        Ok(false)
    }

    fn record(&mut self) -> Result<Vec<f64>, JobError> {
        Ok(Vec::new())
    }

    fn output(&self) -> &[u8] {
        &self.bytes
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Starts a decoding job for dtype `code`; 0 when the dtype is unknown.
#[no_mangle]
pub extern "C" fn ws_decode_new(code: u32) -> u32 {
    register(match DType::from_code(code) {
        Some(dtype) => Ok(Box::new(DecodeJob { decoder: Decoder::new(dtype), values: Vec::new(), bytes: Vec::new() })),
        None => Err(JobError::params(format!("unknown dtype code {}", code))),
    })
}
