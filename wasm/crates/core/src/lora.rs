//! A LoRA adapter pair as the weight delta it stands for, ΔW = scale · B·A (out × in), computed a band of rows at a
//! time: the factors are small (rank r ≪ in, out) and held whole; ΔW never is.
use crate::decode::DECODE_BLOCK;
use crate::diff::{decode_range, whole_elements};
use crate::dtype::DType;

/// Why a LoRA job refused input or a tile request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoraError {
    /// Partial element groups, or more elements than a factor holds.
    BadInput,
    /// A tile asked for before both factors arrived, or rows out of range.
    WrongPhase,
    /// Zero rank or dimensions.
    BadParams,
}

/// How a factor is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// PEFT: A is r × in, B is out × r.
    Standard,
    /// MLX: A is in × r, B is r × out.
    Transposed,
}

/// The two factors of one adapter pair, streamed in, and ΔW tiles on request.
pub struct LoraJob {
    a_dtype: DType,
    b_dtype: DType,
    rank: usize,
    inputs: usize,
    outputs: usize,
    a_layout: Layout,
    b_layout: Layout,
    scale: f64,
    /// r × in once arranged.
    a: Vec<f64>,
    /// out × r once arranged.
    b: Vec<f64>,
    a_filled: usize,
    b_filled: usize,
    arranged: bool,
}

impl LoraJob {
    /// A pair of rank `rank` for a weight of `outputs` × `inputs`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(a_dtype: DType, b_dtype: DType, rank: usize, inputs: usize, outputs: usize, a_layout: Layout, b_layout: Layout, scale: f64) -> Result<LoraJob, LoraError> {
        if rank == 0 || inputs == 0 || outputs == 0 {
            return Err(LoraError::BadParams);
        }
        Ok(LoraJob {
            a_dtype,
            b_dtype,
            rank,
            inputs,
            outputs,
            a_layout,
            b_layout,
            scale,
            a: vec![0.0; rank * inputs],
            b: vec![0.0; outputs * rank],
            a_filled: 0,
            b_filled: 0,
            arranged: false,
        })
    }

    /// The next bytes of A (in its stored order) and of B; either may be empty.
    pub fn push(&mut self, a_bytes: &[u8], b_bytes: &[u8]) -> Result<(), LoraError> {
        if self.arranged {
            return Err(LoraError::WrongPhase);
        }
        append(self.a_dtype, a_bytes, &mut self.a, &mut self.a_filled)?;
        append(self.b_dtype, b_bytes, &mut self.b, &mut self.b_filled)
    }

    /// True once both factors are complete.
    pub fn complete(&self) -> bool {
        self.a_filled == self.a.len() && self.b_filled == self.b.len()
    }

    fn arrange(&mut self) {
        if self.a_layout == Layout::Transposed {
            self.a = transpose(&self.a, self.inputs, self.rank);
        }
        if self.b_layout == Layout::Transposed {
            self.b = transpose(&self.b, self.rank, self.outputs);
        }
        self.arranged = true;
    }

    /// Rows [first, first + count) of ΔW, row-major, into `out` (count × in values).
    pub fn tile(&mut self, first: usize, count: usize, out: &mut Vec<f64>) -> Result<(), LoraError> {
        if !self.complete() || first + count > self.outputs {
            return Err(LoraError::WrongPhase);
        }
        if !self.arranged {
            self.arrange();
        }
        let n = self.inputs;
        out.clear();
        out.resize(count * n, 0.0);
        for (i, row) in out.chunks_exact_mut(n).enumerate() {
            let b_row = &self.b[(first + i) * self.rank..(first + i + 1) * self.rank];
            for (k, &bk) in b_row.iter().enumerate() {
                let weight = self.scale * bk;
                for (o, &a) in row.iter_mut().zip(&self.a[k * n..(k + 1) * n]) {
                    *o += weight * a;
                }
            }
        }
        Ok(())
    }
}

fn append(dtype: DType, bytes: &[u8], into: &mut [f64], filled: &mut usize) -> Result<(), LoraError> {
    let count = whole_elements(dtype, bytes.len()).ok_or(LoraError::BadInput)?;
    if *filled + count > into.len() {
        return Err(LoraError::BadInput);
    }
    let mut done = 0;
    while done < count {
        let take = (count - done).min(DECODE_BLOCK);
        decode_range(dtype, bytes, done, take, &mut into[*filled + done..*filled + done + take]);
        done += take;
    }
    *filled += count;
    Ok(())
}

/// A rows × cols row-major matrix transposed.
fn transpose(m: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut t = vec![0.0; m.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = m[i * cols + j];
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn tiles_equal_scale_times_b_times_a_in_both_layouts() {
        // A (r=2 × in=3), B (out=4 × r=2).
        let a = [1.0f32, 2.0, 3.0, -1.0, 0.5, 0.0];
        let b = [1.0f32, 0.0, 0.0, 1.0, 2.0, -1.0, 0.25, 4.0];
        let want: Vec<f64> = (0..4)
            .flat_map(|i| (0..3).map(move |j| 2.0 * (0..2).map(|k| b[i * 2 + k] as f64 * a[k * 3 + j] as f64).sum::<f64>()))
            .collect();
        let mut job = LoraJob::new(DType::F32, DType::F32, 2, 3, 4, Layout::Standard, Layout::Standard, 2.0).unwrap();
        job.push(&f32_bytes(&a[..4]), &[]).unwrap();
        job.push(&f32_bytes(&a[4..]), &f32_bytes(&b)).unwrap();
        let mut tile = Vec::new();
        job.tile(1, 3, &mut tile).unwrap();
        assert_eq!(tile, want[3..].to_vec());
        // MLX stores A as in × r and B as r × out.
        let a_t: Vec<f32> = (0..3).flat_map(|j| (0..2).map(move |k| a[k * 3 + j])).collect();
        let b_t: Vec<f32> = (0..2).flat_map(|k| (0..4).map(move |i| b[i * 2 + k])).collect();
        let mut job = LoraJob::new(DType::F32, DType::F32, 2, 3, 4, Layout::Transposed, Layout::Transposed, 2.0).unwrap();
        job.push(&f32_bytes(&a_t), &f32_bytes(&b_t)).unwrap();
        job.tile(0, 4, &mut tile).unwrap();
        assert_eq!(tile, want);
    }

    #[test]
    fn refuses_tiles_before_both_factors_and_excess_input() {
        let mut job = LoraJob::new(DType::F32, DType::F32, 1, 2, 2, Layout::Standard, Layout::Standard, 1.0).unwrap();
        let mut tile = Vec::new();
        job.push(&f32_bytes(&[1.0, 2.0]), &[]).unwrap();
        assert_eq!(job.tile(0, 1, &mut tile), Err(LoraError::WrongPhase));
        assert_eq!(job.push(&f32_bytes(&[1.0]), &[]), Err(LoraError::BadInput));
        job.push(&[], &f32_bytes(&[3.0, 4.0])).unwrap();
        assert_eq!(job.tile(1, 2, &mut tile), Err(LoraError::WrongPhase));
        job.tile(1, 1, &mut tile).unwrap();
        assert_eq!(tile, vec![4.0, 8.0]);
        assert_eq!(LoraJob::new(DType::F32, DType::F32, 0, 2, 2, Layout::Standard, Layout::Standard, 1.0).err(), Some(LoraError::BadParams));
    }
}
