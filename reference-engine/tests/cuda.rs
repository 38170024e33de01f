//! The CUDA backend. Kernel compilation needs only NVRTC (scripts/test.sh installs it from PyPI,
//! so CI compiles the kernels on a machine without a GPU); parity needs a GPU and says why it
//! skips when there is none.

use std::path::{Path, PathBuf};

use assay_reference_engine::{Device, Engine, HiddenSelection, cuda};

fn nvrtc_present() -> bool {
    // SAFETY: only tries to open the library.
    #[allow(unsafe_code)]
    unsafe {
        cudarc::nvrtc::sys::is_culib_present()
    }
}

#[test]
fn kernels_compile_with_nvrtc() {
    if !nvrtc_present() {
        println!("SKIPPED: libnvrtc is not on the library path (scripts/test.sh installs it)");
        return;
    }
    let ptx = cuda::compile_kernels().expect("kernels compile");
    let text = ptx.to_src();
    for kernel in ["embed", "rms_norm", "add_bias", "add", "silu_mul", "rope", "attention"] {
        assert!(text.contains(&format!(".entry {kernel}(")), "PTX lacks kernel {kernel}");
    }
}

fn gpu_available() -> Result<(), String> {
    cuda::libraries_present()?;
    let count = cudarc::driver::CudaContext::device_count().map_err(|e| format!("no CUDA device: {e:?}"))?;
    if count < 1 { Err("no CUDA device".into()) } else { Ok(()) }
}

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("expected.safetensors").exists())
        .collect();
    out.sort();
    out
}

fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum();
    let n: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    (d / n.max(1e-30)).sqrt()
}

/// bf16 compute on the GPU against the CPU engine (f32, itself within 1e-6 of transformers):
/// within the drift that transformers' own bf16 compute shows on these models (≤ 1.2e-2, see
/// tests/parity.rs), with margin.
const GPU_BF16_BOUND: f64 = 5e-2;

#[test]
fn gpu_hidden_states_match_the_cpu_reference() {
    if let Err(why) = gpu_available() {
        println!("SKIPPED: {why}");
        return;
    }
    for dir in fixtures() {
        let cpu = Engine::load(&dir).expect("cpu");
        let gpu = Engine::load_on(&dir, Device::Cuda(0)).expect("gpu");
        let tokens: Vec<u32> = (0..24).map(|i| (i * 37 % cpu.config().vocab_size) as u32).collect();
        let n = tokens.len();
        let a = cpu.teacher_forced(&tokens, &HiddenSelection::All, &[n - 1]).expect("cpu pass");
        let b = gpu.teacher_forced(&tokens, &HiddenSelection::All, &[n - 1]).expect("gpu pass");
        let h = cpu.config().hidden_size;
        let mut worst = 0.0f64;
        for (x, y) in b.hidden.chunks_exact(h).zip(a.hidden.chunks_exact(h)) {
            worst = worst.max(rel_l2(x, y));
        }
        println!("{}: {} bf16 against CPU f32, max rel-L2 {worst:.2e}", dir.display(), gpu.device());
        assert!(worst <= GPU_BF16_BOUND, "{}: {worst}", dir.display());
        assert!(rel_l2(&b.logits[0], &a.logits[0]) <= GPU_BF16_BOUND);
    }
}
