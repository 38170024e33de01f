//! The CUDA backend: bf16 weights and activations on the GPU, cuBLAS bf16 GEMMs with f32
//! accumulation, and small kernels (`kernels.cu`) compiled at run time with NVRTC.
//!
//! cudarc loads the CUDA libraries dynamically, so this module builds everywhere and a machine
//! without CUDA only finds out at [`CudaModel::load`], which returns an error naming what is
//! missing (the engine then says so in one line and runs on the CPU).
//!
//! Scope: teacher-forced passes, which is what verification needs. The pass runs over the whole
//! sequence at once; generation on this backend recomputes the pass for each new token.

use std::sync::Arc;

use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::{CudaBlas, Gemm, GemmConfig};
use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};
use half::bf16;

use crate::weights::{Tensor, Weights};
use crate::{Config, Error, Result};

/// The kernels' source, for NVRTC.
pub const KERNELS: &str = include_str!("kernels.cu");

fn err(what: &str) -> impl Fn(&dyn std::fmt::Debug) -> Error + '_ {
    move |e| Error::Invalid(format!("cuda: {what}: {e:?}"))
}

/// Why CUDA cannot be used here, or `Ok` when the driver, cuBLAS and NVRTC libraries load.
pub fn libraries_present() -> std::result::Result<(), String> {
    // SAFETY: these only try to open the shared libraries; they call nothing in them.
    #[allow(unsafe_code)]
    let (driver, blas, nvrtc) = unsafe {
        (
            cudarc::driver::sys::is_culib_present(),
            cudarc::cublas::sys::is_culib_present(),
            cudarc::nvrtc::sys::is_culib_present(),
        )
    };
    match (driver, blas, nvrtc) {
        (true, true, true) => Ok(()),
        _ => Err(format!(
            "CUDA libraries not found (driver {}, cuBLAS {}, NVRTC {})",
            if driver { "ok" } else { "missing" },
            if blas { "ok" } else { "missing" },
            if nvrtc { "ok" } else { "missing" }
        )),
    }
}

/// Compiles the kernels to PTX (needs only NVRTC, no GPU).
pub fn compile_kernels() -> Result<cudarc::nvrtc::Ptx> {
    let opts = cudarc::nvrtc::CompileOptions {
        // Exact division and square roots, no flush-to-zero: the reference is not a race.
        ftz: Some(false),
        prec_div: Some(true),
        prec_sqrt: Some(true),
        fmad: Some(false),
        ..Default::default()
    };
    cudarc::nvrtc::compile_ptx_with_opts(KERNELS, opts)
        .map_err(|e| Error::Invalid(format!("cuda: compiling kernels: {e}")))
}

struct Kernels {
    embed: CudaFunction,
    rms_norm: CudaFunction,
    add_bias: CudaFunction,
    add: CudaFunction,
    silu_mul: CudaFunction,
    rope: CudaFunction,
    attention: CudaFunction,
}

struct DeviceLinear {
    weight: CudaSlice<bf16>,
    bias: Option<CudaSlice<bf16>>,
    out: usize,
    inp: usize,
}

struct DeviceLayer {
    input_norm: CudaSlice<bf16>,
    post_norm: CudaSlice<bf16>,
    q: DeviceLinear,
    k: DeviceLinear,
    v: DeviceLinear,
    o: DeviceLinear,
    gate: DeviceLinear,
    up: DeviceLinear,
    down: DeviceLinear,
}

pub struct CudaModel {
    config: Config,
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    kernels: Kernels,
    embed: CudaSlice<bf16>,
    lm_head: Option<CudaSlice<bf16>>,
    norm: CudaSlice<bf16>,
    inv_freq: CudaSlice<f32>,
    layers: Vec<DeviceLayer>,
    device_name: String,
}

