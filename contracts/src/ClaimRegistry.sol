// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Merkle} from "./Merkle.sol";
import {DisputeGame, GameClaim, Evidence, Outcome} from "./DisputeGame.sol";

/// The one thing the registry asks of the Quorum it is deployed with: that it is bound to this registry.
interface IQuorumOf {
    function registry() external view returns (address);
}

/// @title ClaimRegistry: models, claims with bonds, challenges, and the pull-payment ledger (docs/dispute.md).
/// @notice Anyone registers a model by its root preimage (docs/encoding.md), which binds its stop tokens. An
/// operator posts a claim (model, prompt tokens, run settings, output tokens, trace root, step count) with exactly
/// `claimBond`; the input and output hashes are computed here from the posted tokens, so both are bound, and a
/// claim whose output does not end as a generation ends (the judging rule, docs/dispute.md) cannot be posted.
/// Each claim's challenge window closes `challengeWindow` seconds after a verification queue reaches it: the queue
/// advances `replayMicros` per position of every claim posted, so a watcher that replays at that rate checks every
/// claim before its window closes however many are posted. Anyone may challenge a pending claim before its
/// window closes with exactly `challengeBond` (set here, never by the claimer); the game is played in `game` (a
/// DisputeGame this registry deploys and alone trusts), which reports each outcome through settle(). After the
/// window, with no game open, the claim is final and its bond is credited back. Every payout is a credit its
/// owner withdraws (pull payment); half of a slashed claim bond is burned (credited to address(0), which can never
/// withdraw); this contract holds all the value, and address(this).balance == totalLocked + totalCredit always.
/// Fast finality (docs/quorum.md): the Quorum contract this registry was deployed with (none if address(0)) may
/// mark a pending claim Attested when a certificate of its attesters verifies; an Attested claim is final for its
/// users at once, yet still challengeable until its window closes, and its bond is released by finalize() as before.
contract ClaimRegistry {
    uint8 internal constant I32 = 3;
    uint8 internal constant I64 = 4;
    uint256 internal constant TOKEN_BYTES = 4;

    struct Model {
        bool registered;
        uint32 numericsVersion;
        uint32 stepsPerToken;
        uint32 context;
        bytes32 templateRoot;
        bytes32 weightsRoot;
        uint32[] stopTokens;
    }

    enum ClaimStatus {
        None,
        Pending,
        Final,
        Slashed,
        Attested // final by a quorum certificate; challengeable until windowEnd, then finalize() releases the bond
    }

    struct Claim {
        address operator;
        uint64 postedAt;
        uint64 windowEnd;
        uint32 openGames;
        ClaimStatus status;
        uint64 stepCount;
        uint32 promptLen;
        uint32 outputLen;
        uint256 bond;
        bytes32 modelRoot;
        bytes32 promptMerkleRoot;
        bytes32 runRoot;
        bytes32 outputMerkleRoot;
        bytes32 traceRoot;
        bytes32 inputHash;
        bytes32 outputHash;
        bytes32 claimHash;
    }

    uint256 internal constant MAX_STOP_TOKENS = 16;

    uint256 public immutable claimBond;
    uint256 public immutable challengeBond;
    uint64 public immutable challengeWindow;
    uint64 public immutable replayMicros;
    DisputeGame public immutable game;
    address public immutable quorum; // the Quorum whose certificates mark claims Attested (address(0): none)
    uint64 public queueEnd; // when the verification queue reaches the end of the last claim posted

    mapping(bytes32 => Model) internal models;
    mapping(uint256 => Claim) internal claims;
    mapping(bytes32 => uint256) internal claimIdByHash;
    uint256 public claimCount;

    mapping(address => uint256) public credit;
    uint256 public totalCredit;
    uint256 public totalLocked;

    event ModelRegistered(
        bytes32 indexed modelRoot,
        uint32 numericsVersion,
        uint32 stepsPerToken,
        uint32 context,
        bytes32 templateRoot,
        bytes32 weightsRoot,
        uint32[] stopTokens,
        string uri
    );
    event ClaimPosted(
        uint256 indexed claimId,
        address indexed operator,
        bytes32 indexed modelRoot,
        bytes32 claimHash,
        bytes32 inputHash,
        bytes32 outputHash,
        bytes32 traceRoot,
        uint64 stepCount,
        uint256 bond,
        uint64 windowEnd,
        int64[4] run,
        bytes promptPacked,
        bytes outputPacked
    );
    event Challenged(uint256 indexed claimId, uint256 indexed gameId, address indexed challenger, uint256 bond);
    event ClaimAttested(uint256 indexed claimId, address indexed operator);
    event ClaimFinalized(uint256 indexed claimId, address indexed operator, uint256 bond);
    event ClaimSlashed(uint256 indexed claimId, uint256 indexed gameId, address indexed challenger, uint256 bond);
    event Credited(address indexed who, uint256 amount, uint256 balance);
    event Withdrawn(address indexed who, address indexed to, uint256 amount);

    error BadParams();
    error BadModelRoot();
    error ModelExists();
    error UnknownModel();
    error WrongBond(uint256 required);
    error BadStopTokens();
    error UnfinishedOutput();
    error StopInsideOutput(uint256 index);
    error EmptyTokens();
    error BadTokenBytes();
    error TooManyTokens();
    error BadStepCount();
    error UnknownClaim();
    error UnknownClaimHash();
    error ClaimNotPending();
    error WindowClosed();
    error WindowOpen();
    error GamesOpen();
    error OperatorCannotChallenge();
    error NotGame();
    error NotQuorum();
    error NothingToWithdraw();
    error TransferFailed();

    /// Fix the bonds (wei), the windows (seconds), the verification rate (microseconds a position) and deploy the
    /// DisputeGame (arity k, a power of two in [2, 64]; oneStep verifier). prover/dispute/timing.py sizes them.
    /// quorum_: a Quorum already deployed for this registry's address (its registry() == this), or address(0).
    constructor(
        uint256 claimBond_,
        uint256 challengeBond_,
        uint64 challengeWindow_,
        uint64 replayMicros_,
        uint64 moveWindow_,
        uint256 k_,
        address oneStep_,
        address quorum_
    ) {
        if (claimBond_ == 0 || challengeBond_ == 0 || challengeWindow_ == 0 || replayMicros_ == 0) revert BadParams();
        if (quorum_ != address(0) && IQuorumOf(quorum_).registry() != address(this)) revert BadParams();
        quorum = quorum_;
        claimBond = claimBond_;
        challengeBond = challengeBond_;
        challengeWindow = challengeWindow_;
        replayMicros = replayMicros_;
        game = new DisputeGame(moveWindow_, k_, oneStep_);
    }

    // -- models ------------------------------------------------------------------------------------

    /// Store a model whose root is keccak256("model" || u32 nv || u32 S || u32 context || templateRoot ||
    /// weightsRoot || keccak256("stop" || u32 n || u32 stopTokens..)), stopTokens strictly increasing, 1 to 16 of them;
    /// emit its uri.
    function registerModel(
        bytes32 modelRoot,
        uint32 numericsVersion,
        uint32 stepsPerToken,
        uint32 context,
        bytes32 templateRoot,
        bytes32 weightsRoot,
        uint32[] calldata stopTokens,
        string calldata uri
    ) external {
        uint256 ns = stopTokens.length;
        if (ns == 0 || ns > MAX_STOP_TOKENS) revert BadStopTokens();
        for (uint256 i = 1; i < ns; ++i) {
            if (stopTokens[i] <= stopTokens[i - 1]) revert BadStopTokens();
        }
        bytes32 stopRoot = _stopRoot(stopTokens);
        bytes32 h = keccak256(
            abi.encodePacked("model", numericsVersion, stepsPerToken, context, templateRoot, weightsRoot, stopRoot)
        );
        if (h != modelRoot || stepsPerToken == 0 || context == 0) revert BadModelRoot();
        if (models[modelRoot].registered) revert ModelExists();
        models[modelRoot] = Model(true, numericsVersion, stepsPerToken, context, templateRoot, weightsRoot, stopTokens);
        emit ModelRegistered(
            modelRoot, numericsVersion, stepsPerToken, context, templateRoot, weightsRoot, stopTokens, uri
        );
    }

    /// The registered model with this root (registered == false if none).
    function getModel(bytes32 modelRoot) external view returns (Model memory) {
        return models[modelRoot];
    }

    // -- claims ------------------------------------------------------------------------------------

    /// Post a claim with bond msg.value == claimBond: tokens int32 big-endian, run = [temperature Q16, top_k, seed,
    /// max_new_tokens]; its window closes challengeWindow after the verification queue reaches its end.
    function postClaim(
        bytes32 modelRoot,
        bytes calldata promptPacked,
        int64[4] calldata run,
        bytes calldata outputPacked,
        bytes32 traceRoot,
        uint64 stepCount
    ) external payable returns (uint256 claimId) {
        claimId = ++claimCount;
        Claim storage c = claims[claimId];
        {
            Model storage m = models[modelRoot];
            if (!m.registered) revert UnknownModel();
            if (msg.value != claimBond) revert WrongBond(claimBond);
            (uint256 n, uint256 out) = _checkCounts(m, promptPacked, outputPacked, run[3], stepCount);
            _checkEnding(m, outputPacked, out, run[3], n + out - 1 == m.context);
            c.promptLen = uint32(n);
            c.outputLen = uint32(out);
            // the queue advances by this claim's replay time; its window opens for challenges until then + the window
            uint256 start = queueEnd > block.timestamp ? queueEnd : block.timestamp;
            uint256 end = start + (uint256(n + out - 1) * replayMicros + 999_999) / 1_000_000;
            queueEnd = uint64(end);
            c.windowEnd = uint64(end + challengeWindow);
        }
        c.operator = msg.sender;
        c.postedAt = uint64(block.timestamp);
        c.status = ClaimStatus.Pending;
        c.stepCount = stepCount;
        c.bond = msg.value;
        c.modelRoot = modelRoot;
        c.traceRoot = traceRoot;
        _bindTokens(c, promptPacked, run, outputPacked);
        _seal(c, claimId);
        totalLocked += msg.value;
        _emitPosted(claimId, c, run, promptPacked, outputPacked);
    }

    /// keccak256("claim" || chainid || this || claimId || modelRoot || inputHash || outputHash || u64 stepCount || traceRoot).
    function claimHashOf(
        uint256 claimId,
        bytes32 modelRoot,
        bytes32 inputHash,
        bytes32 outputHash,
        uint64 stepCount,
        bytes32 traceRoot
    ) public view returns (bytes32) {
        return keccak256(
            abi.encodePacked(
                "claim", block.chainid, address(this), claimId, modelRoot, inputHash, outputHash, stepCount, traceRoot
            )
        );
    }

    /// The id of the claim posted here with this claim hash; UnknownClaimHash for any other (another chain or registry).
    function claimIdOf(bytes32 claimHash) external view returns (uint256 claimId) {
        claimId = claimIdByHash[claimHash];
        if (claimId == 0) revert UnknownClaimHash();
    }

    /// The claim with this id (status None if there is none).
    function getClaim(uint256 claimId) external view returns (Claim memory) {
        return claims[claimId];
    }

    /// The claim's status (None if there is none).
    function statusOf(uint256 claimId) external view returns (ClaimStatus) {
        return claims[claimId].status;
    }

    /// Quorum only, for a verified certificate: mark the pending claim with this hash Attested before its window
    /// closes; returns its id.
    function attest(bytes32 claimHash) external returns (uint256 claimId) {
        if (msg.sender != quorum || quorum == address(0)) revert NotQuorum();
        claimId = claimIdByHash[claimHash];
        if (claimId == 0) revert UnknownClaimHash();
        Claim storage c = claims[claimId];
        if (c.status != ClaimStatus.Pending) revert ClaimNotPending();
        if (block.timestamp >= c.windowEnd) revert WindowClosed();
        c.status = ClaimStatus.Attested;
        emit ClaimAttested(claimId, c.operator);
    }

    /// After the claim's window, with no game open: mark the claim final and credit its bond to the operator.
    function finalize(uint256 claimId) external {
        Claim storage c = _pendingClaim(claimId);
        if (block.timestamp < c.windowEnd) revert WindowOpen();
        if (c.openGames != 0) revert GamesOpen();
        c.status = ClaimStatus.Final;
        totalLocked -= c.bond;
        emit ClaimFinalized(claimId, c.operator, c.bond);
        _credit(c.operator, c.bond);
    }

    // -- games -------------------------------------------------------------------------------------

    /// Open a game against a pending claim before its window closes, with bond msg.value == challengeBond.
    function challenge(uint256 claimId) external payable returns (uint256 gameId) {
        Claim storage c = _pendingClaim(claimId);
        if (block.timestamp >= c.windowEnd) revert WindowClosed();
        if (msg.value != challengeBond) revert WrongBond(challengeBond);
        if (msg.sender == c.operator) revert OperatorCannotChallenge();
        c.openGames += 1;
        totalLocked += msg.value;
        GameClaim memory gc =
            GameClaim(claimId, c.operator, msg.sender, msg.value, c.traceRoot, c.stepCount, models[c.modelRoot].stepsPerToken);
        gameId = game.open(gc); // the trusted game contract, deployed by this constructor
        emit Challenged(claimId, gameId, msg.sender, msg.value);
    }

    /// What a game needs to check operand and output proofs against (the claim's and its model's roots).
    function evidence(uint256 claimId) external view returns (Evidence memory e) {
        Claim storage c = claims[claimId];
        Model storage m = models[c.modelRoot];
        e = Evidence(
            m.templateRoot, m.weightsRoot, m.context, c.promptLen, c.outputLen, c.promptMerkleRoot,
            c.outputMerkleRoot, c.runRoot
        );
    }

    /// Game only: book a game's outcome (defender won: its bond to the operator; challenger won: its bond and half
    /// the claim bond to it, the other half burned, and the claim slashed; closed: refund).
    function settle(uint256 gameId, uint256 claimId, address challenger, uint256 bond, Outcome outcome) external {
        if (msg.sender != address(game)) revert NotGame();
        Claim storage c = claims[claimId];
        c.openGames -= 1;
        totalLocked -= bond;
        if (outcome == Outcome.DefenderWon) {
            _credit(c.operator, bond);
        } else if (outcome == Outcome.ChallengerWon) {
            c.status = ClaimStatus.Slashed;
            totalLocked -= c.bond;
            emit ClaimSlashed(claimId, gameId, challenger, c.bond);
            uint256 reward = c.bond / 2;
            _credit(challenger, bond + reward);
            _credit(address(0), c.bond - reward); // burned: address(0) never withdraws, so a liar racing its own
                // challenger identity still loses half its bond
        } else {
            _credit(challenger, bond);
        }
    }

    // -- pull payments -------------------------------------------------------------------------------

    /// Send the caller's whole credit to the caller.
    function withdraw() external {
        _withdraw(payable(msg.sender));
    }

    /// Send the caller's whole credit to `to` (for a caller that cannot receive value itself).
    function withdrawTo(address payable to) external {
        _withdraw(to);
    }

    // -- internals -----------------------------------------------------------------------------------

    /// Credit zeroed before the transfer (a re-entrant call finds nothing); a failed transfer reverts and keeps it.
    function _withdraw(address payable to) internal {
        uint256 amount = credit[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        credit[msg.sender] = 0;
        totalCredit -= amount;
        emit Withdrawn(msg.sender, to, amount);
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    /// Add amount to who's credit (moves no value).
    function _credit(address who, uint256 amount) internal {
        credit[who] += amount;
        totalCredit += amount;
        emit Credited(who, amount, credit[who]);
    }

    /// The claim, which must exist and be pending or attested (unsettled: challengeable in its window, bond locked).
    function _pendingClaim(uint256 claimId) internal view returns (Claim storage c) {
        c = claims[claimId];
        if (c.status == ClaimStatus.None) revert UnknownClaim();
        if (c.status != ClaimStatus.Pending && c.status != ClaimStatus.Attested) revert ClaimNotPending();
    }

    /// (prompt tokens n, output tokens m) with n + m - 1 <= context positions, m <= max(1, max_new_tokens), stepCount == (n + m - 1) * S.
    function _checkCounts(
        Model storage m,
        bytes calldata promptPacked,
        bytes calldata outputPacked,
        int64 maxNew,
        uint64 stepCount
    ) internal view returns (uint256 n, uint256 out) {
        n = _tokenCount(promptPacked);
        out = _tokenCount(outputPacked);
        uint256 positions = n + out - 1; // the last prompt position yields the first output token
        if (positions > m.context) revert TooManyTokens();
        if (out > 1 && int256(out) > int256(maxNew)) revert TooManyTokens();
        if (uint256(stepCount) != positions * m.stepsPerToken) revert BadStepCount();
    }

    /// keccak256("stop" || u32 n || u32 ids..): the ids packed 4 bytes each (abi.encodePacked pads arrays to words).
    function _stopRoot(uint32[] calldata ids) internal pure returns (bytes32 h) {
        uint256 n = ids.length;
        bytes memory b = new bytes(8 + 4 * n);
        assembly ("memory-safe") {
            let p := add(b, 32)
            mstore(p, or(shl(224, 0x73746f70), shl(192, n))) // "stop" then u32 n
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let v := calldataload(add(ids.offset, shl(5, i)))
                mstore(add(add(p, 8), shl(2, i)), shl(224, v))
            }
            h := keccak256(p, add(8, shl(2, n)))
        }
    }

    /// The judging rule's ending (docs/dispute.md): no output token before the last is a stop token, and the last is
    /// one unless the output has max(1, max_new_tokens) tokens or the run filled the context.
    function _checkEnding(Model storage m, bytes calldata outputPacked, uint256 out, int64 maxNew, bool full)
        internal
        view
    {
        uint32[] storage stops = m.stopTokens;
        uint256 ns = stops.length;
        uint32[MAX_STOP_TOKENS] memory st;
        for (uint256 i = 0; i < ns; ++i) st[i] = stops[i];
        bool lastStops;
        for (uint256 j = 0; j < out; ++j) {
            int32 tok = int32(uint32(bytes4(outputPacked[j * TOKEN_BYTES:j * TOKEN_BYTES + TOKEN_BYTES])));
            bool isStop;
            for (uint256 i = 0; i < ns; ++i) {
                if (tok >= 0 && uint32(tok) == st[i]) {
                    isStop = true;
                    break;
                }
            }
            if (isStop && j + 1 < out) revert StopInsideOutput(j);
            lastStops = isStop;
        }
        bool complete = out == (maxNew > 1 ? uint256(uint64(maxNew)) : 1);
        if (!lastStops && !complete && !full) revert UnfinishedOutput();
    }

    /// Number of int32 tokens in packed (> 0 and a multiple of 4 bytes).
    function _tokenCount(bytes calldata packed) internal pure returns (uint256) {
        if (packed.length == 0) revert EmptyTokens();
        if (packed.length % TOKEN_BYTES != 0) revert BadTokenBytes();
        return packed.length / TOKEN_BYTES;
    }

    /// Store the prompt, run and output Merkle roots and inputHash/outputHash exactly as docs/encoding.md.
    function _bindTokens(
        Claim storage c,
        bytes calldata promptPacked,
        int64[4] calldata run,
        bytes calldata outputPacked
    ) private {
        c.promptMerkleRoot = Merkle.merkleRoot(promptPacked);
        c.outputMerkleRoot = Merkle.merkleRoot(outputPacked);
        c.runRoot = _runRoot(run);
        bytes32 promptRoot = Merkle.tensorRoot(I32, _shape1(c.promptLen), c.promptMerkleRoot);
        c.inputHash = keccak256(abi.encodePacked("input", promptRoot, c.runRoot));
        c.outputHash =
            keccak256(abi.encodePacked("output", Merkle.tensorRoot(I32, _shape1(c.outputLen), c.outputMerkleRoot)));
    }

    /// Compute and index the stored claim's claimHash.
    function _seal(Claim storage c, uint256 claimId) private {
        bytes32 h = claimHashOf(claimId, c.modelRoot, c.inputHash, c.outputHash, c.stepCount, c.traceRoot);
        c.claimHash = h;
        claimIdByHash[h] = claimId;
    }

    /// Emit ClaimPosted for a stored claim.
    function _emitPosted(
        uint256 claimId,
        Claim storage c,
        int64[4] calldata run,
        bytes calldata promptPacked,
        bytes calldata outputPacked
    ) private {
        emit ClaimPosted(
            claimId,
            c.operator,
            c.modelRoot,
            c.claimHash,
            c.inputHash,
            c.outputHash,
            c.traceRoot,
            c.stepCount,
            c.bond,
            c.windowEnd,
            run,
            promptPacked,
            outputPacked
        );
    }

    /// tensorRoot(i64, [4], leaf hash of run as 4 big-endian int64s then 224 zero bytes).
    function _runRoot(int64[4] calldata run) internal pure returns (bytes32) {
        bytes32 leaf = keccak256(abi.encodePacked("leaf", run[0], run[1], run[2], run[3], new bytes(224)));
        return Merkle.tensorRoot(I64, _shape1(4), leaf);
    }

    /// The one-dimensional shape [n].
    function _shape1(uint256 n) internal pure returns (uint32[] memory s) {
        s = new uint32[](1);
        s[0] = uint32(n);
    }
}
