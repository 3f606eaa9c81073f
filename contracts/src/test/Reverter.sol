// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Reverter: a bond owner that refuses every incoming transfer (tests: payouts must not brick games).
contract Reverter {
    error NoThanks();

    /// Forward a call (with value) to target; bubble its revert data.
    function exec(address target, bytes calldata data) external payable returns (bytes memory out) {
        bool ok;
        (ok, out) = target.call{value: msg.value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(out, 32), mload(out))
            }
        }
    }

    /// Refuse value.
    receive() external payable {
        revert NoThanks();
    }
}
