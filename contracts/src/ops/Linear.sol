// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {FixedPoint} from "../FixedPoint.sol";
import {Quant} from "../Quant.sol";
import {Opened, OneStepIO} from "../OneStep.sol";
import {ElementwiseOp} from "./Elementwise.sol";
import {RopeOp} from "./Rope.sol";

/// @title LinearOp: engine/ops/linear.py (ops `linear` 0x10, `linear_swiglu` 0x11, `linear_add` 0x12,
/// `linear_rope` 0x13) for the one-step verifier.
/// @notice linear: y[n] = saturate(round_half_up(2^fy * sum_k w[n,k] * x[k] * 2^-fx), width): x (K,) at fx, W a
/// GGUF matrix committed raw as (N, bytes per row) and decoded by its GGML type id `wtype`; one rounding of the
/// exact dot product (Quant.qlinearRow). Fan-in of y[n]: all K elements of x and the bytes of row n of W.
/// linear_swiglu (x, W_gate, W_up): g = saturate(qlinear_row(x, W_gate, n, fx, fh), width), u likewise with W_up,
/// y[n] = saturate(mul_round_shift(silu(g), u, 16 + fh - fy), width) (ElementwiseOp.swiglu); fan-in: x, row n of
/// each matrix. linear_add (x, W, h): y[n] = saturate(checked_add(h[n], saturate(qlinear_row(x, W, n, fx, fy),
/// width)), width) (ElementwiseOp.add); fan-in: x, row n of W, h[n]. linear_rope (x, W, cos, sin): z[m] =
/// saturate(qlinear_row(x, W, m, fx, fy), width), y[n] = the rope of the pair z[n - n%2], z[n - n%2 + 1] at the
/// position (RopeOp.rotate); fan-in: x, those two rows of W, cos and sin at (position, (n % head_dim) / 2).
library LinearOp {
    // params of `linear`, ascending names: fx, fy, width, wtype
    uint256 internal constant FX = 0;
    uint256 internal constant FY = 1;
    uint256 internal constant WIDTH = 2;
    uint256 internal constant WTYPE = 3;
    // params of `linear_add`: the same (fx, fy, width, wtype)
    // params of `linear_swiglu`, ascending names: fh, fx, fy, width, wtype_gate, wtype_up
    uint256 internal constant SW_FH = 0;
    uint256 internal constant SW_FX = 1;
    uint256 internal constant SW_FY = 2;
    uint256 internal constant SW_WIDTH = 3;
    uint256 internal constant SW_WTYPE_GATE = 4;
    uint256 internal constant SW_WTYPE_UP = 5;
    // params of `linear_rope`, ascending names: fx, fy, head_dim, n_heads, width, wtype
    uint256 internal constant LR_HEAD_DIM = 2;
    uint256 internal constant LR_WIDTH = 4;
    uint256 internal constant LR_WTYPE = 5;

    /// Columns of a row of `rowBytes` bytes of GGML type `wtype`: rowBytes / bytes per block * block size
    /// (QuantMatrix.shape[1] from its committed raw shape); 0 for a type the engine does not import.
    function columns(uint256 rowBytes, uint256 wtype) internal pure returns (uint256) {
        (uint256 blk, uint256 bpb) = Quant.typeLayout(wtype);
        return bpb == 0 ? 0 : (rowBytes / bpb) * blk;
    }

    /// Linear.shape (also the fused forms'): (N,), the rows of W (committed (N, bytes per row)).
    function linearShape(int256[] memory, uint256[][] memory s) internal pure returns (uint256[] memory) {
        return OneStepIO.shape1(OneStepIO.dim(OneStepIO.shapeOf(s, 1), 0));
    }

    /// All K elements of x (operand 0).
    function input(Opened[] memory a) private pure returns (int256[] memory) {
        return OneStepIO.range(a[0], 0, a[0].numel);
    }

    /// saturate(qlinear_row(x, W, j, fx, fy), width) with W the raw matrix w of GGML type wtype, row j parsed
    /// from its bytes.
    function row(Opened memory w, int256[] memory x, uint256 j, uint256 wtype, int256 fx, int256 fy, int256 width)
        private
        pure
        returns (int256)
    {
        uint256 rb = OneStepIO.dim(w.shape, 1);
        bytes memory r = OneStepIO.rawBytes(w, j * rb, (j + 1) * rb);
        int256 y = Quant.qlinearRow(r, wtype, x, FixedPoint.clampShift(fx), FixedPoint.clampShift(fy));
        return FixedPoint.saturate(y, width);
    }

    /// Linear.element: saturate(qlinear_row(x, W, j, fx, fy), width).
    function linearElement(int256[] memory prm, Opened[] memory a, uint256 j) internal pure returns (int256) {
        return linearRow(prm, a, input(a), j);
    }

    /// saturate(qlinear_row(x, W (operand 1), j, fx, fy), width) with linear's params.
    function linearRow(int256[] memory prm, Opened[] memory a, int256[] memory x, uint256 j)
        private
        pure
        returns (int256)
    {
        return row(a[1], x, j, OneStepIO.u(prm, WTYPE), OneStepIO.p(prm, FX), OneStepIO.p(prm, FY), OneStepIO.p(prm, WIDTH));
    }

    /// LinearSwiGLU.element: g = saturate(qlinear_row(x, W_gate, j, fx, fh), width), u the same with W_up;
    /// saturate(mul_round_shift(silu(g), u, 16 + fh - fy), width).
    function linearSwigluElement(int256[] memory prm, Opened[] memory a, uint256 j) internal pure returns (int256) {
        int256[] memory x = input(a);
        int256 fx = OneStepIO.p(prm, SW_FX);
        int256 fh = OneStepIO.p(prm, SW_FH);
        int256 width = OneStepIO.p(prm, SW_WIDTH);
        int256 g = row(a[1], x, j, OneStepIO.u(prm, SW_WTYPE_GATE), fx, fh, width);
        int256 u = row(a[2], x, j, OneStepIO.u(prm, SW_WTYPE_UP), fx, fh, width);
        return ElementwiseOp.swiglu(g, u, ElementwiseOp.swigluShift(fh, OneStepIO.p(prm, SW_FY)), width);
    }

    /// LinearRope.element: a, b = saturate(qlinear_row(x, W, base + {0, 1}, fx, fy), width) for base = j - j % 2;
    /// rope_element(a, b, cos[p, i], sin[p, i], j odd, width) with i = (j % head_dim) / 2.
    function linearRopeElement(int256[] memory prm, Opened[] memory a, uint256 position, uint256 j)
        internal
        pure
        returns (int256)
    {
        (int256 z0, int256 z1) = pair(prm, a, j - (j % 2));
        uint256 i = OneStepIO.mod(j, OneStepIO.u(prm, LR_HEAD_DIM)) / 2;
        return rotated(z0, z1, a, position, i, j % 2 == 1, OneStepIO.p(prm, LR_WIDTH));
    }

    /// RopeOp.rotate of (z0, z1) by the angles at (position, i) of linear_rope's tables (operands 2, 3).
    function rotated(int256 z0, int256 z1, Opened[] memory a, uint256 position, uint256 i, bool odd, int256 width)
        private
        pure
        returns (int256)
    {
        (int256 c, int256 s) = RopeOp.angles(a[2], a[3], position, i);
        return RopeOp.rotate(z0, z1, c, s, odd, width);
    }

    /// Rows base and base + 1 of linear_rope's saturated linear output.
    function pair(int256[] memory prm, Opened[] memory a, uint256 base) private pure returns (int256 z0, int256 z1) {
        int256[] memory x = input(a);
        uint256 wtype = OneStepIO.u(prm, LR_WTYPE);
        int256 width = OneStepIO.p(prm, LR_WIDTH);
        z0 = row(a[1], x, base, wtype, OneStepIO.p(prm, FX), OneStepIO.p(prm, FY), width);
        z1 = row(a[1], x, base + 1, wtype, OneStepIO.p(prm, FX), OneStepIO.p(prm, FY), width);
    }

    /// LinearAdd.element: saturate(checked_add(h[j], saturate(qlinear_row(x, W, j, fx, fy), width)), width).
    function linearAddElement(int256[] memory prm, Opened[] memory a, uint256 j) internal pure returns (int256) {
        int256 y = linearRow(prm, a, input(a), j);
        return ElementwiseOp.add(OneStepIO.elem(a[2], j), y, OneStepIO.p(prm, WIDTH));
    }
}
