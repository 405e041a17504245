//! The pure-Rust backend: RustCrypto crates, no C compiler needed.
//!
//! Streaming GCM is assembled from `aes` + `ctr` (32-bit big-endian counter) + `ghash`, as in
//! NIST SP 800-38D; the tests check it against the one-shot `aes-gcm` crate and Wycheproof.

use aes::cipher::array::Array;
use aes::cipher::inout::InOutBuf;
use aes::cipher::{
    BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, KeyInit, KeyIvInit, StreamCipher,
};
use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::AeadInOut;
use aes_gcm::AesGcm;
use ghash::universal_hash::UniversalHash;
use ghash::GHash;
use rsa::traits::PublicKeyParts;
use rsa::{BoxedUint, Oaep, PrivateKey, PublicKey};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::{Backend, Direction, Failed, GcmSegment, GcmStream, InPlace, OaepParams};

type Ctr32 = ctr::Ctr32BE<Aes256>;

/// Streaming AES-256-GCM.
pub(crate) struct Gcm {
    ctr: Ctr32,
    ghash: GHash,
    /// Ciphertext bytes not yet hashed (less than one block).
    pending: [u8; 16],
    pending_len: usize,
    /// E_K(J0), XORed into the final GHASH to form the tag.
    ek_j0: Zeroizing<[u8; 16]>,
    aad_len: u64,
    ct_len: u64,
    dir: Direction,
}

impl Gcm {
    fn start(key: &[u8; 32], iv: &[u8; 12], aad: &[u8], dir: Direction) -> Self {
        let mut j0 = [0u8; 16];
        j0[..12].copy_from_slice(iv);
        j0[15] = 1;
        Self::from_j0(key, &j0, aad, dir)
    }

    /// GCM from the pre-counter block `j0` (for a 12-byte IV: the IV and a counter of 1).
    fn from_j0(key: &[u8; 32], j0: &[u8; 16], aad: &[u8], dir: Direction) -> Self {
        let cipher = Aes256::new(&Array::from(*key));
        let mut h = Array::from([0u8; 16]);
        cipher.encrypt_block(&mut h);
        let mut ghash = GHash::new(&h);
        h.zeroize();
        ghash.update_padded(aad);
        let mut ek_j0 = Array::from(*j0);
        cipher.encrypt_block(&mut ek_j0);
        let mut first = *j0;
        let counter = u32::from_be_bytes([j0[12], j0[13], j0[14], j0[15]]).wrapping_add(1);
        first[12..].copy_from_slice(&counter.to_be_bytes());
        let ctr = Ctr32::new(&Array::from(*key), &Array::from(first));
        let out = Self {
            ctr,
            ghash,
            pending: [0; 16],
            pending_len: 0,
            ek_j0: Zeroizing::new(ek_j0.into()),
            aad_len: aad.len() as u64,
            ct_len: 0,
            dir,
        };
        ek_j0.zeroize();
        out
    }

    /// Feeds ciphertext to GHASH, keeping a partial block for the next call.
    fn absorb(&mut self, mut data: &[u8]) {
        if self.pending_len > 0 {
            let take = (16 - self.pending_len).min(data.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&data[..take]);
            self.pending_len += take;
            data = &data[take..];
            if self.pending_len < 16 {
                return;
            }
            self.ghash.update_padded(&self.pending);
            self.pending_len = 0;
        }
        let full = data.len() - data.len() % 16;
        // `update_padded` on whole blocks adds no padding.
        self.ghash.update_padded(&data[..full]);
        let rest = &data[full..];
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    fn tag(mut self) -> [u8; 16] {
        if self.pending_len > 0 {
            self.ghash.update_padded(&self.pending[..self.pending_len]);
        }
        let mut lens = [0u8; 16];
        lens[..8].copy_from_slice(&(self.aad_len * 8).to_be_bytes());
        lens[8..].copy_from_slice(&(self.ct_len * 8).to_be_bytes());
        self.ghash.update_padded(&lens);
        let s: [u8; 16] = self.ghash.clone().finalize().into();
        let mut tag = [0u8; 16];
        for ((t, a), b) in tag.iter_mut().zip(s).zip(self.ek_j0.iter()) {
            *t = a ^ b;
        }
        self.pending.zeroize();
        tag
    }
}

impl GcmStream for Gcm {
    fn update(&mut self, buf: &mut [u8]) -> Result<(), Failed> {
        self.ct_len = self.ct_len.checked_add(buf.len() as u64).ok_or(Failed)?;
        match self.dir {
            Direction::Encrypt => {
                self.ctr.apply_keystream(buf);
                self.absorb(buf);
            }
            Direction::Decrypt => {
                self.absorb(buf);
                self.ctr.apply_keystream(buf);
            }
        }
        Ok(())
    }

