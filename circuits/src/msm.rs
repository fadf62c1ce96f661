//! Multi-scalar multiplication over BN254's G1 for the folding prover's commitments: each step's
//! witness and cross term is one sum `Σ sᵢ·Gᵢ` over the commitment key's bases, and those sums
//! are most of a whole proof's time.
//!
//! Bucket method with signed digits: every scalar is cut into windows of `c` bits, recoded to
//! digits in `[-2^(c-1), 2^(c-1)]`, and each nonzero digit `d` of window `w` puts `±Gᵢ` into
//! bucket `(w, |d|)`. The buckets are filled by **batch-affine additions**: a window's points
//! are sorted by bucket and added pairwise, every pair of one round at once, with one field
//! inversion for the whole round (Montgomery's trick), so that an addition costs about six field
//! multiplications instead of the eleven of a mixed projective one. A window's sum `Σ d·B_d` is
//! then a running sum over its buckets, and the windows are combined by doubling. The windows
//! are spread over the threads, one at a time each, so that a window's points stay in cache.
//!
//! A scalar above `(r − 1)/2` is taken as `−(r − s)` with its base negated, so that a small
//! negative value costs as few windows as a small positive one; zero digits cost nothing.
//!
//! Measured by `cargo bench -p verdict-circuits --bench msm` (2 cores, 16,384 bases): a tile
//! step's cross term (6,800 full-size scalars) in 19.6 ms against 29.5 ms for halo2curves'
//! `msm_best`, which nova-snark's MSM hands full-size scalars to (and, below about 8,100 of
//! them, a slower method of halo2curves' that took 44 ms in the prover); a witness (8,200
//! full-size scalars, 2,700 bytes) in 23.9 ms against 34.1 ms.
//!
//! [`FixedBases`] precomputes each base's multiples by the windows' powers of two, so that a
//! sum puts every window's digits into one set of buckets (the same bench: 16.4 ms and 20.3 ms
//! for the two at `c = 13`, against 21.0 ms and 25.3 ms by [`msm`] in the same run). A
//! full-size scalar that occurs often in one sum (a step's lookup inverses `1/(α − b)` take one
//! of 256 values) is summed base first: `s · Σ Gᵢ`, one term of a plain sum for all its bases.

use ff::{Field, PrimeField};
use halo2curves::{
    bn256::{Fq, G1Affine, G1},
    group::{prime::PrimeCurveAffine, Group},
};
use rayon::prelude::*;

use crate::Fr;

/// Window width for `n` nonzero scalars: the bucket pass costs about `n · 254 / c` additions and
/// the windows' sums about `2^c · 254 / c` more ([`bucket_sums`]).
fn window_bits(n: usize) -> usize {
    match n {
        0..=63 => 4,
        64..=511 => 6,
        512..=2_047 => 8,
        2_048..=16_383 => 10,
        16_384..=131_071 => 12,
        _ => 14,
    }
}

/// A scalar's signed windows: `digits[w]` in `(-2^(c-1), 2^(c-1)]`, `Σ digits[w] · 2^(c·w)`
/// equal to the scalar's integer value (below 2^254). `digits` has `⌈255 / c⌉` windows, enough
/// for the last carry.
fn recode(limbs: &[u64; 4], c: usize, digits: &mut [i32]) {
    let mask = (1u64 << c) - 1;
    let half = 1i64 << (c - 1);
    let mut carry = 0i64;
    for (w, digit) in digits.iter_mut().enumerate() {
        let bit = w * c;
        let raw = if bit >= 256 {
            0
        } else {
            let (limb, shift) = (bit / 64, bit % 64);
            let mut v = limbs[limb] >> shift;
            if shift + c > 64 && limb + 1 < 4 {
                v |= limbs[limb + 1] << (64 - shift);
            }
            v & mask
        };
        let mut d = raw as i64 + carry;
        carry = 0;
        if d > half {
            d -= 1 << c;
            carry = 1;
        }
        *digit = d as i32;
    }
    debug_assert_eq!(carry, 0, "the last window takes the carry");
}

