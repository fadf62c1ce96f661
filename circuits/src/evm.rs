//! The encodings the Solidity verifier (`contracts/sol/NovaVerifier.sol`) reads: the flat proof
//! (the folding proof's values at fixed offsets, no length prefixes) and the verifying-key blob.
//! `circuits/PROOF_FORMAT.md` documents both byte by byte.
//!
//! The flat proof is the proof's wire format: [`FoldingProof::to_flat`] writes it and
//! [`FoldingProof::from_flat`] reads it back with the checks a contract makes (exact length,
//! coordinates and scalars canonical, points on the curve), so the Rust verifier accepts exactly
//! the bytes the contract accepts.

use ff::PrimeField;

use crate::{
    challenged::{ChallengedProof, ChallengedVerifierKeys},
    folding::{decode as bincode_from, encode as bincode_of, FoldError, FoldingProof, VerifierKeys, G2},
    Fr,
};

/// Bytes of a G1 point (`x ‖ y`, big-endian; the identity is `(0, 0)`).
const POINT: usize = 64;
/// Bytes of a scalar (big-endian).
const SCALAR: usize = 32;
/// Public IO elements of a step: `[i, z_i, z_{i+1}, M]`.
pub const STEP_IO: usize = 4;
/// Bytes of a relaxed instance: `comm_W ‖ comm_E ‖ X[4] ‖ u`.
const RELAXED: usize = 2 * POINT + (STEP_IO + 1) * SCALAR;
/// Words of the verifying-key blob: 30 for MicroSpartan and the folds, then the prefix length
/// `s` of a challenged step and `[τ^s]₂` (both zero for a plain step).
pub const VK_WORDS: usize = 35;

/// The sizes that fix a flat proof's layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Folded steps.
    pub steps: usize,
    /// Outer sum-check rounds: log2 of the padded constraint count.
    pub outer: usize,
    /// Inner sum-check rounds and HyperKZG variables: log2 of MicroSpartan's size `N`.
    pub inner: usize,
    /// A proof of challenged steps ([`crate::challenged`]): each step also carries its prefix
    /// commitment `C₁` (before `C₂` and `T`), and the support check's `Q` follows the steps.
    pub challenged: bool,
}

impl Layout {
    /// Bytes of MicroSpartan's part: 6 commitments, the outer sum-check (3 coefficients a round),
    /// 4 outer claims, the inner sum-check, 15 evaluations, then HyperKZG (`inner - 1`
    /// commitments, 3 more, and `inner` rows of 3 evaluations).
    pub fn snark_len(&self) -> usize {
        6 * POINT
            + 3 * SCALAR * self.outer
            + 4 * SCALAR
            + 3 * SCALAR * self.inner
            + 15 * SCALAR
            + (self.inner - 1 + 3) * POINT
            + 3 * SCALAR * self.inner
    }

    /// Bytes of the whole flat proof.
    pub fn len(&self) -> usize {
        let challenged = if self.challenged { (self.steps + 1) * POINT } else { 0 };
        challenged + self.steps * 2 * POINT + RELAXED + POINT + 2 * SCALAR + self.snark_len()
    }

    /// Never true: a proof has at least its fixed part.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// A scalar as 32 big-endian bytes.
pub fn scalar_bytes(x: &Fr) -> [u8; 32] {
    let mut b: [u8; 32] = x.to_repr().into();
    b.reverse();
    b
}

/// A canonical scalar from 32 big-endian bytes.
fn scalar_from(bytes: &[u8], what: &str) -> Result<Fr, FoldError> {
    let mut le: [u8; 32] = bytes.try_into().expect("32 bytes");
    le.reverse();
    Option::from(Fr::from_repr(le.into()))
        .ok_or_else(|| FoldError::Malformed(format!("{what}: scalar not below the modulus")))
}

/// Reads bincode (standard configuration) of nova-snark values and writes their flat form:
/// every fixed-size field is copied, every length prefix is checked against the layout and
/// dropped.
struct Flatten<'a> {
    bytes: &'a [u8],
    at: usize,
    out: Vec<u8>,
}

impl Flatten<'_> {
    fn copy(&mut self, n: usize) -> Result<(), FoldError> {
        let end = self.at + n;
        let chunk = self.bytes.get(self.at..end).ok_or_else(|| FoldError::Malformed("snark truncated".into()))?;
        self.out.extend_from_slice(chunk);
        self.at = end;
        Ok(())
    }

    /// A length prefix (bincode varint; every length here is below 251, one byte).
    fn length(&mut self, expected: usize, what: &str) -> Result<(), FoldError> {
        match self.bytes.get(self.at) {
            Some(&b) if usize::from(b) == expected => {
                self.at += 1;
                Ok(())
            }
            found => Err(FoldError::Malformed(format!("{what}: expected length {expected}, found {found:?}"))),
        }
    }
}

