//! The C ABI of the WebAssembly build: the only unsafe code. The host stages file bytes in numbered input slots,
//! drives jobs by integer handle, and reads back fixed-layout f64 records and output bytes. `wasmCore.ts` is the one
//! TypeScript file that knows these names and layouts; ABI.md documents them.
//!
//! Every analysis is a [`Job`]: a `ws_<kind>_new` export creates one, and the generic `ws_job_*` exports drive it.
//! Adding an analysis means one module here with its constructor and record layout; nothing else changes.
#![deny(missing_docs)]

mod blocks;
mod decode;
mod diff;
mod lift;
mod lora;
mod lowrank;
mod merge;
mod saliency;
mod stats;
mod tile;
mod channels;
mod quantsim;

use std::cell::RefCell;

/// True for an f64 holding a whole number in [0, 2⁵³]: counts and sizes cross the boundary as f64.
pub fn whole(x: f64) -> bool {
    x >= 0.0 && x <= 9_007_199_254_740_992.0 && x.fract() == 0.0
}

/// Bumped whenever an export or a record layout changes; the host refuses a mismatched module.
pub const ABI_VERSION: u32 = 7;
/// Input slots: enough for a merge of a base and fifteen fine-tunes.
pub const INPUT_SLOTS: usize = 16;

/// A failure a job reports to the host: a status below zero and a message (`ws_error`).
#[derive(Debug)]
pub struct JobError {
    /// Negative status returned by the export.
    pub status: i32,
    /// Human-readable reason.
    pub message: String,
}

impl JobError {
    /// Bad input: a partial element, too few bytes, inconsistent lengths.
    pub fn input(message: impl Into<String>) -> JobError {
        JobError { status: -2, message: message.into() }
    }

    /// A call in the wrong phase (push after the results are final, results before).
    pub fn phase(message: impl Into<String>) -> JobError {
        JobError { status: -3, message: message.into() }
    }

    /// Parameters a constructor cannot accept.
    pub fn params(message: impl Into<String>) -> JobError {
        JobError { status: -4, message: message.into() }
    }
}

/// One analysis in progress. The host streams the same bytes again as long as `end_pass` returns true.
pub trait Job {
    /// Consumes the staged bytes: `inputs[i]` is slot i's filled part.
    fn push(&mut self, inputs: &[&[u8]]) -> Result<(), JobError>;
    /// Ends a pass: Ok(true) asks for another pass over the same bytes, Ok(false) means the results are final.
    fn end_pass(&mut self) -> Result<bool, JobError>;
    /// The result record (layout per job kind, ABI.md); only after the last pass.
    fn record(&mut self) -> Result<Vec<f64>, JobError>;
    /// Bytes produced by the last `push`, for jobs that write (empty for the others).
    fn output(&self) -> &[u8] {
        &[]
    }
    /// For kind-specific exports (such as merging two statistics jobs).
    fn as_any(&mut self) -> &mut dyn std::any::Any;
}

struct Slot {
    job: Box<dyn Job>,
    record: Vec<f64>,
}

thread_local! {
    static INPUTS: RefCell<Vec<(Vec<u8>, usize)>> = RefCell::new((0..INPUT_SLOTS).map(|_| (Vec::new(), 0)).collect());
    static JOBS: RefCell<Vec<Option<Slot>>> = RefCell::new(Vec::new());
    static ERROR: RefCell<String> = RefCell::new(String::new());
}

/// Remembers why the last call failed and returns its status.
pub fn fail(error: JobError) -> i32 {
    ERROR.with(|e| *e.borrow_mut() = error.message);
    error.status
}

/// A per-column vector staged as little-endian f64 (activation statistics, column weights).
pub fn f64_values(bytes: &[u8]) -> Result<Vec<f64>, JobError> {
    if bytes.len() % 8 != 0 {
        return Err(JobError::input("the vector is not whole f64 values"));
    }
    Ok(bytes.chunks_exact(8).map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])).collect())
}

/// Registers a new job; returns its handle (never 0), or 0 with the reason in `ws_error`.
pub fn register(job: Result<Box<dyn Job>, JobError>) -> u32 {
    let job = match job {
        Ok(job) => job,
        Err(error) => {
            fail(error);
            return 0;
        }
    };
    JOBS.with(|jobs| {
        let mut jobs = jobs.borrow_mut();
        let slot = Some(Slot { job, record: Vec::new() });
        match jobs.iter().position(|s| s.is_none()) {
            Some(i) => {
                jobs[i] = slot;
                i as u32 + 1
            }
            None => {
                jobs.push(slot);
                jobs.len() as u32
            }
        }
    })
}

/// Runs `f` on the job behind `handle`, turning a bad handle into status −1.
pub fn with_job<R>(handle: u32, f: impl FnOnce(&mut dyn Job) -> Result<R, JobError>) -> Result<R, i32> {
    JOBS.with(|jobs| {
        let mut jobs = jobs.borrow_mut();
        match jobs.get_mut((handle as usize).wrapping_sub(1)).and_then(|s| s.as_mut()) {
            Some(slot) => f(slot.job.as_mut()).map_err(fail),
            None => Err(fail(JobError { status: -1, message: format!("unknown job handle {}", handle) })),
        }
    })
}

