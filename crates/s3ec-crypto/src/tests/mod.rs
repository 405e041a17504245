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