/// The little-endian 64-bit limbs of `s`'s integer value.
fn limbs(s: &Fr) -> [u64; 4] {
    let repr = s.to_repr();
    let bytes = repr.as_ref();
    std::array::from_fn(|i| u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().expect("eight bytes")))
}

/// `(r − 1) / 2`'s limbs (`r − 1` shifted right by one): a scalar above it is negated.
fn half_order() -> [u64; 4] {
    let l = limbs(&-Fr::ONE);
    std::array::from_fn(|i| l[i] >> 1 | l.get(i + 1).map_or(0, |next| next << 63))
}

fn above(a: &[u64; 4], b: &[u64; 4]) -> bool {
    for i in (0..4).rev() {
        if a[i] != b[i] {
            return a[i] > b[i];
        }
    }
    false
}

/// Sums the points of each bucket: `points` sorted by bucket, bucket `k`'s at
/// `starts[k]..starts[k + 1]`. Returns one point a bucket (`None` for an empty one, or one whose
/// points cancel).
///
/// Each round adds the bucket's points pairwise, in place (pair `j`'s sum goes to the bucket's
/// slot `j`), all pairs of all buckets under one batch inversion; a bucket's last point, when
/// its count is odd, moves down with them.
fn fill_buckets(mut points: Vec<G1Affine>, starts: Vec<usize>) -> Vec<Option<G1Affine>> {
    let buckets = starts.len() - 1;
    let mut len: Vec<usize> = (0..buckets).map(|k| starts[k + 1] - starts[k]).collect();
    let mut inverses: Vec<Fq> = Vec::with_capacity(points.len() / 2);
    let mut scratch: Vec<Fq> = Vec::with_capacity(points.len() / 2);
    while len.iter().any(|l| *l > 1) {
        // The slope's denominator of every pair: x₂ − x₁, or 2y for a doubling; 1 for a pair that
        // cancels (P + (−P)), which is dropped.
        inverses.clear();
        for k in 0..buckets {
            let a = starts[k];
            for j in 0..len[k] / 2 {
                let (p, q) = (&points[a + 2 * j], &points[a + 2 * j + 1]);
                inverses.push(if p.x != q.x {
                    q.x - p.x
                } else if p.y == q.y && !bool::from(p.y.is_zero()) {
                    p.y.double()
                } else {
                    Fq::ONE
                });
            }
        }
        batch_invert(&mut inverses, &mut scratch);
        let mut slot = 0;
        for k in 0..buckets {
            let (a, pairs, odd) = (starts[k], len[k] / 2, len[k] % 2 == 1);
            let mut out = a;
            for j in 0..pairs {
                let (p, q) = (points[a + 2 * j], points[a + 2 * j + 1]);
                let inverse = inverses[slot];
                slot += 1;
                let lambda = if p.x != q.x {
                    (q.y - p.y) * inverse
                } else if p.y == q.y && !bool::from(p.y.is_zero()) {
                    let xx = p.x.square();
                    (xx + xx + xx) * inverse
                } else {
                    continue;
                };
                let x = lambda.square() - p.x - q.x;
                let y = lambda * (p.x - x) - p.y;
                points[out] = G1Affine { x, y };
                out += 1;
            }
            if odd {
                points[out] = points[a + len[k] - 1];
                out += 1;
            }
            len[k] = out - a;
        }
    }
    (0..buckets).map(|k| (len[k] == 1).then(|| points[starts[k]])).collect()
}

/// Inverts every element of `v` (all nonzero) with one field inversion (Montgomery's trick), in
/// four interleaved chains of products, so that the multiplications of one chain overlap those
/// of the others instead of waiting on each other.
fn batch_invert(v: &mut [Fq], prefix: &mut Vec<Fq>) {
    const LANES: usize = 4;
    prefix.clear();
    let mut acc = [Fq::ONE; LANES];
    for (i, x) in v.iter().enumerate() {
        prefix.push(acc[i % LANES]);
        acc[i % LANES] *= x;
    }
    // Each lane's inverse from the inverse of their product.
    let (p01, p23) = (acc[0] * acc[1], acc[2] * acc[3]);
    let all = (p01 * p23).invert().expect("no denominator is zero");
    let (i01, i23) = (all * p23, all * p01);
    let mut inv = [i01 * acc[1], i01 * acc[0], i23 * acc[3], i23 * acc[2]];
    for (i, (x, before)) in v.iter_mut().zip(prefix.iter()).enumerate().rev() {
        let lane = &mut inv[i % LANES];
        let next = *lane * *x;
        *x = *lane * before;
        *lane = next;
    }
}

