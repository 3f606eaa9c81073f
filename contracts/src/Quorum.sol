// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BLS, BadPoint} from "./BLS.sol";

/// What the Quorum needs of its ClaimRegistry (the registry's ClaimStatus as uint8: 3 = Slashed).
interface IAttestedRegistry {
    function attest(bytes32 claimHash) external returns (uint256 claimId);
    function queueEnd() external view returns (uint64);
    function challengeWindow() external view returns (uint64);
    function statusOf(uint256 claimId) external view returns (uint8);
    function claimHashOf(
        uint256 claimId,
        bytes32 modelRoot,
        bytes32 inputHash,
        bytes32 outputHash,
        uint64 stepCount,
        bytes32 traceRoot
    ) external view returns (bytes32);
}

/// @title Quorum: fast finality of claims by BN254 BLS attesters, slashed by the same fraud proofs (docs/quorum.md).
/// @notice Attesters register a key in G1 with exactly `stake` wei and a proof of possession (a signature of their
/// key under a separate domain, checked against the same key in G2), so no key enters the aggregate without its
/// owner knowing its secret (no rogue keys). The aggregate G1 key of the active set is kept here. A certificate
/// for a claim hash (which binds chain id, registry, claim id, model, input, output, step count and trace root) is
/// an aggregate G1 signature, the signers' aggregate G2 key and the sorted list of active non-signers: their keys
/// are subtracted from the aggregate, at least `thresholdBps` / 10000 of the active stake must sign, and one
/// pairing checks both the signature and that the G2 key is the G1 aggregate's. The registry then marks the claim
/// Attested (final at once, still challengeable until its window closes). A claim the game later slashes slashes
/// every attester that signed it (anyone proves the signer set against the stored certificate); an attester that
/// signs two different outputs for one input is slashed on the two signatures. Exits release the stake only after
/// `withdrawalDelay` and after the window of every claim posted so far (the registry's queue end + its challenge
/// window) plus `slashTail` (a game's longest run past the window): no claim it signed can still be slashed. Slashed stake: half to whoever proves it, half burned (credited to address(0)).
/// Pull payments: address(this).balance == stake * (active + exited attesters) + totalCredit always.
contract Quorum {
    bytes32 public constant SIG_DOMAIN = keccak256("obrain.quorum.v1.attest");
    bytes32 public constant POP_DOMAIN = keccak256("obrain.quorum.v1.possession");
    uint256 internal constant ACTIVE = 1 << 255; // flag in a key's x word (x < p < 2^254)
    uint256 internal constant X_MASK = ACTIVE - 1;
    uint256 internal constant BPS = 10_000;
    uint256 public constant MAX_ATTESTERS = 1 << 16;
    uint8 internal constant CLAIM_SLASHED = 3;

    enum Status {
        None,
        Active,
        Exited,
        Withdrawn,
        Slashed
    }

    struct Info {
        address owner;
        uint32 joinEpoch; // in the set of every epoch e with joinEpoch <= e < exitEpoch (exitEpoch 0: none yet)
        uint32 exitEpoch;
        Status status;
        uint64 unlockAt; // when an exited attester may withdraw its stake
    }

    /// One slot: what a certificate reads and a registration or exit writes.
    struct SetState {
        uint32 epoch; // bumped by every change of the active set
        uint32 active;
    }

    IAttestedRegistry public immutable registry;
    uint256 public immutable stake;
    uint256 public immutable thresholdBps;
    uint64 public immutable withdrawalDelay;
    uint64 public immutable slashTail;

    uint256[2] internal apk; // the aggregate G1 key of the active attesters ([0, 0]: none)
    SetState public setState;
    uint256[2][] internal keys; // attester index -> G1 key; x carries ACTIVE while active
    mapping(uint256 => Info) internal infos;
    mapping(uint256 => bytes32) internal activeKeyHash; // keccak256(x, y) of an active attester's key, else 0
    mapping(bytes32 => bool) public keyUsed; // keccak256(x, y) of every key ever registered
    mapping(uint256 => bytes32) public certOf; // claim id -> keccak256(u32 epoch || nonSigners (u16 each))

    mapping(address => uint256) public credit;
    uint256 public totalCredit;

    event Registered(uint256 indexed index, address indexed owner, uint256 x, uint256 y, uint32 epoch);
    event Exited(uint256 indexed index, uint32 epoch, uint64 unlockAt);
    event Certified(
        uint256 indexed claimId, bytes32 indexed claimHash, uint32 epoch, uint256 signers, bytes nonSigners
    );
    event AttesterSlashed(uint256 indexed index, uint256 indexed claimId, address indexed by, uint256 amount);
    event Credited(address indexed who, uint256 amount, uint256 balance);
    event Withdrawn(address indexed who, address indexed to, uint256 amount);

    error BadParams();
    error WrongStake(uint256 required);
    error TooManyAttesters();
    error KeyExists();
    error BadPossession();
    error UnknownAttester(uint256 index);
    error BadNonSigner(uint256 index);
    error NotOwner();
    error NotActive(uint256 index);
    error NotExited();
    error StakeLocked(uint64 unlockAt);
    error NonSignersUnsorted();
    error BelowQuorum(uint256 signers, uint256 active);
    error BadSignature();
    error ClaimNotSlashed();
    error NoCertificate();
    error BadCertificate();
    error AttestersUnsorted();
    error DidNotSign(uint256 index);
    error NothingToSlash(uint256 index);
    error NotConflicting();
    error NothingToWithdraw();
    error TransferFailed();

    /// Bind to `registry_` (which must name this contract as its quorum), fix the stake per attester (wei), the
    /// signing threshold (basis points of the active stake, in (0, 10000]), the withdrawal delay and the slash
    /// tail (seconds).
    constructor(address registry_, uint256 stake_, uint256 thresholdBps_, uint64 withdrawalDelay_, uint64 slashTail_) {
        if (registry_ == address(0) || stake_ < 2 || thresholdBps_ == 0 || thresholdBps_ > BPS) revert BadParams();
        if (withdrawalDelay_ == 0) revert BadParams();
        registry = IAttestedRegistry(registry_);
        stake = stake_;
        thresholdBps = thresholdBps_;
        withdrawalDelay = withdrawalDelay_;
        slashTail = slashTail_;
    }

    // -- the attester set -------------------------------------------------------------------------------

    /// keccak256("pop" || chainid || this || owner || x || y): the message a registration's proof of possession
    /// signs under POP_DOMAIN (bls.py pop_message).
    function popMessage(address owner, uint256 x, uint256 y) public view returns (bytes32) {
        return keccak256(abi.encodePacked("pop", block.chainid, address(this), owner, x, y));
    }

    /// Register key pk1 (G1) with msg.value == stake, its G2 twin pk2 and pop = sk * H(POP_DOMAIN, popMessage):
    /// one pairing checks pop and that pk1 and pk2 share their secret. Returns the attester's index.
    function register(uint256[2] calldata pk1, uint256[4] calldata pk2, uint256[2] calldata pop)
        external
        payable
        returns (uint256 index)
    {
        if (msg.value != stake) revert WrongStake(stake);
        index = keys.length;
        if (index >= MAX_ATTESTERS) revert TooManyAttesters();
        if (!BLS.isG1(pk1[0], pk1[1])) revert BadPoint();
        bytes32 kh = keccak256(abi.encodePacked(pk1[0], pk1[1]));
        if (keyUsed[kh]) revert KeyExists();
        bytes32 m = popMessage(msg.sender, pk1[0], pk1[1]);
        if (!BLS.verifyG1G2(POP_DOMAIN, m, pk1, pk2, pop)) revert BadPossession();
        keyUsed[kh] = true;
        SetState memory s = setState;
        s.epoch += 1;
        s.active += 1;
        setState = s;
        keys.push([pk1[0] | ACTIVE, pk1[1]]);
        activeKeyHash[index] = kh;
        infos[index] = Info(msg.sender, s.epoch, 0, Status.Active, 0);
        (apk[0], apk[1]) = BLS.add(apk[0], apk[1], pk1[0], pk1[1]);
        emit Registered(index, msg.sender, pk1[0], pk1[1], s.epoch);
    }

    /// Owner only: leave the active set; the stake unlocks after withdrawalDelay and after the window of every claim
    /// posted so far + slashTail.
    function exit(uint256 index) external {
        Info storage a = _info(index);
        if (msg.sender != a.owner) revert NotOwner();
        if (a.status != Status.Active) revert NotActive(index);
        _deactivate(index, a);
        a.status = Status.Exited;
        // every claim it signed was posted by now: its window ends by the queue's end + the challenge window
        uint64 until = registry.queueEnd() + registry.challengeWindow() + slashTail;
        uint64 delay = uint64(block.timestamp) + withdrawalDelay;
        a.unlockAt = delay > until ? delay : until;
        emit Exited(index, a.exitEpoch, a.unlockAt);
    }

    /// Owner only, after unlockAt: credit the exited attester's stake to its owner.
    function withdrawStake(uint256 index) external {
        Info storage a = _info(index);
        if (msg.sender != a.owner) revert NotOwner();
        if (a.status != Status.Exited) revert NotExited();
        if (block.timestamp < a.unlockAt) revert StakeLocked(a.unlockAt);
        a.status = Status.Withdrawn;
        _credit(a.owner, stake);
    }

    /// Number of attesters ever registered (indices 0 .. count - 1).
    function attesterCount() external view returns (uint256) {
        return keys.length;
    }

    /// The attester's G1 key, owner, set membership (epochs), status and unlock time.
    function attester(uint256 index) external view returns (uint256[2] memory key, Info memory info) {
        info = _info(index);
        key = [keys[index][0] & X_MASK, keys[index][1]];
    }

    /// The aggregate G1 key of the active attesters.
    function aggregateKey() external view returns (uint256[2] memory) {
        return apk;
    }

    // -- certificates ---------------------------------------------------------------------------------

    /// A quorum certificate: sig (G1) aggregates the signatures of every active attester but nonSigners (strictly
    /// increasing indices of active attesters, 2 bytes each, big-endian: MAX_ATTESTERS = 2^16; with their G1 keys
    /// in nonSignerKeys: checked against the stored key hashes, one storage read each), apk2 (G2) is the signers'
    /// aggregate key, hints prove H(SIG_DOMAIN, claimHash) (BLS.hashToG1Hinted).
    struct Certificate {
        uint256[2] sig;
        uint256[4] apk2;
        bytes nonSigners;
        uint256[2][] nonSignerKeys;
        uint256[] hints;
    }

    /// Finalize the claim with this hash at once if the certificate verifies and at least thresholdBps of the active
    /// stake signed. The registry refuses a hash it did not post (another chain or registry: UnknownClaimHash) or a
    /// claim no longer pending.
    function certify(bytes32 claimHash, Certificate calldata c) external returns (uint256 claimId) {
        (uint32 epoch, uint256 signers) = _check(claimHash, c);
        claimId = registry.attest(claimHash);
        certOf[claimId] = keccak256(abi.encodePacked(epoch, c.nonSigners));
        emit Certified(claimId, claimHash, epoch, signers, c.nonSigners);
    }

    /// certify's check alone (no state change): the epoch and the number of signers, or certify's error.
    function verifyCertificate(bytes32 claimHash, Certificate calldata c)
        external
        view
        returns (uint32 epoch, uint256 signers)
    {
        return _check(claimHash, c);
    }

    function _check(bytes32 claimHash, Certificate calldata c) internal view returns (uint32 epoch, uint256 signers) {
        SetState memory s = setState;
        uint256[2] memory signersKey = _signersKey(c.nonSigners, c.nonSignerKeys);
        signers = s.active - c.nonSigners.length / 2; // every non-signer is a distinct active attester
        if (signers == 0 || signers * BPS < thresholdBps * s.active) revert BelowQuorum(signers, s.active);
        uint256[2] memory h;
        (h[0], h[1]) = BLS.hashToG1Hinted(SIG_DOMAIN, claimHash, c.hints);
        if (!BLS.verifyG1G2At(claimHash, h, signersKey, c.apk2, c.sig)) revert BadSignature();
        epoch = s.epoch;
    }

    /// The active aggregate key minus the non-signers' keys (each the active key stored for its index): per
    /// non-signer one storage read, one keccak and one ecAdd (assembly: this loop is the certificate's variable cost).
    function _signersKey(bytes calldata idx, uint256[2][] calldata ks) internal view returns (uint256[2] memory k) {
        uint256 n = ks.length;
        if (idx.length != 2 * n) revert BadNonSigner(n);
        uint256 x = apk[0];
        uint256 y = apk[1];
        uint256 fail; // 1: unsorted, 2: a key that is not the index's active key (at `at`), 3: ecAdd refused
        uint256 at;
        uint256 slot;
        assembly ("memory-safe") {
            slot := activeKeyHash.slot
        }
        uint256 p = BLS.P;
        assembly ("memory-safe") {
            let m := mload(0x40)
            let prev := 0
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let j := shr(240, calldataload(add(idx.offset, shl(1, i))))
                if and(gt(i, 0), iszero(gt(j, prev))) {
                    fail := 1
                    break
                }
                prev := j
                let kx := calldataload(add(ks.offset, shl(6, i)))
                let ky := calldataload(add(ks.offset, add(shl(6, i), 0x20)))
                mstore(m, kx)
                mstore(add(m, 0x20), ky)
                let h := keccak256(m, 0x40)
                mstore(m, j)
                mstore(add(m, 0x20), slot)
                if iszero(eq(sload(keccak256(m, 0x40)), h)) {
                    fail := 2
                    at := j
                    break
                }
                // x, y -= (kx, ky): a registered key's 0 < ky < p
                mstore(m, x)
                mstore(add(m, 0x20), y)
                mstore(add(m, 0x40), kx)
                mstore(add(m, 0x60), sub(p, ky))
                if iszero(staticcall(gas(), 0x06, m, 0x80, m, 0x40)) {
                    fail := 3
                    break
                }
                x := mload(m)
                y := mload(add(m, 0x20))
            }
        }
        if (fail == 1) revert NonSignersUnsorted();
        if (fail == 2) revert BadNonSigner(at);
        if (fail == 3) revert BadPoint();
        k = [x, y];
    }

    // -- slashing -------------------------------------------------------------------------------------

    /// After the game slashed claimId: slash each of `attesters` (strictly increasing) that signed its certificate
    /// (in the set at its epoch, not among its nonSigners, given as certified). Half of each stake to the caller.
    function slashSigners(uint256 claimId, uint32 epoch, bytes calldata nonSigners, uint256[] calldata attesters)
        external
    {
        if (registry.statusOf(claimId) != CLAIM_SLASHED) revert ClaimNotSlashed();
        bytes32 c = certOf[claimId];
        if (c == bytes32(0)) revert NoCertificate();
        if (keccak256(abi.encodePacked(epoch, nonSigners)) != c) revert BadCertificate();
        uint256 j = 0;
        uint256 nn = nonSigners.length / 2;
        for (uint256 i = 0; i < attesters.length; ++i) {
            uint256 idx = attesters[i];
            if (i > 0 && idx <= attesters[i - 1]) revert AttestersUnsorted();
            while (j < nn && _u16(nonSigners, j) < idx) ++j;
            if (j < nn && _u16(nonSigners, j) == idx) revert DidNotSign(idx);
            Info storage a = _info(idx);
            if (a.joinEpoch > epoch || (a.exitEpoch != 0 && a.exitEpoch <= epoch)) revert DidNotSign(idx);
            _slash(idx, a, claimId);
        }
    }

    /// A claim's fields, to recompute its hash with the registry's claimHashOf.
    struct ClaimRef {
        uint256 claimId;
        bytes32 modelRoot;
        bytes32 inputHash;
        bytes32 outputHash;
        uint64 stepCount;
        bytes32 traceRoot;
    }

    /// Slash attester `index` for signing two claims of one model and input with different outputs: sigA and sigB
    /// are its signatures of their hashes, pk2 its key in G2 (checked against its registered G1 key).
    function slashDoubleSign(
        uint256 index,
        ClaimRef calldata a,
        ClaimRef calldata b,
        uint256[2] calldata sigA,
        uint256[2] calldata sigB,
        uint256[4] calldata pk2
    ) external {
        if (a.modelRoot != b.modelRoot || a.inputHash != b.inputHash || a.outputHash == b.outputHash) {
            revert NotConflicting();
        }
        Info storage info = _info(index);
        uint256[2] memory pk1 = [keys[index][0] & X_MASK, keys[index][1]];
        bytes32 ha = registry.claimHashOf(a.claimId, a.modelRoot, a.inputHash, a.outputHash, a.stepCount, a.traceRoot);
        bytes32 hb = registry.claimHashOf(b.claimId, b.modelRoot, b.inputHash, b.outputHash, b.stepCount, b.traceRoot);
        if (!BLS.verifyG1G2(SIG_DOMAIN, ha, pk1, pk2, sigA) || !BLS.verifyG1G2(SIG_DOMAIN, hb, pk1, pk2, sigB)) {
            revert BadSignature();
        }
        _slash(index, info, 0);
    }

    // -- pull payments --------------------------------------------------------------------------------

    /// Send the caller's whole credit to the caller.
    function withdraw() external {
        _withdraw(payable(msg.sender));
    }

    /// Send the caller's whole credit to `to`.
    function withdrawTo(address payable to) external {
        _withdraw(to);
    }

    // -- internals ------------------------------------------------------------------------------------

    /// The j-th big-endian uint16 of b.
    function _u16(bytes calldata b, uint256 j) internal pure returns (uint256) {
        return uint256(uint16(bytes2(b[2 * j:2 * j + 2])));
    }

    function _info(uint256 index) internal view returns (Info storage a) {
        if (index >= keys.length) revert UnknownAttester(index);
        a = infos[index];
    }

    /// Take an active attester out of the set: its key out of the aggregate, a new epoch that excludes it.
    function _deactivate(uint256 index, Info storage a) internal {
        uint256 x = keys[index][0] & X_MASK;
        uint256 y = keys[index][1];
        keys[index][0] = x;
        delete activeKeyHash[index];
        (apk[0], apk[1]) = BLS.add(apk[0], apk[1], x, BLS.P - y);
        SetState memory s = setState;
        s.epoch += 1;
        s.active -= 1;
        setState = s;
        a.exitEpoch = s.epoch;
    }

    /// Slash an attester still holding its stake: out of the set if active; half the stake to the caller, half burned.
    function _slash(uint256 index, Info storage a, uint256 claimId) internal {
        if (a.status == Status.Active) {
            _deactivate(index, a);
        } else if (a.status != Status.Exited) {
            revert NothingToSlash(index);
        }
        a.status = Status.Slashed;
        uint256 reward = stake / 2;
        emit AttesterSlashed(index, claimId, msg.sender, stake);
        _credit(msg.sender, reward);
        _credit(address(0), stake - reward); // burned: address(0) never withdraws
    }

    function _credit(address who, uint256 amount) internal {
        credit[who] += amount;
        totalCredit += amount;
        emit Credited(who, amount, credit[who]);
    }

    function _withdraw(address payable to) internal {
        uint256 amount = credit[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        credit[msg.sender] = 0;
        totalCredit -= amount;
        emit Withdrawn(msg.sender, to, amount);
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }
}
