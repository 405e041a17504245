//! Sets `s3ec_vaes_kernel` where the VAES/VPCLMULQDQ GCM kernel can be compiled: x86-64 with a
//! compiler that has the `vaes` and `vpclmulqdq` target features and their 256-bit intrinsics
//! (stable since Rust 1.89). Older compilers, down to the crate's MSRV, build without it and run
//! the library's GCM everywhere.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(s3ec_vaes_kernel)");
    let x86_64 = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|a| a == "x86_64");
    if x86_64 && autocfg::new().probe_rustc_version(1, 89) {
        println!("cargo::rustc-cfg=s3ec_vaes_kernel");
    }
}
