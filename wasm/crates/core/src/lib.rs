//! Decoding and streaming statistics of checkpoint tensors. Pure safe Rust with no dependencies; the WebAssembly
//! ABI lives in the `weightscope-wasm` crate.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod blocks;
pub mod counts;
pub mod decode;
pub mod diff;
pub mod dtype;
pub mod encode;
pub mod hash;
pub mod lift;
pub mod lora;
pub mod lowrank;
pub mod merge;
pub mod moments;
pub mod quant;
pub mod simd;
pub mod saliency;
pub mod select;
pub mod stats;
pub mod summary;
pub mod topk;

pub use dtype::DType;
pub use stats::{StatsJob, StatsResult, QUANTILE_PROBS};
pub mod quantsim;
pub mod ranks;
pub mod rounding;
pub mod tile;
pub mod channels;
pub mod finite;