/// Writes bincode from a flat proof: the inverse of [`Flatten`].
struct Unflatten<'a> {
    bytes: &'a [u8],
    at: usize,
    out: Vec<u8>,
}

impl Unflatten<'_> {
    fn copy(&mut self, n: usize) {
        self.out.extend_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
    }

    fn length(&mut self, n: usize) {
        self.out.push(u8::try_from(n).expect("layout lengths are below 251"));
    }
}

/// The walk over MicroSpartan's fields shared by both directions: `copy(n)` for `n` fixed bytes,
/// `length(n)` for a length prefix.
fn walk_snark<C>(
    layout: &Layout,
    state: &mut C,
    copy: impl Fn(&mut C, usize) -> Result<(), FoldError>,
    length: impl Fn(&mut C, usize, &str) -> Result<(), FoldError>,
) -> Result<(), FoldError> {
    copy(state, 6 * POINT)?;
    length(state, layout.outer, "outer sum-check rounds")?;
    for _ in 0..layout.outer {
        length(state, 3, "outer round polynomial")?;
        copy(state, 3 * SCALAR)?;
    }
    copy(state, 4 * SCALAR)?;
    length(state, layout.inner, "inner sum-check rounds")?;
    for _ in 0..layout.inner {
        length(state, 3, "inner round polynomial")?;
        copy(state, 3 * SCALAR)?;
    }
    copy(state, 15 * SCALAR)?;
    length(state, layout.inner - 1, "HyperKZG commitments")?;
    copy(state, (layout.inner - 1) * POINT)?;
    copy(state, 3 * POINT)?;
    length(state, layout.inner, "HyperKZG evaluations")?;
    copy(state, layout.inner * 3 * SCALAR)
}

impl FoldingProof {
    /// The flat encoding (the bytes a contract reads; `PROOF_FORMAT.md`).
    pub fn to_flat(&self, layout: &Layout) -> Result<Vec<u8>, FoldError> {
        if layout.challenged {
            return Err(FoldError::Malformed("a plain folding proof under a challenged layout".into()));
        }
        if self.steps.len() != layout.steps {
            return Err(FoldError::StepCount { expected: layout.steps, found: self.steps.len() });
        }
        let mut out = Vec::with_capacity(layout.len());
        for (w, t) in &self.steps {
            out.extend(bincode_of(w));
            out.extend(bincode_of(t));
        }
        // A relaxed instance in bincode: comm_W ‖ comm_E ‖ varint(4) ‖ X ‖ u.
        let random = bincode_of(&self.random);
        out.extend_from_slice(&random[..2 * POINT]);
        out.extend_from_slice(&random[2 * POINT + 1..]);
        out.extend(bincode_of(&self.random_t));
        out.extend(scalar_bytes(&self.r_w));
        out.extend(scalar_bytes(&self.r_e));
        let snark = bincode_of(&self.snark);
        let mut f = Flatten { bytes: &snark, at: 0, out };
        walk_snark(layout, &mut f, |f, n| f.copy(n), |f, n, what| f.length(n, what))?;
        if f.at != snark.len() {
            return Err(FoldError::Malformed(format!("snark: {} bytes beyond the layout", snark.len() - f.at)));
        }
        debug_assert_eq!(f.out.len(), layout.len());
        Ok(f.out)
    }

    /// Reads a flat proof: exactly `layout.len()` bytes, every coordinate and scalar canonical,
    /// every point on the curve (the identity as `(0, 0)`).
    pub fn from_flat(bytes: &[u8], layout: &Layout) -> Result<Self, FoldError> {
        if layout.challenged {
            return Err(FoldError::Malformed("a plain folding proof under a challenged layout".into()));
        }
        if bytes.len() != layout.len() {
            return Err(FoldError::Malformed(format!("expected {} bytes, found {}", layout.len(), bytes.len())));
        }
        let mut at = 0;
        let mut take = |n: usize| {
            let chunk = &bytes[at..at + n];
            at += n;
            chunk
        };
        let mut steps = Vec::with_capacity(layout.steps);
        for k in 0..layout.steps {
            let w = bincode_from(take(POINT), &format!("step {k} witness commitment"))?;
            let t = bincode_from(take(POINT), &format!("step {k} cross term"))?;
            steps.push((w, t));
        }
        let relaxed = take(RELAXED);
        let mut random = relaxed[..2 * POINT].to_vec();
        random.push(STEP_IO as u8);
        random.extend_from_slice(&relaxed[2 * POINT..]);
        let random = bincode_from(&random, "random instance")?;
        let random_t = bincode_from(take(POINT), "random cross term")?;
        let r_w = scalar_from(take(SCALAR), "r_w")?;
        let r_e = scalar_from(take(SCALAR), "r_e")?;
        let mut u = Unflatten { bytes: take(layout.snark_len()), at: 0, out: Vec::new() };
        walk_snark(
            layout,
            &mut u,
            |u, n| {
                u.copy(n);
                Ok(())
            },
            |u, n, _| {
                u.length(n);
                Ok(())
            },
        )?;
        let snark = bincode_from(&u.out, "snark")?;
        Ok(Self { steps, random, random_t, r_w, r_e, snark })
    }
}

