//! Layers that make a tensor larger: `ConvTranspose` (a decoder's learned upsampling), lowered
//! to the dense layer it computes, as `Conv` is; and `Resize` (`nn.Upsample`, `F.interpolate`)
//! in `nearest` or `linear` mode, a fixed linear map of the running tensor composed into a
//! neighbouring layer. Both are exact in float.

use super::{
    attr, explicit_pads, kernel_dims, lowered_layer, lowered_weights, Affine, ConstData, Constant, NodeProto, Spatial,
    MAX_WINDOW,
};
use crate::{Error, FloatLayer, Result};

/// A node's string attribute (`default` when absent).
fn text(node: &NodeProto, name: &str, default: &str) -> String {
    attr(node, name).map_or_else(|| default.to_string(), |a| String::from_utf8_lossy(&a.s).into_owned())
}

/// A per-axis attribute of a 2-D (or, over `[C, L]` taken as height 1, 1-D) window.
fn pair(node: &NodeProto, name: &str, default: [usize; 2], min: i64, input: Spatial, at: &str) -> Result<[usize; 2]> {
    let ok = |v: &i64| (min..=MAX_WINDOW).contains(v);
    match attr(node, name).map(|a| a.ints.as_slice()) {
        None | Some([]) => Ok(default),
        Some([a, b]) if ok(a) && ok(b) => Ok([*a as usize, *b as usize]),
        Some([a]) if input.h == 1 && ok(a) => Ok([default[0], *a as usize]),
        Some(v) => {
            Err(Error::graph(at, format!("`{name}` must be one value an axis in [{min}, {MAX_WINDOW}], found {v:?}")))
        }
    }
}

/// A `ConvTranspose` as the equivalent dense layer: input `(ci, y, x)` adds its value times the
/// kernel's tap `(ky, kx)` to output `(co, y·stride + ky·dilation − pad, …)`, within the output.
/// Returns the layer and its output layout.
pub(super) fn conv_transpose_layer(
    node: &NodeProto,
    input: Spatial,
    kernel: &Constant,
    bias: Option<&[f32]>,
    at: &str,
) -> Result<(FloatLayer, Spatial)> {
    let ([c_in, per_group, kh, kw], group) = kernel_dims(node, kernel, input, "C_in, C_out/group", at)?;
    if c_in != input.c || c_in % group != 0 {
        return Err(Error::graph(
            at,
            format!(
                "a transposed kernel of {c_in} x {per_group} channels in {group} group(s) does not fit an input of {} \
                 channels",
                input.c
            ),
        ));
    }
    let c_out = per_group * group;
    let kernel_shape = pair(node, "kernel_shape", [kh, kw], 1, input, at)?;
    if kernel_shape != [kh, kw] {
        return Err(Error::graph(at, format!("kernel_shape {kernel_shape:?} does not match the kernel's {kh}x{kw}")));
    }
    let strides = pair(node, "strides", [1, 1], 1, input, at)?;
    let dilations = pair(node, "dilations", [1, 1], 1, input, at)?;
    let extra = pair(node, "output_padding", [0, 0], 0, input, at)?;
    if extra[0] >= strides[0].max(dilations[0]) || extra[1] >= strides[1].max(dilations[1]) {
        return Err(Error::graph(at, format!("output_padding {extra:?} must be below the stride or the dilation")));
    }
    let span = [(kh - 1) * dilations[0] + 1, (kw - 1) * dilations[1] + 1];
    // The output before cropping, along each axis.
    let full = [strides[0] * (input.h - 1) + extra[0] + span[0], strides[1] * (input.w - 1) + extra[1] + span[1]];
    let auto_pad = text(node, "auto_pad", "NOTSET");
    let output_shape = attr(node, "output_shape").map(|a| a.ints.clone()).filter(|v| !v.is_empty());
    // Pads `[top, left, bottom, right]`: given, or what the requested output size leaves over.
    let pads = match (auto_pad.as_str(), output_shape) {
        ("NOTSET" | "", None) => {
            let pads = explicit_pads(node, input, at)?;
            if pads[0] + pads[2] >= full[0] || pads[1] + pads[3] >= full[1] {
                return Err(Error::graph(at, format!("pads {pads:?} leave no output of {}x{}", full[0], full[1])));
            }
            pads
        }
        (mode, shape) => {
            // The output size asked for (`output_shape`, or the input's times the stride for
            // SAME_*): the difference is cropped, its odd unit at the end unless SAME_UPPER
            // says the start, as ONNX specifies.
            let want = match shape.as_deref() {
                Some([h, w]) => [*h, *w],
                Some([l]) if input.h == 1 => [1, *l],
                Some(v) if v.len() >= 2 && input.h != 1 => [v[v.len() - 2], v[v.len() - 1]],
                Some(v) => return Err(Error::graph(at, format!("output_shape {v:?} does not fit a 2-D or 1-D input"))),
                None if mode == "SAME_UPPER" || mode == "SAME_LOWER" => {
                    [(input.h * strides[0]) as i64, (input.w * strides[1]) as i64]
                }
                None => return Err(Error::graph(at, format!("unknown auto_pad `{mode}`"))),
            };
            let mut pads = [0usize; 4];
            for axis in 0..2 {
                let total = i64::try_from(full[axis]).unwrap_or(i64::MAX).checked_sub(want[axis]);
                let total = total.filter(|t| *t >= 0 && want[axis] > 0).ok_or_else(|| {
                    Error::graph(
                        at,
                        format!(
                            "an output size of {} is beyond the {} this ConvTranspose computes",
                            want[axis], full[axis]
                        ),
                    )
                })? as usize;
                let (start, end) =
                    if mode == "SAME_UPPER" { (total / 2, total - total / 2) } else { (total - total / 2, total / 2) };
                pads[axis] = start;
                pads[axis + 2] = end;
            }
            pads
        }
    };
    let out = Spatial { c: c_out, h: full[0] - pads[0] - pads[2], w: full[1] - pads[1] - pads[3] };
    let k = kernel.floats(at)?;
    let in_dim = input.len();
    let mut weights = lowered_weights("ConvTranspose", input, out, at)?;
    let in_per_group = c_in / group;
    for ci in 0..c_in {
        for y in 0..input.h {
            for x in 0..input.w {
                let column = input.index(ci, y, x);
                for local in 0..per_group {
                    let co = ci / in_per_group * per_group + local;
                    for ky in 0..kh {
                        let oy = (y * strides[0] + ky * dilations[0]).checked_sub(pads[0]).filter(|v| *v < out.h);
                        let Some(oy) = oy else { continue };
                        for kx in 0..kw {
                            let ox = (x * strides[1] + kx * dilations[1]).checked_sub(pads[1]).filter(|v| *v < out.w);
                            let Some(ox) = ox else { continue };
                            weights[out.index(co, oy, ox) * in_dim + column] +=
                                k[((ci * per_group + local) * kh + ky) * kw + kx];
                        }
                    }
                }
            }
        }
    }
    Ok((lowered_layer(weights, input, out, bias, at)?, out))
}

