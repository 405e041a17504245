//! Which AES-256-GCM code runs content streams and segments on this CPU: a value chosen once per
//! process by a pure function of the CPU's features, then carried by every engine it starts.
//!
//! AWS-LC's GCM uses 512-bit vectors where AVX-512 exists and 128-bit AES-NI/CLMUL otherwise; on
//! CPUs with 256-bit VAES and VPCLMULQDQ but no AVX-512 (AMD Zen 3 class) s3ec's own kernel
//! (`vaes_gcm`) runs at about twice that speed. Everything else (key wrapping, CTR, CBC, HKDF)
//! stays with the compiled-in library.

use std::sync::OnceLock;

use super::{Active, Backend, Direction, Failed, GcmSegment, GcmStream};

#[cfg(s3ec_vaes_kernel)]
use super::vaes_gcm;

/// An AES-256-GCM implementation for content streams and segments.
///
/// ```
/// use s3ec_crypto::GcmKernel;
/// // The choice for this CPU, and every kernel it can run (the library's always).
/// let chosen = GcmKernel::selected();
/// assert!(GcmKernel::available().contains(&chosen));
/// println!("content GCM runs on {}", chosen.name());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcmKernel {
    /// The compiled-in library's GCM (AWS-LC, or RustCrypto `aes-gcm` parts).
    Library,
    /// s3ec's x86-64 kernel on 256-bit vectors: AES with VAES, GHASH with VPCLMULQDQ, stitched.
    VaesAvx2,
}

/// The CPU features the choice depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CpuOffer {
    /// AVX2, AES-NI, PCLMULQDQ, VAES and VPCLMULQDQ: the kernel can run.
    pub(crate) vaes_avx2: bool,
    /// The compiled-in library has a GCM on wider vectors for this CPU (AWS-LC with AVX-512).
    pub(crate) library_wide: bool,
}

impl CpuOffer {
    fn detect() -> CpuOffer {
        #[cfg(s3ec_vaes_kernel)]
        {
            let avx512 = std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bw")
                && std::is_x86_feature_detected!("avx512vl")
                && std::is_x86_feature_detected!("vaes")
                && std::is_x86_feature_detected!("vpclmulqdq");
            CpuOffer {
                vaes_avx2: vaes_gcm::Cpu::detect().is_some(),
                library_wide: avx512 && <Active as Backend>::AVX512_GCM,
            }
        }
        #[cfg(not(s3ec_vaes_kernel))]
        CpuOffer {
            vaes_avx2: false,
            library_wide: false,
        }
    }
}

/// The fastest kernel for `cpu`: the library's wide GCM where it has one, else ours where it
/// runs, else the library's.
pub(crate) fn choose(cpu: CpuOffer) -> GcmKernel {
    if cpu.vaes_avx2 && !cpu.library_wide {
        GcmKernel::VaesAvx2
    } else {
        GcmKernel::Library
    }
}

static CHOICE: OnceLock<GcmKernel> = OnceLock::new();

#[cfg(any(test, feature = "test-util"))]
thread_local! {
    static FORCED: core::cell::Cell<Option<GcmKernel>> = const { core::cell::Cell::new(None) };
}

impl GcmKernel {
    /// The kernel that engines started now use: chosen once per process from the CPU's features.
    pub fn selected() -> GcmKernel {
        #[cfg(any(test, feature = "test-util"))]
        if let Some(forced) = FORCED.with(|f| f.get()) {
            return forced;
        }
        *CHOICE.get_or_init(|| {
            #[cfg(any(test, feature = "test-util"))]
            if let Some(k) = std::env::var("S3EC_GCM_KERNEL")
                .ok()
                .and_then(|v| GcmKernel::available().into_iter().find(|k| k.name() == v))
            {
                return k;
            }
            choose(CpuOffer::detect())
        })
    }

    /// Every kernel this CPU can run, the library's first.
    pub fn available() -> Vec<GcmKernel> {
        let mut all = vec![GcmKernel::Library];
        if CpuOffer::detect().vaes_avx2 {
            all.push(GcmKernel::VaesAvx2);
        }
        all
    }

    /// A short name for reports: `library` or `vaes-avx2` (also the values of the
    /// `S3EC_GCM_KERNEL` variable that test builds honour).
    pub fn name(self) -> &'static str {
        match self {
            GcmKernel::Library => "library",
            GcmKernel::VaesAvx2 => "vaes-avx2",
        }
    }

    /// Runs `f` with engines started on this thread using `self` (tests and benchmarks).
    /// `None` if this CPU cannot run `self`.
    #[cfg(any(test, feature = "test-util"))]
    pub(crate) fn forced<R>(self, f: impl FnOnce() -> R) -> Option<R> {
        struct Restore(Option<GcmKernel>);
        impl Drop for Restore {
            fn drop(&mut self) {
                FORCED.with(|c| c.set(self.0));
            }
        }
        if !GcmKernel::available().contains(&self) {
            return None;
        }
        let _restore = Restore(FORCED.with(|c| c.replace(Some(self))));
        Some(f())
    }
}

/// A streaming GCM of either kernel.
pub(crate) enum Gcm {
    Library(<Active as Backend>::Gcm),
    #[cfg(s3ec_vaes_kernel)]
    VaesAvx2(Box<vaes_gcm::Gcm>),
}

