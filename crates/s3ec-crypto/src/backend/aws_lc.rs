//! The default backend: AWS-LC through `aws-lc-sys`.
//!
//! This is the ONLY module of the crate with `unsafe` code. Every call crosses into C; the
//! invariants that make each call sound are stated next to it. The patterns repeat:
//! - owned AWS-LC objects live in a `NonNull` newtype created from a checked non-null return
//!   and freed exactly once in `Drop` (so no use-after-free or double free);
//! - buffers are passed as `(ptr, len)` from live Rust slices, so C reads or writes exactly the
//!   bytes Rust owns, and lengths are checked to fit the C integer types first;
//! - in-place operations pass the same pointer as input and output, which AWS-LC documents as
//!   supported for EVP ciphers (only partial overlap is forbidden); out-of-place ones pass a
//!   `&[u8]` and a `&mut [u8]` of equal length, which Rust guarantees do not overlap.
#![allow(unsafe_code)]

use core::ffi::c_int;
use core::ptr::{self, NonNull};

use aws_lc_sys as sys;
use zeroize::Zeroizing;

use super::{Backend, Direction, Failed, GcmSegment, GcmStream, InPlace, OaepParams};

/// Largest chunk passed to one EVP update call (the C API takes `int` lengths).
const MAX_CHUNK: usize = 1 << 30;

fn check(rc: c_int) -> Result<(), Failed> {
    if rc == 1 {
        Ok(())
    } else {
        // SAFETY: ERR_clear_error only touches this thread's error queue; no pointers involved.
        unsafe { sys::ERR_clear_error() };
        Err(Failed)
    }
}

/// An owned `EVP_CIPHER_CTX`.
struct CipherCtx(NonNull<sys::EVP_CIPHER_CTX>);

// SAFETY: an EVP_CIPHER_CTX has no thread affinity; it is only reachable through this owner,
// which Rust's `&mut self` rules give to one thread at a time.
unsafe impl Send for CipherCtx {}

impl Drop for CipherCtx {
    fn drop(&mut self) {
        // SAFETY: the pointer came from EVP_CIPHER_CTX_new and is freed only here, once. The
        // free cleanses the key schedule.
        unsafe { sys::EVP_CIPHER_CTX_free(self.0.as_ptr()) }
    }
}

impl CipherCtx {
    /// Creates a context for `cipher` with `key` and `iv`, padding off.
    fn new(
        cipher: *const sys::EVP_CIPHER,
        key: &[u8],
        iv: Option<&[u8]>,
        dir: Direction,
    ) -> Result<Self, Failed> {
        if cipher.is_null() {
            return Err(Failed);
        }
        let mut ctx = Self::empty()?;
        ctx.init(cipher, Some(key), iv, dir)?;
        // SAFETY: ctx is initialised above; set_padding only flips a flag.
        check(unsafe { sys::EVP_CIPHER_CTX_set_padding(ctx.0.as_ptr(), 0) })?;
        Ok(ctx)
    }

    /// A context with no cipher yet.
    fn empty() -> Result<Self, Failed> {
        // SAFETY: EVP_CIPHER_CTX_new has no preconditions; null is handled.
        let ctx = NonNull::new(unsafe { sys::EVP_CIPHER_CTX_new() }).ok_or(Failed)?;
        Ok(Self(ctx))
    }