/// How `Resize` reads its input along one axis: for each output position, the input positions
/// and their weights.
type AxisTaps = Vec<Vec<(usize, f64)>>;

/// `Resize` of the running tensor (`dims`, batch 1, 3-D `[N, C, L]` or 4-D `[N, C, H, W]`) in
/// `nearest` or `linear` mode as a linear map; returns it and the output layout. `scales` and
/// `sizes` are the node's constant inputs (one of them), over every axis or over `axes`.
pub(super) fn resize(
    node: &NodeProto,
    dims: &[usize],
    scales: Option<&Constant>,
    sizes: Option<&Constant>,
    at: &str,
) -> Result<(Affine, Spatial)> {
    let rank = dims.len();
    if !(rank == 3 || rank == 4) {
        return Err(Error::graph(at, format!("Resize needs a [N, C, L] or [N, C, H, W] tensor, found dims {dims:?}")));
    }
    let mode = text(node, "mode", "nearest");
    if mode != "nearest" && mode != "linear" {
        return Err(Error::graph(at, format!("Resize mode `{mode}` is not supported: nearest or linear")));
    }
    let transform = text(node, "coordinate_transformation_mode", "half_pixel");
    let rounding = text(node, "nearest_mode", "round_prefer_floor");
    let policy = text(node, "keep_aspect_ratio_policy", "stretch");
    if policy != "stretch" {
        return Err(Error::graph(at, format!("keep_aspect_ratio_policy `{policy}` is not supported (stretch only)")));
    }
    // The axes that scales or sizes name (opset 18's `axes`; every axis before).
    let axes: Vec<usize> = match attr(node, "axes").map(|a| a.ints.as_slice()).filter(|a| !a.is_empty()) {
        None => (0..rank).collect(),
        Some(axes) => axes
            .iter()
            .map(|a| {
                let a = if *a < 0 { a + rank as i64 } else { *a };
                usize::try_from(a)
                    .ok()
                    .filter(|a| *a < rank)
                    .ok_or_else(|| Error::graph(at, format!("axis {a} out of range")))
            })
            .collect::<Result<_>>()?,
    };
    // Each axis' output size and the scale its coordinates use.
    let mut size = dims.to_vec();
    let mut scale: Vec<f32> = vec![1.0; rank];
    match (scales.filter(|c| c.count() > 0), sizes.filter(|c| c.count() > 0)) {
        (Some(s), None) => {
            let s = s.floats(at)?;
            if s.len() != axes.len() {
                return Err(Error::graph(at, format!("{} scales for {} axes", s.len(), axes.len())));
            }
            for (a, k) in axes.iter().zip(s) {
                if !(k.is_finite() && *k > 0.0) {
                    return Err(Error::graph(at, format!("a scale of {k}")));
                }
                scale[*a] = *k;
                size[*a] = (dims[*a] as f64 * f64::from(*k)).floor() as usize;
            }
        }
        (None, Some(n)) => {
            let ConstData::I64(n) = &n.data else { return Err(Error::graph(at, "Resize's sizes must be integers")) };
            if n.len() != axes.len() {
                return Err(Error::graph(at, format!("{} sizes for {} axes", n.len(), axes.len())));
            }
            for (a, k) in axes.iter().zip(n) {
                size[*a] = usize::try_from(*k).map_err(|_| Error::graph(at, format!("a size of {k}")))?;
                scale[*a] = *k as f32 / dims[*a] as f32;
            }
        }
        _ => return Err(Error::graph(at, "Resize takes constant scales or constant sizes (exactly one of them)")),
    }
    if size[0] != dims[0] || size[1] != dims[1] {
        return Err(Error::graph(at, "Resize may change only the spatial axes (not the batch or the channels)"));
    }
    if size.contains(&0) || super::shape::values_in(&size).is_none() {
        return Err(Error::graph(at, format!("a Resize to dims {size:?}")));
    }
    if attr(node, "antialias").is_some_and(|a| a.i != 0) && scale.iter().any(|s| *s < 1.0) {
        return Err(Error::graph(at, "Resize with antialias when downsampling is not supported"));
    }
    let taps = |axis: usize| -> Result<AxisTaps> {
        let (n, m, s) = (dims[axis], size[axis], scale[axis]);
        (0..m)
            .map(|o| {
                // Where output position `o` sits in the input, in float32 as runtimes compute it.
                let of = o as f32;
                let x = match transform.as_str() {
                    "half_pixel" => (of + 0.5) / s - 0.5,
                    "pytorch_half_pixel" if m > 1 => (of + 0.5) / s - 0.5,
                    "pytorch_half_pixel" => 0.0,
                    "align_corners" if m > 1 => of * (n as f32 - 1.0) / (m as f32 - 1.0),
                    "align_corners" => 0.0,
                    "asymmetric" => of / s,
                    "half_pixel_symmetric" => {
                        let adjustment = m as f32 / (s * n as f32);
                        let offset = n as f32 / 2.0 * (1.0 - adjustment);
                        offset + (of + 0.5) / s - 0.5
                    }
                    other => {
                        return Err(Error::graph(
                            at,
                            format!("coordinate_transformation_mode `{other}` is not supported"),
                        ))
                    }
                };
                let clamp = |i: f32| (i.max(0.0) as usize).min(n - 1);
                if mode == "linear" {
                    let x0 = x.floor();
                    let r = f64::from(x - x0);
                    let (a, b) = (clamp(x0), clamp(x0 + 1.0));
                    Ok(if a == b || r == 0.0 { vec![(a, 1.0)] } else { vec![(a, 1.0 - r), (b, r)] })
                } else {
                    let i = match rounding.as_str() {
                        "round_prefer_floor" if x.fract() == 0.5 => x.floor(),
                        "round_prefer_ceil" if x.fract() == 0.5 => x.ceil(),
                        "round_prefer_floor" | "round_prefer_ceil" => x.round(),
                        "floor" => x.floor(),
                        "ceil" => x.ceil(),
                        other => return Err(Error::graph(at, format!("nearest_mode `{other}` is not supported"))),
                    };
                    Ok(vec![(clamp(i), 1.0)])
                }
            })
            .collect()
    };
    let (input, out, rows_taps, cols_taps) = if rank == 3 {
        let input = Spatial { c: dims[1], h: 1, w: dims[2] };
        (input, Spatial { c: dims[1], h: 1, w: size[2] }, vec![vec![(0, 1.0)]], taps(2)?)
    } else {
        let input = Spatial { c: dims[1], h: dims[2], w: dims[3] };
        (input, Spatial { c: dims[1], h: size[2], w: size[3] }, taps(2)?, taps(3)?)
    };
    let mut rows = Vec::with_capacity(out.len());
    for c in 0..out.c {
        for ty in &rows_taps {
            for tx in &cols_taps {
                rows.push(
                    ty.iter()
                        .flat_map(|(y, wy)| tx.iter().map(move |(x, wx)| (input.index(c, *y, *x), wy * wx)))
                        .collect(),
                );
            }
        }
    }
    Ok((Affine { in_dim: input.len(), rows, offset: vec![0.0; out.len()] }, out))
}
