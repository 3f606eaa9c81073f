// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Quorum} from "../Quorum.sol";
import {BLS} from "../BLS.sol";

/// Benchmark only (scripts/_quorumgas.py): a Quorum whose attester set can be filled without proofs of possession,
/// many keys a transaction, so certificates over 1,000 attesters can be measured. Never deploy it for real claims.
contract QuorumBench is Quorum {
    constructor(address registry_, uint256 stake_, uint256 thresholdBps_, uint64 withdrawalDelay_, uint64 slashTail_)
        Quorum(registry_, stake_, thresholdBps_, withdrawalDelay_, slashTail_)
    {}

    /// Register these G1 keys for msg.sender with stake each (msg.value == stake * keys), unchecked.
    function registerUnchecked(uint256[2][] calldata pks) external payable {
        if (msg.value != stake * pks.length) revert WrongStake(stake * pks.length);
        SetState memory s = setState;
        (uint256 ax, uint256 ay) = (apk[0], apk[1]);
        for (uint256 i = 0; i < pks.length; ++i) {
            s.epoch += 1;
            s.active += 1;
            infos[keys.length] = Info(msg.sender, s.epoch, 0, Status.Active, 0);
            activeKeyHash[keys.length] = keccak256(abi.encodePacked(pks[i][0], pks[i][1]));
            keys.push([pks[i][0] | ACTIVE, pks[i][1]]);
            (ax, ay) = BLS.add(ax, ay, pks[i][0], pks[i][1]);
        }
        (apk[0], apk[1]) = (ax, ay);
        setState = s;
    }
}
