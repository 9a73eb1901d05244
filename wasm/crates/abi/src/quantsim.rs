//! Quantization-error jobs: `ws_quant_new(dtype, rows, cols, schemes, keep)`. One input slot; several passes when a
//! scheme needs the tensor's absmax or outliers are kept. `schemes` is a bit mask over the core's scheme list, `keep`
//! over its kept fractions (bit 0: 0.1 %, bit 1: 1 %). A push with slot 1 non-empty first takes it as column weights
//! (one little-endian f64 per column). Record (f64 slots, ABI.md): finite count, Σw², then for each scheme in bit
//! order and each keep level (none, then the kept fractions in bit order): Σ(w − ŵ)², max |w − ŵ|; with column
//! weights, then Σaw² and each Σa(w − ŵ)² in the same order.
use crate::tile::whole;
use crate::{f64_values, register, Job, JobError};
use weightscope_core::quantsim::{QuantError, QuantJob, KEEP_PER_MILLE, SCHEMES};
use weightscope_core::DType;

impl Job for QuantJob {
    fn push(&mut self, inputs: &[&[u8]]) -> Result<(), JobError> {
        if !inputs[1].is_empty() {
            self.set_column_weights(f64_values(inputs[1])?).map_err(quant_error)?;
        }
        if inputs[0].is_empty() {
            return Ok(());
        }
        QuantJob::push(self, inputs[0]).map_err(quant_error)
    }

    fn end_pass(&mut self) -> Result<bool, JobError> {
        QuantJob::end_pass(self).map_err(quant_error)
    }

    fn record(&mut self) -> Result<Vec<f64>, JobError> {
        let r = self.result().ok_or_else(|| JobError::phase("results asked for before the last pass ended"))?;
        let mut out = vec![r.count, r.signal];
        for e in &r.errors {
            out.extend_from_slice(&[e.squared, e.max_abs]);
        }
        if let Some(w) = &r.weighted {
            out.push(w.signal);
            out.extend_from_slice(&w.squared);
        }
        Ok(out)
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

fn quant_error(error: QuantError) -> JobError {
    match error {
        QuantError::Params(message) => JobError::params(message),
        QuantError::Input(message) => JobError::input(message),
        QuantError::Phase => JobError::phase("input after the results were final"),
    }
}

/// Starts a quantization-error job (see the module comment). Returns the handle, or 0 with the reason in
/// `ws_error`.
#[no_mangle]
pub extern "C" fn ws_quant_new(code: u32, rows: f64, cols: f64, schemes: u32, keep: u32) -> u32 {
    register((|| -> Result<Box<dyn Job>, JobError> {
        let dtype = DType::from_code(code).ok_or_else(|| JobError::params(format!("unknown dtype code {}", code)))?;
        if schemes >> SCHEMES.len() != 0 || keep >> KEEP_PER_MILLE.len() != 0 {
            return Err(JobError::params(format!("unknown scheme or keep bits {:#x} {:#x}", schemes, keep)));
        }
        let chosen: Vec<_> = SCHEMES.iter().enumerate().filter(|(i, _)| schemes >> i & 1 == 1).map(|(_, &s)| s).collect();
        let kept: Vec<u64> = KEEP_PER_MILLE.iter().enumerate().filter(|(i, _)| keep >> i & 1 == 1).map(|(_, &p)| p).collect();
        let job = QuantJob::new(dtype, whole(rows, "rows")?, whole(cols, "cols")?, &chosen, &kept).map_err(quant_error)?;
        Ok(Box::new(job))
    })())
}