    /// EVP_{En,De}cryptInit_ex: a null `cipher` keeps the context's cipher (EVP refuses a context
    /// without one), an absent key or IV keeps the context's.
    fn init(
        &mut self,
        cipher: *const sys::EVP_CIPHER,
        key: Option<&[u8]>,
        iv: Option<&[u8]>,
        dir: Direction,
    ) -> Result<(), Failed> {
        // SAFETY: `cipher` is null or a static table from EVP_aes_*; the callers pass a key of that
        // cipher's key length and an IV of the context's IV length (12 for GCM unless set to 16 by
        // EVP_CTRL_GCM_SET_IVLEN first, 16 for CTR/CBC), or null, which EVP_*Init_ex reads and
        // copies before returning.
        let rc = unsafe {
            let keyp = key.map_or(ptr::null(), <[u8]>::as_ptr);
            let ivp = iv.map_or(ptr::null(), <[u8]>::as_ptr);
            match dir {
                Direction::Encrypt => {
                    sys::EVP_EncryptInit_ex(self.0.as_ptr(), cipher, ptr::null_mut(), keyp, ivp)
                }
                Direction::Decrypt => {
                    sys::EVP_DecryptInit_ex(self.0.as_ptr(), cipher, ptr::null_mut(), keyp, ivp)
                }
            }
        };
        check(rc)
    }

    /// One EVP update over `input` into `out` (which may be `input` itself). `out == None` feeds
    /// AAD to an AEAD.
    fn update_raw(
        &mut self,
        dir: Direction,
        out: *mut u8,
        input: *const u8,
        len: usize,
    ) -> Result<usize, Failed> {
        let in_len = c_int::try_from(len).map_err(|_| Failed)?;
        let mut out_len: c_int = 0;
        // SAFETY: `input` points to `len` readable bytes and `out` (when non-null) to `len`
        // writable bytes of live Rust buffers that are either the same buffer (in place) or two
        // disjoint borrows (`update_to`: a `&[u8]` and a `&mut [u8]` cannot overlap), as the
        // callers below guarantee; padding is off, so EVP writes at most `len` bytes (stream modes and
        // whole-block CBC/ECB write exactly `len`).
        let rc = unsafe {
            match dir {
                Direction::Encrypt => {
                    sys::EVP_EncryptUpdate(self.0.as_ptr(), out, &mut out_len, input, in_len)
                }
                Direction::Decrypt => {
                    sys::EVP_DecryptUpdate(self.0.as_ptr(), out, &mut out_len, input, in_len)
                }
            }
        };
        check(rc)?;
        usize::try_from(out_len).map_err(|_| Failed)
    }

    /// Transforms `buf` in place, chunked to fit `int` lengths.
    fn update_in_place(&mut self, dir: Direction, buf: &mut [u8]) -> Result<(), Failed> {
        for chunk in buf.chunks_mut(MAX_CHUNK) {
            let p = chunk.as_mut_ptr();
            let n = self.update_raw(dir, p, p, chunk.len())?;
            if n != chunk.len() {
                return Err(Failed);
            }
        }
        Ok(())
    }

    /// Transforms `src` into `dst` (equal lengths, disjoint: two Rust borrows), chunked to fit `int`
    /// lengths.
    fn update_to(&mut self, dir: Direction, src: &[u8], dst: &mut [u8]) -> Result<(), Failed> {
        if src.len() != dst.len() {
            return Err(Failed);
        }
        for (input, out) in src.chunks(MAX_CHUNK).zip(dst.chunks_mut(MAX_CHUNK)) {
            let n = self.update_raw(dir, out.as_mut_ptr(), input.as_ptr(), input.len())?;
            if n != input.len() {
                return Err(Failed);
            }
        }
        Ok(())
    }

    /// Writes straight into `dst`'s spare capacity: EVP only writes the output, so it need not be
    /// initialised first, and the zero-filling pass of the default version (a pass over memory as costly
    /// as the copy it replaces) is saved.
    fn update_append(
        &mut self,
        dir: Direction,
        src: &[u8],
        dst: &mut Vec<u8>,
    ) -> Result<(), Failed> {
        if dst.capacity() - dst.len() < src.len() {
            return Err(Failed);
        }
        for input in src.chunks(MAX_CHUNK) {
            let start = dst.len();
            let out = dst.spare_capacity_mut().as_mut_ptr().cast::<u8>();
            // `out` points to at least `input.len()` writable bytes (checked above, and each chunk
            // consumes exactly its length), allocated by `dst` and disjoint from `src` (a shared borrow
            // cannot alias the exclusive one of `dst`), as `update_raw` requires.
            let written = self.update_raw(dir, out, input.as_ptr(), input.len());
            if written != Ok(input.len()) {
                // Whatever EVP wrote before failing is unverified plaintext outside `dst`'s length.
                zeroize::Zeroize::zeroize(&mut dst.spare_capacity_mut()[..input.len()]);
                return Err(Failed);
            }
            // SAFETY: EVP_*Update reported writing exactly `input.len()` bytes at `out`, the start of the
            // spare capacity, so the first `start + input.len()` elements are initialised, and that is
            // within the capacity (checked above).
            unsafe { dst.set_len(start + input.len()) };
        }
        Ok(())
    }