/// Doubles every point of `points` in place, under one batch inversion: `λ = 3x²/2y`. The
/// identity (`y = 0`, the only such point: G1's order is odd) stays.
fn double_all(points: &mut [G1Affine], inverses: &mut Vec<Fq>, scratch: &mut Vec<Fq>) {
    inverses.clear();
    inverses.extend(points.iter().map(|p| if bool::from(p.y.is_zero()) { Fq::ONE } else { p.y.double() }));
    batch_invert(inverses, scratch);
    for (p, inverse) in points.iter_mut().zip(inverses.iter()) {
        if bool::from(p.y.is_zero()) {
            continue;
        }
        let xx = p.x.square();
        let lambda = (xx + xx + xx) * inverse;
        let x = lambda.square() - p.x.double();
        let y = lambda * (p.x - x) - p.y;
        *p = G1Affine { x, y };
    }
}

/// `k · p` for a small `k`, by doubling and adding.
fn times(p: &G1, k: usize) -> G1 {
    let mut acc = G1::identity();
    for bit in (0..usize::BITS - k.leading_zeros()).rev() {
        acc = acc.double();
        if k >> bit & 1 == 1 {
            acc += p;
        }
    }
    acc
}

/// `Σ_j (j + 1) · buckets[j]`.
///
/// Where few buckets are nonempty (the high windows of small scalars), each bucket times its
/// weight by doubling and adding. Otherwise by rows and columns: with `j = h·L + l`, the sum is
/// `L · Σ_h h · R_h + Σ_l (l + 1) · C_l` for the row sums `R_h = Σ_l B_(h·L+l)` and the
/// column sums `C_l = Σ_h B_(h·L+l)`, which [`fill_buckets`] adds as `2m` batch-affine
/// additions; the two running sums that remain are `2(m/L + L)` projective additions instead of
/// the `2m` of a running sum over all `m` buckets (a projective addition costs about twice an
/// affine one).
fn bucket_sums(buckets: &[Option<G1Affine>], c: usize) -> G1 {
    let nonempty = buckets.iter().filter(|b| b.is_some()).count();
    let top = buckets.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
    if nonempty * (c + c / 2) < 2 * top {
        return buckets
            .iter()
            .enumerate()
            .filter_map(|(j, b)| b.map(|p| times(&G1::from(p), j + 1)))
            .fold(G1::identity(), |a, b| a + b);
    }
    let m = top;
    let l_bits = (usize::BITS - m.leading_zeros()).div_ceil(2);
    let width = 1usize << l_bits;
    let rows = m.div_ceil(width);
    if rows < 2 {
        return running_sum(buckets[..m].iter().map(|b| b.map(G1::from)));
    }
    // Buckets 0..rows are the row sums, rows..rows + width the column sums.
    let (points, starts) = sorted(
        rows + width,
        |add| {
            for (j, _) in buckets[..m].iter().enumerate().filter(|(_, b)| b.is_some()) {
                add(j / width);
                add(rows + j % width);
            }
        },
        |add| {
            for (j, b) in buckets[..m].iter().enumerate() {
                if let Some(p) = b {
                    add(j / width, *p);
                    add(rows + j % width, *p);
                }
            }
        },
    );
    let sums = fill_buckets(points, starts);
    let (row, column) = sums.split_at(rows);
    // Σ_h h · R_h is the running sum over rows 1.. (weights 1..); Σ_l (l + 1) · C_l over all.
    let mut weighted = running_sum(row[1..].iter().map(|b| b.map(G1::from)));
    for _ in 0..l_bits {
        weighted = weighted.double();
    }
    weighted + running_sum(column.iter().map(|b| b.map(G1::from)))
}