    fn update_to(&mut self, src: &[u8], dst: &mut [u8]) -> Result<(), Failed> {
        let buf = InOutBuf::new(src, dst).map_err(|_| Failed)?;
        let ct_len = self.ct_len.checked_add(src.len() as u64).ok_or(Failed)?;
        // Nothing changes unless the key stream suffices; `src` is left intact, so GHASH can read the
        // ciphertext afterwards in either direction.
        self.ctr
            .try_apply_keystream_inout(buf)
            .map_err(|_| Failed)?;
        self.absorb(match self.dir {
            Direction::Encrypt => dst,
            Direction::Decrypt => src,
        });
        self.ct_len = ct_len;
        Ok(())
    }

    fn update_append(&mut self, src: &[u8], dst: &mut Vec<u8>) -> Result<(), Failed> {
        super::zero_fill_append(self, src, dst)
    }

    fn finish_encrypt(self) -> Result<[u8; 16], Failed> {
        if self.dir != Direction::Encrypt {
            return Err(Failed);
        }
        Ok(self.tag())
    }

    fn finish_decrypt(self, tag: &[u8; 16]) -> Result<(), Failed> {
        if self.dir != Direction::Decrypt {
            return Err(Failed);
        }
        let computed = Zeroizing::new(self.tag());
        if bool::from(computed.ct_eq(tag)) {
            Ok(())
        } else {
            Err(Failed)
        }
    }
}

impl GcmSegment for Gcm {
    fn update(&mut self, buf: &mut [u8]) -> Result<(), Failed> {
        GcmStream::update(self, buf)
    }

    fn update_append(&mut self, src: &[u8], dst: &mut Vec<u8>) -> Result<(), Failed> {
        GcmStream::update_append(self, src, dst)
    }

    fn finish_tag(self) -> Result<[u8; 16], Failed> {
        Ok(self.tag())
    }
}

/// AES-256-CTR with a 32-bit counter.
pub(crate) struct Ctr(Ctr32);

impl InPlace for Ctr {
    fn apply(&mut self, buf: &mut [u8]) -> Result<(), Failed> {
        self.0.try_apply_keystream(buf).map_err(|_| Failed)
    }
}

/// AES-256-CBC block decryption.
pub(crate) struct CbcDec(cbc::Decryptor<Aes256>);

impl InPlace for CbcDec {
    fn apply(&mut self, buf: &mut [u8]) -> Result<(), Failed> {
        let (blocks, rest) = Array::slice_as_chunks_mut(buf);
        if !rest.is_empty() {
            return Err(Failed);
        }
        self.0.decrypt_blocks(blocks);
        Ok(())
    }
}

fn gcm_seal_with<C>(
    key: &[u8],
    iv: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<[u8; 16], Failed>
where
    AesGcm<C, U12>: KeyInit + AeadInOut,
{
    let aead = AesGcm::<C, U12>::new_from_slice(key).map_err(|_| Failed)?;
    let nonce = aes_gcm::aead::Nonce::<AesGcm<C, U12>>::try_from(&iv[..]).map_err(|_| Failed)?;
    let tag = aead
        .encrypt_inout_detached(&nonce, aad, buf.into())
        .map_err(|_| Failed)?;
    let mut out = [0u8; 16];
    out.copy_from_slice(&tag);
    Ok(out)
}

fn gcm_open_with<C>(
    key: &[u8],
    iv: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; 16],
) -> Result<(), Failed>
where
    AesGcm<C, U12>: KeyInit + AeadInOut,
{
    let aead = AesGcm::<C, U12>::new_from_slice(key).map_err(|_| Failed)?;
    let nonce = aes_gcm::aead::Nonce::<AesGcm<C, U12>>::try_from(&iv[..]).map_err(|_| Failed)?;
    let tag = aes_gcm::aead::Tag::<AesGcm<C, U12>>::try_from(&tag[..]).map_err(|_| Failed)?;
    aead.decrypt_inout_detached(&nonce, aad, buf.into(), &tag)
        .map_err(|_| Failed)
}

fn ecb_decrypt_with<C: KeyInit + BlockCipherDecrypt>(
    key: &[u8],
    buf: &mut [u8],
) -> Result<(), Failed> {
    let cipher = C::new_from_slice(key).map_err(|_| Failed)?;
    let (blocks, rest) = Array::slice_as_chunks_mut(buf);
    if !rest.is_empty() {
        return Err(Failed);
    }
    for block in blocks {
        cipher.decrypt_block(block);
    }
    Ok(())
}

fn oaep_padding_decrypt(
    key: &PrivateKey,
    params: OaepParams,
    ct: &[u8],
) -> rsa::errors::Result<Vec<u8>> {
    match params {
        OaepParams::Sha1Mgf1Sha1 => key.decrypt(Oaep::<sha1::Sha1>::new(), ct),
        OaepParams::Sha256Mgf1Sha1 => {
            key.decrypt(Oaep::<sha2::Sha256, sha1::Sha1>::new_with_mgf_hash(), ct)
        }
        OaepParams::Sha256Mgf1Sha256 => key.decrypt(Oaep::<sha2::Sha256>::new(), ct),
    }
}

/// The RustCrypto backend.
pub(crate) struct RustCrypto;

impl Backend for RustCrypto {
    const NAME: &'static str = "rustcrypto";
    const AVX512_GCM: bool = false;
    type Gcm = Gcm;
    type Ctr = Ctr;
    type CbcDec = CbcDec;
    type GcmSegment = Gcm;
    type RsaPublic = PublicKey;
    type RsaPrivate = PrivateKey;

