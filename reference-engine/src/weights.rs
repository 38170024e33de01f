//! Safetensors checkpoints, memory-mapped: one `model.safetensors`, or shards listed by
//! `model.safetensors.index.json` (as Qwen2.5-7B ships). Tensors stay in the file's dtype
//! (f32, bf16 or f16) until a backend converts them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    BF16,
    F16,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::BF16 | DType::F16 => 2,
        }
    }
}

/// One tensor of a mapped file.
#[derive(Clone)]
pub struct Tensor {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    file: Arc<Mmap>,
    start: usize,
    end: usize,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor({} {:?} {:?})", self.name, self.dtype, self.shape)
    }
}

impl Tensor {
    pub fn bytes(&self) -> &[u8] {
        &self.file[self.start..self.end]
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as f32, without a copy when the file holds aligned f32.
    pub fn f32_view(&self) -> Option<&[f32]> {
        match self.dtype {
            DType::F32 => bytemuck::try_cast_slice(self.bytes()).ok(),
            _ => None,
        }
    }

    /// Converts `range` of the values (in elements) to f32 into `out`.
    pub fn convert_range(&self, range: std::ops::Range<usize>, out: &mut [f32]) {
        let size = self.dtype.size();
        let bytes = &self.bytes()[range.start * size..range.end * size];
        match self.dtype {
            DType::F32 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                    *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
            DType::BF16 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16);
                }
            }
            DType::F16 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
                }
            }
        }
    }

    /// All values as f32 (a copy).
    pub fn to_f32(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.len()];
        self.convert_range(0..self.len(), &mut out);
        out
    }

    /// All values as bf16 (a copy), for the GPU. bf16 values are copied bit for bit; others go
    /// through f32 a slice at a time (round to nearest even, as before), so loading never holds an
    /// f32 copy of a whole tensor (the embedding of a 7B model is 2.2 GB in f32).
    pub fn to_bf16(&self) -> Vec<half::bf16> {
        if self.dtype == DType::BF16 {
            return self
                .bytes()
                .chunks_exact(2)
                .map(|b| half::bf16::from_bits(u16::from_le_bytes([b[0], b[1]])))
                .collect();
        }
        const SLICE: usize = 1 << 16;
        let mut out = Vec::with_capacity(self.len());
        let mut buffer = vec![0.0f32; SLICE.min(self.len())];
        for start in (0..self.len()).step_by(SLICE) {
            let end = (start + SLICE).min(self.len());
            let part = &mut buffer[..end - start];
            self.convert_range(start..end, part);
            out.extend(part.iter().map(|v| half::bf16::from_f32(*v)));
        }
        out
    }
}

#[derive(Deserialize)]
struct Index {
    weight_map: HashMap<String, String>,
}

/// Every tensor of a checkpoint, by name.
pub struct Weights {
    tensors: HashMap<String, Tensor>,
}

fn map(path: &Path) -> Result<Arc<Mmap>> {
    let file = std::fs::File::open(path).map_err(Error::io(format!("opening {}", path.display())))?;
    // SAFETY: the file is mapped read-only. Like every memory-mapped checkpoint loader, this
    // assumes nobody rewrites the file while the model is loaded; bounds come from the
    // safetensors header, which `SafeTensors::deserialize` validates against the file length.
    #[allow(unsafe_code)]
    let mmap = unsafe { Mmap::map(&file) }.map_err(Error::io(format!("mapping {}", path.display())))?;
    Ok(Arc::new(mmap))
}

impl Weights {
    /// Opens the checkpoint in `dir`: the sharded index if there is one, else `model.safetensors`.
    pub fn open(dir: &Path) -> Result<Self> {
        let index = dir.join("model.safetensors.index.json");
        let files: Vec<PathBuf> = if index.exists() {
            let text = std::fs::read_to_string(&index).map_err(Error::io(format!("reading {}", index.display())))?;
            let parsed: Index = serde_json::from_str(&text)
                .map_err(|e| Error::Weights { path: index.display().to_string(), reason: e.to_string() })?;
            let mut names: Vec<&String> = parsed.weight_map.values().collect();
            names.sort();
            names.dedup();
            names.into_iter().map(|n| dir.join(n)).collect()
        } else {
            vec![dir.join("model.safetensors")]
        };
        let mut tensors = HashMap::new();
        for path in files {
            let mmap = map(&path)?;
            let shown = path.display().to_string();
            let parsed = SafeTensors::deserialize(&mmap)
                .map_err(|e| Error::Weights { path: shown.clone(), reason: e.to_string() })?;
            let base = mmap.as_ptr() as usize;
            for (name, view) in parsed.tensors() {
                let dtype = match view.dtype() {
                    Dtype::F32 => DType::F32,
                    Dtype::BF16 => DType::BF16,
                    Dtype::F16 => DType::F16,
                    other => {
                        return Err(Error::Tensor {
                            name,
                            reason: format!("dtype {other:?} is not supported (f32, bf16, f16)"),
                        });
                    }
                };
                let start = view.data().as_ptr() as usize - base;
                let end = start + view.data().len();
                let tensor =
                    Tensor { name: name.clone(), dtype, shape: view.shape().to_vec(), file: mmap.clone(), start, end };
                if tensors.insert(name.clone(), tensor).is_some() {
                    return Err(Error::Weights { path: shown, reason: format!("tensor {name} appears in two files") });
                }
            }
        }
        Ok(Self { tensors })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The tensor `name`, which must have exactly `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<&Tensor> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| Error::Tensor { name: name.into(), reason: "missing from the checkpoint".into() })?;
        if t.shape != shape {
            return Err(Error::Tensor {
                name: name.into(),
                reason: format!("shape {:?}, expected {shape:?}", t.shape),
            });
        }
        Ok(t)
    }
}
