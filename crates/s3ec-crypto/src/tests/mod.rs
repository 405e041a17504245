//! Unit tests that run against the compiled-in backend (CI runs them once per backend).

mod engines;
mod kernels;
mod mutants;
mod out_of_place;
mod segments;
mod vectors;
mod wycheproof_vectors;

/// Runs `check` once on every GCM kernel this CPU can run (engines started inside use it).
fn each_kernel(check: impl Fn()) {
    for kernel in crate::GcmKernel::available() {
        kernel
            .forced(&check)
            .expect("an available kernel can be forced");
    }
}

/// Splits `0..len` into consecutive pieces of the given sizes (cycled), each at least 1.
fn pieces(len: usize, sizes: &[usize]) -> Vec<core::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut at = 0;
    for &s in sizes.iter().cycle() {
        if at >= len {
            break;
        }
        let end = (at + s.max(1)).min(len);
        out.push(at..end);
        at = end;
    }
    out
}