    fn ctrl(&mut self, cmd: c_int, arg: c_int, data: *mut u8) -> Result<(), Failed> {
        // SAFETY: used only for GCM get/set tag, where `data` points to a live 16-byte buffer
        // and `arg` is 16, and for GCM set IV length, which reads no pointer.
        check(unsafe { sys::EVP_CIPHER_CTX_ctrl(self.0.as_ptr(), cmd, arg, data.cast()) })
    }

    /// Runs EVP_*Final_ex; with padding off and stream/whole-block input it writes nothing.
    fn finalize(&mut self, dir: Direction) -> Result<(), Failed> {
        let mut scratch = [0u8; 32];
        let mut out_len: c_int = 0;
        // SAFETY: `scratch` has room for a block; final writes at most one block.
        let rc = unsafe {
            match dir {
                Direction::Encrypt => {
                    sys::EVP_EncryptFinal_ex(self.0.as_ptr(), scratch.as_mut_ptr(), &mut out_len)
                }
                Direction::Decrypt => {
                    sys::EVP_DecryptFinal_ex(self.0.as_ptr(), scratch.as_mut_ptr(), &mut out_len)
                }
            }
        };
        check(rc)?;
        if out_len != 0 {
            return Err(Failed);
        }
        Ok(())
    }
}

fn gcm_cipher(key_len: usize) -> Result<*const sys::EVP_CIPHER, Failed> {
    // SAFETY: EVP_aes_*_gcm return pointers to static tables; no preconditions.
    Ok(unsafe {
        match key_len {
            16 => sys::EVP_aes_128_gcm(),
            24 => sys::EVP_aes_192_gcm(),
            32 => sys::EVP_aes_256_gcm(),
            _ => return Err(Failed),
        }
    })
}

fn ecb_cipher(key_len: usize) -> Result<*const sys::EVP_CIPHER, Failed> {
    // SAFETY: as above, static tables.
    Ok(unsafe {
        match key_len {
            16 => sys::EVP_aes_128_ecb(),
            24 => sys::EVP_aes_192_ecb(),
            32 => sys::EVP_aes_256_ecb(),
            _ => return Err(Failed),
        }
    })
}

/// Streaming AES-GCM over an EVP context.
pub(crate) struct Gcm {
    ctx: CipherCtx,
    dir: Direction,
}

impl Gcm {
    fn start(key: &[u8], iv: &[u8; 12], aad: &[u8], dir: Direction) -> Result<Self, Failed> {
        let mut ctx = CipherCtx::new(gcm_cipher(key.len())?, key, Some(iv), dir)?;
        if !aad.is_empty() {
            // A null output pointer makes EVP treat the input as AAD.
            ctx.update_raw(dir, ptr::null_mut(), aad.as_ptr(), aad.len())?;
        }
        Ok(Self { ctx, dir })
    }
}

impl GcmStream for Gcm {
    fn update(&mut self, buf: &mut [u8]) -> Result<(), Failed> {
        self.ctx.update_in_place(self.dir, buf)
    }

    fn update_to(&mut self, src: &[u8], dst: &mut [u8]) -> Result<(), Failed> {
        self.ctx.update_to(self.dir, src, dst)
    }