/// Starts streaming AES-256-GCM on `kernel` (the library's if this CPU cannot run it).
pub(crate) fn gcm(
    kernel: GcmKernel,
    key: &[u8; 32],
    iv: &[u8; 12],
    aad: &[u8],
    dir: Direction,
) -> Result<Gcm, Failed> {
    #[cfg(s3ec_vaes_kernel)]
    if kernel == GcmKernel::VaesAvx2 {
        if let Some(cpu) = vaes_gcm::Cpu::detect() {
            return Ok(Gcm::VaesAvx2(Box::new(vaes_gcm::Gcm::new(
                cpu, key, iv, aad, dir,
            ))));
        }
    }
    let _ = kernel;
    Active::gcm(key, iv, aad, dir).map(Gcm::Library)
}

impl GcmStream for Gcm {
    fn update(&mut self, buf: &mut [u8]) -> Result<(), Failed> {
        match self {
            Gcm::Library(g) => g.update(buf),
            #[cfg(s3ec_vaes_kernel)]
            Gcm::VaesAvx2(g) => GcmStream::update(&mut **g, buf),
        }
    }

    fn update_to(&mut self, src: &[u8], dst: &mut [u8]) -> Result<(), Failed> {
        match self {
            Gcm::Library(g) => g.update_to(src, dst),
            #[cfg(s3ec_vaes_kernel)]
            Gcm::VaesAvx2(g) => g.update_to(src, dst),
        }
    }

    fn update_append(&mut self, src: &[u8], dst: &mut Vec<u8>) -> Result<(), Failed> {
        match self {
            Gcm::Library(g) => GcmStream::update_append(g, src, dst),
            #[cfg(s3ec_vaes_kernel)]
            Gcm::VaesAvx2(g) => GcmStream::update_append(&mut **g, src, dst),
        }
    }

    fn finish_encrypt(self) -> Result<[u8; 16], Failed> {
        match self {
            Gcm::Library(g) => g.finish_encrypt(),
            #[cfg(s3ec_vaes_kernel)]
            Gcm::VaesAvx2(g) => (*g).finish_encrypt(),
        }
    }

    fn finish_decrypt(self, tag: &[u8; 16]) -> Result<(), Failed> {
        match self {
            Gcm::Library(g) => g.finish_decrypt(tag),
            #[cfg(s3ec_vaes_kernel)]
            Gcm::VaesAvx2(g) => (*g).finish_decrypt(tag),
        }
    }
}

/// GCM over one segment, on either kernel.
pub(crate) enum Segment {
    Library(<Active as Backend>::GcmSegment),
    #[cfg(s3ec_vaes_kernel)]
    VaesAvx2(Box<vaes_gcm::Gcm>),
}

/// Starts a segment's GCM from pre-counter block `j0` on `kernel` (`iv16` for the library, as
/// in [`Backend::gcm_segment`]).
pub(crate) fn gcm_segment(
    kernel: GcmKernel,
    key: &[u8; 32],
    j0: &[u8; 16],
    iv16: &[u8; 16],
    dir: Direction,
) -> Result<Segment, Failed> {
    #[cfg(s3ec_vaes_kernel)]
    if kernel == GcmKernel::VaesAvx2 {
        if let Some(cpu) = vaes_gcm::Cpu::detect() {
            return Ok(Segment::VaesAvx2(Box::new(vaes_gcm::Gcm::from_j0(
                cpu, key, j0, dir,
            ))));
        }
    }
    let _ = kernel;
    Active::gcm_segment(key, j0, iv16, dir).map(Segment::Library)
}

impl GcmSegment for Segment {
    fn update(&mut self, buf: &mut [u8]) -> Result<(), Failed> {
        match self {
            Segment::Library(g) => g.update(buf),
            #[cfg(s3ec_vaes_kernel)]
            Segment::VaesAvx2(g) => GcmSegment::update(&mut **g, buf),
        }
    }

    fn update_append(&mut self, src: &[u8], dst: &mut Vec<u8>) -> Result<(), Failed> {
        match self {
            Segment::Library(g) => GcmSegment::update_append(g, src, dst),
            #[cfg(s3ec_vaes_kernel)]
            Segment::VaesAvx2(g) => GcmSegment::update_append(&mut **g, src, dst),
        }
    }

    fn finish_tag(self) -> Result<[u8; 16], Failed> {
        match self {
            Segment::Library(g) => g.finish_tag(),
            #[cfg(s3ec_vaes_kernel)]
            Segment::VaesAvx2(g) => (*g).finish_tag(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice_keeps_a_wide_library_and_takes_the_kernel_only_where_it_runs() {
        let offer = |vaes_avx2, library_wide| CpuOffer {
            vaes_avx2,
            library_wide,
        };
        assert_eq!(choose(offer(true, false)), GcmKernel::VaesAvx2);
        assert_eq!(choose(offer(true, true)), GcmKernel::Library);
        assert_eq!(choose(offer(false, false)), GcmKernel::Library);
        assert_eq!(choose(offer(false, true)), GcmKernel::Library);
    }

    #[test]
    fn forcing_applies_to_this_thread_only_and_is_undone() {
        let before = GcmKernel::selected();
        for k in GcmKernel::available() {
            let inside = k.forced(|| {
                let other = std::thread::spawn(GcmKernel::selected).join().unwrap();
                (GcmKernel::selected(), other)
            });
            assert_eq!(inside, Some((k, before)));
            assert_eq!(GcmKernel::selected(), before);
        }
    }

    #[cfg(s3ec_vaes_kernel)]
    #[test]
    fn the_kernel_is_available_exactly_when_the_cpu_has_its_features() {
        let has = std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("aes")
            && std::is_x86_feature_detected!("pclmulqdq")
            && std::is_x86_feature_detected!("vaes")
            && std::is_x86_feature_detected!("vpclmulqdq");
        assert_eq!(GcmKernel::available().contains(&GcmKernel::VaesAvx2), has);
        if !has {
            assert_eq!(GcmKernel::VaesAvx2.forced(|| ()), None);
        }
    }
}
