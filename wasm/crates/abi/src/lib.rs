//! The C ABI of the WebAssembly build: the only unsafe code. Integer handles go in, fixed-layout f64 records come
//! out; `wasmCore.ts` is the one TypeScript file that knows these names and layouts (documented in ABI.md).
#![deny(missing_docs)]

use std::cell::RefCell;
use weightscope_core::{DType, StatsJob, StatsResult};

/// Bumped whenever an export or a record layout changes; the host refuses a mismatched module.
pub const ABI_VERSION: u32 = 1;
/// f64 slots of a statistics record (see ABI.md).
pub const RECORD_LEN: usize = 22 + 2 + 128 + 3 + 128 + 8;

struct Slot {
    job: StatsJob,
    record: Vec<f64>,
}

thread_local! {
    static INPUT: RefCell<Vec<u8>> = RefCell::new(Vec::new());
    static JOBS: RefCell<Vec<Option<Slot>>> = RefCell::new(Vec::new());
}

/// The ABI version.
#[no_mangle]
pub extern "C" fn ws_abi_version() -> u32 {
    ABI_VERSION
}

/// Grows the input staging area to at least `len` bytes and returns its address. The host reads file bytes
/// straight into it. The area is owned by the module and stays valid until the next `ws_input` call.
#[no_mangle]
pub extern "C" fn ws_input(len: usize) -> *mut u8 {
    INPUT.with(|input| {
        let mut input = input.borrow_mut();
        if input.len() < len {
            input.resize(len, 0);
        }
        input.as_mut_ptr()
    })
}

/// Starts a statistics job for dtype `code` (ABI.md); returns its handle, or 0 when the dtype is unknown.
#[no_mangle]
pub extern "C" fn ws_stats_new(code: u32) -> u32 {
    let dtype = match DType::from_code(code) {
        Some(d) => d,
        None => return 0,
    };
    JOBS.with(|jobs| {
        let mut jobs = jobs.borrow_mut();
        let slot = Some(Slot { job: StatsJob::new(dtype), record: Vec::new() });
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

fn with_job<R>(handle: u32, f: impl FnOnce(&mut Slot) -> R) -> Option<R> {
    JOBS.with(|jobs| jobs.borrow_mut().get_mut((handle as usize).wrapping_sub(1)).and_then(|s| s.as_mut()).map(f))
}

/// Feeds the first `len` bytes of the staging area to job `handle`. 0 ok; −1 bad handle; −2 partial element or
/// more bytes than the staging area holds; −3 the job is finished.
#[no_mangle]
pub extern "C" fn ws_stats_push(handle: u32, len: usize) -> i32 {
    INPUT.with(|input| {
        let input = input.borrow();
        if len > input.len() {
            return -2;
        }
        let bytes = &input[..len];
        with_job(handle, |slot| match slot.job.push(bytes) {
            Ok(()) => 0,
            Err(weightscope_core::stats::StatsError::PartialElement) => -2,
            Err(_) => -3,
        })
        .unwrap_or(-1)
    })
}

/// Adds job `from` into job `into` (same dtype, first pass). 0 ok; −1 bad handle; −3 wrong phase or dtype.
#[no_mangle]
pub extern "C" fn ws_stats_merge(into: u32, from: u32) -> i32 {
    let other = match with_job(from, |slot| slot.job.clone()) {
        Some(job) => job,
        None => return -1,
    };
    with_job(into, |slot| if slot.job.merge(&other).is_ok() { 0 } else { -3 }).unwrap_or(-1)
}

/// Ends a pass. 1: stream the same bytes again; 0: results are final; −1 bad handle.
#[no_mangle]
pub extern "C" fn ws_stats_end_pass(handle: u32) -> i32 {
    with_job(handle, |slot| i32::from(slot.job.end_pass())).unwrap_or(-1)
}

/// Address of the job's result record (RECORD_LEN little-endian f64, NaN = undefined), or null when not final.
/// Owned by the job; valid until `ws_stats_free` or the next call that may grow memory.
#[no_mangle]
pub extern "C" fn ws_stats_result(handle: u32) -> *const f64 {
    with_job(handle, |slot| match slot.job.result() {
        Some(result) => {
            slot.record = record(result);
            slot.record.as_ptr()
        }
        None => core::ptr::null(),
    })
    .unwrap_or(core::ptr::null())
}

/// Releases a job.
#[no_mangle]
pub extern "C" fn ws_stats_free(handle: u32) {
    JOBS.with(|jobs| {
        if let Some(slot) = jobs.borrow_mut().get_mut((handle as usize).wrapping_sub(1)) {
            *slot = None;
        }
    });
}

/// The record layout of ABI.md.
pub fn record(r: &StatsResult) -> Vec<f64> {
    let mut out = vec![
        r.count, r.mean, r.std, r.min, r.max, r.absmax, r.l2, r.zeros, r.nan, r.posinf, r.neginf, r.skewness, r.kurtosis,
    ];
    out.extend_from_slice(&r.quantiles);
    let d = &r.display;
    out.extend_from_slice(&[d.linear_lo, d.linear_hi]);
    out.extend_from_slice(&d.linear);
    out.extend_from_slice(&[d.log_lo, d.log_hi, d.log_zeros]);
    out.extend_from_slice(&d.log);
    out.extend_from_slice(&d.tails);
    debug_assert_eq!(out.len(), RECORD_LEN);
    out
}