    /// Writes straight into `dst`'s spare capacity ([`CipherCtx::update_append`]).
    fn update_append(&mut self, src: &[u8], dst: &mut Vec<u8>) -> Result<(), Failed> {
        self.ctx.update_append(self.dir, src, dst)
    }

    fn finish_encrypt(mut self) -> Result<[u8; 16], Failed> {
        if self.dir != Direction::Encrypt {
            return Err(Failed);
        }
        self.ctx.finalize(Direction::Encrypt)?;
        let mut tag = [0u8; 16];
        self.ctx
            .ctrl(sys::EVP_CTRL_GCM_GET_TAG as c_int, 16, tag.as_mut_ptr())?;
        Ok(tag)
    }

    fn finish_decrypt(mut self, tag: &[u8; 16]) -> Result<(), Failed> {
        if self.dir != Direction::Decrypt {
            return Err(Failed);
        }
        let mut expected = *tag;
        self.ctx.ctrl(
            sys::EVP_CTRL_GCM_SET_TAG as c_int,
            16,
            expected.as_mut_ptr(),
        )?;
        // AWS-LC compares the tag in constant time inside EVP_DecryptFinal_ex.
        self.ctx.finalize(Direction::Decrypt)
    }
}

/// GCM over one segment of an object. EVP takes IVs, not counter blocks, so the segment engine
/// passes the 16-byte IV that GCM's IV hashing maps to the segment's pre-counter block; the
/// stream then runs AWS-LC's stitched AES-GCM (VAES/AVX-512, AVX, ...) from that block.
pub(crate) struct Segment {
    ctx: CipherCtx,
    dir: Direction,
}

impl Segment {
    fn start(key: &[u8; 32], iv16: &[u8; 16], dir: Direction) -> Result<Self, Failed> {
        let mut ctx = CipherCtx::empty()?;
        ctx.init(gcm_cipher(32)?, None, None, dir)?;
        ctx.ctrl(sys::EVP_CTRL_GCM_SET_IVLEN as c_int, 16, ptr::null_mut())?;
        ctx.init(ptr::null(), Some(key), Some(iv16), dir)?;
        Ok(Self { ctx, dir })
    }
}

impl GcmSegment for Segment {
    fn update(&mut self, buf: &mut [u8]) -> Result<(), Failed> {
        self.ctx.update_in_place(self.dir, buf)
    }

    fn update_append(&mut self, src: &[u8], dst: &mut Vec<u8>) -> Result<(), Failed> {
        self.ctx.update_append(self.dir, src, dst)
    }

    fn finish_tag(mut self) -> Result<[u8; 16], Failed> {
        if self.dir == Direction::Decrypt {
            // EVP only hands out the tag of an encryption. Re-initialising with no cipher, key or
            // IV only switches the direction (GCM's init returns at once without key and IV), so
            // the GHASH state (over the ciphertext, as decryption hashes its input) is kept and
            // finishing as an encryption yields its tag.
            self.ctx.init(ptr::null(), None, None, Direction::Encrypt)?;
        }
        self.ctx.finalize(Direction::Encrypt)?;
        let mut tag = [0u8; 16];
        self.ctx
            .ctrl(sys::EVP_CTRL_GCM_GET_TAG as c_int, 16, tag.as_mut_ptr())?;
        Ok(tag)
    }
}

/// AES-CTR or AES-CBC-decrypt over an EVP context.
pub(crate) struct Stream {
    ctx: CipherCtx,
    block_aligned: bool,
}

impl InPlace for Stream {
    fn apply(&mut self, buf: &mut [u8]) -> Result<(), Failed> {
        if self.block_aligned && buf.len() % 16 != 0 {
            return Err(Failed);
        }
        self.ctx.update_in_place(Direction::Decrypt, buf)
    }
}

/// An owned `EVP_PKEY` holding an RSA key.
pub(crate) struct Pkey(NonNull<sys::EVP_PKEY>);