impl ChallengedProof {
    /// The flat encoding: per step `C₁ ‖ C₂ ‖ T`, then `Q`, then the fold part and MicroSpartan
    /// as in a plain proof (`PROOF_FORMAT.md`).
    pub fn to_flat(&self, layout: &Layout) -> Result<Vec<u8>, FoldError> {
        if !layout.challenged || self.prefixes.len() != layout.steps {
            return Err(FoldError::StepCount { expected: layout.steps, found: self.prefixes.len() });
        }
        let plain = self.folding.to_flat(&Layout { challenged: false, ..*layout })?;
        let mut out = Vec::with_capacity(layout.len());
        for (k, c1) in self.prefixes.iter().enumerate() {
            out.extend(bincode_of(c1));
            out.extend_from_slice(&plain[2 * POINT * k..2 * POINT * (k + 1)]);
        }
        out.extend(bincode_of(&self.shifted));
        out.extend_from_slice(&plain[2 * POINT * layout.steps..]);
        debug_assert_eq!(out.len(), layout.len());
        Ok(out)
    }

    /// Reads a flat proof with the checks of [`FoldingProof::from_flat`].
    pub fn from_flat(bytes: &[u8], layout: &Layout) -> Result<Self, FoldError> {
        if !layout.challenged || bytes.len() != layout.len() {
            return Err(FoldError::Malformed(format!("expected {} bytes, found {}", layout.len(), bytes.len())));
        }
        let (steps, rest) = bytes.split_at(3 * POINT * layout.steps);
        let mut prefixes = Vec::with_capacity(layout.steps);
        let mut plain = Vec::with_capacity(bytes.len());
        for (k, step) in steps.chunks_exact(3 * POINT).enumerate() {
            prefixes.push(bincode_from(&step[..POINT], &format!("step {k} prefix commitment"))?);
            plain.extend_from_slice(&step[POINT..]);
        }
        let shifted = bincode_from(&rest[..POINT], "the support check's Q")?;
        plain.extend_from_slice(&rest[POINT..]);
        let folding = FoldingProof::from_flat(&plain, &Layout { challenged: false, ..*layout })?;
        Ok(Self { prefixes, shifted, folding })
    }
}

/// A G2 point as EIP-197 wants it: `x.c1 ‖ x.c0 ‖ y.c1 ‖ y.c0`, each big-endian.
pub(crate) fn g2_words(p: &G2) -> Vec<u8> {
    let be = |c: &nova_snark::provider::bn256_grumpkin::bn256::Base| {
        let mut b: [u8; 32] = c.to_repr().into();
        b.reverse();
        b
    };
    [be(p.x.c1()), be(p.x.c0()), be(p.y.c1()), be(p.y.c0())].concat()
}

impl ChallengedVerifierKeys {
    /// The verifying-key blob: the plain keys' with the prefix length and `[τ^s]₂`.
    pub fn evm_key(&self) -> Result<EvmKey, FoldError> {
        let mut key = self.plain().evm_key()?;
        key.blob.truncate(30 * 32);
        key.blob.extend(scalar_bytes(&Fr::from(self.prefix_len() as u64)));
        key.blob.extend(g2_words(self.tau_prefix()));
        key.challenged = true;
        Ok(key)
    }

    /// The layout of a flat proof of `steps` steps under these keys.
    pub fn layout(&self, steps: usize) -> Result<Layout, FoldError> {
        Ok(self.evm_key()?.layout(steps))
    }

    /// Verifies a flat proof (what a contract reads) for the steps whose IO, the challenge left
    /// out, is `io`.
    pub fn verify_flat(&self, context: &[Fr], io: &[Vec<Fr>], bytes: &[u8]) -> Result<(), FoldError> {
        let proof = ChallengedProof::from_flat(bytes, &self.layout(io.len())?)?;
        self.verify(context, io, &proof)
    }
}

