//! Multiplication in GHASH's field GF(2^128), for combining per-segment GHASH values.
//!
//! Bulk GHASH runs in the backends (AWS-LC's CLMUL/VPCLMULQDQ code or RustCrypto `ghash`); no crate
//! exposes the field itself, and combining segments needs only a few products per segment (`x * H^n`),
//! so this is a plain bit-serial multiply: constant time in both operands (masks, no branches on
//! data), about a microsecond per product. Elements are blocks read big-endian, GHASH's bit order:
//! the coefficient of `x^0` is the most significant bit of byte 0 (NIST SP 800-38D, 6.3).

/// The field element 1.
pub(crate) const ONE: u128 = 1 << 127;
/// The reduction constant of `x^128 + x^7 + x^2 + x + 1` in GHASH's reflected bit order.
const R: u128 = 0xE1 << 120;

/// A block as a field element.
pub(crate) fn from_block(block: &[u8; 16]) -> u128 {
    u128::from_be_bytes(*block)
}

/// A field element as a block.
pub(crate) fn to_block(x: u128) -> [u8; 16] {
    x.to_be_bytes()
}

/// `x * y` (SP 800-38D, algorithm 1), in constant time.
pub(crate) fn mul(x: u128, y: u128) -> u128 {
    let mut z = 0u128;
    let mut v = y;
    for i in 0..128 {
        let bit = (x >> (127 - i)) & 1;
        z ^= v & 0u128.wrapping_sub(bit);
        let carry = v & 1;
        v = (v >> 1) ^ (R & 0u128.wrapping_sub(carry));
    }
    z
}

/// `h^n` by square and multiply. `n` is public (a block position), `h` secret: the sequence of
/// operations depends on `n` only.
pub(crate) fn pow(h: u128, mut n: u64) -> u128 {
    let mut result = ONE;
    let mut base = h;
    while n > 0 {
        if n & 1 == 1 {
            result = mul(result, base);
        }
        n >>= 1;
        if n > 0 {
            base = mul(base, base);
        }
    }
    result
}

/// `h^-2` (`h^(2^128 - 3)`: the multiplicative group has order `2^128 - 1`); zero for zero. About
/// 250 products, so callers compute it once per key.
pub(crate) fn inverse_square(h: u128) -> u128 {
    // 2^128 - 3 = 0xFF..FD: square and multiply over its bits, high to low.
    let exponent = u128::MAX - 2;
    let mut result = ONE;
    for i in (0..128).rev() {
        result = mul(result, result);
        if (exponent >> i) & 1 == 1 {
            result = mul(result, h);
        }
    }
    result
}

/// The GHASH Horner value of `data` zero-padded to whole blocks, from a zero state:
/// `sum X_i * h^(n - i + 1)`. For the few bytes of AAD of an object, not for bulk data.
pub(crate) fn horner(h: u128, data: &[u8]) -> u128 {
    let mut acc = 0u128;
    for chunk in data.chunks(16) {
        let mut block = [0u8; 16];
        block[..chunk.len()].copy_from_slice(chunk);
        acc = mul(acc ^ from_block(&block), h);
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    // SP 800-38D / the GCM spec's test case 2: H = 66e94bd4ef8a2c3b884cfa59ca342b2e,
    // C = 0388dace60b6a392f328c2b971b2fe78, GHASH(H, {}, C) = f38cbb1ad69223dcc3457ae5b6b0f885.
    const H: [u8; 16] = [
        0x66, 0xe9, 0x4b, 0xd4, 0xef, 0x8a, 0x2c, 0x3b, 0x88, 0x4c, 0xfa, 0x59, 0xca, 0x34, 0x2b,
        0x2e,
    ];
    const C: [u8; 16] = [
        0x03, 0x88, 0xda, 0xce, 0x60, 0xb6, 0xa3, 0x92, 0xf3, 0x28, 0xc2, 0xb9, 0x71, 0xb2, 0xfe,
        0x78,
    ];
    const GHASH: [u8; 16] = [
        0xf3, 0x8c, 0xbb, 0x1a, 0xd6, 0x92, 0x23, 0xdc, 0xc3, 0x45, 0x7a, 0xe5, 0xb6, 0xb0, 0xf8,
        0x85,
    ];

    #[test]
    fn ghash_of_the_gcm_spec_test_case_2() {
        let h = from_block(&H);
        let mut len_block = [0u8; 16];
        len_block[8..].copy_from_slice(&128u64.to_be_bytes());
        let mut data = C.to_vec();
        data.extend_from_slice(&len_block);
        assert_eq!(to_block(horner(h, &data)), GHASH);
    }

    #[test]
    fn field_laws() {
        let h = from_block(&H);
        let c = from_block(&C);
        assert_eq!(mul(h, ONE), h);
        assert_eq!(mul(ONE, h), h);
        assert_eq!(mul(h, 0), 0);
        assert_eq!(mul(h, c), mul(c, h));
        assert_eq!(mul(h, c ^ ONE), mul(h, c) ^ h);
        assert_eq!(pow(h, 0), ONE);
        assert_eq!(pow(h, 1), h);
        assert_eq!(pow(h, 5), mul(mul(mul(mul(h, h), h), h), h));
        assert_eq!(pow(h, 1000), mul(pow(h, 999), h));
        // The multiplicative group has order 2^128 - 1, so h^(2^128 - 1) = 1; check a divisor-free
        // identity within u64 exponents instead: h^(a+b) = h^a * h^b.
        assert_eq!(
            pow(h, (1 << 40) + 12345),
            mul(pow(h, 1 << 40), pow(h, 12345))
        );
    }
}