// SAFETY: AWS-LC documents EVP_PKEY and RSA objects as safe for concurrent use once built:
// encrypt/decrypt only read the key, and the lazily built Montgomery/blinding state is guarded
// by the RSA object's own lock. Rust only ever gives out shared references after parsing.
unsafe impl Send for Pkey {}
// SAFETY: see the Send impl.
unsafe impl Sync for Pkey {}

impl Drop for Pkey {
    fn drop(&mut self) {
        // SAFETY: the pointer came from a successful EVP_PKEY constructor and is released only
        // here; freeing the last reference cleanses the private key.
        unsafe { sys::EVP_PKEY_free(self.0.as_ptr()) }
    }
}

impl Pkey {
    /// Parses one DER structure with `parse`, requiring that it consumes all input.
    fn parse_evp(
        der: &[u8],
        parse: unsafe extern "C" fn(*mut sys::CBS) -> *mut sys::EVP_PKEY,
    ) -> Option<Self> {
        let mut cbs = sys::CBS {
            data: ptr::null(),
            len: 0,
        };
        // SAFETY: CBS_init stores the pointer and length of `der`, which outlives `cbs`; the
        // parser reads within those bounds and advances `cbs`; the returned object owns its
        // own copy of the key.
        let pkey = unsafe {
            sys::CBS_init(&mut cbs, der.as_ptr(), der.len());
            parse(&mut cbs)
        };
        let pkey = Self(NonNull::new(pkey)?);
        // SAFETY: pkey is a valid EVP_PKEY; EVP_PKEY_id only reads its type.
        let is_rsa = unsafe { sys::EVP_PKEY_id(pkey.0.as_ptr()) } == sys::EVP_PKEY_RSA as c_int;
        (cbs.len == 0 && is_rsa).then_some(pkey)
    }

    /// Parses a PKCS#1 structure with `parse` and boxes the RSA in an EVP_PKEY.
    fn parse_rsa(
        der: &[u8],
        parse: unsafe extern "C" fn(*mut sys::CBS) -> *mut sys::RSA,
    ) -> Option<Self> {
        let mut cbs = sys::CBS {
            data: ptr::null(),
            len: 0,
        };
        // SAFETY: as in parse_evp.
        let rsa = unsafe {
            sys::CBS_init(&mut cbs, der.as_ptr(), der.len());
            parse(&mut cbs)
        };
        let rsa = NonNull::new(rsa)?;
        if cbs.len != 0 {
            // SAFETY: rsa is a valid RSA object we own and no longer use.
            unsafe { sys::RSA_free(rsa.as_ptr()) };
            return None;
        }
        Self::from_rsa(rsa)
    }

    /// Takes ownership of `rsa`.
    fn from_rsa(rsa: NonNull<sys::RSA>) -> Option<Self> {
        // SAFETY: EVP_PKEY_new has no preconditions.
        let Some(pkey) = NonNull::new(unsafe { sys::EVP_PKEY_new() }) else {
            // SAFETY: we own rsa and drop it here.
            unsafe { sys::RSA_free(rsa.as_ptr()) };
            return None;
        };
        let pkey = Self(pkey);
        // SAFETY: assign takes ownership of `rsa` on success; on failure we still own it.
        if unsafe { sys::EVP_PKEY_assign_RSA(pkey.0.as_ptr(), rsa.as_ptr()) } != 1 {
            // SAFETY: ownership stayed with us.
            unsafe { sys::RSA_free(rsa.as_ptr()) };
            return None;
        }
        Some(pkey)
    }

