//! Decoding jobs: `ws_decode_new(dtype)`. Each push of whole element groups produces the decoded values as
//! little-endian f64 output bytes (`decode_f64`), for checks of the decoders against independent references.
use crate::{register, Job, JobError};
use weightscope_core::decode::decode_f64;
use weightscope_core::DType;

struct DecodeJob {
    dtype: DType,
    values: Vec<f64>,
    output: Vec<u8>,
}

impl Job for DecodeJob {
    fn push(&mut self, inputs: &[&[u8]]) -> Result<(), JobError> {
        let bytes = inputs[0];
        if bytes.len() % self.dtype.group_bytes() != 0 {
            return Err(JobError::input("input is not a whole number of element groups"));
        }
        let n = bytes.len() / self.dtype.group_bytes() * self.dtype.group_elements();
        self.values.clear();
        self.values.resize(n, 0.0);
        decode_f64(self.dtype, bytes, &mut self.values);
        self.output.clear();
        for v in &self.values {
            self.output.extend_from_slice(&v.to_le_bytes());
        }
        Ok(())
    }

    fn end_pass(&mut self) -> Result<bool, JobError> {
        Ok(false)
    }

    fn record(&mut self) -> Result<Vec<f64>, JobError> {
        Ok(Vec::new())
    }

    fn output(&self) -> &[u8] {
        &self.output
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Starts a decoding job for dtype `code`; returns its handle, or 0 when the dtype is unknown.
#[no_mangle]
pub extern "C" fn ws_decode_new(code: u32) -> u32 {
    register(match DType::from_code(code) {
        Some(dtype) => Ok(Box::new(DecodeJob { dtype, values: Vec::new(), output: Vec::new() })),
        None => Err(JobError::params(format!("unknown dtype code {}", code))),
    })
}