/// `Σ_j (j + 1) · points[j]`: a running sum from the top down, two additions a point.
fn running_sum(points: impl DoubleEndedIterator<Item = Option<G1>>) -> G1 {
    let (mut running, mut weighted) = (G1::identity(), G1::identity());
    for p in points.rev().skip_while(Option::is_none) {
        if let Some(p) = p {
            running += p;
        }
        weighted += running;
    }
    weighted
}

/// Sorts `(bucket, point)` pairs into the layout [`fill_buckets`] takes, for `buckets` buckets:
/// `count(bucket)` is called once a pair to size the buckets, then `place` lists the pairs.
fn sorted(
    buckets: usize,
    count: impl Fn(&mut dyn FnMut(usize)),
    place: impl Fn(&mut dyn FnMut(usize, G1Affine)),
) -> (Vec<G1Affine>, Vec<usize>) {
    let mut starts = vec![0usize; buckets + 1];
    count(&mut |k| starts[k + 1] += 1);
    for k in 0..buckets {
        starts[k + 1] += starts[k];
    }
    let mut at = starts.clone();
    let mut points = vec![G1Affine::identity(); starts[buckets]];
    place(&mut |k, p| {
        points[at[k]] = p;
        at[k] += 1;
    });
    (points, starts)
}

/// `Σ scalars[i] · bases[i]`, variable time (the scalars are the prover's own witness and cross
/// terms, not secrets of a verifier's).
pub fn msm(scalars: &[Fr], bases: &[G1Affine]) -> G1 {
    assert_eq!(scalars.len(), bases.len(), "a base a scalar");
    let half = half_order();
    // The nonzero terms, each scalar at most (r − 1)/2 with its base negated where needed.
    let terms: Vec<([u64; 4], G1Affine)> = scalars
        .par_iter()
        .zip(bases.par_iter())
        .filter(|(s, b)| !bool::from(s.is_zero()) && !bool::from(b.is_identity()))
        .map(|(s, b)| {
            let l = limbs(s);
            if above(&l, &half) {
                (limbs(&-*s), -*b)
            } else {
                (l, *b)
            }
        })
        .collect();
    if terms.is_empty() {
        return G1::identity();
    }
    let c = window_bits(terms.len());
    let windows = 255usize.div_ceil(c);
    let half_buckets = 1usize << (c - 1);
    let n = terms.len();
    // Window-major digits, so that a window's pass reads its digits in order.
    let mut by_window = vec![0i32; n * windows];
    let mut digits = vec![0i32; windows];
    for (i, (l, _)) in terms.iter().enumerate() {
        recode(l, c, &mut digits);
        for (w, d) in digits.iter().enumerate() {
            by_window[w * n + i] = *d;
        }
    }
    // A window at a time (its points stay in cache), the windows spread over the threads.
    let sums: Vec<G1> = (0..windows)
        .into_par_iter()
        .map(|w| {
            let digits = &by_window[w * n..(w + 1) * n];
            let (points, starts) = sorted(
                half_buckets,
                |add| digits.iter().filter(|d| **d != 0).for_each(|d| add(d.unsigned_abs() as usize - 1)),
                |add| {
                    for (d, (_, base)) in digits.iter().zip(&terms) {
                        if *d != 0 {
                            add(d.unsigned_abs() as usize - 1, if *d > 0 { *base } else { -*base });
                        }
                    }
                },
            );
            bucket_sums(&fill_buckets(points, starts), c)
        })
        .collect();
    // Σ_w 2^(c·w) · sums[w], from the top window down.
    let mut total = G1::identity();
    for sum in sums.iter().rev() {
        for _ in 0..c {
            total = total.double();
        }
        total += sum;
    }
    total
}

/// Window width of [`FixedBases`]: a full-size scalar costs `⌈255 / 13⌉ = 20` additions, and
/// a part's buckets about `2^13` more ([`bucket_sums`]). `cargo bench -p verdict-circuits
/// --bench msm` measured 12, 13 and 14 at 19.9, 16.4 and 16.9 ms for a tile step's cross term
/// and 21.0, 21.2 and 20.3 ms for its witness.
pub const FIXED_WINDOW_BITS: usize = 13;