    /// Runs one EVP_PKEY encrypt or decrypt with the given padding setup.
    fn crypt(
        &self,
        dir: Direction,
        padding: c_int,
        oaep: Option<OaepParams>,
        input: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Failed> {
        // SAFETY: self.0 is a valid key; EVP_PKEY_CTX_new takes its own reference.
        let ctx = NonNull::new(unsafe { sys::EVP_PKEY_CTX_new(self.0.as_ptr(), ptr::null_mut()) })
            .ok_or(Failed)?;
        struct Ctx(NonNull<sys::EVP_PKEY_CTX>);
        impl Drop for Ctx {
            fn drop(&mut self) {
                // SAFETY: created above, freed once here.
                unsafe { sys::EVP_PKEY_CTX_free(self.0.as_ptr()) }
            }
        }
        let ctx = Ctx(ctx);
        let c = ctx.0.as_ptr();
        // SAFETY: `c` is a live context for an RSA key; the digest getters return static
        // tables; the setters only store them.
        unsafe {
            check(match dir {
                Direction::Encrypt => sys::EVP_PKEY_encrypt_init(c),
                Direction::Decrypt => sys::EVP_PKEY_decrypt_init(c),
            })?;
            check(sys::EVP_PKEY_CTX_set_rsa_padding(c, padding))?;
            if let Some(params) = oaep {
                let (md, mgf) = match params {
                    OaepParams::Sha1Mgf1Sha1 => (sys::EVP_sha1(), sys::EVP_sha1()),
                    OaepParams::Sha256Mgf1Sha1 => (sys::EVP_sha256(), sys::EVP_sha1()),
                    OaepParams::Sha256Mgf1Sha256 => (sys::EVP_sha256(), sys::EVP_sha256()),
                };
                check(sys::EVP_PKEY_CTX_set_rsa_oaep_md(c, md))?;
                check(sys::EVP_PKEY_CTX_set_rsa_mgf1_md(c, mgf))?;
            }
        }
        // SAFETY: self.0 is valid; EVP_PKEY_size reads the modulus length.
        let size =
            usize::try_from(unsafe { sys::EVP_PKEY_size(self.0.as_ptr()) }).map_err(|_| Failed)?;
        let mut out = Zeroizing::new(vec![0u8; size]);
        let mut out_len = out.len();
        // SAFETY: `out` has `out_len` writable bytes (the modulus size, the most RSA can
        // produce); `input` is a live slice; AWS-LC writes at most `out_len` and reports the
        // length it wrote.
        let rc = unsafe {
            match dir {
                Direction::Encrypt => sys::EVP_PKEY_encrypt(
                    c,
                    out.as_mut_ptr(),
                    &mut out_len,
                    input.as_ptr(),
                    input.len(),
                ),
                Direction::Decrypt => sys::EVP_PKEY_decrypt(
                    c,
                    out.as_mut_ptr(),
                    &mut out_len,
                    input.as_ptr(),
                    input.len(),
                ),
            }
        };
        check(rc)?;
        if out_len > out.len() {
            return Err(Failed);
        }
        out.truncate(out_len);
        Ok(out)
    }
}

/// Owns an `AES_KEY` and cleanses it on drop.
struct AesKey(sys::AES_KEY);

impl Drop for AesKey {
    fn drop(&mut self) {
        // SAFETY: cleanses exactly the bytes of the owned struct.
        unsafe {
            sys::OPENSSL_cleanse(
                (&mut self.0 as *mut sys::AES_KEY).cast(),
                core::mem::size_of::<sys::AES_KEY>(),
            )
        }
    }
}

impl AesKey {
    fn new(key: &[u8], encrypt: bool) -> Result<Self, Failed> {
        let bits = match key.len() {
            16 | 24 | 32 => (key.len() * 8) as u32,
            _ => return Err(Failed),
        };
        // SAFETY: AES_KEY is plain data (round keys and a count); all-zero is a valid value.
        let mut k = Self(unsafe { core::mem::zeroed() });
        // SAFETY: `key` holds bits/8 bytes; the schedule is written into the owned struct.
        let rc = unsafe {
            if encrypt {
                sys::AES_set_encrypt_key(key.as_ptr(), bits, &mut k.0)
            } else {
                sys::AES_set_decrypt_key(key.as_ptr(), bits, &mut k.0)
            }
        };
        if rc != 0 {
            return Err(Failed);
        }
        Ok(k)
    }
}

/// The AWS-LC backend.
pub(crate) struct AwsLc;

impl Backend for AwsLc {
    const NAME: &'static str = "aws-lc";
    const AVX512_GCM: bool = true;
    type Gcm = Gcm;
    type Ctr = Stream;
    type CbcDec = Stream;
    type GcmSegment = Segment;
    type RsaPublic = Pkey;
    type RsaPrivate = Pkey;

