// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {FixedPoint} from "../FixedPoint.sol";
import {Quant} from "../Quant.sol";
import {Opened, OneStepIO} from "../OneStepIO.sol";
import {OpFamily} from "../OpFamily.sol";
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
    uint256 internal constant OP_LINEAR = 0x10;
    uint256 internal constant OP_LINEAR_SWIGLU = 0x11;
    uint256 internal constant OP_LINEAR_ADD = 0x12;
    uint256 internal constant OP_LINEAR_ROPE = 0x13;
    // params (index in ascending name order)
    uint256 internal constant LINEAR_FX = 0;
    uint256 internal constant LINEAR_FY = 1;
    uint256 internal constant LINEAR_WIDTH = 2;
    uint256 internal constant LINEAR_WTYPE = 3;
    uint256 internal constant LINEAR_ADD_FX = 0;
    uint256 internal constant LINEAR_ADD_FY = 1;
    uint256 internal constant LINEAR_ADD_WIDTH = 2;
    uint256 internal constant LINEAR_ADD_WTYPE = 3;
    uint256 internal constant LINEAR_SWIGLU_FH = 0;
    uint256 internal constant LINEAR_SWIGLU_FX = 1;
    uint256 internal constant LINEAR_SWIGLU_FY = 2;
    uint256 internal constant LINEAR_SWIGLU_WIDTH = 3;
    uint256 internal constant LINEAR_SWIGLU_WTYPE_GATE = 4;
    uint256 internal constant LINEAR_SWIGLU_WTYPE_UP = 5;
    uint256 internal constant LINEAR_ROPE_FX = 0;
    uint256 internal constant LINEAR_ROPE_FY = 1;
    uint256 internal constant LINEAR_ROPE_HEAD_DIM = 2;
    uint256 internal constant LINEAR_ROPE_N_HEADS = 3;
    uint256 internal constant LINEAR_ROPE_WIDTH = 4;
    uint256 internal constant LINEAR_ROPE_WTYPE = 5;

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
        return row(
            a[1],
            input(a),
            j,
            OneStepIO.u(prm, LINEAR_WTYPE),
            OneStepIO.p(prm, LINEAR_FX),
            OneStepIO.p(prm, LINEAR_FY),
            OneStepIO.p(prm, LINEAR_WIDTH)
        );
    }

    /// LinearSwiGLU.element: g = saturate(qlinear_row(x, W_gate, j, fx, fh), width), u the same with W_up;
    /// saturate(mul_round_shift(silu(g), u, 16 + fh - fy), width).
    function linearSwigluElement(int256[] memory prm, Opened[] memory a, uint256 j) internal pure returns (int256) {
        int256[] memory x = input(a);
        int256 fx = OneStepIO.p(prm, LINEAR_SWIGLU_FX);
        int256 fh = OneStepIO.p(prm, LINEAR_SWIGLU_FH);
        int256 width = OneStepIO.p(prm, LINEAR_SWIGLU_WIDTH);
        int256 g = row(a[1], x, j, OneStepIO.u(prm, LINEAR_SWIGLU_WTYPE_GATE), fx, fh, width);
        int256 u = row(a[2], x, j, OneStepIO.u(prm, LINEAR_SWIGLU_WTYPE_UP), fx, fh, width);
        return ElementwiseOp.swiglu(g, u, ElementwiseOp.swigluShift(fh, OneStepIO.p(prm, LINEAR_SWIGLU_FY)), width);
    }

    /// LinearRope.element: a, b = saturate(qlinear_row(x, W, base + {0, 1}, fx, fy), width) for base = j - j % 2;
    /// rope_element(a, b, cos[p, i], sin[p, i], j odd, width) with i = (j % head_dim) / 2.
    function linearRopeElement(int256[] memory prm, Opened[] memory a, uint256 position, uint256 j)
        internal
        pure
        returns (int256)
    {
        (int256 z0, int256 z1) = pair(prm, a, j - (j % 2));
        uint256 i = OneStepIO.mod(j, OneStepIO.u(prm, LINEAR_ROPE_HEAD_DIM)) / 2;
        return rotated(z0, z1, a, position, i, j % 2 == 1, OneStepIO.p(prm, LINEAR_ROPE_WIDTH));
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
        uint256 wtype = OneStepIO.u(prm, LINEAR_ROPE_WTYPE);
        int256 width = OneStepIO.p(prm, LINEAR_ROPE_WIDTH);
        z0 = row(a[1], x, base, wtype, OneStepIO.p(prm, LINEAR_ROPE_FX), OneStepIO.p(prm, LINEAR_ROPE_FY), width);
        z1 = row(a[1], x, base + 1, wtype, OneStepIO.p(prm, LINEAR_ROPE_FX), OneStepIO.p(prm, LINEAR_ROPE_FY), width);
    }

    /// LinearAdd.element: saturate(checked_add(h[j], saturate(qlinear_row(x, W, j, fx, fy), width)), width).
    function linearAddElement(int256[] memory prm, Opened[] memory a, uint256 j) internal pure returns (int256) {
        int256 width = OneStepIO.p(prm, LINEAR_ADD_WIDTH);
        uint256 wtype = OneStepIO.u(prm, LINEAR_ADD_WTYPE);
        int256 y = row(a[1], input(a), j, wtype, OneStepIO.p(prm, LINEAR_ADD_FX), OneStepIO.p(prm, LINEAR_ADD_FY), width);
        return ElementwiseOp.add(OneStepIO.elem(a[2], j), y, width);
    }
}

/// @title LinearFamily: the one-step verifier of the linear family (linear, linear_swiglu, linear_add, linear_rope).
contract LinearFamily is OpFamily {
    /// @inheritdoc OpFamily
    function arity(uint256 opcode) public pure override returns (uint256) {
        if (opcode == LinearOp.OP_LINEAR) return 2;
        if (opcode == LinearOp.OP_LINEAR_SWIGLU || opcode == LinearOp.OP_LINEAR_ADD) return 3;
        if (opcode == LinearOp.OP_LINEAR_ROPE) return 4;
        return 0;
    }

    function _outShape(uint256, uint256, int256[] memory prm, uint256[][] memory s)
        internal
        pure
        override
        returns (uint256[] memory)
    {
        return LinearOp.linearShape(prm, s);
    }

    function _element(uint256 opcode, uint256 position, int256[] memory prm, Opened[] memory a, uint256 j)
        internal
        pure
        override
        returns (int256)
    {
        if (opcode == LinearOp.OP_LINEAR) return LinearOp.linearElement(prm, a, j);
        if (opcode == LinearOp.OP_LINEAR_SWIGLU) return LinearOp.linearSwigluElement(prm, a, j);
        if (opcode == LinearOp.OP_LINEAR_ADD) return LinearOp.linearAddElement(prm, a, j);
        return LinearOp.linearRopeElement(prm, a, position, j);
    }
}