/// Scalars a part of [`FixedBases::msm`] takes at least: a part's bucket sums cost about `2^c`
/// additions, so a part needs several thousand additions of points to be worth its own.
const MIN_PART_TERMS: usize = 512;

/// Fixed bases with their windows' multiples precomputed: `2^(c·w) · Gᵢ` for every window `w`,
/// so that a sum `Σ sᵢ·Gᵢ` needs no doubling between windows and puts every window's digits
/// into **one** set of buckets: about `n · 255/c + 2^c` batch-affine additions for `n`
/// full-size scalars, against `⌈255/c'⌉ · (n + 2^c')` for [`msm`]'s window-by-window sums (about
/// 152,000 against 203,000 for a tile step's cross term, 6,800 scalars).
///
/// The table costs `⌈255/c⌉` points a base (10.5 MB for a tile step's 8,198 variables at
/// `c = 13`) and about 255 doublings a base to build, so a prover builds it for a proof of many
/// steps, where the same bases serve every step's commitments.
pub struct FixedBases {
    c: usize,
    windows: usize,
    /// `table[i · windows + w] = 2^(c·w) · bases[i]`.
    table: Vec<G1Affine>,
}

impl FixedBases {
    /// The table of `bases` for windows of `c` bits (`2 ≤ c ≤ 20`): each window's multiples by
    /// `c` batch-affine doublings of the last window's (about seven field multiplications a
    /// doubling, under one inversion for a chunk of bases).
    pub fn new(bases: &[G1Affine], c: usize) -> Self {
        assert!((2..=20).contains(&c), "a window of 2 to 20 bits");
        let windows = 255usize.div_ceil(c);
        let chunks: Vec<Vec<G1Affine>> = bases
            .par_chunks(512)
            .map(|chunk| {
                let mut current = chunk.to_vec();
                let mut rows = vec![G1Affine::identity(); chunk.len() * windows];
                let (mut inverses, mut scratch) = (Vec::new(), Vec::new());
                for w in 0..windows {
                    for (row, p) in rows.chunks_mut(windows).zip(&current) {
                        row[w] = *p;
                    }
                    if w + 1 < windows {
                        for _ in 0..c {
                            double_all(&mut current, &mut inverses, &mut scratch);
                        }
                    }
                }
                rows
            })
            .collect();
        Self { c, windows, table: chunks.concat() }
    }

    /// The bases' count.
    pub fn len(&self) -> usize {
        self.table.len() / self.windows
    }

    /// Whether the table holds no base.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// `Σ scalars[i] · bases[offset + i]` (variable time, as [`msm`]); `None` when the table
    /// holds fewer than `offset + scalars.len()` bases.
    ///
    /// The nonzero scalars are dealt into one part a thread; each part puts the digits of all
    /// its scalars' windows into its own buckets, signed digits and negated scalars as in
    /// [`msm`].
    pub fn msm(&self, offset: usize, scalars: &[Fr]) -> Option<G1> {
        let (c, windows) = (self.c, self.windows);
        if scalars.is_empty() {
            return Some(G1::identity());
        }
        if offset.checked_add(scalars.len())? > self.len() {
            return None;
        }
        let half = half_order();
        let terms: Vec<Term> = scalars
            .par_iter()
            .enumerate()
            .filter(|(i, s)| !bool::from(s.is_zero()) && !bool::from(self.table[(offset + i) * windows].is_identity()))
            .map(|(i, s)| {
                let l = limbs(s);
                if above(&l, &half) {
                    (offset + i, limbs(&-*s), true)
                } else {
                    (offset + i, l, false)
                }
            })
            .collect();
        let (terms, repeated) = self.repeated(terms);
        // Part k takes every parts-th term from the k-th, so that full-size and small scalars
        // (a witness's bytes sit together) spread evenly over the parts.
        let parts = rayon::current_num_threads().min(terms.len().div_ceil(MIN_PART_TERMS)).max(1);
        let (sum, repeated_sum) = rayon::join(
            || {
                (0..parts)
                    .into_par_iter()
                    .map(|k| {
                        let part: Vec<&Term> = terms.iter().skip(k).step_by(parts).collect();
                        let mut digits = vec![0i32; part.len() * windows];
                        for ((_, l, _), d) in part.iter().copied().zip(digits.chunks_mut(windows)) {
                            recode(l, c, d);
                        }
                        let (points, starts) = sorted(
                            1 << (c - 1),
                            |add| digits.iter().filter(|d| **d != 0).for_each(|d| add(d.unsigned_abs() as usize - 1)),
                            |add| {
                                for ((i, _, negated), d) in part.iter().copied().zip(digits.chunks(windows)) {
                                    let row = &self.table[i * windows..(i + 1) * windows];
                                    for (d, p) in d.iter().zip(row).filter(|(d, _)| **d != 0) {
                                        add(d.unsigned_abs() as usize - 1, if (*d < 0) != *negated { -*p } else { *p });
                                    }
                                }
                            },
                        );
                        bucket_sums(&fill_buckets(points, starts), c)
                    })
                    .reduce(G1::identity, |a, b| a + b)
            },
            repeated,
        );
        Some(sum + repeated_sum)
    }