    fn gcm(key: &[u8; 32], iv: &[u8; 12], aad: &[u8], dir: Direction) -> Result<Gcm, Failed> {
        Gcm::start(key, iv, aad, dir)
    }

    fn gcm_seal(key: &[u8], iv: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> Result<[u8; 16], Failed> {
        let mut gcm = Gcm::start(key, iv, aad, Direction::Encrypt)?;
        gcm.update(buf)?;
        gcm.finish_encrypt()
    }

    fn gcm_open(
        key: &[u8],
        iv: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), Failed> {
        let mut gcm = Gcm::start(key, iv, aad, Direction::Decrypt)?;
        gcm.update(buf)?;
        gcm.finish_decrypt(tag)
    }

    fn ctr(key: &[u8; 32], counter_block: &[u8; 16]) -> Result<Stream, Failed> {
        // SAFETY: static table.
        let cipher = unsafe { sys::EVP_aes_256_ctr() };
        // Encrypt and decrypt are the same operation in CTR; "decrypt" keeps `apply` uniform.
        let ctx = CipherCtx::new(cipher, key, Some(counter_block), Direction::Decrypt)?;
        Ok(Stream {
            ctx,
            block_aligned: false,
        })
    }

    fn gcm_segment(
        key: &[u8; 32],
        _j0: &[u8; 16],
        iv16: &[u8; 16],
        dir: Direction,
    ) -> Result<Segment, Failed> {
        Segment::start(key, iv16, dir)
    }

    fn cbc_decryptor(key: &[u8; 32], iv: &[u8; 16]) -> Result<Stream, Failed> {
        // SAFETY: static table.
        let cipher = unsafe { sys::EVP_aes_256_cbc() };
        let ctx = CipherCtx::new(cipher, key, Some(iv), Direction::Decrypt)?;
        Ok(Stream {
            ctx,
            block_aligned: true,
        })
    }

    fn aes_ecb_decrypt(key: &[u8], buf: &mut [u8]) -> Result<(), Failed> {
        if buf.len() % 16 != 0 {
            return Err(Failed);
        }
        let mut ctx = CipherCtx::new(ecb_cipher(key.len())?, key, None, Direction::Decrypt)?;
        ctx.update_in_place(Direction::Decrypt, buf)
    }

    fn aes_kw_unwrap(kek: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, Failed> {
        if wrapped.len() < 24 || wrapped.len() % 8 != 0 {
            return Err(Failed);
        }
        let key = AesKey::new(kek, false)?;
        let mut out = Zeroizing::new(vec![0u8; wrapped.len() - 8]);
        // SAFETY: `out` has in_len - 8 writable bytes, as AES_unwrap_key requires; a null IV
        // selects the RFC 3394 default; `key` is a decryption schedule.
        let n = unsafe {
            sys::AES_unwrap_key(
                &key.0,
                ptr::null(),
                out.as_mut_ptr(),
                wrapped.as_ptr(),
                wrapped.len(),
            )
        };
        if usize::try_from(n).ok() != Some(out.len()) {
            return Err(Failed);
        }
        Ok(out)
    }

    fn aes_kw_wrap(kek: &[u8], key_data: &[u8]) -> Result<Vec<u8>, Failed> {
        if key_data.len() < 16 || key_data.len() % 8 != 0 {
            return Err(Failed);
        }
        let key = AesKey::new(kek, true)?;
        let mut out = vec![0u8; key_data.len() + 8];
        // SAFETY: `out` has in_len + 8 writable bytes, as AES_wrap_key requires.
        let n = unsafe {
            sys::AES_wrap_key(
                &key.0,
                ptr::null(),
                out.as_mut_ptr(),
                key_data.as_ptr(),
                key_data.len(),
            )
        };
        if usize::try_from(n).ok() != Some(out.len()) {
            return Err(Failed);
        }
        Ok(out)
    }

    fn hkdf_sha512(salt: &[u8], ikm: &[u8], info: &[u8], okm: &mut [u8]) -> Result<(), Failed> {
        // SAFETY: every pointer/length pair comes from a live slice; HKDF writes exactly
        // `okm.len()` bytes and fails (returns 0) when that exceeds 255 * 64.
        check(unsafe {
            sys::HKDF(
                okm.as_mut_ptr(),
                okm.len(),
                sys::EVP_sha512(),
                ikm.as_ptr(),
                ikm.len(),
                salt.as_ptr(),
                salt.len(),
                info.as_ptr(),
                info.len(),
            )
        })
    }

    fn rsa_private_from_der(der: &[u8]) -> Result<Pkey, Failed> {
        Pkey::parse_evp(der, sys::EVP_parse_private_key)
            .or_else(|| Pkey::parse_rsa(der, sys::RSA_parse_private_key))
            .ok_or(Failed)
    }

    fn rsa_public_from_der(der: &[u8]) -> Result<Pkey, Failed> {
        Pkey::parse_evp(der, sys::EVP_parse_public_key)
            .or_else(|| Pkey::parse_rsa(der, sys::RSA_parse_public_key))
            .ok_or(Failed)
    }

    fn rsa_public_of(key: &Pkey) -> Result<Pkey, Failed> {
        // SAFETY: key.0 is a valid RSA EVP_PKEY; get0 borrows its RSA without taking a
        // reference, and RSAPublicKey_dup returns a new object holding only n and e, which
        // from_rsa then owns.
        let public = unsafe {
            let rsa = sys::EVP_PKEY_get0_RSA(key.0.as_ptr());
            if rsa.is_null() {
                return Err(Failed);
            }
            sys::RSAPublicKey_dup(rsa)
        };
        Pkey::from_rsa(NonNull::new(public).ok_or(Failed)?).ok_or(Failed)
    }

    fn rsa_size(key: &Pkey) -> usize {
        // SAFETY: key.0 is a valid EVP_PKEY.
        usize::try_from(unsafe { sys::EVP_PKEY_size(key.0.as_ptr()) }).unwrap_or(0)
    }

    fn rsa_oaep_encrypt(key: &Pkey, params: OaepParams, msg: &[u8]) -> Result<Vec<u8>, Failed> {
        let out = key.crypt(
            Direction::Encrypt,
            sys::RSA_PKCS1_OAEP_PADDING as c_int,
            Some(params),
            msg,
        )?;
        Ok(out.to_vec())
    }

    fn rsa_oaep_decrypt(
        key: &Pkey,
        params: OaepParams,
        ct: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Failed> {
        key.crypt(
            Direction::Decrypt,
            sys::RSA_PKCS1_OAEP_PADDING as c_int,
            Some(params),
            ct,
        )
    }

    fn rsa_raw_decrypt(key: &Pkey, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, Failed> {
        let k = Self::rsa_size(key);
        if ct.len() != k {
            return Err(Failed);
        }
        let out = key.crypt(Direction::Decrypt, sys::RSA_NO_PADDING as c_int, None, ct)?;
        if out.len() != k {
            return Err(Failed);
        }
        Ok(out)
    }

    fn rsa_pkcs1_encrypt(key: &Pkey, msg: &[u8]) -> Result<Vec<u8>, Failed> {
        let out = key.crypt(
            Direction::Encrypt,
            sys::RSA_PKCS1_PADDING as c_int,
            None,
            msg,
        )?;
        Ok(out.to_vec())
    }
}