    fn gcm(key: &[u8; 32], iv: &[u8; 12], aad: &[u8], dir: Direction) -> Result<Gcm, Failed> {
        Ok(Gcm::start(key, iv, aad, dir))
    }

    fn gcm_seal(key: &[u8], iv: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> Result<[u8; 16], Failed> {
        match key.len() {
            16 => gcm_seal_with::<Aes128>(key, iv, aad, buf),
            24 => gcm_seal_with::<Aes192>(key, iv, aad, buf),
            32 => gcm_seal_with::<Aes256>(key, iv, aad, buf),
            _ => Err(Failed),
        }
    }

    fn gcm_open(
        key: &[u8],
        iv: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), Failed> {
        match key.len() {
            16 => gcm_open_with::<Aes128>(key, iv, aad, buf, tag),
            24 => gcm_open_with::<Aes192>(key, iv, aad, buf, tag),
            32 => gcm_open_with::<Aes256>(key, iv, aad, buf, tag),
            _ => Err(Failed),
        }
    }

    fn gcm_segment(
        key: &[u8; 32],
        j0: &[u8; 16],
        _iv16: &[u8; 16],
        dir: Direction,
    ) -> Result<Gcm, Failed> {
        Ok(Gcm::from_j0(key, j0, &[], dir))
    }

    fn ctr(key: &[u8; 32], counter_block: &[u8; 16]) -> Result<Ctr, Failed> {
        Ok(Ctr(Ctr32::new(
            &Array::from(*key),
            &Array::from(*counter_block),
        )))
    }

    fn cbc_decryptor(key: &[u8; 32], iv: &[u8; 16]) -> Result<CbcDec, Failed> {
        Ok(CbcDec(cbc::Decryptor::<Aes256>::new(
            &Array::from(*key),
            &Array::from(*iv),
        )))
    }

    fn aes_ecb_decrypt(key: &[u8], buf: &mut [u8]) -> Result<(), Failed> {
        match key.len() {
            16 => ecb_decrypt_with::<Aes128>(key, buf),
            24 => ecb_decrypt_with::<Aes192>(key, buf),
            32 => ecb_decrypt_with::<Aes256>(key, buf),
            _ => Err(Failed),
        }
    }

    fn aes_kw_unwrap(kek: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, Failed> {
        if wrapped.len() < 24 || wrapped.len() % 8 != 0 {
            return Err(Failed);
        }
        let mut out = Zeroizing::new(vec![0u8; wrapped.len() - 8]);
        let n = match kek.len() {
            16 => aes_kw::KwAes128::new_from_slice(kek)
                .map_err(|_| Failed)?
                .unwrap_key(wrapped, &mut out)
                .map_err(|_| Failed)?
                .len(),
            24 => aes_kw::KwAes192::new_from_slice(kek)
                .map_err(|_| Failed)?
                .unwrap_key(wrapped, &mut out)
                .map_err(|_| Failed)?
                .len(),
            32 => aes_kw::KwAes256::new_from_slice(kek)
                .map_err(|_| Failed)?
                .unwrap_key(wrapped, &mut out)
                .map_err(|_| Failed)?
                .len(),
            _ => return Err(Failed),
        };
        out.truncate(n);
        Ok(out)
    }

    fn aes_kw_wrap(kek: &[u8], key: &[u8]) -> Result<Vec<u8>, Failed> {
        let mut out = vec![0u8; key.len() + 8];
        let n = match kek.len() {
            16 => aes_kw::KwAes128::new_from_slice(kek)
                .map_err(|_| Failed)?
                .wrap_key(key, &mut out)
                .map_err(|_| Failed)?
                .len(),
            24 => aes_kw::KwAes192::new_from_slice(kek)
                .map_err(|_| Failed)?
                .wrap_key(key, &mut out)
                .map_err(|_| Failed)?
                .len(),
            32 => aes_kw::KwAes256::new_from_slice(kek)
                .map_err(|_| Failed)?
                .wrap_key(key, &mut out)
                .map_err(|_| Failed)?
                .len(),
            _ => return Err(Failed),
        };
        out.truncate(n);
        Ok(out)
    }

    fn hkdf_sha512(salt: &[u8], ikm: &[u8], info: &[u8], okm: &mut [u8]) -> Result<(), Failed> {
        hkdf::Hkdf::<sha2::Sha512>::new(Some(salt), ikm)
            .expand(info, okm)
            .map_err(|_| Failed)
    }

    fn rsa_private_from_der(der: &[u8]) -> Result<PrivateKey, Failed> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;
        PrivateKey::from_pkcs8_der(der)
            .or_else(|_| PrivateKey::from_pkcs1_der(der))
            .map_err(|_| Failed)
    }

    fn rsa_public_from_der(der: &[u8]) -> Result<PublicKey, Failed> {
        use rsa::pkcs1::DecodeRsaPublicKey;
        use rsa::pkcs8::DecodePublicKey;
        PublicKey::from_public_key_der(der)
            .or_else(|_| PublicKey::from_pkcs1_der(der))
            .map_err(|_| Failed)
    }

    fn rsa_public_of(key: &PrivateKey) -> Result<PublicKey, Failed> {
        Ok(key.to_public_key())
    }

    fn rsa_size(key: &PublicKey) -> usize {
        key.size()
    }

    fn rsa_oaep_encrypt(
        key: &PublicKey,
        params: OaepParams,
        msg: &[u8],
    ) -> Result<Vec<u8>, Failed> {
        let mut rng = crypto_common::getrandom::SysRng;
        let result = match params {
            OaepParams::Sha1Mgf1Sha1 => key.encrypt(&mut rng, Oaep::<sha1::Sha1>::new(), msg),
            OaepParams::Sha256Mgf1Sha1 => key.encrypt(
                &mut rng,
                Oaep::<sha2::Sha256, sha1::Sha1>::new_with_mgf_hash(),
                msg,
            ),
            OaepParams::Sha256Mgf1Sha256 => key.encrypt(&mut rng, Oaep::<sha2::Sha256>::new(), msg),
        };
        result.map_err(|_| Failed)
    }

    fn rsa_oaep_decrypt(
        key: &PrivateKey,
        params: OaepParams,
        ct: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Failed> {
        // rsa 0.10 deliberately ignores the leading octet Y of the encoded message, which
        // RFC 8017 section 7.1.2 requires to be zero (Wycheproof "First byte is 1"). Check it from
        // the raw private operation. Both private operations always run, and both failures
        // end in the same `Failed`, so the extra check adds no timing or error oracle (Manger).
        let em = Self::rsa_raw_decrypt(key, ct)?;
        let y_is_zero = em[0].ct_eq(&0);
        let decoded = oaep_padding_decrypt(key, params, ct);
        match decoded {
            Ok(m) if bool::from(y_is_zero) => Ok(Zeroizing::new(m)),
            Ok(mut m) => {
                m.zeroize();
                Err(Failed)
            }
            Err(_) => Err(Failed),
        }
    }

    fn rsa_raw_decrypt(key: &PrivateKey, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, Failed> {
        let k = key.size();
        if ct.len() != k {
            return Err(Failed);
        }
        let c = BoxedUint::from_be_slice(ct, key.n_bits_precision()).map_err(|_| Failed)?;
        if c >= *key.n().as_ref() {
            return Err(Failed);
        }
        let mut rng = crypto_common::getrandom::SysRng;
        let m = Zeroizing::new(
            rsa::hazmat::rsa_decrypt_and_check(key, Some(&mut rng), &c).map_err(|_| Failed)?,
        );
        let bytes = Zeroizing::new(m.to_be_bytes());
        if bytes.len() < k {
            return Err(Failed);
        }
        // The integer's storage may be wider than the modulus; the extra leading bytes are zero
        // because m < n.
        Ok(Zeroizing::new(bytes[bytes.len() - k..].to_vec()))
    }

    fn rsa_pkcs1_encrypt(key: &PublicKey, msg: &[u8]) -> Result<Vec<u8>, Failed> {
        let mut rng = crypto_common::getrandom::SysRng;
        key.encrypt(&mut rng, rsa::Pkcs1v15Encrypt, msg)
            .map_err(|_| Failed)
    }
}
