// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Reenterer: a bond owner that calls back into the registry when paid (tests: credit paid once).
contract Reenterer {
    address public target;
    bytes public reentry;
    uint256 public received;
    uint256 public attempts;
    uint256 public successes;

    /// Forward a call (with value) to target; bubble its revert data.
    function exec(address target_, bytes calldata data) external payable returns (bytes memory out) {
        bool ok;
        (ok, out) = target_.call{value: msg.value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(out, 32), mload(out))
            }
        }
    }

    /// On the next payments, call target with data (e.g. withdraw()) from inside receive().
    function arm(address target_, bytes calldata data) external {
        target = target_;
        reentry = data;
    }

    /// Count the payment and re-enter once per payment (the re-entry's failure is recorded, not bubbled).
    receive() external payable {
        received += msg.value;
        if (target != address(0)) {
            attempts += 1;
            (bool ok,) = target.call(reentry);
            if (ok) successes += 1;
        }
    }
}