    /// Splits off the full-size scalars that occur at least [`REPEATS`] times (a step's lookup
    /// inverses `1/(α − b)` take one of 256 values): such a scalar `s` at bases `Gᵢ` costs
    /// `s · Σ Gᵢ`, the bases added once (batch-affine) and one term of a plain sum, where the
    /// table costs `⌈255/c⌉` additions for each of them. Returns the other terms, and that sum to
    /// compute.
    fn repeated(&self, terms: Vec<Term>) -> (Vec<Term>, impl FnOnce() -> G1 + Send + '_) {
        let mut order: Vec<usize> = (0..terms.len()).filter(|k| terms[*k].1[2..] != [0, 0]).collect();
        order.par_sort_unstable_by_key(|k| terms[*k].1);
        let mut grouped = vec![false; terms.len()];
        let (mut scalars, mut starts) = (Vec::new(), vec![0usize]);
        let mut members: Vec<usize> = Vec::new();
        for run in order.chunk_by(|a, b| terms[*a].1 == terms[*b].1).filter(|run| run.len() >= REPEATS) {
            run.iter().for_each(|k| grouped[*k] = true);
            members.extend_from_slice(run);
            starts.push(members.len());
            scalars.push(terms[run[0]].1);
        }
        let windows = self.windows;
        let points: Vec<G1Affine> = members
            .iter()
            .map(|k| {
                let (i, _, negated) = terms[*k];
                let p = self.table[i * windows];
                if negated {
                    -p
                } else {
                    p
                }
            })
            .collect();
        let rest = terms.iter().zip(&grouped).filter(|(_, g)| !**g).map(|(t, _)| *t).collect();
        let sum = move || {
            if scalars.is_empty() {
                return G1::identity();
            }
            let bases: Vec<G1Affine> =
                fill_buckets(points, starts).into_iter().map(|p| p.unwrap_or_else(G1Affine::identity)).collect();
            let scalars: Vec<Fr> = scalars.iter().map(from_limbs).collect();
            msm(&scalars, &bases)
        };
        (rest, sum)
    }
}

/// A term of [`FixedBases::msm`]: its base's index, its scalar's limbs (at most `(r − 1)/2`) and
/// whether the base is negated.
type Term = (usize, [u64; 4], bool);

/// A full-size scalar at least this often in one sum is summed by [`FixedBases::repeated`]:
/// below, its plain term (about `⌈255/6⌉ = 43` additions at the few hundred terms such sums
/// have, and its share of their buckets) costs more than the table's 20 additions a base saves.
const REPEATS: usize = 4;