fn elements(count: usize) -> LaunchConfig {
    LaunchConfig { grid_dim: (count.div_ceil(256) as u32, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 }
}

impl CudaModel {
    /// Uploads the model to GPU `ordinal` (weights converted to bf16).
    pub fn load(config: &Config, w: &Weights, ordinal: usize) -> Result<Self> {
        // Name the device in the error: it is what a user typed, and the first thing to check.
        let cannot = |why: String| Error::Invalid(format!("cannot use cuda:{ordinal}: {why}"));
        libraries_present().map_err(cannot)?;
        let ctx = CudaContext::new(ordinal).map_err(|e| cannot(format!("opening the device: {e:?}")))?;
        let device_name = ctx.name().unwrap_or_else(|_| "unknown GPU".into());
        let stream = ctx.default_stream();
        let blas = CudaBlas::new(stream.clone()).map_err(|e| err("cuBLAS")(&e))?;
        let module = ctx.load_module(compile_kernels()?).map_err(|e| err("loading kernels")(&e))?;
        let f = |name: &str| module.load_function(name).map_err(|e| err(name)(&e));
        let kernels = Kernels {
            embed: f("embed")?,
            rms_norm: f("rms_norm")?,
            add_bias: f("add_bias")?,
            add: f("add")?,
            silu_mul: f("silu_mul")?,
            rope: f("rope")?,
            attention: f("attention")?,
        };
        let upload = |t: &Tensor| -> Result<CudaSlice<bf16>> {
            let host: Vec<bf16> = t.to_bf16();
            stream.clone_htod(&host).map_err(|e| err(&t.name)(&e))
        };
        let c = config;
        let (h, q_dim, kv_dim) = (c.hidden_size, c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim);
        let linear = |prefix: &str, out: usize, inp: usize, bias: bool| -> Result<DeviceLinear> {
            let weight = upload(w.get(&format!("{prefix}.weight"), &[out, inp])?)?;
            let bias = if bias { Some(upload(w.get(&format!("{prefix}.bias"), &[out])?)?) } else { None };
            Ok(DeviceLinear { weight, bias, out, inp })
        };
        let mut layers = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let p = format!("model.layers.{i}");
            layers.push(DeviceLayer {
                input_norm: upload(w.get(&format!("{p}.input_layernorm.weight"), &[h])?)?,
                post_norm: upload(w.get(&format!("{p}.post_attention_layernorm.weight"), &[h])?)?,
                q: linear(&format!("{p}.self_attn.q_proj"), q_dim, h, true)?,
                k: linear(&format!("{p}.self_attn.k_proj"), kv_dim, h, true)?,
                v: linear(&format!("{p}.self_attn.v_proj"), kv_dim, h, true)?,
                o: linear(&format!("{p}.self_attn.o_proj"), h, q_dim, false)?,
                gate: linear(&format!("{p}.mlp.gate_proj"), c.intermediate_size, h, false)?,
                up: linear(&format!("{p}.mlp.up_proj"), c.intermediate_size, h, false)?,
                down: linear(&format!("{p}.mlp.down_proj"), h, c.intermediate_size, false)?,
            });
        }
        let embed = upload(w.get("model.embed_tokens.weight", &[c.vocab_size, h])?)?;
        let lm_head =
            if c.tie_word_embeddings { None } else { Some(upload(w.get("lm_head.weight", &[c.vocab_size, h])?)?) };
        let inv_freq =
            stream.clone_htod(&crate::cpu::inv_freq(c.rope_theta, c.head_dim)).map_err(|e| err("inv_freq")(&e))?;
        let norm = upload(w.get("model.norm.weight", &[h])?)?;
        Ok(Self { config: c.clone(), stream, blas, kernels, embed, lm_head, norm, inv_freq, layers, device_name })
    }

    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    fn alloc(&self, len: usize) -> Result<CudaSlice<bf16>> {
        self.stream.alloc_zeros::<bf16>(len.max(1)).map_err(|e| err("allocating")(&e))
    }

    /// `y[rows, out] = x[rows, inp] · wᵀ (+ bias)`: cuBLAS column-major with `transa = T`.
    fn linear(&self, l: &DeviceLinear, x: &CudaSlice<bf16>, rows: usize, y: &mut CudaSlice<bf16>) -> Result<()> {
        let cfg = GemmConfig {
            transa: cublasOperation_t::CUBLAS_OP_T,
            transb: cublasOperation_t::CUBLAS_OP_N,
            m: l.out as i32,
            n: rows as i32,
            k: l.inp as i32,
            alpha: bf16::ONE,
            lda: l.inp as i32,
            ldb: l.inp as i32,
            beta: bf16::ZERO,
            ldc: l.out as i32,
        };
        // SAFETY: w is [out, inp], x holds at least rows × inp values and y rows × out, as the
        // callers allocate them from the same config.
        #[allow(unsafe_code)]
        unsafe { self.blas.gemm(cfg, &l.weight, x, y) }.map_err(|e| err("gemm")(&e))?;
        if let Some(bias) = &l.bias {
            let count = (rows * l.out) as i32;
            let (out, stream) = (l.out as i32, &self.stream);
            let mut b = stream.launch_builder(&self.kernels.add_bias);
            b.arg(y).arg(bias).arg(&count).arg(&out);
            // SAFETY: the kernel reads and writes `count` elements of y and `out` of bias.
            #[allow(unsafe_code)]
            unsafe { b.launch(elements(rows * l.out)) }.map_err(|e| err("add_bias")(&e))?;
        }
        Ok(())
    }

    fn rms_norm(&self, x: &CudaSlice<bf16>, w: &CudaSlice<bf16>, rows: usize, out: &mut CudaSlice<bf16>) -> Result<()> {
        let (h, eps) = (self.config.hidden_size as i32, self.config.rms_norm_eps as f32);
        let mut b = self.stream.launch_builder(&self.kernels.rms_norm);
        b.arg(x).arg(w).arg(out).arg(&h).arg(&eps);
        let cfg = LaunchConfig { grid_dim: (rows as u32, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: one block per row of `h` values; x and out hold rows × h.
        #[allow(unsafe_code)]
        unsafe { b.launch(cfg) }.map_err(|e| err("rms_norm")(&e))?;
        Ok(())
    }

    fn elementwise(&self, f: &CudaFunction, x: &mut CudaSlice<bf16>, y: &CudaSlice<bf16>, count: usize) -> Result<()> {
        let n = count as i32;
        let mut b = self.stream.launch_builder(f);
        b.arg(x).arg(y).arg(&n);
        // SAFETY: both buffers hold at least `count` values.
        #[allow(unsafe_code)]
        unsafe { b.launch(elements(count)) }.map_err(|e| err("elementwise")(&e))?;
        Ok(())
    }

    fn rope(&self, x: &mut CudaSlice<bf16>, rows: usize, heads: usize) -> Result<()> {
        let (heads_i, hd, start) = (heads as i32, self.config.head_dim as i32, 0i32);
        let mut b = self.stream.launch_builder(&self.kernels.rope);
        b.arg(x).arg(&self.inv_freq).arg(&heads_i).arg(&hd).arg(&start);
        let cfg = LaunchConfig { grid_dim: (rows as u32, heads as u32, 1), block_dim: (64, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: x holds rows × heads × head_dim values; inv_freq head_dim / 2.
        #[allow(unsafe_code)]
        unsafe { b.launch(cfg) }.map_err(|e| err("rope")(&e))?;
        Ok(())
    }

    fn to_host(&self, x: &CudaSlice<bf16>, len: usize) -> Result<Vec<f32>> {
        let host = self.stream.clone_dtoh(x).map_err(|e| err("copying back")(&e))?;
        Ok(host[..len].iter().map(|v| v.to_f32()).collect())
    }

    /// One teacher-forced pass from position 0. `on_hidden(index, states)` receives hidden state
    /// `index` as `[tokens, hidden]` f32 when `wants(index)`; returns the logits of `logit_rows`.
    pub fn forward(
        &self,
        tokens: &[u32],
        wants: &dyn Fn(usize) -> bool,
        on_hidden: &mut dyn FnMut(usize, &[f32]),
        logit_rows: &[usize],
    ) -> Result<Vec<Vec<f32>>> {
        let c = &self.config;
        let (n, h, hd) = (tokens.len(), c.hidden_size, c.head_dim);
        let (q_dim, kv_dim, inter) = (c.num_heads * hd, c.num_kv_heads * hd, c.intermediate_size);
        let ids = self.stream.clone_htod(tokens).map_err(|e| err("token ids")(&e))?;
        let mut x = self.alloc(n * h)?;
        let mut normed = self.alloc(n * h)?;
        let mut q = self.alloc(n * q_dim)?;
        let mut k = self.alloc(n * kv_dim)?;
        let mut v = self.alloc(n * kv_dim)?;
        let mut attn = self.alloc(n * q_dim)?;
        let mut proj = self.alloc(n * h)?;
        let mut gate = self.alloc(n * inter)?;
        let mut up = self.alloc(n * inter)?;

        let h_i = h as i32;
        let mut b = self.stream.launch_builder(&self.kernels.embed);
        b.arg(&self.embed).arg(&ids).arg(&mut x).arg(&h_i);
        let cfg = LaunchConfig { grid_dim: (n as u32, 1, 1), block_dim: (128, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: ids are checked against the vocabulary by the caller; x holds n × h.
        #[allow(unsafe_code)]
        unsafe { b.launch(cfg) }.map_err(|e| err("embed")(&e))?;
        if wants(0) {
            on_hidden(0, &self.to_host(&x, n * h)?);
        }

        let scale = (hd as f64).powf(-0.5) as f32;
        for (li, layer) in self.layers.iter().enumerate() {
            self.rms_norm(&x, &layer.input_norm, n, &mut normed)?;
            self.linear(&layer.q, &normed, n, &mut q)?;
            self.linear(&layer.k, &normed, n, &mut k)?;
            self.linear(&layer.v, &normed, n, &mut v)?;
            self.rope(&mut q, n, c.num_heads)?;
            self.rope(&mut k, n, c.num_kv_heads)?;
            let (start, heads, kv_heads, hd_i) = (0i32, c.num_heads as i32, c.num_kv_heads as i32, hd as i32);
            let mut b = self.stream.launch_builder(&self.kernels.attention);
            b.arg(&q).arg(&k).arg(&v).arg(&mut attn).arg(&start).arg(&heads).arg(&kv_heads).arg(&hd_i).arg(&scale);
            let cfg = LaunchConfig {
                grid_dim: (n as u32, c.num_heads as u32, 1),
                block_dim: (128, 1, 1),
                shared_mem_bytes: (n * 4) as u32,
            };
            // SAFETY: q, k, v hold n rows of their widths; the shared memory holds n scores.
            #[allow(unsafe_code)]
            unsafe { b.launch(cfg) }.map_err(|e| err("attention")(&e))?;
            self.linear(&layer.o, &attn, n, &mut proj)?;
            self.elementwise(&self.kernels.add, &mut x, &proj, n * h)?;
            self.rms_norm(&x, &layer.post_norm, n, &mut normed)?;
            self.linear(&layer.gate, &normed, n, &mut gate)?;
            self.linear(&layer.up, &normed, n, &mut up)?;
            self.elementwise(&self.kernels.silu_mul, &mut gate, &up, n * inter)?;
            self.linear(&layer.down, &gate, n, &mut proj)?;
            self.elementwise(&self.kernels.add, &mut x, &proj, n * h)?;
            if li + 1 < self.layers.len() && wants(li + 1) {
                on_hidden(li + 1, &self.to_host(&x, n * h)?);
            }
        }
        self.rms_norm(&x, &self.norm, n, &mut normed)?;
        if wants(c.num_layers) {
            on_hidden(c.num_layers, &self.to_host(&normed, n * h)?);
        }
        if logit_rows.is_empty() {
            return Ok(Vec::new());
        }
        let head = DeviceLinear {
            weight: match &self.lm_head {
                Some(w) => w.clone(),
                None => self.embed.clone(),
            },
            bias: None,
            out: c.vocab_size,
            inp: h,
        };
        let mut logits = self.alloc(n * c.vocab_size)?;
        self.linear(&head, &normed, n, &mut logits)?;
        let all = self.to_host(&logits, n * c.vocab_size)?;
        Ok(logit_rows.iter().map(|&r| all[r * c.vocab_size..(r + 1) * c.vocab_size].to_vec()).collect())
    }
}