/// A bincode reader for the verifying key's fields.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let chunk = &self.bytes[self.at..self.at + n];
        self.at += n;
        chunk
    }

    /// A bincode varint (standard configuration).
    fn varint(&mut self) -> u64 {
        match self.take(1)[0] {
            b @ 0..=250 => u64::from(b),
            251 => u64::from(u16::from_le_bytes(self.take(2).try_into().expect("2 bytes"))),
            252 => u64::from(u32::from_le_bytes(self.take(4).try_into().expect("4 bytes"))),
            _ => u64::from_le_bytes(self.take(8).try_into().expect("8 bytes")),
        }
    }
}

/// What the Solidity verifier needs of a model's keys, as one blob of [`VK_WORDS`] 32-byte words
/// (`PROOF_FORMAT.md`, "The verifying-key blob"); the registry stores its keccak256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvmKey {
    /// The blob.
    pub blob: Vec<u8>,
    /// The proofs' flat layout for one step (add steps with [`EvmKey::layout`]).
    pub outer: usize,
    /// See `outer`.
    pub inner: usize,
    /// Keys of challenged steps ([`crate::challenged`]).
    pub challenged: bool,
}

impl EvmKey {
    /// The flat layout of a proof of `steps` steps under this key.
    pub fn layout(&self, steps: usize) -> Layout {
        Layout { steps, outer: self.outer, inner: self.inner, challenged: self.challenged }
    }

    /// keccak256 of the blob: the `vkDigest` a model is registered with.
    pub fn digest(&self) -> [u8; 32] {
        use sha3::{Digest, Keccak256};
        Keccak256::digest(&self.blob).into()
    }
}

/// log2 of a power of two.
fn log2_exact(n: u64, what: &str) -> Result<usize, FoldError> {
    if n.is_power_of_two() {
        Ok(n.trailing_zeros() as usize)
    } else {
        Err(FoldError::Malformed(format!("{what} = {n} is not a power of two")))
    }
}

impl VerifierKeys {
    /// The layout of a flat proof of `steps` steps under these keys.
    pub fn layout(&self, steps: usize) -> Result<Layout, FoldError> {
        Ok(self.evm_key()?.layout(steps))
    }

    /// The verifying-key blob of the Solidity verifier.
    pub fn evm_key(&self) -> Result<EvmKey, FoldError> {
        // MicroSpartan's key in bincode: varint num_cons, varint num_vars, G (G1), H, tau_H (G2,
        // each coordinate c0 ‖ c1), then S_comm: varint N and 7 commitments (row, col, val_A,
        // val_B, val_C, ts_row, ts_col).
        let vk = bincode_of(self.snark_key());
        let mut r = Reader { bytes: &vk, at: 0 };
        let outer = log2_exact(r.varint(), "num_cons")?;
        let log_vars = log2_exact(r.varint(), "num_vars")?;
        let g = r.take(POINT).to_vec();
        let g2 = |r: &mut Reader| {
            // EIP-197 wants each Fq2 coordinate as c1 ‖ c0.
            let raw = r.take(4 * SCALAR);
            [&raw[32..64], &raw[0..32], &raw[96..128], &raw[64..96]].concat()
        };
        let h = g2(&mut r);
        let tau_h = g2(&mut r);
        let inner = log2_exact(r.varint(), "N")?;
        let mut comms: Vec<&[u8]> = (0..7).map(|_| r.take(POINT)).collect();
        if r.at != vk.len() {
            return Err(FoldError::Malformed("verifying key: unexpected layout".into()));
        }
        if outer == 0 || inner <= outer || log_vars < 3 || log_vars + 1 > inner || inner > 64 {
            return Err(FoldError::Malformed(format!(
                "sizes outside what the on-chain verifier supports: outer {outer}, inner {inner}, vars 2^{log_vars}"
            )));
        }
        // The contract's order: val_A, val_B, val_C, row, ts_row, col, ts_col.
        let (row, col) = (comms[0], comms[1]);
        comms = vec![comms[2], comms[3], comms[4], row, comms[5], col, comms[6]];
        let dk = bincode_of(self.derand_key());
        let mut blob = Vec::with_capacity(VK_WORDS * 32);
        for n in [outer, inner, log_vars] {
            blob.extend(scalar_bytes(&Fr::from(n as u64)));
        }
        blob.extend(scalar_bytes(&self.vk_digest()));
        blob.extend(g);
        blob.extend(h);
        blob.extend(tau_h);
        for c in comms {
            blob.extend_from_slice(c);
        }
        blob.extend(dk);
        // A plain step: no prefix, no `[τ^s]₂`.
        blob.resize(VK_WORDS * 32, 0);
        Ok(EvmKey { blob, outer, inner, challenged: false })
    }
}
