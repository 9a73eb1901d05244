//! LoRA jobs: `ws_lora_new(dtype_a, dtype_b, rank, inputs, outputs, layouts, scale)` takes the factors A (slot 0) and
//! B (slot 1) in any number of pushes (layouts: bit 0 set when A is stored in × r, bit 1 when B is r × out); then
//! `ws_lora_tile(h, first, count, slot)` stages rows [first, first + count) of ΔW = scale·B·A in input slot `slot`
//! as little-endian f64, ready for a diff or low-rank push. Record: 0 rank, 1 1 when both factors arrived.
use crate::{register, stage_input, with_job, Job, JobError};
use weightscope_core::lora::{Layout, LoraError, LoraJob};
use weightscope_core::DType;

/// A LoRA pair and its last tile.
pub struct LoraTiles {
    job: LoraJob,
    rank: usize,
    values: Vec<f64>,
}

impl Job for LoraTiles {
    fn push(&mut self, inputs: &[&[u8]]) -> Result<(), JobError> {
        self.job.push(inputs[0], inputs[1]).map_err(lora_error)
    }

    fn end_pass(&mut self) -> Result<bool, JobError> {
        Ok(false)
    }

    fn record(&mut self) -> Result<Vec<f64>, JobError> {
        Ok(vec![self.rank as f64, self.job.complete() as u8 as f64])
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

fn lora_error(error: LoraError) -> JobError {
    match error {
        LoraError::BadInput => JobError::input("partial elements, or more than the factor holds"),
        LoraError::WrongPhase => JobError::phase("a tile asked for before both factors arrived, or rows out of range"),
        LoraError::BadParams => JobError::params("zero rank or dimensions"),
    }
}

/// Starts a LoRA pair of rank `rank` for an `outputs` × `inputs` weight.
#[no_mangle]
pub extern "C" fn ws_lora_new(a: u32, b: u32, rank: u32, inputs: f64, outputs: f64, layouts: u32, scale: f64) -> u32 {
    let layout = |bit: u32| if layouts & bit != 0 { Layout::Transposed } else { Layout::Standard };
    register(match (DType::from_code(a), DType::from_code(b)) {
        (Some(a), Some(b)) if crate::whole(inputs) && crate::whole(outputs) => {
            LoraJob::new(a, b, rank as usize, inputs as usize, outputs as usize, layout(1), layout(2), scale)
                .map(|job| Box::new(LoraTiles { job, rank: rank as usize, values: Vec::new() }) as Box<dyn Job>)
                .map_err(lora_error)
        }
        _ => Err(JobError::params("unknown dtype code, or a size that is not a whole number")),
    })
}

/// Stages rows [first, first + count) of ΔW in input slot `slot`. 0 ok; below 0 an error (`ws_error`).
#[no_mangle]
pub extern "C" fn ws_lora_tile(handle: u32, first: f64, count: u32, slot: u32) -> i32 {
    with_job(handle, |job| {
        let tiles = job.as_any().downcast_mut::<LoraTiles>().ok_or_else(|| JobError::phase("not a LoRA job"))?;
        if !crate::whole(first) {
            return Err(JobError::params("the first row is not a whole number"));
        }
        tiles.job.tile(first as usize, count as usize, &mut tiles.values).map_err(lora_error)?;
        stage_input(slot, |buffer| {
            buffer.clear();
            buffer.extend(tiles.values.iter().flat_map(|v| v.to_le_bytes()));
        })
    })
    .map(|()| 0)
    .unwrap_or_else(|status| status)
}