/// The scalar whose little-endian limbs are `l` (below `r`).
fn from_limbs(l: &[u64; 4]) -> Fr {
    let mut repr = <Fr as PrimeField>::Repr::default();
    for (chunk, limb) in repr.as_mut().chunks_mut(8).zip(l) {
        chunk.copy_from_slice(&limb.to_le_bytes());
    }
    Fr::from_repr(repr).expect("limbs of a scalar")
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2curves::group::Curve;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn bases(n: usize, rng: &mut StdRng) -> Vec<G1Affine> {
        let g = G1::generator();
        let mut p = g * Fr::random(&mut *rng);
        let step = g * Fr::random(&mut *rng);
        (0..n)
            .map(|_| {
                p += step;
                p.to_affine()
            })
            .collect()
    }

    fn naive(scalars: &[Fr], bases: &[G1Affine]) -> G1 {
        scalars.iter().zip(bases).fold(G1::identity(), |acc, (s, b)| acc + *b * s)
    }

    #[test]
    fn recoded_digits_sum_to_the_scalar() {
        let mut rng = StdRng::seed_from_u64(1);
        for c in [4, 6, 8, 10, 12, 14] {
            for s in [Fr::ZERO, Fr::ONE, -Fr::ONE, Fr::from(u64::MAX), Fr::random(&mut rng), Fr::random(&mut rng)] {
                let windows = 255usize.div_ceil(c);
                let mut d = vec![0; windows];
                let l = limbs(&s);
                recode(&l, c, &mut d);
                let back = d.iter().rev().fold(Fr::ZERO, |acc, d| {
                    let d = if *d < 0 { -Fr::from(d.unsigned_abs() as u64) } else { Fr::from(*d as u64) };
                    acc * Fr::from(1u64 << c) + d
                });
                assert_eq!(back, s, "c = {c}");
                assert!(d.iter().all(|d| d.unsigned_abs() <= 1 << (c - 1)));
            }
        }
    }

    #[test]
    fn equals_the_naive_sum_on_every_kind_of_scalar() {
        let mut rng = StdRng::seed_from_u64(2);
        for n in [0, 1, 2, 3, 17, 100, 700, 3_000] {
            let b = bases(n, &mut rng);
            let kinds: Vec<Fr> = (0..n)
                .map(|i| match i % 6 {
                    0 => Fr::ZERO,
                    1 => Fr::from(rng.gen_range(0..256u64)),
                    2 => -Fr::from(rng.gen_range(1..1u64 << 40)),
                    3 => Fr::ONE,
                    _ => Fr::random(&mut rng),
                })
                .collect();
            assert_eq!(msm(&kinds, &b), naive(&kinds, &b), "n = {n}");
        }
    }

    #[test]
    fn sparse_high_windows_sum_by_doubling() {
        // A challenged step's prefix: bytes and one random blind, whose high windows hold one
        // point each.
        let mut rng = StdRng::seed_from_u64(5);
        for n in [50, 1_500] {
            let b = bases(n, &mut rng);
            let mut s: Vec<Fr> = (0..n).map(|_| Fr::from(rng.gen_range(0..256u64))).collect();
            s[0] = Fr::random(&mut rng);
            assert_eq!(msm(&s, &b), naive(&s, &b), "n = {n}");
        }
    }

    #[test]
    fn repeated_and_opposite_bases_double_and_cancel() {
        // Equal points in one bucket double; a point and its negation cancel.
        let mut rng = StdRng::seed_from_u64(3);
        let p = bases(1, &mut rng)[0];
        for n in [2, 3, 4, 9, 64, 1_000] {
            let same = vec![p; n];
            let ones = vec![Fr::ONE; n];
            assert_eq!(msm(&ones, &same), naive(&ones, &same), "{n} copies");
            let mixed: Vec<G1Affine> = (0..n).map(|i| if i % 2 == 0 { p } else { -p }).collect();
            let s: Vec<Fr> = (0..n).map(|i| Fr::from(1 + (i as u64 % 3))).collect();
            assert_eq!(msm(&s, &mixed), naive(&s, &mixed), "{n} opposite");
            let big = vec![Fr::random(&mut rng); n];
            assert_eq!(msm(&big, &same), naive(&big, &same), "{n} equal large");
        }
        // The identity as a base contributes nothing.
        let b = [p, G1Affine::identity(), p];
        let s = [Fr::from(5), Fr::random(&mut rng), Fr::from(7)];
        assert_eq!(msm(&s, &b), naive(&s, &b));
    }

    #[test]
    fn the_fixed_bases_table_equals_the_naive_sum_at_any_offset() {
        let mut rng = StdRng::seed_from_u64(6);
        let b = bases(3_000, &mut rng);
        for c in [4, 9, 13] {
            let table = FixedBases::new(&b, c);
            assert_eq!(table.len(), b.len());
            for (offset, n) in [(0, 0), (0, 1), (7, 2), (0, 700), (1_000, 2_000), (2_999, 1)] {
                let s: Vec<Fr> = (0..n)
                    .map(|i| match i % 5 {
                        0 => Fr::ZERO,
                        1 => Fr::from(rng.gen_range(0..256u64)),
                        2 => -Fr::from(rng.gen_range(1..1u64 << 40)),
                        _ => Fr::random(&mut rng),
                    })
                    .collect();
                let bases = &b[offset..offset + n];
                assert_eq!(table.msm(offset, &s), Some(naive(&s, bases)), "c = {c}, {n} at {offset}");
                assert_eq!(table.msm(offset, &s), Some(msm(&s, bases)));
            }
            // Past the table's bases: refused, not read out of bounds.
            assert_eq!(table.msm(2_999, &[Fr::ONE, Fr::ONE]), None);
            assert_eq!(table.msm(usize::MAX, &[Fr::ONE]), None);
        }
        // Equal, opposite and identity bases, as the plain sum takes them.
        let p = b[0];
        let odd = vec![p, -p, p, G1Affine::identity(), p];
        let table = FixedBases::new(&odd, FIXED_WINDOW_BITS);
        let s = [Fr::random(&mut rng), Fr::from(3), -Fr::ONE, Fr::random(&mut rng), Fr::random(&mut rng)];
        assert_eq!(table.msm(0, &s), Some(naive(&s, &odd)));
    }

    #[test]
    fn repeated_scalars_summed_base_first_equal_the_naive_sum() {
        // A step's lookup inverses: full-size scalars from a small set, some negated, between
        // bytes, zeros and scalars that occur fewer than REPEATS times.
        let mut rng = StdRng::seed_from_u64(7);
        let b = bases(2_000, &mut rng);
        let few: Vec<Fr> = (0..5).map(|_| Fr::random(&mut rng)).collect();
        let s: Vec<Fr> = (0..2_000)
            .map(|i| match i % 7 {
                0 => Fr::ZERO,
                1 => Fr::from(rng.gen_range(0..256u64)),
                2 | 3 => few[rng.gen_range(0..few.len())],
                4 => -few[rng.gen_range(0..few.len())],
                _ => Fr::random(&mut rng),
            })
            .collect();
        let table = FixedBases::new(&b, FIXED_WINDOW_BITS);
        for (offset, n) in [(0, 2_000), (13, 1_500), (0, REPEATS - 1), (0, 40)] {
            let (s, bases) = (&s[offset..offset + n], &b[offset..offset + n]);
            assert_eq!(table.msm(offset, s), Some(naive(s, bases)), "{n} at {offset}");
        }
        // One scalar at every base, and at a base and its negation (a group that cancels).
        let p = b[0];
        let (cancel, x) = (vec![p, -p, p, -p, b[1]], Fr::random(&mut rng));
        let table = FixedBases::new(&cancel, FIXED_WINDOW_BITS);
        assert_eq!(table.msm(0, &[x; 5]), Some(naive(&[x; 5], &cancel)));
        assert_eq!(table.msm(0, &[x, x, x, x, -x]), Some(naive(&[x, x, x, x, -x], &cancel)));
    }

    #[test]
    fn equals_halo2curves_at_a_tile_steps_size() {
        let mut rng = StdRng::seed_from_u64(4);
        let n = 16_384;
        let b = bases(n, &mut rng);
        let s: Vec<Fr> =
            (0..n).map(|i| if i % 2 == 0 { Fr::random(&mut rng) } else { Fr::from(i as u64 % 256) }).collect();
        assert_eq!(msm(&s, &b), halo2curves::msm::msm_best(&s, &b));
    }
}