/// The ABI version.
#[no_mangle]
pub extern "C" fn ws_abi_version() -> u32 {
    ABI_VERSION
}

/// Makes input slot `slot` hold `len` bytes and returns their address (null for a slot out of range). The host
/// reads file bytes straight into it. The area stays owned by the module; its address is valid until the next
/// call that may grow memory, so the host takes a fresh view after each call.
#[no_mangle]
pub extern "C" fn ws_input(slot: u32, len: usize) -> *mut u8 {
    INPUTS.with(|inputs| {
        let mut inputs = inputs.borrow_mut();
        match inputs.get_mut(slot as usize) {
            Some((buffer, filled)) => {
                if buffer.len() < len {
                    buffer.resize(len, 0);
                }
                *filled = len;
                buffer.as_mut_ptr()
            }
            None => core::ptr::null_mut(),
        }
    })
}

/// Runs `f` on the staged slots (each up to its filled length).
pub fn with_inputs<R>(f: impl FnOnce(&[&[u8]]) -> R) -> R {
    INPUTS.with(|inputs| {
        let inputs = inputs.borrow();
        let staged: Vec<&[u8]> = inputs.iter().map(|(buffer, filled)| &buffer[..*filled]).collect();
        f(&staged)
    })
}

/// Lets a job fill input slot `slot` itself (a LoRA tile feeding a diff): `fill` gets the emptied buffer and
/// whatever it leaves there is the slot's content.
pub fn stage_input(slot: u32, fill: impl FnOnce(&mut Vec<u8>)) -> Result<(), JobError> {
    INPUTS.with(|inputs| {
        let mut inputs = inputs.borrow_mut();
        let (buffer, filled) = inputs.get_mut(slot as usize).ok_or_else(|| JobError::params(format!("input slot {} is out of range", slot)))?;
        buffer.clear();
        fill(buffer);
        *filled = buffer.len();
        Ok(())
    })
}

/// Feeds the staged slots (each up to the length its last `ws_input` gave) to job `handle`. 0 ok; −1 bad handle;
/// −2 bad input; −3 wrong phase; the reason is in `ws_error`.
#[no_mangle]
pub extern "C" fn ws_job_push(handle: u32) -> i32 {
    with_inputs(|staged| with_job(handle, |job| job.push(staged)).map(|()| 0).unwrap_or_else(|status| status))
}

/// Ends a pass. 1: stream the same bytes again; 0: the results are final; below 0: an error.
#[no_mangle]
pub extern "C" fn ws_job_end_pass(handle: u32) -> i32 {
    with_job(handle, |job| job.end_pass()).map(i32::from).unwrap_or_else(|status| status)
}

/// Computes the job's result record and returns its length in f64 slots (below 0: an error); `ws_job_record`
/// then gives its address.
#[no_mangle]
pub extern "C" fn ws_job_finish(handle: u32) -> i32 {
    let record = match with_job(handle, |job| job.record()) {
        Ok(record) => record,
        Err(status) => return status,
    };
    let len = record.len() as i32;
    JOBS.with(|jobs| {
        if let Some(Some(slot)) = jobs.borrow_mut().get_mut((handle as usize).wrapping_sub(1)) {
            slot.record = record;
        }
    });
    len
}

/// Address of the record computed by the last `ws_job_finish` (little-endian f64, NaN = undefined). Owned by the
/// job; valid until `ws_job_free` or the next call that may grow memory.
#[no_mangle]
pub extern "C" fn ws_job_record(handle: u32) -> *const f64 {
    JOBS.with(|jobs| match jobs.borrow().get((handle as usize).wrapping_sub(1)) {
        Some(Some(slot)) => slot.record.as_ptr(),
        _ => core::ptr::null(),
    })
}

/// Length of the bytes the last push produced (jobs that write; 0 for the others).
#[no_mangle]
pub extern "C" fn ws_job_output_len(handle: u32) -> usize {
    with_job(handle, |job| Ok(job.output().len())).unwrap_or(0)
}

/// Address of the bytes the last push produced; valid until the next call into the module.
#[no_mangle]
pub extern "C" fn ws_job_output(handle: u32) -> *const u8 {
    with_job(handle, |job| Ok(job.output().as_ptr())).unwrap_or(core::ptr::null())
}

/// Releases a job.
#[no_mangle]
pub extern "C" fn ws_job_free(handle: u32) {
    JOBS.with(|jobs| {
        if let Some(slot) = jobs.borrow_mut().get_mut((handle as usize).wrapping_sub(1)) {
            *slot = None;
        }
    });
}

/// Length in bytes of the UTF-8 reason for the last failure.
#[no_mangle]
pub extern "C" fn ws_error_len() -> usize {
    ERROR.with(|e| e.borrow().len())
}

/// Address of the UTF-8 reason for the last failure; valid until the next failing call.
#[no_mangle]
pub extern "C" fn ws_error() -> *const u8 {
    ERROR.with(|e| e.borrow().as_ptr())
}
