// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Merkle} from "./Merkle.sol";
import {DisputeGame, GameClaim, Evidence, Outcome} from "./DisputeGame.sol";

/// @title ClaimRegistry: models, claims with bonds, challenges, and the pull-payment ledger (docs/dispute.md).
/// @notice Anyone registers a model by its root preimage (docs/encoding.md). An operator posts a claim
/// (model, prompt tokens, run settings, output tokens, trace root, step count) with a bond; the input and
/// output hashes are computed here from the posted tokens, so both are bound. Anyone may challenge a
/// pending claim before its window closes, bonding at least the claim's bond; the game is played in
/// `game` (a DisputeGame this registry deploys and alone trusts), which reports each outcome through
/// settle(). After the window, with no game open, the claim is final and its bond is credited back.
/// Every payout is a credit its owner withdraws (pull payment); this contract holds all the value, and
/// address(this).balance == totalLocked + totalCredit at all times.
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
    }

    enum ClaimStatus {
        None,
        Pending,
        Final,
        Slashed
    }

    struct Claim {
        address operator;
        uint64 postedAt;
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

    uint256 public immutable minBond;
    uint64 public immutable challengeWindow;
    DisputeGame public immutable game;

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
        int64[4] run,
        bytes promptPacked,
        bytes outputPacked
    );
    event Challenged(uint256 indexed claimId, uint256 indexed gameId, address indexed challenger, uint256 bond);
    event ClaimFinalized(uint256 indexed claimId, address indexed operator, uint256 bond);
    event ClaimSlashed(uint256 indexed claimId, uint256 indexed gameId, address indexed challenger, uint256 bond);
    event Credited(address indexed who, uint256 amount, uint256 balance);
    event Withdrawn(address indexed who, address indexed to, uint256 amount);

    error BadParams();
    error BadModelRoot();
    error ModelExists();
    error UnknownModel();
    error BondTooLow(uint256 required);
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
    error NothingToWithdraw();
    error TransferFailed();

    /// Fix the bond floor and windows (seconds) and deploy the DisputeGame (arity k, a power of two in [2, 64]; oneStep verifier).
    constructor(uint256 minBond_, uint64 challengeWindow_, uint64 moveWindow_, uint256 k_, address oneStep_) {
        if (minBond_ == 0 || challengeWindow_ == 0) revert BadParams();
        minBond = minBond_;
        challengeWindow = challengeWindow_;
        game = new DisputeGame(moveWindow_, k_, oneStep_);
    }

    // -- models ------------------------------------------------------------------------------------

    /// Store a model whose root is keccak256("model" || u32 nv || u32 S || u32 context || templateRoot || weightsRoot); emit its uri.
    function registerModel(
        bytes32 modelRoot,
        uint32 numericsVersion,
        uint32 stepsPerToken,
        uint32 context,
        bytes32 templateRoot,
        bytes32 weightsRoot,
        string calldata uri
    ) external {
        bytes32 h = keccak256(
            abi.encodePacked("model", numericsVersion, stepsPerToken, context, templateRoot, weightsRoot)
        );
        if (h != modelRoot || stepsPerToken == 0 || context == 0) revert BadModelRoot();
        if (models[modelRoot].registered) revert ModelExists();
        models[modelRoot] = Model(true, numericsVersion, stepsPerToken, context, templateRoot, weightsRoot);
        emit ModelRegistered(modelRoot, numericsVersion, stepsPerToken, context, templateRoot, weightsRoot, uri);
    }

    /// The registered model with this root (registered == false if none).
    function getModel(bytes32 modelRoot) external view returns (Model memory) {
        return models[modelRoot];
    }

    // -- claims ------------------------------------------------------------------------------------

    /// Post a claim with bond msg.value >= minBond: tokens int32 big-endian, run = [temperature Q16, top_k, seed, max_new_tokens].
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
            if (msg.value < minBond) revert BondTooLow(minBond);
            (uint256 n, uint256 out) = _checkCounts(m, promptPacked, outputPacked, run[3], stepCount);
            c.promptLen = uint32(n);
            c.outputLen = uint32(out);
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

    /// After the challenge window, with no game open: mark the claim final and credit its bond to the operator.
    function finalize(uint256 claimId) external {
        Claim storage c = _pendingClaim(claimId);
        if (block.timestamp < uint256(c.postedAt) + challengeWindow) revert WindowOpen();
        if (c.openGames != 0) revert GamesOpen();
        c.status = ClaimStatus.Final;
        totalLocked -= c.bond;
        emit ClaimFinalized(claimId, c.operator, c.bond);
        _credit(c.operator, c.bond);
    }

    // -- games -------------------------------------------------------------------------------------

    /// Open a game against a pending claim before its window closes, with bond msg.value >= the claim's bond.
    function challenge(uint256 claimId) external payable returns (uint256 gameId) {
        Claim storage c = _pendingClaim(claimId);
        if (block.timestamp >= uint256(c.postedAt) + challengeWindow) revert WindowClosed();
        if (msg.value < c.bond) revert BondTooLow(c.bond);
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

    /// Game only: book a game's outcome (defender won: its bond to the operator; challenger won: both bonds to it and the claim slashed; closed: refund).
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
            _credit(challenger, bond + c.bond);
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

    /// The claim, which must exist and be pending.
    function _pendingClaim(uint256 claimId) internal view returns (Claim storage c) {
        c = claims[claimId];
        if (c.status == ClaimStatus.None) revert UnknownClaim();
        if (c.status != ClaimStatus.Pending) revert ClaimNotPending();
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
            claimId, c.operator, c.modelRoot, c.claimHash, c.inputHash, c.outputHash, c.traceRoot, c.stepCount,
            c.bond, run, promptPacked, outputPacked
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
