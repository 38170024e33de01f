//! The CUDA backend. Kernel compilation needs only NVRTC (scripts/test.sh installs it from PyPI,
//! so CI compiles the kernels on a machine without a GPU); parity and host memory need a GPU and
//! say why they skip when there is none; the fallback without a GPU runs where there is none.

use std::path::{Path, PathBuf};

use assay_reference_engine::tiny::{self, TinySpec};
use assay_reference_engine::{DType, Device, Engine, HiddenSelection, cuda};

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

#[test]
fn without_a_gpu_cuda_fails_clearly_and_auto_runs_on_the_cpu() {
    if gpu_available().is_ok() {
        println!("SKIPPED: this machine has a GPU (the other tests here load on it)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    tiny::write(dir.path(), &TinySpec::default(), None).expect("writes");
    let message = Engine::load_on(dir.path(), Device::Cuda(0)).map(|_| ()).expect_err("no GPU here").to_string();
    println!("load_on(Cuda(0)) without a GPU: {message}");
    assert!(message.starts_with("cannot use cuda:0: "), "{message}");
    assert!(message.contains("not found") || message.contains("opening the device"), "{message}");

    let auto = Engine::load_on(dir.path(), Device::Auto).expect("Auto falls back to the CPU");
    assert_eq!(auto.device(), "cpu");
    assert!(auto.model().is_some());
    let cpu = Engine::load(dir.path()).expect("cpu");
    let tokens = [257, 117, 115, 101, 114, 10];
    let pass = |e: &Engine| e.teacher_forced(&tokens, &HiddenSelection::All, &[5]).expect("pass");
    assert_eq!(pass(&auto), pass(&cpu));
}

/// VmRSS of this process in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("a VmRSS line");
    let kb: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmRSS in kB");
    kb * 1024
}

#[test]
fn loading_on_cuda_keeps_no_f32_copy_in_host_memory() {
    if let Err(why) = gpu_available() {
        println!("SKIPPED: {why}");
        return;
    }
    // CUDA's own host memory (driver, context, cuBLAS, kernels) is paid once by a first engine,
    // so what the measured load adds is the weights' doing alone.
    let small = tempfile::tempdir().expect("tempdir");
    tiny::write(small.path(), &TinySpec::default(), None).expect("writes");
    let _warm = Engine::load_on(small.path(), Device::Cuda(0)).expect("gpu");

    // Two layers at Qwen2.5-7B's width in bf16: 0.70 billion values, 2.8 GB as f32.
    let spec = TinySpec {
        hidden: 3584,
        layers: 2,
        heads: 28,
        kv_heads: 4,
        intermediate: 18944,
        vocab: 32768,
        dtype: DType::BF16,
        ..TinySpec::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    tiny::write(dir.path(), &spec, None).expect("writes");
    let bf16_bytes = std::fs::metadata(dir.path().join("model.safetensors")).expect("weights").len();
    let f32_bytes = 2 * bf16_bytes;
    let before = resident_bytes();
    let gpu = Engine::load_on(dir.path(), Device::Cuda(0)).expect("gpu");
    let grown = resident_bytes().saturating_sub(before);
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    println!(
        "loading {:.2} GiB of bf16 weights on {}: resident memory grew {:.2} GiB (an f32 copy is {:.2} GiB)",
        gib(bf16_bytes),
        gpu.device(),
        gib(grown),
        gib(f32_bytes)
    );
    assert!(gpu.model().is_none(), "a CUDA engine holds no CPU model");
    assert!(grown < f32_bytes / 2, "grew {grown} bytes against an f32 copy of {f32_bytes}");
}
